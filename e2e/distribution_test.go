package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/crac-build/crac-build/internal/builder"
	"github.com/crac-build/crac-build/internal/inspect"
	"github.com/crac-build/crac-build/internal/registry"
	"github.com/crac-build/crac-build/internal/testutil"
)

// requireTools is requireE2E plus host programs: a skip locally, a failure
// under CRAC_E2E=1.
func requireTools(t *testing.T, tools ...string) {
	t.Helper()
	requireE2E(t)
	var missing []string
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool+" (make deps)")
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := "test needs " + strings.Join(missing, ", ")
	if os.Getenv("CRAC_E2E") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// shortClient bounds each probe: a port that accepts but never answers
// must not hang the test.
var shortClient = &http.Client{Timeout: 5 * time.Second}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// distRegistry runs Debian's docker-registry (the CNCF distribution
// registry) on 127.0.0.1 with its storage in a temp dir, until the test
// ends. It returns host:port.
func distRegistry(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	cfg := filepath.Join(dir, "config.yml")
	yml := fmt.Sprintf("version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n  secret: crac-build-e2e\n", filepath.Join(dir, "storage"), addr)
	if err := os.WriteFile(cfg, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	var log testutil.SyncBuffer
	cmd := exec.Command("docker-registry", "serve", cfg)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting docker-registry: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // by PID: the process this test started
		<-exited
		if t.Failed() {
			t.Logf("docker-registry log:\n%s", log.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := shortClient.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return addr
			}
		}
		select {
		case <-exited:
			t.Fatalf("docker-registry exited: %s", log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("docker-registry on %s not ready after 30 s: %v\n%s", addr, err, log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// uploadCounter is a reverse proxy in front of a registry that counts the
// blob uploads passing through it: what a push really sends.
type uploadCounter struct {
	mu    sync.Mutex
	blobs map[string]bool // digests whose upload completed
	bytes int64           // bytes of upload bodies
}

func countingProxy(t *testing.T, target string) (string, *uploadCounter) {
	t.Helper()
	c := &uploadCounter{blobs: map[string]bool{}}
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: target})
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/blobs/uploads/") && (r.Method == http.MethodPatch || r.Method == http.MethodPut) {
			r.Body = &countBody{ReadCloser: r.Body, c: c}
			if d := r.URL.Query().Get("digest"); r.Method == http.MethodPut && d != "" {
				sw := &codeWriter{ResponseWriter: w}
				rp.ServeHTTP(sw, r)
				if sw.code == http.StatusCreated {
					c.mu.Lock()
					c.blobs[d] = true
					c.mu.Unlock()
				}
				return
			}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://"), c
}

func (c *uploadCounter) take() (int, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, b := len(c.blobs), c.bytes
	c.blobs, c.bytes = map[string]bool{}, 0
	return n, b
}

type countBody struct {
	io.ReadCloser
	c *uploadCounter
}

func (b *countBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.c.mu.Lock()
	b.c.bytes += int64(n)
	b.c.mu.Unlock()
	return n, err
}

type codeWriter struct {
	http.ResponseWriter
	code int
}

func (w *codeWriter) WriteHeader(c int) {
	w.code = c
	w.ResponseWriter.WriteHeader(c)
}

// engine runs a container engine's client (podman or docker) against
// state of the test's own. newPodman: podman with a private storage, run
// root and tmp dir (so that tests neither see nor disturb other podman
// users) and the containers.conf this machine needs (ENVIRONMENT.md: runc,
// not crun; explicit ulimits); newDocker: a dockerd of the test's own.
type engine struct {
	t    *testing.T
	bin  string // the client
	dir  string // storage, run root and tmp dir live here
	args []string
	env  []string
	// warm are the flags a warm image needs on this engine (the
	// capability, and the seccomp profile where its default blocks clone3).
	warm []string
}

// remove removes a container, whatever its state.
func (p *engine) remove(name string) {
	if p.bin == "docker" || strings.HasSuffix(p.bin, "/docker") {
		_, _ = p.try("rm", "--force", name)
		return
	}
	_, _ = p.try("rm", "--force", "--time", "0", name)
}

func newPodman(t *testing.T) *engine {
	t.Helper()
	// Not t.TempDir(): podman refuses a run root longer than 50 bytes,
	// and a test's temp dir path holds the test's name.
	dir, err := os.MkdirTemp("", "crac-pm-")
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "containers.conf")
	err = os.WriteFile(conf, []byte(`[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	p := &engine{
		t:    t,
		bin:  "podman",
		warm: []string{"--cap-add", "CHECKPOINT_RESTORE"},
		dir:  dir,
		args: []string{
			"--root", filepath.Join(dir, "root"),
			"--runroot", filepath.Join(dir, "runroot"),
			"--tmpdir", filepath.Join(dir, "tmp"),
		},
		env: append(os.Environ(), "CONTAINERS_CONF="+conf),
	}
	// Containers, images and any mount left under the dir go before the
	// dir. (Not
	// `podman system reset`: it also removes the machine's podman
	// networks, which are shared with every other podman user.)
	t.Cleanup(func() {
		if out, err := p.try("rm", "--all", "--force", "--time", "0"); err != nil {
			t.Errorf("%v\n%s", err, out)
		}
		if out, err := p.try("rmi", "--all", "--force"); err != nil {
			t.Errorf("%v\n%s", err, out)
		}
		for _, mp := range mountsUnder(dir) {
			t.Logf("unmounting %s, left by podman", mp)
			if err := unix.Unmount(mp, unix.MNT_DETACH); err != nil {
				t.Errorf("unmounting %s: %v", mp, err)
			}
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("removing podman's storage: %v", err)
		}
	})
	return p
}

// mountsUnder lists the mount points below dir, deepest first.
func mountsUnder(dir string) []string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			out = append([]string{f[4]}, out...)
		}
	}
	return out
}

func (p *engine) try(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, p.bin, append(append([]string{}, p.args...), args...)...)
	cmd.Env = p.env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("%s %s: %w", filepath.Base(p.bin), strings.Join(args, " "), err)
	}
	return out.String(), err
}

func (p *engine) run(args ...string) string {
	p.t.Helper()
	out, err := p.try(args...)
	if err != nil {
		p.t.Fatalf("%v\n%s", err, out)
	}
	return out
}

// runWarm starts image with the engine's warm flags (podman: only
// CAP_CHECKPOINT_RESTORE added, its default seccomp profile on) and the
// extra flags, checks that the launcher restored the checkpoint and that
// the restored JVM serves, then stops it.
func (p *engine) runWarm(image, name string, extra ...string) string {
	p.t.Helper()
	return p.runExpect(image, name, "restored", extra...)
}

// runExpect is runWarm for either outcome of the launcher: want is
// "restored" or "cold". It returns the launcher's lines (the outcome, then
// any warning).
func (p *engine) runExpect(image, name, want string, extra ...string) string {
	p.t.Helper()
	return p.runFlags(image, name, want, append(append([]string{}, p.warm...), extra...))
}

// runFlags is runExpect with exactly the given flags (none: the engine's
// defaults).
func (p *engine) runFlags(image, name, want string, flags []string) string {
	t := p.t
	t.Helper()
	port := freePort(t)
	args := append([]string{"run", "--detach", "--name", name,
		"--publish", fmt.Sprintf("127.0.0.1:%d:8080", port)}, flags...)
	p.run(append(args, image)...)
	logs := func() string { out, _ := p.try("logs", name); return out }
	defer func() {
		if t.Failed() {
			t.Logf("%s logs %s:\n%s", filepath.Base(p.bin), name, logs())
		}
		p.remove(name)
	}()
	mode, _ := p.waitStart(name, 1)
	if mode != want {
		t.Fatalf("%s: the launcher %s, want %s:\n%s", image, mode, want, logs())
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	body := p.greeting(url)
	// A restored JVM carries on counting from the warmup's requests.
	if want == "restored" && requestsServed(body) < 10 {
		t.Errorf("GET %s = %q: want the warmup's requests carried over", url, body)
	}
	p.run("stop", "--time", "10", name)
	if st := strings.TrimSpace(p.run("inspect", "--format", "{{.State.ExitCode}}", name)); st != "143" {
		t.Errorf("exit status after %s stop = %s, want 143 (the JVM's, after SIGTERM)", filepath.Base(p.bin), st)
	}
	lines := launcherLines(logs())
	t.Logf("%s: %s", image, lines)
	return lines
}

// waitStart waits until the container's output holds the n-th outcome
// of the launcher (a container restarted n-1 times) and returns it:
// "restored" or "cold", and the line.
func (p *engine) waitStart(name string, n int) (mode, line string) {
	p.t.Helper()
	// Bounds for a shared, loaded machine: an idle one restores in
	// 0.1-0.2 s; with other test suites on its 2 cores it took up to 3 s.
	for i := 0; i < 600; i++ {
		out, _ := p.try("logs", name)
		var starts []string
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "crac-launch: restored in") || strings.HasPrefix(l, "crac-launch: cold start") {
				starts = append(starts, strings.TrimSpace(l))
			}
		}
		if len(starts) >= n {
			line = starts[n-1]
			if strings.HasPrefix(line, "crac-launch: restored in") {
				return "restored", line
			}
			return "cold", line
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.t.Fatalf("%s: no launcher outcome (start %d: 'crac-launch: restored in' or 'cold start') within 60 s", name, n)
	return "", ""
}

// greeting waits for examples/hello's answer at url and returns it.
func (p *engine) greeting(url string) string {
	p.t.Helper()
	var body string
	for i := 0; i < 300; i++ {
		resp, err := shortClient.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				body = string(b)
				break
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(body, "hello from crac-build") {
		p.t.Fatalf("GET %s through %s's published port = %q, want the hello greeting", url, filepath.Base(p.bin), body)
	}
	return body
}

// launcherLines are the lines of the launcher in a container's output.
func launcherLines(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "crac-launch:") {
			out = append(out, strings.TrimSpace(l))
		}
	}
	return strings.Join(out, "\n")
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func firstLine(s, prefix string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

// A warm image pushed to a real registry (the distribution registry), pulled
// and run by a real client (podman), restores and serves.
func TestPodmanFromRegistry(t *testing.T) {
	requireTools(t, "podman", "docker-registry")
	ref := helloImage(t)
	ctx := context.Background()
	img, err := registry.Load(ctx, ref, registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg := distRegistry(t)
	proxy, uploads := countingProxy(t, reg)
	ropts := registry.Options{Insecure: true}

	if err := registry.Write(ctx, img, proxy+"/crac/hello:warm", ropts); err != nil {
		t.Fatal(err)
	}
	n1, b1 := uploads.take()
	ls, _ := img.Layers()
	if n1 != len(ls)+1 {
		t.Errorf("first push uploaded %d blobs, want %d layers + config", n1, len(ls))
	}
	// The same image again, under another tag: every blob is there.
	if err := registry.Write(ctx, img, proxy+"/crac/hello:again", ropts); err != nil {
		t.Fatal(err)
	}
	n2, b2 := uploads.take()
	if n2 != 0 || b2 != 0 {
		t.Errorf("second push of the same image uploaded %d blobs (%d bytes), want none", n2, b2)
	}
	t.Logf("push to docker-registry: first %d blobs, %.1f MiB; second %d blobs, %d bytes", n1, float64(b1)/(1<<20), n2, b2)

	// What `crac-build inspect --json` shows from the registry.
	info, err := inspect.Image(ctx, reg+"/crac/hello:warm", ropts)
	if err != nil {
		t.Fatal(err)
	}
	if c := info.Checkpoint; c == nil || c.CompressedBytes <= 0 || c.RawBytes <= c.CompressedBytes || c.ImagesBytes <= 0 {
		t.Errorf("inspect from the registry: checkpoint %+v, want compressed and raw sizes", info.Checkpoint)
	} else {
		t.Logf("inspect: checkpoint %d bytes compressed, %d raw, %d in CRIU images", c.CompressedBytes, c.RawBytes, c.ImagesBytes)
	}
	if js, err := json.Marshal(info); err != nil || !bytes.Contains(js, []byte(`"compressedBytes"`)) {
		t.Errorf("inspect JSON lacks the checkpoint sizes: %v %s", err, js)
	}

	// The same through the CLI, as a user would ask before deploying.
	if cli := filepath.Join(repoRoot(t), "bin/crac-build"); fileExists(cli) {
		out, err := exec.Command(cli, "inspect", "--json", "--insecure", reg+"/crac/hello:warm").Output()
		if err != nil {
			t.Fatalf("crac-build inspect --json: %v", err)
		}
		var got struct {
			Checkpoint struct{ CompressedBytes, RawBytes int64 }
		}
		if err := json.Unmarshal(out, &got); err != nil || got.Checkpoint.CompressedBytes != info.Checkpoint.CompressedBytes || got.Checkpoint.RawBytes != info.Checkpoint.RawBytes {
			t.Errorf("crac-build inspect --json: checkpoint %+v (%v), want %+v", got.Checkpoint, err, *info.Checkpoint)
		}
	} else if os.Getenv("CRAC_E2E") == "1" {
		t.Errorf("no %s to inspect with (make all)", cli)
	}

	p := newPodman(t)
	p.run("pull", "--quiet", "--tls-verify=false", reg+"/crac/hello:warm")
	p.runWarm(reg+"/crac/hello:warm", "crac-e2e-registry")
}

// The docker-archive output loads into podman and restores there too.
func TestPodmanFromDockerArchive(t *testing.T) {
	requireTools(t, "podman")
	ref := helloImage(t)
	ctx := context.Background()
	img, err := registry.Load(ctx, ref, registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "hello.tar")
	if err := registry.Write(ctx, img, "docker-archive:"+archive+":localhost/crac-e2e/hello:archive", registry.Options{}); err != nil {
		t.Fatal(err)
	}
	p := newPodman(t)
	out := p.run("load", "--quiet", "--input", archive)
	if !strings.Contains(out, "localhost/crac-e2e/hello:archive") {
		t.Errorf("podman load said %q, want the archive's tag", out)
	}
	p.runWarm("localhost/crac-e2e/hello:archive", "crac-e2e-archive")
}

// TestPodmanRestart: `podman restart` keeps the container's file system,
// so the second start meets what the first run wrote (the launcher's
// files, the application's). It must restore again, from the checkpoint
// (not from the first run's state), or start cold saying why; and serve.
func TestPodmanRestart(t *testing.T) {
	requireTools(t, "podman")
	ref := helloImage(t)
	p := newPodman(t)
	const image = "localhost/crac-e2e/hello:restart"
	archive := filepath.Join(t.TempDir(), "hello.tar")
	ctx := context.Background()
	img, err := registry.Load(ctx, ref, registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := registry.Write(ctx, img, "docker-archive:"+archive+":"+image, registry.Options{}); err != nil {
		t.Fatal(err)
	}
	p.run("load", "--quiet", "--input", archive)

	const name = "crac-e2e-restart"
	port := freePort(t)
	p.run("run", "--detach", "--name", name, "--cap-add", "CHECKPOINT_RESTORE", "--publish", fmt.Sprintf("127.0.0.1:%d:8080", port), image)
	defer func() {
		if t.Failed() {
			out, _ := p.try("logs", name)
			t.Logf("podman logs %s:\n%s", name, out)
		}
		_, _ = p.try("rm", "--force", "--time", "0", name)
	}()
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	if mode, line := p.waitStart(name, 1); mode != "restored" {
		t.Fatalf("first start: %s", line)
	}
	first := requestsServed(p.greeting(url))
	for i := 0; i < 5; i++ {
		p.greeting(url)
	}

	for start := 2; start <= 3; start++ {
		p.run("restart", "--time", "10", name)
		mode, line := p.waitStart(name, start)
		t.Logf("start %d after podman restart: %s", start, line)
		if mode == "cold" && strings.TrimSpace(strings.TrimPrefix(line, "crac-launch: cold start:")) == "" {
			t.Errorf("start %d: a cold start without a reason: %q", start, line)
		}
		body := p.greeting(url)
		// Restored from the checkpoint, the JVM counts on from the
		// warmup's requests, as at the first start, not from the first
		// run's; cold, it counts from 1.
		switch n := requestsServed(body); {
		case mode == "restored" && n != first:
			t.Errorf("start %d restored: first answer counts %d requests, the first start's %d: not the checkpoint's state", start, n, first)
		case mode == "cold" && n != 1:
			t.Errorf("start %d cold: first answer counts %d requests, want 1", start, n)
		}
	}
	p.run("stop", "--time", "10", name)
	if st := strings.TrimSpace(p.run("inspect", "--format", "{{.State.ExitCode}}", name)); st != "143" {
		t.Errorf("exit status after %s stop = %s, want 143 (the JVM's, after SIGTERM)", filepath.Base(p.bin), st)
	}
}

// copyTree copies the files of src into a new dir in the given order,
// giving every file and dir the given mtime.
func copyTree(t *testing.T, files map[string][]byte, order []string, mtime time.Time) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range order {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, files[name], 0o644); err != nil {
			t.Fatal(err)
		}
	}
	err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Chtimes(p, mtime, mtime)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// Every layer but the checkpoint is byte-identical for the same inputs,
// whatever order the files were created in and whatever their times.
func TestLayersAreReproducible(t *testing.T) {
	requireE2E(t)
	root := repoRoot(t)
	jar, err := os.ReadFile(filepath.Join(root, "examples/hello/build/hello.jar"))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"hello.jar":           jar,
		"conf/app.properties": []byte("greeting=hello\n"),
		"lib/a/one.txt":       []byte("one\n"),
		"lib/b/two.txt":       []byte("two\n"),
		"static/index.html":   []byte("<p>hi</p>\n"),
		"static/css/site.css": []byte("p{}\n"),
	}
	order := []string{"hello.jar", "conf/app.properties", "lib/a/one.txt", "lib/b/two.txt", "static/index.html", "static/css/site.css"}
	reversed := make([]string, len(order))
	for i, f := range order {
		reversed[len(order)-1-i] = f
	}
	dirs := []string{
		copyTree(t, files, order, time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)),
		copyTree(t, files, reversed, time.Now()),
	}
	var digests [2][]string
	for i, dir := range dirs {
		out := "oci-layout:" + filepath.Join(t.TempDir(), "images") + ":repro"
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		_, err := builder.Build(ctx, builder.Options{
			Base:           "oci-layout:" + filepath.Join(root, "build/base") + ":jre17",
			Adds:           []builder.Add{{Src: dir, Dest: "/app"}},
			Cmd:            []string{"java", "-jar", "/app/hello.jar"},
			Port:           8080,
			ReadyURL:       "http://127.0.0.1:8080/health",
			WarmupRequests: 5,
			// The class cache is a JVM's dump, not the same bytes twice
			// (docs/class-cache.md): the files given stay reproducible.
			NoClassCache: true,
			Outputs:      []string{out},
			CriuBundle:   filepath.Join(root, "build/criu"),
			Launcher:     filepath.Join(root, "bin/crac-launch"),
			CacheDir:     filepath.Join(t.TempDir(), "cache"),
			Version:      "e2e",
		})
		cancel()
		if err != nil {
			t.Fatalf("build %d: %v", i+1, err)
		}
		info, err := inspect.Image(context.Background(), out, registry.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range info.Layers {
			digests[i] = append(digests[i], l.Role+" "+l.Digest)
		}
	}
	if len(digests[0]) != len(digests[1]) {
		t.Fatalf("layer counts differ: %v vs %v", digests[0], digests[1])
	}
	for i := range digests[0] {
		role := strings.Fields(digests[0][i])[0]
		if role == inspect.RoleCheckpoint {
			continue // the JVM's memory differs from run to run
		}
		if digests[0][i] != digests[1][i] {
			t.Errorf("%s layer differs between builds of the same inputs: %s vs %s", role, digests[0][i], digests[1][i])
		}
	}
	t.Logf("layers of both builds: %v / %v", digests[0], digests[1])
}
