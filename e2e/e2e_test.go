package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/crac-build/crac-build/internal/builder"
	"github.com/crac-build/crac-build/internal/contract"
	"github.com/crac-build/crac-build/internal/layers"
	"github.com/crac-build/crac-build/internal/registry"
	"github.com/crac-build/crac-build/internal/runner"
	"github.com/crac-build/crac-build/internal/testutil"
)

// repoRoot is the checkout this test runs in.
func repoRoot(t testing.TB) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// requireE2E skips when the host cannot run the test, but fails when
// CRAC_E2E=1 (set by `make test` and CI): there a skip would hide a broken
// setup.
func requireE2E(t testing.TB) {
	t.Helper()
	root := repoRoot(t)
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root")
	}
	if _, err := exec.LookPath("runc"); err != nil {
		missing = append(missing, "runc (make deps)")
	}
	for _, p := range []string{"build/criu/criu", "bin/crac-launch", "build/base/index.json", "examples/hello/build/hello.jar"} {
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			missing = append(missing, p+" (make test builds it)")
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := "end-to-end test needs " + strings.Join(missing, ", ")
	if os.Getenv("CRAC_E2E") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

var (
	buildOnce sync.Once
	imageRef  string
	buildErr  error
	cacheDir  string
	workDir   string
)

// tempDirs are removed when the tests are done, with workDir.
var tempDirs []string

func TestMain(m *testing.M) {
	code := m.Run()
	if workDir != "" {
		os.RemoveAll(workDir)
	}
	for _, d := range tempDirs {
		os.RemoveAll(d)
	}
	os.Exit(code)
}

var workDirOnce sync.Once

// ensureWorkDir creates the package's scratch dir (images, unpacked
// rootfs cache), which TestMain removes.
func ensureWorkDir() error {
	var err error
	workDirOnce.Do(func() {
		workDir, err = os.MkdirTemp("", "crac-e2e-")
		cacheDir = filepath.Join(workDir, "cache")
	})
	return err
}

// helloImage builds examples/hello once for all tests of the package.
func helloImage(t testing.TB) string {
	t.Helper()
	requireE2E(t)
	buildOnce.Do(func() {
		root := repoRoot(t)
		if buildErr = ensureWorkDir(); buildErr != nil {
			return
		}
		imageRef = "oci-layout:" + filepath.Join(workDir, "images") + ":hello"
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		var log bytes.Buffer
		o := helloBuild(root, imageRef, &log)
		_, buildErr = builder.Build(ctx, o)
		if buildErr != nil {
			buildErr = fmt.Errorf("%w\napp output:\n%s", buildErr, log.String())
		}
	})
	if buildErr != nil {
		t.Fatalf("building examples/hello: %v", buildErr)
	}
	return imageRef
}

// helloBuild are the options of the tests' builds of examples/hello on
// the JDK 17 base, written to ref, the app's output to log.
func helloBuild(root, ref string, log io.Writer) builder.Options {
	return builder.Options{
		Base:         "oci-layout:" + filepath.Join(root, "build/base") + ":jre17",
		Adds:         []builder.Add{{Src: filepath.Join(root, "examples/hello/build/hello.jar"), Dest: "/app/hello.jar"}},
		Cmd:          []string{"java", "-jar", "/app/hello.jar"},
		Port:         8080,
		ReadyURL:     "http://127.0.0.1:8080/health",
		WarmupScript: filepath.Join(root, "examples/hello/warmup.sh"),
		// One run of the script, as before warmups until steady: these
		// tests need a warm image, not the warmest, within their timeouts
		// (TestWarmupUntilSteady tests the default).
		WarmupRounds: "1",
		Outputs:      []string{ref},
		CriuBundle:   filepath.Join(root, "build/criu"),
		Launcher:     filepath.Join(root, "bin/crac-launch"),
		CacheDir:     cacheDir,
		AppOutput:    log,
		Version:      "e2e",
	}
}

type started struct {
	r              *runner.Run
	stdout, stderr *testutil.SyncBuffer
	url            string
}

func start(t *testing.T, env ...string) *started {
	t.Helper()
	return startRef(t, helloImage(t), env...)
}

func startRef(t testing.TB, ref string, env ...string) *started {
	t.Helper()
	return startRefWith(t, runner.Options{Image: ref, Env: env})
}

// startRefWith starts o.Image as startRef does, with o's other options
// (capabilities, seccomp, ...); o.CacheDir defaults to the tests' cache.
func startRefWith(t testing.TB, o runner.Options) *started {
	t.Helper()
	return startReady(t, o, "/health")
}

// startReady is startRefWith for an application whose ready page is probe
// (a path) instead of /health.
func startReady(t testing.TB, o runner.Options, probe string) *started {
	t.Helper()
	s := &started{stdout: &testutil.SyncBuffer{}, stderr: &testutil.SyncBuffer{}}
	o.HostAddr, o.Stdout, o.Stderr = "127.0.0.1:0", s.stdout, s.stderr
	if o.CacheDir == "" {
		o.CacheDir = cacheDir
	}
	ref := o.Image
	r, err := runner.Start(context.Background(), o)
	if err != nil {
		t.Fatalf("starting %s: %v", ref, err)
	}
	s.r = r
	s.url = "http://" + r.Addr
	t.Cleanup(func() {
		if _, err := r.Stop(5 * time.Second); err != nil {
			t.Errorf("removing container: %v", err)
		}
		if t.Failed() {
			t.Logf("container stdout:\n%s\ncontainer stderr:\n%s", s.stdout, s.stderr)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := r.Probe(ctx, s.url+probe); err != nil {
		t.Fatalf("probing: %v", err)
	}
	return s
}

func get(t testing.TB, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s: %s", url, resp.Status, b)
	}
	return string(b)
}

// requestsServed is the count examples/hello's GET / reports (0 if none).
func requestsServed(body string) int {
	var served int
	if m := regexp.MustCompile(`requests served: (\d+)`).FindStringSubmatch(body); m != nil {
		served, _ = strconv.Atoi(m[1])
	}
	return served
}

// waitFor polls cond for up to 5 s: container output arrives asynchronously.
func waitFor(cond func() bool) bool {
	for i := 0; i < 100; i++ {
		if cond() {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return cond()
}

func TestRestoredServesAndStops(t *testing.T) {
	s := start(t)
	if mode, reason := s.r.WaitMode(5 * time.Second); mode != "restored" {
		t.Fatalf("launcher mode %q (%s), want restored", mode, reason)
	}
	body := get(t, s.url+"/")
	if !strings.Contains(body, "hello from crac-build") {
		t.Errorf("GET / = %q, want the hello greeting", body)
	}
	// The warmup served many requests before the checkpoint: a restored
	// JVM carries on counting, a fresh one would not.
	if served := requestsServed(body); served < 10 {
		t.Errorf("GET / = %q: %d requests served, want the warmup's count carried over (a fresh JVM would say 1)", body, served)
	}
	// The restored JVM's stdout must reach the container's stdout.
	if !waitFor(func() bool { return strings.Contains(s.stdout.String(), "hello: request") }) {
		t.Errorf("the restored JVM's output did not reach the container's stdout; got %q", s.stdout.String())
	}
	if err := s.r.Signal(15); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.r.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("container did not stop within 20 s of SIGTERM")
	}
	if st := s.r.Wait(); st != 143 {
		t.Errorf("exit status after SIGTERM = %d, want 143 (the JVM's, passed through the launcher)", st)
	}
	if !waitFor(func() bool { return strings.Contains(s.stdout.String(), "hello: shutting down") }) {
		t.Errorf("shutdown hook output missing from stdout: %q", s.stdout.String())
	}
}

func TestSecondRestoreStartsFromPristineFiles(t *testing.T) {
	for i := 0; i < 2; i++ {
		s := start(t)
		if mode, reason := s.r.WaitMode(5 * time.Second); mode != "restored" {
			t.Fatalf("run %d: launcher mode %q (%s), want restored", i+1, mode, reason)
		}
		get(t, s.url+"/work?n=10")
		if _, err := s.r.Stop(10 * time.Second); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRestoreOffStartsCold(t *testing.T) {
	s := start(t, "CRAC_RESTORE=off")
	mode, reason := s.r.WaitMode(5 * time.Second)
	if mode != "cold" || !strings.Contains(reason, "CRAC_RESTORE=off") {
		t.Fatalf("launcher mode %q reason %q, want cold because of CRAC_RESTORE=off", mode, reason)
	}
	if !strings.Contains(s.stderr.String(), "crac-launch: cold start: CRAC_RESTORE=off") {
		t.Errorf("stderr lacks the one-line reason: %q", s.stderr.String())
	}
	if body := get(t, s.url+"/"); !strings.Contains(body, "hello from crac-build") {
		t.Errorf("cold GET / = %q", body)
	}
	if err := s.r.Signal(15); err != nil {
		t.Fatal(err)
	}
	if st := s.r.Wait(); st != 143 {
		t.Errorf("cold exit status after SIGTERM = %d, want 143", st)
	}
}

func TestFailedBuildWritesNothing(t *testing.T) {
	requireE2E(t)
	root := repoRoot(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "images")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	_, err := builder.Build(ctx, builder.Options{
		Base:         "oci-layout:" + filepath.Join(root, "build/base") + ":jre17",
		Cmd:          []string{"java", "-jar", "/app/missing.jar"},
		Port:         8080,
		ReadyTimeout: time.Minute,
		Outputs:      []string{"oci-layout:" + out + ":broken"},
		CriuBundle:   filepath.Join(root, "build/criu"),
		Launcher:     filepath.Join(root, "bin/crac-launch"),
		CacheDir:     filepath.Join(dir, "cache"),
		TempDir:      dir,
	})
	if err == nil {
		t.Fatal("build of an application that cannot start succeeded")
	}
	for _, want := range []string{"before it was ready", "missing.jar"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q (the reason and the app's last output)", err, want)
		}
	}
	if _, serr := os.Stat(out); !os.IsNotExist(serr) {
		t.Errorf("a failed build left output at %s", out)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "crac-build-") {
			t.Errorf("a failed build left its scratch dir %s", e.Name())
		}
	}
}

// appendLayer writes img with tr as one more layer on top to ref, as an
// image built FROM img would be, and returns the image written.
func appendLayer(t testing.TB, img v1.Image, tr *layers.Tar, ref string) v1.Image {
	t.Helper()
	l, err := layers.Write(tr, t.TempDir(), layers.WriteOptions{Parallel: true})
	if err != nil {
		t.Fatal(err)
	}
	out, err := mutate.AppendLayers(img, l)
	if err != nil {
		t.Fatal(err)
	}
	if err := registry.Write(context.Background(), out, ref, registry.Options{}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDamagedCheckpointStartsCold(t *testing.T) {
	ref := helloImage(t)
	img, err := registry.Load(context.Background(), ref, registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// A layer on top that truncates the biggest CRIU image file, as a
	// broken download or disk would.
	tr := layers.NewTar()
	if err := tr.AddBytes(contract.ImagesDir+"/pages-1.img", []byte("truncated"), 0o644); err != nil {
		t.Fatal(err)
	}
	dref := "oci-layout:" + filepath.Join(t.TempDir(), "damaged") + ":hello"
	appendLayer(t, img, tr, dref)
	s := startRef(t, dref)
	mode, reason := s.r.WaitMode(5 * time.Second)
	if mode != "cold" || !strings.Contains(reason, "pages-1.img") {
		t.Fatalf("launcher mode %q reason %q, want a cold start naming pages-1.img", mode, reason)
	}
	if body := get(t, s.url+"/"); !strings.Contains(body, "hello from crac-build") {
		t.Errorf("cold GET / = %q", body)
	}
}
