package launcher

import (
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
)

// forwarded are the signals PID 1 passes on to the application. SIGCHLD is
// handled separately to reap.
var forwarded = []os.Signal{
	syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT,
	syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH, syscall.SIGCONT,
}

// Signals starts catching the signals that PID 1 forwards. Call it as early
// as possible (before a restore) so nothing sent meanwhile is lost; pass the
// channel to Supervise.
func Signals() chan os.Signal {
	ch := make(chan os.Signal, 16)
	signal.Notify(ch, append([]os.Signal{syscall.SIGCHLD}, forwarded...)...)
	return ch
}

// Supervise forwards signals to pid, reaps every child that exits (orphans
// re-parented to PID 1 included), and returns the exit status of pid the
// way a shell reports it: the code, or 128+signal.
func Supervise(pid int, sigs chan os.Signal) int {
	for {
		if st, done := reap(pid); done {
			return st
		}
		s := <-sigs
		if s == syscall.SIGCHLD {
			continue
		}
		_ = syscall.Kill(pid, s.(syscall.Signal))
	}
}

// reap collects every exited child without blocking; done reports whether
// pid was among them (or no longer exists).
func reap(pid int) (status int, done bool) {
	for {
		var ws unix.WaitStatus
		wpid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err == unix.EINTR {
			continue
		}
		if err == unix.ECHILD {
			return 0, true // nothing left to wait for
		}
		if err != nil || wpid <= 0 {
			return 0, false
		}
		if wpid == pid {
			return exitStatus(ws), true
		}
	}
}

func exitStatus(ws unix.WaitStatus) int {
	switch {
	case ws.Exited():
		return ws.ExitStatus()
	case ws.Signaled():
		return 128 + int(ws.Signal())
	}
	return 1
}
