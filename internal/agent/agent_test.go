package agent

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/crac-build/crac-build/internal/contract"
	"github.com/crac-build/crac-build/internal/testutil"
)

func TestAddJavaOption(t *testing.T) {
	opt := "-javaagent:/a.jar=build"
	for _, tc := range []struct {
		cmd, env         []string
		wantCmd, wantEnv []string
	}{
		{[]string{"java", "-jar", "x.jar"}, []string{"A=1"}, []string{"java", opt, "-jar", "x.jar"}, []string{"A=1"}},
		{[]string{"/opt/jdk/bin/java", "-cp", "x", "M"}, nil, []string{"/opt/jdk/bin/java", opt, "-cp", "x", "M"}, []string{}},
		{[]string{"/app/run.sh"}, []string{"A=1"}, []string{"/app/run.sh"}, []string{"A=1", "JAVA_TOOL_OPTIONS=" + opt}},
		{[]string{"sh", "-c", "java -jar x"}, []string{"JAVA_TOOL_OPTIONS=-Xmx1g", "B=2"}, []string{"sh", "-c", "java -jar x"}, []string{"JAVA_TOOL_OPTIONS=" + opt + " -Xmx1g", "B=2"}},
	} {
		cmd, env := append([]string(nil), tc.cmd...), append([]string(nil), tc.env...)
		gotCmd, gotEnv := AddJavaOption(cmd, env, opt)
		if diff := cmp.Diff(gotCmd, tc.wantCmd); diff != "" {
			t.Errorf("AddJavaOption(%q) command (-got +want):\n%s", tc.cmd, diff)
		}
		if diff := cmp.Diff(gotEnv, tc.wantEnv); diff != "" {
			t.Errorf("AddJavaOption(%q, %q) env (-got +want):\n%s", tc.cmd, tc.env, diff)
		}
		if !cmp.Equal(cmd, tc.cmd) || !cmp.Equal(env, tc.env) {
			t.Errorf("AddJavaOption changed its arguments: %q %q", cmd, env)
		}
	}
	if got := JavaOption("/x/crac-agent.jar", false); got != "-javaagent:/x/crac-agent.jar" {
		t.Errorf("JavaOption cold = %q", got)
	}
}

