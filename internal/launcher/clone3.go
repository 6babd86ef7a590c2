package launcher

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/crac-build/crac-build/internal/proc"
)

// ModeProbeClone3 is the launcher's internal mode that runs ProbeClone3.
const ModeProbeClone3 = "probe-clone3"

// checkClone3 checks that CRIU can give restored tasks their PIDs. An
// unprivileged restore does it with clone3(set_tid); Docker's default
// seccomp profile (and containerd's) makes clone3 fail with ENOSYS, and
// CRIU's fallback, writing /proc/sys/kernel/ns_last_pid, is read-only in
// a container. The probe runs in a child: a profile whose action is to
// kill, not to fail the call, must not take PID 1 with it.
func checkClone3(self string) error {
	st, err := proc.Status(proc.Self)
	if err != nil || st["Seccomp"] == "" || st["Seccomp"] == "0" {
		return nil // no filter (or no way to know: CRIU will tell)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, self, "--crac-mode="+ModeProbeClone3).CombinedOutput()
	if err == nil {
		return nil
	}
	if unix.Access("/proc/sys/kernel/ns_last_pid", unix.W_OK) == nil {
		return nil // CRIU's fallback works (a privileged container)
	}
	why := strings.TrimSpace(string(out))
	if why == "" {
		why = err.Error()
	}
	return fmt.Errorf("the seccomp profile blocks clone3 (%s), as Docker's default does, and /proc/sys/kernel/ns_last_pid is read-only: CRIU cannot restore PIDs; run with seccomp/crac-restore.json or seccomp=unconfined", why)
}

// ProbeClone3 calls clone3 with an empty argument struct: the kernel
// answers EINVAL (too small) without creating anything, a seccomp filter
// answers first (ENOSYS, EPERM) or kills the caller. It returns the exit
// status of the probe mode: 0 if the call reached the kernel.
func ProbeClone3() int {
	_, _, errno := unix.Syscall(unix.SYS_CLONE3, 0, 0, 0)
	if errno == unix.EINVAL {
		return 0
	}
	fmt.Fprintf(os.Stderr, "clone3 returns %s", unix.ErrnoName(errno))
	return 1
}
