package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/crac-build/crac-build/internal/builder"
	"github.com/crac-build/crac-build/internal/contract"
	"github.com/crac-build/crac-build/internal/runner"
	"github.com/crac-build/crac-build/internal/testutil"
)

// The witness (testdata/witness) reports what a restored process experiences:
// clocks and timers, environment, exit, signals, children, output. Its
// image is built with the cold environment policy and with stdout and
// stderr as one pipe (builder.Options.CombinedOutput).
var (
	witnessOnce sync.Once
	witnessRef  string
	witnessErr  error
)

func witnessImage(t *testing.T) string {
	t.Helper()
	requireE2E(t)
	if _, err := exec.LookPath("javac"); err != nil {
		t.Fatalf("the witness needs javac (make deps installs a JDK): %v", err)
	}
	witnessOnce.Do(func() {
		if witnessErr = ensureWorkDir(); witnessErr != nil {
			return
		}
		root := repoRoot(t)
		jar, err := buildWitnessJar(filepath.Join(workDir, "witness"))
		if err != nil {
			witnessErr = err
			return
		}
		witnessRef = "oci-layout:" + filepath.Join(workDir, "images") + ":witness"
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		var log bytes.Buffer
		_, witnessErr = builder.Build(ctx, builder.Options{
			Base:           "oci-layout:" + filepath.Join(root, "build/base") + ":jre17",
			Adds:           []builder.Add{{Src: jar, Dest: "/app/witness.jar"}},
			Cmd:            []string{"java", "-jar", "/app/witness.jar"},
			Port:           8080,
			ReadyURL:       "http://127.0.0.1:8080/health",
			WarmupRequests: 20,
			WarmupPath:     "/clock",
			OnEnvChange:    contract.EnvChangeCold,
			CombinedOutput: true,
			Outputs:        []string{witnessRef},
			CriuBundle:     filepath.Join(root, "build/criu"),
			Launcher:       filepath.Join(root, "bin/crac-launch"),
			CacheDir:       cacheDir,
			AppOutput:      &log,
			Version:        "e2e",
		})
		if witnessErr != nil {
			witnessErr = fmt.Errorf("%w\napp output:\n%s", witnessErr, log.String())
		}
	})
	if witnessErr != nil {
		t.Fatalf("building the witness image: %v", witnessErr)
	}
	return witnessRef
}

// buildWitnessJar compiles testdata/witness into dir/witness.jar.
func buildWitnessJar(dir string) (string, error) {
	classes := filepath.Join(dir, "classes")
	if err := os.MkdirAll(classes, 0o755); err != nil {
		return "", err
	}
	src := filepath.Join(repoRoot(nil), "e2e/testdata/witness/Witness.java")
	jar := filepath.Join(dir, "witness.jar")
	for _, args := range [][]string{
		{"javac", "--release", "17", "-d", classes, src},
		{"jar", "--create", "--file", jar, "--main-class", "Witness", "-C", classes, "."},
	} {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			return "", fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, out)
		}
	}
	return jar, nil
}

