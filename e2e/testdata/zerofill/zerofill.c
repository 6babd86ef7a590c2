/*
 * zerofill - the application of e2e/pages_test.go (direct-mapped restores).
 *
 * It fills an 8 MiB private anonymous area with 0x5a at start and serves
 * HTTP on 127.0.0.1:PORT (argv[1]):
 *   GET /health  "ok"
 *   GET /check   madvise(MADV_DONTNEED) on the area, then counts the bytes
 *                that did not read back as zero: "zero" or "stale N". A
 *                program that relies on zero-fill after MADV_DONTNEED (as
 *                jemalloc does for purged memory) sees "stale" when the
 *                area was restored as a mapping of the pages image.
 *   GET /maps    the /proc/self/maps lines of the area ("what backs it").
 * One request per connection, one connection at a time.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define AREA (8UL << 20)

static unsigned char *area;

static void reply(int c, const char *body)
{
	char buf[8192];
	int n = snprintf(buf, sizeof(buf), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
			 strlen(body), body);
	if (write(c, buf, n) < 0)
		perror("write");
}

static void maps(char *out, size_t size)
{
	char line[512];
	unsigned long lo, hi, a = (unsigned long)area;
	FILE *f = fopen("/proc/self/maps", "r");
	size_t used = 0;

	out[0] = 0;
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && hi > a && lo < a + AREA && used + strlen(line) < size) {
			strcpy(out + used, line);
			used += strlen(line);
		}
	}
	fclose(f);
}

int main(int argc, char **argv)
{
	int port = argc > 1 ? atoi(argv[1]) : 8080, s, one = 1;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };

	area = mmap(NULL, AREA, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (area == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	memset(area, 0x5a, AREA);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof(sa)) || listen(s, 16)) {
		perror("listen");
		return 1;
	}
	printf("zerofill: area %p, listening on %d\n", (void *)area, port);
	fflush(stdout);
	for (;;) {
		char req[1024], body[4096];
		ssize_t n;
		int c = accept(s, NULL, NULL);

		if (c < 0)
			continue;
		n = read(c, req, sizeof(req) - 1);
		req[n > 0 ? n : 0] = 0;
		if (!strncmp(req, "GET /check", 10)) {
			unsigned long stale = 0, i;

			madvise(area, AREA, MADV_DONTNEED);
			for (i = 0; i < AREA; i++)
				stale += area[i] != 0;
			if (stale)
				snprintf(body, sizeof(body), "stale %lu", stale);
			else
				strcpy(body, "zero");
			reply(c, body);
		} else if (!strncmp(req, "GET /maps", 9)) {
			maps(body, sizeof(body));
			reply(c, body);
		} else
			reply(c, "ok");
		close(c);
	}
}
