package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/crac-build/crac-build/internal/builder"
	"github.com/crac-build/crac-build/internal/contract"
	"github.com/crac-build/crac-build/internal/inspect"
	"github.com/crac-build/crac-build/internal/registry"
	"github.com/crac-build/crac-build/internal/testutil"
)

// The coordination tests build examples/coordinated, an application that
// uses the org.crac API (through a stand-in for the org.crac facade that
// finds the crac-build agent by reflection, as the real one does) and knows
// nothing of crac-build: its Resources close and reopen its HTTP server's
// listening socket and a log file.

const coordinatedJar = "examples/coordinated/build/coordinated.jar"

func requireCoordination(t *testing.T) {
	t.Helper()
	requireE2E(t)
	root := repoRoot(t)
	for _, p := range []string{coordinatedJar, "bin/crac-agent.jar"} {
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			msg := "coordination tests need " + p + " (make all coordinated)"
			if os.Getenv("CRAC_E2E") == "1" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
}

type coordBuild struct {
	once sync.Once
	ref  string
	res  *builder.Result
	err  error
}

var (
	coordMu     sync.Mutex
	coordBuilds = map[string]*coordBuild{}
)

// coordinatedImage builds examples/coordinated with JVM options and env
// added at build time, once per name, into the package's work dir.
func coordinatedImage(t *testing.T, name string, jvmOpts []string, env ...string) (string, *builder.Result) {
	t.Helper()
	requireCoordination(t)
	helloImage(t) // the package's work and cache dirs
	coordMu.Lock()
	b := coordBuilds[name]
	if b == nil {
		b = &coordBuild{}
		coordBuilds[name] = b
	}
	coordMu.Unlock()
	b.once.Do(func() {
		b.ref = "oci-layout:" + filepath.Join(workDir, "images") + ":" + name
		b.res, b.err = buildCoordinated(t, b.ref, jvmOpts, env...)
	})
	if b.err != nil {
		t.Fatalf("building examples/coordinated (%s): %v", name, b.err)
	}
	return b.ref, b.res
}

func buildCoordinated(t *testing.T, ref string, jvmOpts []string, env ...string) (*builder.Result, error) {
	root := repoRoot(t)
	cmd := append(append([]string{"java"}, jvmOpts...), "-jar", "/app/coordinated.jar")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var log testutil.SyncBuffer
	res, err := builder.Build(ctx, builder.Options{
		Base:           "oci-layout:" + filepath.Join(root, "build/base") + ":jre17",
		Adds:           []builder.Add{{Src: filepath.Join(root, coordinatedJar), Dest: "/app/coordinated.jar"}},
		Cmd:            cmd,
		Env:            env,
		Port:           8080,
		ReadyURL:       "http://127.0.0.1:8080/health",
		WarmupRequests: 20,
		Outputs:        []string{ref},
		CriuBundle:     filepath.Join(root, "build/criu"),
		Launcher:       filepath.Join(root, "bin/crac-launch"),
		CacheDir:       cacheDir,
		TempDir:        workDir,
		AppOutput:      &log,
		Version:        "e2e",
	})
	if err != nil {
		return nil, fmt.Errorf("%w\napp output:\n%s", err, log.String())
	}
	return res, nil
}

func events(t *testing.T, s *started) []string {
	t.Helper()
	return strings.Split(strings.TrimSpace(get(t, s.url+"/events")), "\n")
}

var restoredIn = regexp.MustCompile(`crac-launch: restored in (\d+) ms`)

// Builder-initiated: the builder asks the agent for beforeCheckpoint after
// the warmup, the launcher for afterRestore in a fresh container.
func TestCoordinationRestore(t *testing.T) {
	ref, res := coordinatedImage(t, "coordinated", nil)
	co := res.Metadata.Coordination
	if co == nil || co.Resources != 3 || len(co.Endpoints) != 1 || co.Endpoints[0].Network != "unix" ||
		co.Agent != contract.AgentPath || co.OnRestoreError != contract.OnRestoreErrorCold || co.RequestedByApp {
		t.Fatalf("coordination metadata %+v, want 3 resources, one unix endpoint, the agent, policy cold", co)
	}
	for _, f := range res.Metadata.OpenFiles {
		if f.Path == "/tmp/coordinated.log" {
			t.Errorf("the log file was open at the dump: its Resource did not close it")
		}
	}

	const delay = 300 // ms that afterRestore takes, asked for at run time
	s := startRef(t, ref, "GREETING=hello container", "AFTER_RESTORE_DELAY_MS="+strconv.Itoa(delay))
	if mode, reason := s.r.WaitMode(5 * time.Second); mode != "restored" {
		t.Fatalf("launcher mode %q (%s), want restored", mode, reason)
	}
	// "restored in" is printed once afterRestore has finished.
	m := restoredIn.FindStringSubmatch(s.stderr.String())
	if m == nil {
		t.Fatalf("no 'restored in' line on stderr: %q", s.stderr.String())
	}
	if ms, _ := strconv.Atoi(m[1]); ms < delay {
		t.Errorf("restored in %d ms, but afterRestore alone took %d ms: the launcher did not wait for it", ms, delay)
	}
	want := []string{
		"beforeCheckpoint env", "beforeCheckpoint log", "beforeCheckpoint server",
		"afterRestore server", "afterRestore log", "afterRestore env GREETING=hello container getenv=null",
	}
	got := events(t, s)
	if diff := cmp.Diff(got, want); diff != "" {
		t.Fatalf("notifications in the restored JVM (-got +want):\n%s", diff)
	}
	// The restored JVM serves (its server was closed before the dump and
	// reopened by afterRestore) and carries the warmup's count on; the
	// environment is the container's through the agent, the build's
	// through System.getenv().
	body := get(t, s.url+"/")
	if !strings.Contains(body, "greeting hello container") {
		t.Errorf("GET / = %q, want the container's GREETING", body)
	}
	if m := regexp.MustCompile(`requests served (\d+)`).FindStringSubmatch(body); m == nil {
		t.Errorf("GET / = %q", body)
	} else if n, _ := strconv.Atoi(m[1]); n <= 20 {
		t.Errorf("GET / = %q: want the 20 warmup requests carried over", body)
	}
	// The log file was reopened in the restored container's filesystem.
	log, err := os.ReadFile(filepath.Join(s.r.Container().RootFS(), "tmp/coordinated.log"))
	if err != nil || !strings.Contains(string(log), "checkpoint\nrestored\n") {
		t.Errorf("the container's /tmp/coordinated.log = %q (%v), want the Resource's close and reopen", log, err)
	}
	// A restored JVM listens on nothing of crac-build's.
	agentDir := fmt.Sprintf("/proc/%d/root%s", s.r.Container().InitPID(), contract.AgentDir)
	if !waitFor(func() bool { ents, _ := os.ReadDir(agentDir); return len(ents) == 0 }) {
		ents, _ := os.ReadDir(agentDir)
		t.Errorf("the agent left files in %s after the restore: %v", contract.AgentDir, ents)
	}
	fmt.Printf("coordination: before=%d after=%d in order\n", countPrefix(got, "beforeCheckpoint"), countPrefix(got, "afterRestore"))
}

// The org.crac facade registers proxies that hold the application's
// Resources weakly, as the published library does. A Resource the
// application keeps is notified after full GCs, before the checkpoint and
// after the restore; one it drops in its beforeCheckpoint still gets
// afterRestore (the builder's pre-dump GC comes in between); one it never
// kept is collected and never notified.
func TestCoordinationFullGC(t *testing.T) {
	ref, res := coordinatedImage(t, "coordinated-gc", nil, "GC_TEST=1")
	// The agent counts the proxies it notified: the collected Resource's
	// stays until its WeakHashMap entry is expunged, and does nothing.
	if co := res.Metadata.Coordination; co == nil || co.Resources < 4 || co.Resources > 5 {
		t.Fatalf("coordination metadata %+v, want 4 Resources notified (5 with the collected one's proxy)", co)
	}
	s := startRef(t, ref, "GREETING=gc")
	if mode, reason := s.r.WaitMode(5 * time.Second); mode != "restored" {
		t.Fatalf("launcher mode %q (%s), want restored", mode, reason)
	}
	got := events(t, s)
	if len(got) == 0 || !regexp.MustCompile(`^full GCs: \d+, unreferenced resource collected: true$`).MatchString(got[0]) {
		t.Fatalf("events %q: want the full GCs to have collected the unreferenced Resource first", got)
	}
	want := []string{
		"beforeCheckpoint one-shot", "beforeCheckpoint env", "beforeCheckpoint log", "beforeCheckpoint server",
		"afterRestore server", "afterRestore log", "afterRestore env GREETING=gc getenv=null", "afterRestore one-shot",
	}
	if diff := cmp.Diff(got[1:], want); diff != "" {
		t.Errorf("notifications in the restored JVM (-got +want):\n%s", diff)
	}
	if body := get(t, s.url+"/"); !strings.Contains(body, "greeting gc") {
		t.Errorf("GET / = %q, want the restored server", body)
	}
}

func countPrefix(lines []string, p string) int {
	n := 0
	for _, l := range lines {
		if strings.HasPrefix(l, p) {
			n++
		}
	}
	return n
}

// The image's policy (cold, the default): a failed afterRestore is reported
// with its stack trace, the restored JVM is killed, the application starts
// cold and serves.
func TestCoordinationAfterRestoreFails(t *testing.T) {
	ref, _ := coordinatedImage(t, "coordinated", nil)
	s := startRef(t, ref, "FAIL_AFTER_RESTORE=1")
	mode, reason := s.r.WaitMode(10 * time.Second)
	if mode != "cold" || !strings.Contains(reason, "afterRestore failed") || !strings.Contains(reason, "EnvResource") {
		t.Fatalf("launcher mode %q reason %q, want a cold start naming the failed afterRestore", mode, reason)
	}
	for _, want := range []string{"crac-launch: afterRestore failed:", "IllegalStateException: afterRestore fails because FAIL_AFTER_RESTORE=1", "at Coordinated$EnvResource.afterRestore("} {
		if !strings.Contains(s.stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, s.stderr)
		}
	}
	// The restored JVM may have served for a moment (its server reopened
	// before the failing Resource ran); the cold one takes over.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := s.r.Probe(ctx, s.url+"/health"); err != nil {
		t.Fatal(err)
	}
	if body := get(t, s.url+"/"); !strings.Contains(body, "requests served 1,") {
		t.Errorf("GET / = %q, want a cold JVM's first request", body)
	}
}

