package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	criu "github.com/checkpoint-restore/go-criu/v8"
	"github.com/checkpoint-restore/go-criu/v8/rpc"

	"github.com/crac-build/crac-build/internal/proc"
)

// CRIU log verbosity: 4 is "debug", the level whose tail explains failures;
// the log stays in a scratch dir and is only read on failure.
const criuLogLevel int32 = 4

// DumpOptions configure Dump.
type DumpOptions struct {
	// CriuPath is the executable go-criu runs as `<path> swrk <fd>`.
	CriuPath string
	// PID is the root of the process tree to dump (a session leader).
	PID int
	// ImagesDir receives the CRIU image files.
	ImagesDir string
	// WorkDir receives dump.log.
	WorkDir string
	// TCPClose closes established TCP connections at dump (--tcp-close);
	// without it, half-closed sockets fail the dump or leave DROP rules.
	TCPClose bool
	// Timeout bounds the freeze (criu --timeout), in seconds; 0 is CRIU's default.
	TimeoutSeconds uint32
}

// Dump checkpoints opts.PID with CRIU in unprivileged mode. The process is
// left stopped (SIGSTOP) once dumped; the caller kills it. On failure the error carries the tail of
// CRIU's log.
func Dump(opts DumpOptions) error {
	imgDir, err := os.Open(opts.ImagesDir)
	if err != nil {
		return fmt.Errorf("opening checkpoint images dir: %w", err)
	}
	defer imgDir.Close()
	workDir, err := os.Open(opts.WorkDir)
	if err != nil {
		return fmt.Errorf("opening CRIU work dir: %w", err)
	}
	defer workDir.Close()

	c := criu.MakeCriu()
	c.SetCriuPath(opts.CriuPath)
	o := &rpc.CriuOpts{
		Pid:          ptr(int32(opts.PID)),
		ImagesDirFd:  ptr(int32(imgDir.Fd())),
		WorkDirFd:    ptr(int32(workDir.Fd())),
		LogLevel:     ptr(criuLogLevel),
		LogFile:      ptr("dump.log"),
		Unprivileged: ptr(true),
		TcpClose:     ptr(opts.TCPClose),
		// The tree stays frozen after the dump: if it were killed, the
		// sandbox's init would exit and take this process with it; if it
		// ran on, it could change files after their state was recorded.
		// The builder kills the sandbox once the report is out.
		LeaveStopped: ptr(true),
	}
	if opts.TimeoutSeconds > 0 {
		o.Timeout = ptr(opts.TimeoutSeconds)
	}
	if err := c.Dump(o, criu.NoNotify{}); err != nil {
		return fmt.Errorf("criu dump of process %d: %w\n%s", opts.PID, err, LogTail(filepath.Join(opts.WorkDir, "dump.log"), 25))
	}
	return nil
}

// RestoreOptions configure Restore.
type RestoreOptions struct {
	CriuPath  string
	ImagesDir string
	WorkDir   string
	// Inherit maps inherit-fd keys recorded at dump (e.g. "pipe:[1234]") to
	// the files that replace them, usually the launcher's own stdio.
	Inherit  map[string]*os.File
	TCPClose bool
	// Timeout bounds the whole restore. When it passes, every child of this
	// process (criu and any half-restored task) is SIGKILLed: a criu that
	// lacks a capability can hang forever and ignores SIGTERM.
	Timeout time.Duration
	// LogLevel is criu's log verbosity (0: criuLogLevel, debug). The log
	// is read only on failure, for its last error line, which level 2
	// (warnings) already has; debug logging costs the restore time.
	LogLevel int32
	// Gate, if set, is called once the tree is restored and before it
	// resumes (CRIU's post-restore notification); an error makes CRIU kill
	// the restored tree and Restore fail with it. It lets checks run while
	// CRIU works instead of before.
	Gate func() error
}

// ErrTimeout is returned (wrapped) when a restore did not finish in time.
var ErrTimeout = errors.New("restore timed out")

type pidNotify struct {
	criu.NoNotify
	pid     int32
	gate    func() error
	gateErr error
}

func (n *pidNotify) PostRestore(pid int32) error {
	n.pid = pid
	if n.gate != nil {
		n.gateErr = n.gate()
		return n.gateErr
	}
	return nil
}

