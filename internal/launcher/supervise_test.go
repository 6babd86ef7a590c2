package launcher

import (
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// These tests reap with wait4(-1) as PID 1 does: none of the package's tests
// may run in parallel, or one would reap another's children.

// resetSignals undoes the launcher's signal handling when the test ends, so
// that the test binary dies of SIGTERM or SIGINT again.
func resetSignals(t *testing.T) {
	t.Cleanup(func() { signal.Reset(append([]os.Signal{syscall.SIGCHLD}, forwarded...)...) })
}

func TestExitStatus(t *testing.T) {
	for _, tc := range []struct {
		script string
		want   int
	}{
		{"exit 0", 0},
		{"exit 3", 3},
		{"exit 255", 255},
		{"kill -TERM $$", 128 + 15},
		{"kill -KILL $$", 128 + 9},
	} {
		cmd := exec.Command("sh", "-c", tc.script)
		_ = cmd.Run()
		ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
		if !ok {
			t.Fatalf("no wait status for %q", tc.script)
		}
		if got := exitStatus(unix.WaitStatus(ws)); got != tc.want {
			t.Errorf("sh -c %q: exitStatus = %d, want %d", tc.script, got, tc.want)
		}
	}
	// Neither exited nor signaled (stopped): a failure, not success.
	if got := exitStatus(unix.WaitStatus(0x137f)); got != 1 {
		t.Errorf("stopped: exitStatus = %d, want 1", got)
	}
}

// supervise runs Supervise with a deadline.
func supervise(t *testing.T, cmd *exec.Cmd, sigs chan os.Signal, during func()) int {
	t.Helper()
	done := make(chan int, 1)
	go func() { done <- Supervise(cmd.Process.Pid, sigs) }()
	if during != nil {
		during()
	}
	select {
	case st := <-done:
		return st
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("Supervise did not return")
		return 0
	}
}

func TestSuperviseExitCode(t *testing.T) {
	resetSignals(t)
	sigs := Signals()
	defer signal.Stop(sigs)
	// An orphan-like extra child exits first: it is reaped, not returned.
	other := exec.Command("sh", "-c", "exit 9")
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", "sleep 0.2; exit 7")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if got := supervise(t, cmd, sigs, nil); got != 7 {
		t.Errorf("Supervise = %d, want the application's 7", got)
	}
	if _, err := os.Stat("/proc/" + strconv.Itoa(other.Process.Pid)); err == nil {
		if b, _ := os.ReadFile("/proc/" + strconv.Itoa(other.Process.Pid) + "/stat"); strings.Contains(string(b), ") Z ") {
			t.Errorf("the other child is a zombie: Supervise did not reap it")
		}
	}
}

func TestSuperviseForwardsSignals(t *testing.T) {
	resetSignals(t)
	sigs := Signals()
	defer signal.Stop(sigs)

	// SIGUSR1 is handled by the application: it exits with its own code.
	cmd := exec.Command("sh", "-c", `trap 'exit 42' USR1; echo ready; while :; do sleep 0.05; done`)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 6)
	if _, err := out.Read(buf); err != nil { // the trap is set
		t.Fatal(err)
	}
	got := supervise(t, cmd, sigs, func() {
		if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
			t.Error(err)
		}
	})
	if got != 42 {
		t.Errorf("after SIGUSR1: status %d, want 42 from the application's trap", got)
	}

	// SIGTERM is not handled: the application dies of it.
	cmd = exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	got = supervise(t, cmd, sigs, func() {
		time.Sleep(50 * time.Millisecond)
		if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
			t.Error(err)
		}
	})
	if got != 128+int(syscall.SIGTERM) {
		t.Errorf("after SIGTERM: status %d, want %d", got, 128+int(syscall.SIGTERM))
	}
}

func TestInit(t *testing.T) {
	resetSignals(t)
	if _, err := Init(nil, nil, nil); err == nil || !strings.Contains(err.Error(), "no command") {
		t.Errorf("Init without a command: %v", err)
	}
	if _, err := Init([]string{"crac-build-no-such-program"}, nil, nil); err == nil || !strings.Contains(err.Error(), "crac-build-no-such-program") {
		t.Errorf("Init of a missing program: %v", err)
	}
	var pid int
	st, err := Init([]string{"sh", "-c", "exit 5"}, nil, func(p int) { pid = p })
	if err != nil {
		t.Fatalf("Init: %v", err)
	}
	if st != 5 {
		t.Errorf("Init = %d, want the application's 5", st)
	}
	if pid < MinPID {
		t.Errorf("the application got PID %d, below MinPID %d", pid, MinPID)
	}
}

func TestBurnPIDs(t *testing.T) {
	last, err := lastPID()
	if err != nil {
		t.Skipf("ns_last_pid: %v", err)
	}
	floor := last + 20
	if err := BurnPIDs(floor); err != nil {
		t.Fatalf("BurnPIDs(%d): %v", floor, err)
	}
	now, err := lastPID()
	if err != nil {
		t.Fatal(err)
	}
	if now < floor-1 {
		t.Errorf("last PID %d after BurnPIDs(%d), want >= %d", now, floor, floor-1)
	}
	// A floor already passed costs nothing.
	if err := BurnPIDs(1); err != nil {
		t.Errorf("BurnPIDs(1): %v", err)
	}
	if after, _ := lastPID(); after > now+10 {
		t.Errorf("BurnPIDs(1) used PIDs %d..%d", now, after)
	}
}