// A Resource's beforeCheckpoint exception fails the build, naming the
// Resource with its stack trace; nothing is written.
func TestCoordinationBeforeCheckpointFailsBuild(t *testing.T) {
	requireCoordination(t)
	helloImage(t)
	out := filepath.Join(t.TempDir(), "images")
	_, err := buildCoordinated(t, "oci-layout:"+out+":fail", nil, "FAIL_BEFORE_CHECKPOINT=1")
	if err == nil {
		t.Fatal("the build succeeded although a Resource's beforeCheckpoint threw")
	}
	for _, want := range []string{
		"beforeCheckpoint of org.crac.ResourceWrapper[FailingResource] failed",
		"java.io.IOException: FailingResource cannot be checkpointed",
		"at Coordinated$FailingResource.beforeCheckpoint(Coordinated.java:",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("build error lacks %q:\n%v", want, err)
		}
	}
	if _, serr := os.Stat(out); !os.IsNotExist(serr) {
		t.Errorf("a failed build wrote %s", out)
	}
}

// App-initiated: the application calls Core.checkpointRestore() in main()
// before its server starts (as Spring's onRefresh does). The builder
// checkpoints then, without waiting for readiness or warming up; the call
// returns in the restored container. A cold start of the same image runs
// with the agent too, where the call returns at once.
func TestCoordinationAppInitiated(t *testing.T) {
	ref, res := coordinatedImage(t, "appinit", nil, "CHECKPOINT_AT_START=1")
	co := res.Metadata.Coordination
	if co == nil || !co.RequestedByApp || co.Resources != 3 {
		t.Fatalf("coordination metadata %+v, want an app-initiated checkpoint of 3 resources", co)
	}
	if res.Metadata.Warmup.Requests != 0 {
		t.Errorf("the builder warmed up (%d requests) an application that asked for its checkpoint", res.Metadata.Warmup.Requests)
	}

	s := startRef(t, ref, "GREETING=hi")
	if mode, reason := s.r.WaitMode(5 * time.Second); mode != "restored" {
		t.Fatalf("launcher mode %q (%s), want restored", mode, reason)
	}
	want := []string{
		"checkpointRestore requested",
		"beforeCheckpoint env", "beforeCheckpoint log", "beforeCheckpoint server",
		"afterRestore server", "afterRestore log", "afterRestore env GREETING=hi getenv=null",
		"checkpointRestore returned GREETING=hi",
	}
	got := events(t, s)
	if diff := cmp.Diff(got, want); diff != "" {
		t.Fatalf("notifications in the restored JVM (-got +want):\n%s", diff)
	}
	if _, err := s.r.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("coordination: before=%d after=%d in order\n", countPrefix(got, "beforeCheckpoint"), countPrefix(got, "afterRestore"))

	cold := startRef(t, ref, "CRAC_RESTORE=off", "GREETING=cold")
	if mode, _ := cold.r.WaitMode(5 * time.Second); mode != "cold" {
		t.Fatalf("launcher mode %q, want cold", mode)
	}
	// Without the agent the facade would throw and main() would end.
	if diff := cmp.Diff(events(t, cold), []string{"checkpointRestore requested", "checkpointRestore returned GREETING=cold"}); diff != "" {
		t.Errorf("notifications in the cold JVM (-got +want):\n%s", diff)
	}
}

