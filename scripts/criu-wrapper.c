/*
 * criu-wrapper.c - entry point of the self-contained CRIU bundle.
 *
 * Built by scripts/criu-bundle.sh as a STATIC executable (gcc -static -Os -s)
 * and installed as <bundle>/criu. It runs the bundle's real criu through the
 * bundle's own dynamic loader, so criu never touches the libc of the system
 * (or container image) it runs on:
 *
 *   <bundle>/lib/ld-linux-x86-64.so.2 --inhibit-cache --argv0 ARGV0
 *       --library-path <bundle>/lib <bundle>/bin/criu ARGS...
 *
 * <bundle> is the directory holding this executable, found with
 * readlink("/proc/self/exe"); without /proc it falls back to argv[0]
 * (resolved with realpath(), or looked up in $PATH when it has no '/').
 *
 * The wrapper opens no file descriptor and closes none: go-criu runs
 * "<path> swrk <fd>" with an inherited socket, which must survive the exec.
 * The environment is passed on untouched. argv[0] is passed on through the
 * loader's --argv0 (glibc >= 2.33), so criu sees the argv[0] its caller gave
 * (normally ".../criu"), not the path of bin/criu.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOADER "/lib/ld-linux-x86-64.so.2"
#define LIBDIR "/lib"
#define REAL "/bin/criu"

static void die(const char *what, const char *arg)
{
	fprintf(stderr, "criu-wrapper: %s%s%s: %s\n", what, arg ? " " : "", arg ? arg : "",
		strerror(errno));
	exit(127);
}

/* Look NAME up in $PATH like execvp would; result in OUT (PATH_MAX bytes). */
static int search_path(const char *name, char *out)
{
	const char *path = getenv("PATH");
	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin";
	while (*path) {
		const char *end = strchrnul(path, ':');
		size_t len = (size_t)(end - path);
		char cand[PATH_MAX];
		if (len == 0) /* empty element means the current directory */
			snprintf(cand, sizeof(cand), "./%s", name);
		else
			snprintf(cand, sizeof(cand), "%.*s/%s", (int)len, path, name);
		if (access(cand, X_OK) == 0 && realpath(cand, out))
			return 0;
		path = *end ? end + 1 : end;
	}
	errno = ENOENT;
	return -1;
}

/* Absolute path of this executable, symlinks resolved, into SELF. */
static void find_self(const char *argv0, char *self)
{
	ssize_t n = readlink("/proc/self/exe", self, PATH_MAX - 1);
	if (n > 0 && self[0] == '/') {
		self[n] = '\0';
		return;
	}
	/* No /proc (or an odd answer): fall back to argv[0]. */
	if (!argv0 || !*argv0) {
		errno = ENOENT;
		die("cannot locate myself: no /proc/self/exe and empty argv[0]", NULL);
	}
	if (strchr(argv0, '/')) {
		if (!realpath(argv0, self))
			die("cannot resolve argv[0]", argv0);
		return;
	}
	if (search_path(argv0, self) < 0)
		die("cannot find argv[0] in $PATH", argv0);
}

int main(int argc, char **argv)
{
	char self[PATH_MAX], loader[PATH_MAX], libdir[PATH_MAX], real[PATH_MAX];
	const char *argv0 = (argc > 0 && argv[0] && argv[0][0]) ? argv[0] : "criu";

	find_self(argc > 0 ? argv[0] : NULL, self);

	char *slash = strrchr(self, '/');
	if (!slash) {
		errno = EINVAL;
		die("unexpected executable path", self);
	}
	*slash = '\0'; /* self is now the bundle directory ("" for "/") */

	if (snprintf(loader, sizeof(loader), "%s" LOADER, self) >= (int)sizeof(loader) ||
	    snprintf(libdir, sizeof(libdir), "%s" LIBDIR, self) >= (int)sizeof(libdir) ||
	    snprintf(real, sizeof(real), "%s" REAL, self) >= (int)sizeof(real)) {
		errno = ENAMETOOLONG;
		die("bundle path too long", self);
	}

	/* loader --inhibit-cache --argv0 A0 --library-path DIR REAL args... NULL */
	int extra = 7;
	int nargs = argc > 1 ? argc - 1 : 0;
	char **nargv = calloc((size_t)(extra + nargs + 1), sizeof(char *));
	if (!nargv)
		die("calloc", NULL);
	int i = 0;
	nargv[i++] = loader;
	/* Never read the host's /etc/ld.so.cache: every library is in lib/. */
	nargv[i++] = "--inhibit-cache";
	nargv[i++] = "--argv0";
	nargv[i++] = (char *)argv0;
	nargv[i++] = "--library-path";
	nargv[i++] = libdir;
	nargv[i++] = real;
	for (int a = 1; a < argc; a++)
		nargv[i++] = argv[a];
	nargv[i] = NULL;

	execv(loader, nargv);
	die("cannot exec", loader);
	return 127;
}