// Restore restores the process tree as a child of the calling process
// (CRIU's RstSibling) and returns the PID of its root. The caller must be
// the one to wait for that child.
func Restore(ctx context.Context, opts RestoreOptions) (int, error) {
	imgDir, err := os.Open(opts.ImagesDir)
	if err != nil {
		return 0, fmt.Errorf("opening checkpoint images dir: %w", err)
	}
	defer imgDir.Close()
	workDir, err := os.Open(opts.WorkDir)
	if err != nil {
		return 0, fmt.Errorf("opening CRIU work dir: %w", err)
	}
	defer workDir.Close()

	c := criu.MakeCriu()
	c.SetCriuPath(opts.CriuPath)
	for k, f := range opts.Inherit {
		c.AddInheritFd(k, f)
	}
	o := &rpc.CriuOpts{
		ImagesDirFd:  ptr(int32(imgDir.Fd())),
		WorkDirFd:    ptr(int32(workDir.Fd())),
		LogLevel:     ptr(logLevel(opts.LogLevel)),
		LogFile:      ptr("restore.log"),
		Unprivileged: ptr(true),
		RstSibling:   ptr(true),
		TcpClose:     ptr(opts.TCPClose),
		// The mode of the container's "/" (the task's root and usually
		// its cwd) is the runtime's choice, not the image's: the build
		// sandbox and Docker and containerd give 0755, podman 0555 (and
		// images of builders before 0755 were dumped under 0700). CRIU's
		// mode check on it would refuse every restore under another
		// runtime ("File . has bad mode 040555 (expect 040755)"). The
		// launcher checks size and mode of every file the JVM held open or
		// mapped before it restores, so this skips only the check of dirs.
		SkipFileRwxCheck: ptr(true),
	}
	n := &pidNotify{gate: opts.Gate}
	done := make(chan error, 1)
	go func() { done <- c.Restore(o, n) }()

	var timeout <-chan time.Time
	if opts.Timeout > 0 {
		t := time.NewTimer(opts.Timeout)
		defer t.Stop()
		timeout = t.C
	}
	logPath := filepath.Join(opts.WorkDir, "restore.log")
	select {
	case err := <-done:
		if n.gateErr != nil {
			// CRIU killed the restored tree; the gate says why.
			reapChildren()
			return 0, n.gateErr
		}
		if err != nil {
			reapChildren()
			return 0, fmt.Errorf("criu restore: %w: %s", err, lastError(logPath))
		}
	case <-timeout:
		killChildren()
		<-done
		return 0, fmt.Errorf("criu restore: %w after %s (criu killed): %s", ErrTimeout, opts.Timeout, lastError(logPath))
	case <-ctx.Done():
		killChildren()
		<-done
		return 0, fmt.Errorf("criu restore: %w", ctx.Err())
	}
	if n.pid <= 0 {
		return 0, fmt.Errorf("criu restore: no PID reported")
	}
	return int(n.pid), nil
}

// killChildren SIGKILLs every child of this process. Only used by Restore
// on timeout: the launcher has no children but criu and what it restores.
func killChildren() {
	for _, pid := range proc.Children(proc.Self) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

func logLevel(l int32) int32 {
	if l <= 0 {
		return criuLogLevel
	}
	return l
}

// reapChildren collects the restored tasks CRIU killed after a failed
// restore (with RstSibling they are this process's children), so that they
// do not linger as zombies under the cold command that replaces it.
func reapChildren() {
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if err != nil { // ECHILD: none left
			return
		}
		if pid == 0 {
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// Version returns the CRIU version of the bundle at path, e.g. 40201.
func Version(path string) (int, error) {
	c := criu.MakeCriu()
	c.SetCriuPath(path)
	v, err := c.GetCriuVersion()
	if err != nil {
		return 0, fmt.Errorf("running %s: %w", path, err)
	}
	return v, nil
}

// VersionString formats 40201 as "4.2.1".
func VersionString(v int) string {
	return fmt.Sprintf("%d.%d.%d", v/10000, v/100%100, v%100)
}

// LogTail returns the last n lines of a CRIU log, or "" if unreadable.
func LogTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// lastError returns the last "Error" line of a CRIU log, for one-line reasons.
func lastError(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "no criu log"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], "Error") || strings.Contains(lines[i], "BUG") {
			return strings.TrimSpace(lines[i])
		}
	}
	if len(lines) > 0 {
		return strings.TrimSpace(lines[len(lines)-1])
	}
	return "empty criu log"
}

func ptr[T any](v T) *T { return &v }