// startWitness starts the witness image and waits until it answers.
func startWitness(t *testing.T, o runner.Options) *started {
	t.Helper()
	o.Image = witnessImage(t)
	s := &started{stdout: &testutil.SyncBuffer{}, stderr: &testutil.SyncBuffer{}}
	o.HostAddr, o.CacheDir, o.Stdout, o.Stderr = "127.0.0.1:0", cacheDir, s.stdout, s.stderr
	r, err := runner.Start(context.Background(), o)
	if err != nil {
		t.Fatalf("starting %s: %v", o.Image, err)
	}
	s.r, s.url = r, "http://"+r.Addr
	t.Cleanup(func() {
		if _, err := r.Stop(5 * time.Second); err != nil {
			t.Errorf("removing container: %v", err)
		}
		if t.Failed() {
			t.Logf("container stdout:\n%s\ncontainer stderr:\n%s", tail(s.stdout.String(), 30), tail(s.stderr.String(), 30))
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := r.Probe(ctx, s.url+"/health"); err != nil {
		t.Fatalf("probing: %v", err)
	}
	return s
}

func (s *started) mustRestore(t *testing.T) {
	t.Helper()
	if mode, reason := s.r.WaitMode(5 * time.Second); mode != "restored" {
		t.Fatalf("launcher mode %q (%s), want restored", mode, reason)
	}
}

// waitExit waits up to d for the container to exit and returns its status.
func (s *started) waitExit(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-s.r.Done():
		return s.r.Wait()
	case <-time.After(d):
		t.Fatalf("container did not exit within %s", d)
		return 0
	}
}

// The restored JVM keeps its build-time environment. Under the cold
// policy a variable set at run time makes the launcher start cold, naming
// it, so that the application sees the new value.
func TestEnvChangeCold(t *testing.T) {
	s := startWitness(t, runner.Options{Env: []string{"DB_URL=postgres://db.example/prod"}})
	mode, reason := s.r.WaitMode(5 * time.Second)
	if want := "environment differs from the build's (policy cold): DB_URL (set at run time)"; mode != "cold" || reason != want {
		t.Fatalf("launcher mode %q reason %q, want cold: %q", mode, reason, want)
	}
	if v := get(t, s.url+"/env?DB_URL"); v != "postgres://db.example/prod\n" {
		t.Errorf("the cold JVM sees DB_URL=%q", v)
	}
	if strings.Contains(s.stderr.String(), "postgres://") {
		t.Error("the launcher printed the variable's value (it may be a secret)")
	}
}

// Variables that container runtimes and Kubernetes set in every container
// do not count as a change.
func TestEnvRuntimeVariablesIgnored(t *testing.T) {
	s := startWitness(t, runner.Options{Env: []string{
		"HOSTNAME=3f2a9c0d1e7b", "HOME=/root", "TERM=xterm", "container=podman",
		"KUBERNETES_SERVICE_HOST=10.96.0.1", "KUBERNETES_SERVICE_PORT=443", "KUBERNETES_SERVICE_PORT_HTTPS=443",
		"KUBERNETES_PORT=tcp://10.96.0.1:443", "KUBERNETES_PORT_443_TCP=tcp://10.96.0.1:443",
		"KUBERNETES_PORT_443_TCP_PROTO=tcp", "KUBERNETES_PORT_443_TCP_PORT=443", "KUBERNETES_PORT_443_TCP_ADDR=10.96.0.1",
		"CRAC_RESTORE_TIMEOUT=20s",
	}})
	s.mustRestore(t)
	if strings.Contains(s.stderr.String(), "environment") {
		t.Errorf("the launcher reports an environment change: %q", s.stderr.String())
	}
}

// Under the warn policy (hello's, the default) the launcher restores and
// names what the restored JVM does not see: hello still listens on the
// build's port 8080, not on PORT=9090.
func TestEnvChangeWarn(t *testing.T) {
	s := start(t, "PORT=9090")
	if mode, reason := s.r.WaitMode(5 * time.Second); mode != "restored" {
		t.Fatalf("launcher mode %q (%s), want restored", mode, reason)
	}
	want := "crac-launch: warning: environment differs from the build's; the restored JVM keeps the build's values (policy warn): PORT (set at run time)"
	if !waitFor(func() bool { return strings.Contains(s.stderr.String(), want) }) {
		t.Errorf("stderr lacks %q:\n%s", want, s.stderr.String())
	}
	if body := get(t, s.url+"/"); !strings.Contains(body, "hello from crac-build") {
		t.Errorf("GET / on the build's port = %q", body)
	}
}

// SIGTERM runs the JVM's shutdown hooks and the container exits 143.
func TestSIGTERMRunsShutdownHooks(t *testing.T) {
	s := startWitness(t, runner.Options{})
	s.mustRestore(t)
	if err := s.r.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if st := s.waitExit(t, 20*time.Second); st != 143 {
		t.Errorf("exit status after SIGTERM %d, want 143", st)
	}
	if !waitFor(func() bool { return strings.Contains(s.stdout.String(), "witness: shutdown hook ran") }) {
		t.Errorf("the shutdown hook's output is missing: %q", tail(s.stdout.String(), 5))
	}
}

// The JVM's exit status is the container's.
func TestExitStatusPassesThrough(t *testing.T) {
	s := startWitness(t, runner.Options{})
	s.mustRestore(t)
	get(t, s.url+"/exit?7")
	if st := s.waitExit(t, 20*time.Second); st != 7 {
		t.Errorf("container exit status %d, want the JVM's 7", st)
	}
}

// docker stop: SIGTERM, then SIGKILL after the grace period, here with a
// shutdown hook that never ends. The container must be gone after it.
func TestStopEscalatesToSIGKILL(t *testing.T) {
	s := startWitness(t, runner.Options{})
	s.mustRestore(t)
	get(t, s.url+"/hang-on-term")
	pid1 := s.r.Container().InitPID()
	jvm := children(pid1)
	const grace = 2 * time.Second
	t0 := time.Now()
	st, err := s.r.Stop(grace)
	took := time.Since(t0)
	if err != nil {
		t.Fatal(err)
	}
	if st != 137 {
		t.Errorf("exit status %d, want 137 (SIGKILL)", st)
	}
	if took < grace || took > grace+15*time.Second {
		t.Errorf("stop took %s, want the %s grace and then little more", took, grace)
	}
	if !waitFor(func() bool { return strings.Contains(s.stdout.String(), "witness: shutdown hook ran") }) {
		t.Error("SIGTERM did not reach the JVM's shutdown hook before the SIGKILL")
	}
	for _, p := range append([]int{pid1}, jvm...) {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", p)); err == nil && state(p) != "Z" {
			t.Errorf("process %d (%s) survived the stop", p, comm(p))
		}
	}
}

// A child of the JVM whose parent exits is re-parented to PID 1 (the
// launcher), which must reap it when it ends: no zombies.
func TestOrphansReaped(t *testing.T) {
	s := startWitness(t, runner.Options{})
	s.mustRestore(t)
	pid1 := s.r.Container().InitPID()
	get(t, s.url+"/orphan?1")
	var orphan int
	if !waitFor(func() bool {
		for _, c := range children(pid1) {
			if comm(c) == "sleep" {
				orphan = c
				return true
			}
		}
		return false
	}) {
		t.Fatal("the orphaned sleep never became a child of PID 1")
	}
	if !waitFor(func() bool { _, err := os.Stat(fmt.Sprintf("/proc/%d", orphan)); return os.IsNotExist(err) }) {
		t.Errorf("the orphan %d (state %s) was not reaped", orphan, state(orphan))
	}
	for _, c := range children(pid1) {
		if state(c) == "Z" {
			t.Errorf("zombie child %d (%s) of PID 1", c, comm(c))
		}
	}
	if body := get(t, s.url+"/health"); body != "ok\n" {
		t.Errorf("after the orphan, /health = %q", body)
	}
}

// At build, the witness's stdout and stderr were one pipe. Restored, CRIU
// gives that one pipe the container's stdout: both streams arrive there,
// in the order written, and the container's stderr has only the
// launcher's lines.
func TestSharedStdoutStderr(t *testing.T) {
	m, err := contract.Read(filepath.Join(rootFS(t, witnessImage(t)), contract.MetadataPath))
	if err != nil {
		t.Fatal(err)
	}
	if st := m.Process.Stdio; st[1] != st[2] || !strings.HasPrefix(st[1], "pipe:") {
		t.Fatalf("the witness's stdout and stderr at dump: %q, want one pipe", st)
	}
	s := startWitness(t, runner.Options{})
	s.mustRestore(t)
	const n = 50
	get(t, s.url+"/print?"+strconv.Itoa(n))
	var want []string
	for i := 0; i < n; i++ {
		want = append(want, fmt.Sprintf("witness: out %d", i), fmt.Sprintf("witness: err %d", i))
	}
	got := func() []string {
		var out []string
		for _, l := range strings.Split(s.stdout.String(), "\n") {
			if strings.HasPrefix(l, "witness: out ") || strings.HasPrefix(l, "witness: err ") {
				out = append(out, l)
			}
		}
		return out
	}
	if !waitFor(func() bool { return len(got()) >= 2*n }) || strings.Join(got(), "\n") != strings.Join(want, "\n") {
		t.Errorf("container stdout has %d witness lines, want %d interleaved in order; got:\n%s", len(got()), 2*n, tail(strings.Join(got(), "\n"), 10))
	}
	if strings.Contains(s.stderr.String(), "witness:") {
		t.Errorf("the JVM's output reached the container's stderr: %q", s.stderr.String())
	}
}