// An application that never touches org.crac (examples/hello) runs with the
// agent as before: no Resources, one agent told before and after.
func TestCoordinationHelloUnaffected(t *testing.T) {
	ref := helloImage(t)
	info, err := inspect.Image(context.Background(), ref, registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	co := info.Metadata.Coordination
	if co == nil || co.Resources != 0 || len(co.Endpoints) != 1 {
		t.Fatalf("hello's coordination metadata %+v, want one agent and no resources", co)
	}
	s := startRef(t, ref)
	if mode, reason := s.r.WaitMode(5 * time.Second); mode != "restored" {
		t.Fatalf("launcher mode %q (%s), want restored", mode, reason)
	}
	if body := get(t, s.url+"/"); !strings.Contains(body, "hello from crac-build") {
		t.Errorf("GET / = %q", body)
	}
}

// JDKs 11 to 15 have no Unix sockets in java.nio: there the agent listens on
// 127.0.0.1, and CRIU restores that listener as it does the application's.
// Forced here on JDK 17 with the agent's system property.
func TestCoordinationTCPChannel(t *testing.T) {
	ref, res := coordinatedImage(t, "tcp", []string{"-Dcrac-build.agent.channel=tcp"})
	co := res.Metadata.Coordination
	if co == nil || len(co.Endpoints) != 1 || co.Endpoints[0].Network != "tcp" || !strings.HasPrefix(co.Endpoints[0].Address, "127.0.0.1:") {
		t.Fatalf("coordination metadata %+v, want one tcp endpoint on 127.0.0.1", co)
	}
	s := startRef(t, ref, "GREETING=tcp")
	if mode, reason := s.r.WaitMode(5 * time.Second); mode != "restored" {
		t.Fatalf("launcher mode %q (%s), want restored", mode, reason)
	}
	got := events(t, s)
	want := []string{
		"beforeCheckpoint env", "beforeCheckpoint log", "beforeCheckpoint server",
		"afterRestore server", "afterRestore log", "afterRestore env GREETING=tcp getenv=null",
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Fatalf("notifications in the restored JVM (-got +want):\n%s", diff)
	}
	fmt.Printf("coordination: before=%d after=%d in order\n", countPrefix(got, "beforeCheckpoint"), countPrefix(got, "afterRestore"))
}