func TestFindAndRequests(t *testing.T) {
	root := t.TempDir()
	if eps, err := Find(root); err != nil || len(eps) != 0 {
		t.Errorf("Find without the directory = %v, %v; want nothing", eps, err)
	}
	dir := filepath.Join(root, contract.AgentDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{
		"140.tcp":         "127.0.0.1:4242\n",
		"131.request":     "ready\n",
		"150.request":     "failed\nbeforeCheckpoint of X failed:\njava.io.IOException: no\n",
		"junk.sock":       "",
		"131.request.tmp": "half",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// A real socket, as the agent makes it.
	ln, err := net.Listen("unix", filepath.Join(dir, "131.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	eps, err := Find(root)
	if err != nil {
		t.Fatal(err)
	}
	want := []contract.AgentEndpoint{
		{PID: 131, Network: "unix", Address: contract.AgentDir + "/131.sock"},
		{PID: 140, Network: "tcp", Address: "127.0.0.1:4242"},
	}
	if diff := cmp.Diff(eps, want); diff != "" {
		t.Errorf("Find (-got +want):\n%s", diff)
	}
	reqs, err := Requests(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(reqs) != 2 || reqs[0].PID != 131 || reqs[0].Failed || reqs[1].PID != 150 || !reqs[1].Failed ||
		!strings.Contains(reqs[1].Report, "java.io.IOException: no") {
		t.Fatalf("Requests = %+v", reqs)
	}
	if err := reqs[1].Ack(); err != nil {
		t.Fatal(err)
	}
	if reqs, _ := Requests(root); len(reqs) != 1 {
		t.Errorf("after Ack, Requests = %+v, want only the ready one", reqs)
	}
}

// The tests below run examples/coordinated, an application that uses the
// org.crac API through a stand-in for the org.crac facade (it finds the
// agent by reflection, as the real one does), with the real agent in a
// real JVM on the host. CRIU plays no part: e2e/ checkpoints it for real.

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// requireJVM returns the agent jar and the example's jar; it skips when
// they or java are missing, but fails when CRAC_E2E=1 (make test).
func requireJVM(t *testing.T) (agentJar, appJar string) {
	t.Helper()
	root := repoRoot()
	agentJar = filepath.Join(root, "bin", JarName)
	appJar = filepath.Join(root, "examples/coordinated/build/coordinated.jar")
	var missing []string
	if _, err := exec.LookPath("java"); err != nil {
		missing = append(missing, "java")
	}
	for _, p := range []string{agentJar, appJar} {
		if _, err := os.Stat(p); err != nil {
			missing = append(missing, p+" (make agent coordinated)")
		}
	}
	if len(missing) > 0 {
		msg := "needs " + strings.Join(missing, ", ")
		if os.Getenv("CRAC_E2E") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return agentJar, appJar
}

type app struct {
	t    *testing.T
	root string // stands for a container's root: the agent listens in root/dev/shm/crac-build-agent
	url  string
	out  *testutil.SyncBuffer
	done chan struct{}
	cmd  *exec.Cmd
}

// startApp runs the example with the agent (options agentArgs, "" for no
// agent) on a free loopback port.
func startApp(t *testing.T, agentArgs string, env ...string) *app {
	t.Helper()
	agentJar, appJar := requireJVM(t)
	a := &app{t: t, root: t.TempDir(), out: &testutil.SyncBuffer{}, done: make(chan struct{})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	a.url = "http://127.0.0.1:" + strconv.Itoa(port)
	args := []string{"-XX:-UsePerfData"}
	switch agentArgs {
	case "":
	case "-":
		args = append(args, "-javaagent:"+agentJar)
	default:
		args = append(args, "-javaagent:"+agentJar+"="+strings.ReplaceAll(agentArgs, "DIR", filepath.Join(a.root, contract.AgentDir)))
	}
	a.cmd = exec.Command("java", append(args, "-jar", appJar)...)
	a.cmd.Env = append(os.Environ(), "HOST=127.0.0.1", "PORT="+strconv.Itoa(port), "LOG_FILE="+filepath.Join(a.root, "app.log"))
	a.cmd.Env = append(a.cmd.Env, env...)
	a.cmd.Stdout, a.cmd.Stderr = a.out, a.out
	if err := a.cmd.Start(); err != nil {
		t.Fatalf("starting java: %v", err)
	}
	go func() { _ = a.cmd.Wait(); close(a.done) }()
	t.Cleanup(func() {
		_ = a.cmd.Process.Kill()
		<-a.done
		if t.Failed() {
			t.Logf("application output:\n%s", a.out)
		}
	})
	return a
}

func (a *app) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	if network == "unix" {
		addr = a.root + addr
	}
	return d.DialContext(ctx, network, addr)
}

// waitFor polls cond for up to 20 s (a JVM starting on a loaded machine).
func (a *app) waitFor(what string, cond func() bool) {
	a.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		select {
		case <-a.done:
			if cond() {
				return
			}
			a.t.Fatalf("the application exited while waiting for %s", what)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func (a *app) endpoint() contract.AgentEndpoint {
	a.t.Helper()
	var eps []contract.AgentEndpoint
	a.waitFor("the agent's endpoint", func() bool {
		var err error
		eps, err = Find(a.root)
		return err == nil && len(eps) == 1
	})
	return eps[0]
}

func (a *app) get(path string) (string, error) {
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(a.url + path)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return string(b), err
}

func (a *app) mustGet(path string) string {
	a.t.Helper()
	var body string
	a.waitFor("GET "+path, func() bool {
		var err error
		body, err = a.get(path)
		return err == nil
	})
	return body
}

func (a *app) events() []string {
	a.t.Helper()
	return strings.Fields(strings.ReplaceAll(a.mustGet("/events"), " ", "_"))
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

func TestCoordinationProtocol(t *testing.T) {
	for _, channel := range []string{"unix", "tcp"} {
		t.Run(channel, func(t *testing.T) {
			a := startApp(t, "build,dir=DIR,channel="+channel)
			ep := a.endpoint()
			if ep.Network != channel {
				t.Fatalf("endpoint %+v, want a %s channel", ep, channel)
			}
			a.mustGet("/")
			n, err := Checkpoint(ctx(t), a.dial, ep)
			if err != nil || n != 3 {
				t.Fatalf("Checkpoint = %d, %v; want 3 resources", n, err)
			}
			// The server resource closed its listener; the JVM, left
			// with no thread of the application, must stay alive until
			// it is dumped and restored.
			if _, err := a.get("/health"); err == nil {
				t.Error("the server still answers after beforeCheckpoint closed it")
			}
			select {
			case <-a.done:
				t.Fatal("the JVM exited after beforeCheckpoint")
			case <-time.After(300 * time.Millisecond):
			}
			n, err = Restore(ctx(t), a.dial, ep, []string{"GREETING=from the container", "PATH=/bin"})
			if err != nil || n != 3 {
				t.Fatalf("Restore = %d, %v; want 3 resources", n, err)
			}
			want := []string{
				"beforeCheckpoint_env", "beforeCheckpoint_log", "beforeCheckpoint_server",
				"afterRestore_server", "afterRestore_log", "afterRestore_env_GREETING=from_the_container_getenv=null",
			}
			if diff := cmp.Diff(a.events(), want); diff != "" {
				t.Errorf("notifications (-got +want):\n%s", diff)
			}
			if body := a.mustGet("/"); !strings.Contains(body, "greeting from the container") {
				t.Errorf("GET / = %q, want the container's GREETING", body)
			}
			log, _ := os.ReadFile(filepath.Join(a.root, "app.log"))
			if !strings.HasSuffix(string(log), "checkpoint\nrestored\nrequest 2\n") {
				t.Errorf("the log resource did not close and reopen its file: %q", log)
			}
			// A restored JVM listens on nothing of crac-build's.
			a.waitFor("the agent to close its channel", func() bool { eps, _ := Find(a.root); return len(eps) == 0 })
			if _, err := Checkpoint(ctx(t), a.dial, ep); err == nil {
				t.Error("the agent still answers after the restore")
			}
			fmt.Printf("coordination: before=3 after=3 in order\n")
		})
	}
}

func TestCoordinationBeforeCheckpointFails(t *testing.T) {
	a := startApp(t, "build,dir=DIR", "FAIL_BEFORE_CHECKPOINT=1")
	ep := a.endpoint()
	a.mustGet("/health")
	_, err := Checkpoint(ctx(t), a.dial, ep)
	var ae *Error
	if !errors.As(err, &ae) {
		t.Fatalf("Checkpoint = %v, want an *agent.Error", err)
	}
	for _, want := range []string{
		"beforeCheckpoint of org.crac.ResourceWrapper[FailingResource] failed:",
		"java.io.IOException: FailingResource cannot be checkpointed",
		"at Coordinated$FailingResource.beforeCheckpoint(Coordinated.java:",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if s := ae.Summary(); strings.Contains(s, "\n") || !strings.Contains(s, "FailingResource") {
		t.Errorf("Summary() = %q, want one line naming the resource", s)
	}
	// As after any failed checkpoint, the notified resources got
	// afterRestore: the application serves again.
	a.mustGet("/health")
	got := a.events()
	want := []string{
		"beforeCheckpoint_failing", "beforeCheckpoint_env", "beforeCheckpoint_log", "beforeCheckpoint_server",
		"afterRestore_server", "afterRestore_log", "afterRestore_env_GREETING=null_getenv=null", "afterRestore_failing",
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("notifications (-got +want):\n%s", diff)
	}
}

func TestCoordinationAppInitiated(t *testing.T) {
	a := startApp(t, "build,dir=DIR", "CHECKPOINT_AT_START=1")
	ep := a.endpoint()
	var reqs []Request
	a.waitFor("the application's checkpoint request", func() bool { reqs, _ = Requests(a.root); return len(reqs) == 1 })
	if reqs[0].Failed {
		t.Fatalf("request failed: %s", reqs[0].Report)
	}
	n, err := Checkpoint(ctx(t), a.dial, ep)
	if err != nil || n != 3 {
		t.Fatalf("Checkpoint after the app's request = %d, %v; want the 3 resources it notified", n, err)
	}
	if _, err := a.get("/health"); err == nil {
		t.Fatal("the server runs while checkpointRestore() has not returned")
	}
	if n, err := Restore(ctx(t), a.dial, ep, []string{"GREETING=restored"}); err != nil || n != 3 {
		t.Fatalf("Restore = %d, %v", n, err)
	}
	a.mustGet("/health")
	want := []string{
		"checkpointRestore_requested",
		"beforeCheckpoint_env", "beforeCheckpoint_log", "beforeCheckpoint_server",
		"afterRestore_server", "afterRestore_log", "afterRestore_env_GREETING=restored_getenv=null",
		"checkpointRestore_returned_GREETING=restored",
	}
	if diff := cmp.Diff(a.events(), want); diff != "" {
		t.Errorf("notifications (-got +want):\n%s", diff)
	}
}

func TestCoordinationAppInitiatedFails(t *testing.T) {
	a := startApp(t, "build,dir=DIR", "CHECKPOINT_AT_START=1", "FAIL_BEFORE_CHECKPOINT=1")
	var reqs []Request
	a.waitFor("the application's checkpoint request", func() bool { reqs, _ = Requests(a.root); return len(reqs) == 1 })
	if !reqs[0].Failed || !strings.Contains(reqs[0].Report, "at Coordinated$FailingResource.beforeCheckpoint") {
		t.Fatalf("request %+v, want a failure with FailingResource's stack trace", reqs[0])
	}
	// The agent holds the application until the builder has read why.
	select {
	case <-a.done:
		t.Fatal("the application went on before the builder read its failed request")
	case <-time.After(300 * time.Millisecond):
	}
	if err := reqs[0].Ack(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.done:
	case <-time.After(20 * time.Second):
		t.Fatal("the application did not go on after the acknowledgement")
	}
	if !strings.Contains(a.out.String(), "org.crac.CheckpointException") {
		t.Errorf("the application did not get a CheckpointException:\n%s", a.out)
	}
}

// A cold start of an image runs the agent without build mode: checkpointRestore
// returns at once, and nothing listens.
func TestCoordinationColdStart(t *testing.T) {
	a := startApp(t, "-", "CHECKPOINT_AT_START=1")
	a.mustGet("/health")
	want := []string{"checkpointRestore_requested", "checkpointRestore_returned_GREETING=null"}
	if diff := cmp.Diff(a.events(), want); diff != "" {
		t.Errorf("notifications (-got +want):\n%s", diff)
	}
	if _, err := os.Stat(filepath.Join(a.root, contract.AgentDir)); err == nil {
		t.Error("the agent listens outside a build")
	}
}

// Without the agent the facade finds no implementation and behaves as on
// any stock JDK: the lookup the agent answers is the real one.
func TestCoordinationFacadeWithoutAgent(t *testing.T) {
	a := startApp(t, "", "CHECKPOINT_AT_START=1")
	select {
	case <-a.done:
	case <-time.After(20 * time.Second):
		t.Fatal("checkpointRestore() without an implementation did not fail")
	}
	if !strings.Contains(a.out.String(), "UnsupportedOperationException") {
		t.Errorf("want UnsupportedOperationException from the facade:\n%s", a.out)
	}
}

func TestCoordinationUnknownRequest(t *testing.T) {
	a := startApp(t, "build,dir=DIR")
	ep := a.endpoint()
	_, err := call(ctx(t), a.dial, ep, "HELLO", nil)
	if err == nil || !strings.Contains(err.Error(), "unknown request") {
		t.Errorf("HELLO: %v, want the agent to refuse it", err)
	}
	// RESTORE of a JVM that was not prepared is refused too.
	if _, err := Restore(ctx(t), a.dial, ep, nil); err == nil || !strings.Contains(err.Error(), "not prepared") {
		t.Errorf("RESTORE without CHECKPOINT: %v", err)
	}
}

// The jar goes into the runtime layer, which must be byte-identical for
// identical inputs; its classes must load on Java 11.
func TestJarReproducible(t *testing.T) {
	for _, tool := range []string{"javac", "jar"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CRAC_E2E") == "1" {
				t.Fatalf("needs %s", tool)
			}
			t.Skipf("needs %s", tool)
		}
	}
	var jars [2][]byte
	for i := range jars {
		out := filepath.Join(t.TempDir(), JarName)
		cmd := exec.Command("bash", filepath.Join(repoRoot(), "agent/build.sh"), out)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("agent/build.sh: %v\n%s", err, b)
		}
		var err error
		if jars[i], err = os.ReadFile(out); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			time.Sleep(1100 * time.Millisecond) // a timestamp would differ now
		}
	}
	if !bytes.Equal(jars[0], jars[1]) {
		t.Fatal("two builds of the agent jar differ")
	}
	zr, err := zip.NewReader(bytes.NewReader(jars[0]), int64(len(jars[0])))
	if err != nil {
		t.Fatal(err)
	}
	classes := 0
	for _, f := range zr.File {
		if f.Name == "META-INF/MANIFEST.MF" {
			b := readZip(t, f)
			for _, want := range []string{"Premain-Class: dev.cracbuild.crac.Agent", "Boot-Class-Path: " + JarName} {
				if !strings.Contains(string(b), want) {
					t.Errorf("manifest lacks %q:\n%s", want, b)
				}
			}
		}
		if !strings.HasSuffix(f.Name, ".class") {
			continue
		}
		classes++
		b := readZip(t, f)
		// Class file major version 55 is Java 11.
		if len(b) < 8 || b[6] != 0 || b[7] != 55 {
			t.Errorf("%s is not Java 11 bytecode (major %v)", f.Name, b[6:8])
		}
	}
	if classes == 0 {
		t.Error("no classes in the jar")
	}
}

func readZip(t *testing.T, f *zip.File) []byte {
	t.Helper()
	r, err := f.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Notifications run in the agent's thread, with the context class loader
// of the thread that registered each Resource.
func TestCoordinationContextClassLoader(t *testing.T) {
	agentJar, _ := requireJVM(t)
	if _, err := exec.LookPath("javac"); err != nil {
		t.Skip("needs javac")
	}
	classes := t.TempDir()
	if b, err := exec.Command("javac", "--release", "11", "-cp", agentJar, "-d", classes, filepath.Join(repoRoot(), "internal/agent/testdata/LoaderApp.java")).CombinedOutput(); err != nil {
		t.Fatalf("javac: %v\n%s", err, b)
	}
	root := t.TempDir()
	out := &testutil.SyncBuffer{}
	cmd := exec.Command("java", "-XX:-UsePerfData", "-javaagent:"+agentJar+"=build,dir="+filepath.Join(root, contract.AgentDir), "-cp", classes, "LoaderApp")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-done })
	a := &app{t: t, root: root, out: out, done: done, cmd: cmd}
	ep := a.endpoint()
	a.waitFor("registration", func() bool { return strings.Contains(out.String(), "registered") })
	if _, err := Checkpoint(ctx(t), a.dial, ep); err != nil {
		t.Fatal(err)
	}
	if _, err := Restore(ctx(t), a.dial, ep, nil); err != nil {
		t.Fatal(err)
	}
	// The JVM's stdout reaches the buffer through a pipe: wait for it.
	for _, want := range []string{"beforeCheckpoint context loader kept", "afterRestore context loader kept"} {
		a.waitFor(want, func() bool { return strings.Contains(out.String(), want) })
	}
}
