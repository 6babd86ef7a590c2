package launcher

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"github.com/crac-build/crac-build/internal/contract"
	"github.com/crac-build/crac-build/internal/proc"
)

// MinPID is the lowest PID the application gets in the build sandbox. At
// restore the launcher (PID 1), its Go runtime threads and criu take the
// low PIDs of the fresh namespace; every PID and TID the checkpoint holds
// must still be free then. 128 leaves room for those with a wide margin.
const MinPID = 128

// Init runs the application as PID 1 of the build sandbox would: it burns
// PIDs until the next one is >= MinPID, starts argv in its own session
// (CRIU dumps a tree only from a session leader inside its namespace),
// forwards signals, reaps, and returns the application's exit status.
// user, if set, is who the application runs as (init stays root, to dump
// it). The returned PID callback, if set, receives the application's PID.
func Init(argv []string, user *contract.User, started func(pid int)) (int, error) {
	if len(argv) == 0 {
		return 0, fmt.Errorf("init: no command")
	}
	sigs := Signals()
	if err := BurnPIDs(MinPID); err != nil {
		return 0, err
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return 0, fmt.Errorf("init: finding %q: %w", argv[0], err)
	}
	cmd := exec.Command(path, argv[1:]...)
	cmd.Args[0] = argv[0]
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Credential: credential(user)}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("init: starting %q: %w", argv[0], err)
	}
	pid := cmd.Process.Pid
	if pid < MinPID {
		_ = cmd.Process.Kill()
		return 0, fmt.Errorf("init: application got PID %d, below %d", pid, MinPID)
	}
	if started != nil {
		started(pid)
	}
	return Supervise(pid, sigs), nil
}

// BurnPIDs forks short-lived children until the namespace's last PID is at
// least floor-1, so the next process gets a PID >= floor. clone3 with
// set_tid alone is not enough: the JVM's threads would then take TIDs 2, 3,
// ... that clash with the launcher's at restore.
func BurnPIDs(floor int) error {
	// A fork whose exec fails is the cheapest way to use up a PID: Go's
	// ForkExec reaps the failed child itself.
	attr := &syscall.ProcAttr{Files: []uintptr{}}
	for i := 0; i < floor+64; i++ {
		last, err := lastPID()
		if err == nil && last >= floor-1 {
			return nil
		}
		_, _ = syscall.ForkExec("/nonexistent/crac-launch-burn-pid", []string{"burn"}, attr)
		if err != nil && i >= floor {
			return nil // cannot read ns_last_pid; floor forks were enough
		}
	}
	last, err := lastPID()
	if err != nil {
		return nil
	}
	if last < floor-1 {
		return fmt.Errorf("init: could not raise the next PID to %d (last PID %d)", floor, last)
	}
	return nil
}

func lastPID() (int, error) {
	return proc.Sysctl("kernel/ns_last_pid")
}
