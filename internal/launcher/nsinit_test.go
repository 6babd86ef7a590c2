package launcher

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// controlPair is the two ends of a control socket: init's and crac-build's.
func controlPair(t *testing.T) (initEnd, builderEnd *os.File) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	return os.NewFile(uintptr(fds[0]), "init"), os.NewFile(uintptr(fds[1]), "builder")
}

// TestServeControl drives the control protocol with real processes: the
// "dump mode" is a shell that prints what the real one would, the
// "application" a sleep that must die when the control socket closes.
func TestServeControl(t *testing.T) {
	app := exec.Command("sleep", "60")
	if err := app.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- app.Wait() }()
	t.Cleanup(func() { _ = app.Process.Kill() })

	initEnd, builderEnd := controlPair(t)
	defer builderEnd.Close()
	var gotArgs []string
	self := func(mode string, args ...string) []string {
		gotArgs = append([]string{mode}, args...)
		if strings.Contains(strings.Join(args, " "), "--fail") {
			return []string{"sh", "-c", "echo 'criu dump failed: reason' >&2; exit 1"}
		}
		return []string{"sh", "-c", `echo '{"process":{"pid":129},"timingsMs":{}}'`}
	}
	done := make(chan struct{})
	go func() {
		serveControl(NamespaceOptions{Control: initEnd, Self: self}, app.Process.Pid)
		close(done)
	}()

	r := bufio.NewReader(builderEnd)
	ask := func(args ...string) DumpReply {
		t.Helper()
		if err := json.NewEncoder(builderEnd).Encode(DumpRequest{Args: args}); err != nil {
			t.Fatal(err)
		}
		line, err := r.ReadBytes('\n')
		if err != nil {
			t.Fatal(err)
		}
		var reply DumpReply
		if err := json.Unmarshal(line, &reply); err != nil {
			t.Fatalf("reply %q: %v", line, err)
		}
		return reply
	}

	rep := ask("--work", "/dev/shm/x")
	if rep.Error != "" || !strings.Contains(string(rep.Report), `"pid":129`) {
		t.Errorf("reply %+v, want the dump mode's report", rep)
	}
	want := []string{"dump", "--pid", strconv.Itoa(app.Process.Pid), "--work", "/dev/shm/x"}
	if strings.Join(gotArgs, " ") != strings.Join(want, " ") {
		t.Errorf("dump mode started with %q, want %q", gotArgs, want)
	}
	if rep := ask("--fail"); rep.Error != "criu dump failed: reason" || rep.Report != nil {
		t.Errorf("reply %+v, want the dump mode's stderr as the error", rep)
	}

	// crac-build closes the socket: init kills the application.
	builderEnd.Close()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("serveControl did not return after the control socket closed")
	}
	select {
	case err := <-exited:
		if ws, ok := app.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
			t.Errorf("application ended with %v, want SIGKILL", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the application still runs after the control socket closed")
	}
}

// A dump mode that prints no report and nothing on stderr still gives a
// reason.
func TestRunDumpWithoutReport(t *testing.T) {
	rep := runDump([]string{"sh", "-c", "exit 0"})
	if rep.Error == "" || rep.Report != nil {
		t.Errorf("reply %+v, want an error", rep)
	}
	rep = runDump([]string{"/nonexistent/crac-launch"})
	if !strings.Contains(rep.Error, "starting the dump") {
		t.Errorf("reply %+v, want a start error", rep)
	}
}
