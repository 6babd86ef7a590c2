package hotspot

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/crac-build/crac-build/internal/proc"
)

// DefaultAttachTimeout bounds the wait for the JVM's attach listener when the
// context passed to [Jcmd] has no deadline. It does not bound the command
// itself: give ctx a deadline for that.
const DefaultAttachTimeout = 10 * time.Second

const (
	protocolVersion = "1"
	// maxCommandLen is HotSpot's AttachOperation::arg_length_max: the JVM
	// rejects longer arguments.
	maxCommandLen = 1024
	// maxResponse caps how much output Jcmd buffers.
	maxResponse = 64 << 20
	// codeBadVersion is ATTACH_ERROR_BADVERSION.
	codeBadVersion = 101

	firstPollDelay = 5 * time.Millisecond
	maxPollDelay   = 200 * time.Millisecond
)

// ErrUnknownCommand matches (with errors.Is) the error [Jcmd] returns when
// the JVM does not know the diagnostic command, for example
// "System.trim_native_heap" on an older JVM update that lacks it.
var ErrUnknownCommand = errors.New("unknown diagnostic command")

// CommandError is the error [Jcmd] returns when the JVM ran the request but
// the diagnostic command failed.
type CommandError struct {
	PID     int    // the process id passed to Jcmd
	Command string // the command, as sent
	Code    int    // the JVM's return code; 0 when it reported the failure only in its output
	Output  string // the JVM's output, such as "java.lang.IllegalArgumentException: Unknown diagnostic command"
}

func (e *CommandError) Error() string {
	out := e.Output
	if out == "" {
		out = "no output"
	}
	return fmt.Sprintf("hotspot: jcmd %q in process %d failed (code %d): %s", e.Command, e.PID, e.Code, out)
}

// Is reports whether target is ErrUnknownCommand and the JVM said so.
func (e *CommandError) Is(target error) bool {
	return target == ErrUnknownCommand && strings.Contains(e.Output, "Unknown diagnostic command")
}

// Jcmd runs one diagnostic command line, such as "GC.run",
// "System.trim_native_heap" or "VM.version", in the HotSpot JVM with process
// id pid (as seen from the caller's PID namespace) and returns its output.
//
// If the JVM's attach listener is not running, Jcmd starts it the way jcmd
// does (trigger file and SIGQUIT) and waits for it until ctx is done, or for
// [DefaultAttachTimeout] if ctx has no deadline. The command then runs until
// it completes or ctx is done.
//
// A failed command yields a *[CommandError] carrying the JVM's output.
func Jcmd(ctx context.Context, pid int, command string) (string, error) {
	cmd := strings.TrimSpace(command)
	switch {
	case pid <= 0:
		return "", fmt.Errorf("hotspot: invalid process id %d", pid)
	case cmd == "":
		return "", fmt.Errorf("hotspot: empty command for process %d", pid)
	case strings.IndexByte(cmd, 0) >= 0:
		return "", fmt.Errorf("hotspot: command %q for process %d contains a NUL byte", cmd, pid)
	case len(cmd) > maxCommandLen:
		return "", fmt.Errorf("hotspot: command for process %d is %d bytes long, the JVM accepts at most %d", pid, len(cmd), maxCommandLen)
	}

	p, err := lookup(pid)
	if err != nil {
		return "", fmt.Errorf("hotspot: jcmd %q: %w", cmd, err)
	}
	conn, err := p.attach(ctx)
	if err != nil {
		return "", fmt.Errorf("hotspot: jcmd %q in process %d: %w", cmd, pid, err)
	}
	defer conn.Close()

	code, out, err := execute(ctx, conn, cmd)
	if err != nil {
		return "", fmt.Errorf("hotspot: jcmd %q in process %d: %w", cmd, pid, err)
	}
	switch {
	case code == codeBadVersion:
		return "", fmt.Errorf("hotspot: jcmd %q in process %d: the JVM does not speak attach protocol version %s", cmd, pid, protocolVersion)
	case code != 0 || reportsException(out):
		return "", &CommandError{PID: pid, Command: cmd, Code: code, Output: strings.TrimSpace(out)}
	}
	return out, nil
}

// RemoveAttachFiles deletes the attach socket (.java_pid<nspid>) and trigger
// file (.attach_pid<nspid>) of the JVM with process id pid from its /tmp and
// its working directory, if they exist. The JVM keeps running; if it had an
// attach listener, it starts a new one on the next attach.
func RemoveAttachFiles(pid int) error {
	if pid <= 0 {
		return fmt.Errorf("hotspot: invalid process id %d", pid)
	}
	p, err := lookup(pid)
	if err != nil {
		return fmt.Errorf("hotspot: removing attach files: %w", err)
	}
	var errs []error
	for _, path := range []string{
		p.socketPath(),
		p.tmpPath(".attach_pid"),
		p.cwdPath(".attach_pid"),
		p.cwdPath(".java_pid"),
	} {
		if err := unlink(path); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("hotspot: removing attach files of process %d: %w", pid, err)
	}
	return nil
}

// process is a JVM's process id in the caller's PID namespace and in its own.
type process struct {
	pid   int // as seen by the caller
	nspid int // as seen by the JVM
}

// lookup reads /proc/<pid>/status for the PID the process sees as its own.
func lookup(pid int) (process, error) {
	st, err := readStatus(pid)
	if err != nil {
		return process{}, err
	}
	p := process{pid: pid, nspid: pid}
	if f := strings.Fields(st["NSpid"]); len(f) > 0 {
		// The last field is the PID in the innermost namespace (the JVM's own).
		n, err := strconv.Atoi(f[len(f)-1])
		if err != nil || n <= 0 {
			return process{}, fmt.Errorf("process %d: bad NSpid line %q in /proc/%d/status", pid, st["NSpid"], pid)
		}
		p.nspid = n
	}
	return p, nil
}

func (p process) tmpPath(prefix string) string {
	return fmt.Sprintf("/proc/%d/root/tmp/%s%d", p.pid, prefix, p.nspid)
}

func (p process) cwdPath(prefix string) string {
	return fmt.Sprintf("/proc/%d/cwd/%s%d", p.pid, prefix, p.nspid)
}

func (p process) socketPath() string { return p.tmpPath(".java_pid") }

// attach connects to the JVM's attach listener, starting it if needed.
func (p process) attach(ctx context.Context) (net.Conn, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultAttachTimeout)
		defer cancel()
	}
	conn, err := p.dial(ctx)
	if err == nil {
		return conn, nil
	}
	if !listenerMissing(err) {
		return nil, err
	}

	// Only one caller of this package triggers a given JVM at a time, so
	// that one does not delete the trigger file another still waits on.
	unlock, err := lockPID(ctx, p.pid)
	if err != nil {
		return nil, fmt.Errorf("waiting for another attach to finish: %w", err)
	}
	defer unlock()

	// Another caller may have started the listener meanwhile.
	conn, err = p.dial(ctx)
	if err == nil {
		return conn, nil
	}
	if !listenerMissing(err) {
		return nil, err
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		// A socket file nobody listens on: left by a previous JVM with
		// this PID, or restored by CRIU. The JVM restarts its listener
		// only when the file is gone.
		if err := unlink(p.socketPath()); err != nil {
			return nil, fmt.Errorf("removing stale attach socket: %w", err)
		}
	}
	return p.trigger(ctx)
}

// trigger starts the attach listener and connects to it.
func (p process) trigger(ctx context.Context) (net.Conn, error) {
	trig, err := p.createTrigger()
	if err != nil {
		return nil, err
	}
	defer os.Remove(trig) //nolint:errcheck // best effort: the JVM ignores it once its listener runs

	if err := p.sigquit(); err != nil {
		return nil, err
	}
	start := time.Now()
	half := DefaultAttachTimeout / 2
	if dl, ok := ctx.Deadline(); ok {
		half = time.Until(dl) / 2
	}
	resent := false
	delay := firstPollDelay
	for {
		timer := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, fmt.Errorf("the JVM did not create %s in %v (is it a HotSpot JVM, without -XX:+DisableAttachMechanism, and responsive?): %w",
				p.socketPath(), time.Since(start).Round(time.Millisecond), ctx.Err())
		case <-timer.C:
		}

		conn, err := p.dial(ctx)
		if err == nil {
			return conn, nil
		}
		if !listenerMissing(err) {
			return nil, err
		}
		if err := syscall.Kill(p.pid, 0); errors.Is(err, syscall.ESRCH) {
			return nil, fmt.Errorf("process %d exited while waiting for its attach listener", p.pid)
		}
		if !resent && time.Since(start) > half {
			// Like jcmd, give the JVM a second chance to see the signal,
			// for example if it came while the JVM was still starting.
			resent = true
			if err := p.sigquit(); err != nil {
				return nil, err
			}
		}
		delay = min(delay*2, maxPollDelay)
	}
}

// createTrigger creates .attach_pid<nspid> in the JVM's working directory or,
// failing that, in its /tmp, owned by the JVM's effective user, and returns
// its path.
func (p process) createTrigger() (string, error) {
	uid, gid := -1, -1
	if st, err := readStatus(p.pid); err == nil {
		uid, gid = effectiveID(st["Uid"]), effectiveID(st["Gid"])
	}
	var errs []error
	for _, path := range []string{p.cwdPath(".attach_pid"), p.tmpPath(".attach_pid")} {
		// O_NOFOLLOW: do not create a file wherever a planted symlink points.
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		// The JVM honours the trigger only if it is owned by its effective
		// user or by root as seen from its user namespace; owning it by the
		// JVM's user also works when our root is not mapped there. Best
		// effort: as the JVM's own user this is a no-op.
		if uid >= 0 && gid >= 0 {
			_ = f.Chown(uid, gid)
		}
		if err := f.Close(); err != nil {
			os.Remove(path) //nolint:errcheck
			errs = append(errs, err)
			continue
		}
		return path, nil
	}
	return "", fmt.Errorf("creating the attach trigger file: %w", errors.Join(errs...))
}

// sigquit sends SIGQUIT to the process, after checking that it catches the
// signal: SIGQUIT kills a process that does not (a JVM run with -Xrs, a JVM
// still starting up, or not a JVM at all).
func (p process) sigquit() error {
	st, err := readStatus(p.pid)
	if err != nil {
		return err
	}
	mask, err := strconv.ParseUint(strings.TrimSpace(st["SigCgt"]), 16, 64)
	if err != nil {
		return fmt.Errorf("process %d: cannot read its caught signals from /proc/%d/status: %q", p.pid, p.pid, st["SigCgt"])
	}
	if mask&(1<<(uint(syscall.SIGQUIT)-1)) == 0 {
		return fmt.Errorf("process %d does not handle SIGQUIT (not a HotSpot JVM, run with -Xrs, or still starting up); not sending it", p.pid)
	}
	if err := syscall.Kill(p.pid, syscall.SIGQUIT); err != nil {
		return fmt.Errorf("sending SIGQUIT to process %d: %w", p.pid, err)
	}
	return nil
}

func (p process) dial(ctx context.Context) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "unix", p.socketPath())
}

// listenerMissing reports whether a dial error means that nobody listens on
// the socket path (yet).
func listenerMissing(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED)
}

// execute sends a jcmd request on conn and returns the JVM's return code and
// output.
func execute(ctx context.Context, conn net.Conn, cmd string) (int, string, error) {
	if dl, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(dl); err != nil {
			return 0, "", err
		}
	}
	stop := context.AfterFunc(ctx, func() {
		_ = conn.SetDeadline(time.Unix(1, 0)) // unblocks Write and Read
	})
	defer stop()

	req := protocolVersion + "\x00jcmd\x00" + cmd + "\x00\x00\x00"
	if _, err := io.WriteString(conn, req); err != nil {
		return 0, "", ctxErr(ctx, fmt.Errorf("sending the request: %w", err))
	}

	r := bufio.NewReader(io.LimitReader(conn, maxResponse+1))
	line, err := r.ReadString('\n')
	if err != nil {
		if errors.Is(err, io.EOF) && strings.TrimSpace(line) == "" {
			return 0, "", errors.New("the JVM closed the connection without answering")
		}
		if !errors.Is(err, io.EOF) {
			return 0, "", ctxErr(ctx, fmt.Errorf("reading the answer: %w", err))
		}
	}
	code, perr := strconv.Atoi(strings.TrimSpace(line))
	if perr != nil {
		return 0, "", fmt.Errorf("malformed answer from the JVM: %q", truncate(line, 80))
	}
	var out bytes.Buffer
	if _, err := out.ReadFrom(r); err != nil {
		return 0, "", ctxErr(ctx, fmt.Errorf("reading the output: %w", err))
	}
	if len(line)+out.Len() > maxResponse {
		return 0, "", fmt.Errorf("the output is larger than %d MiB", maxResponse>>20)
	}
	return code, out.String(), nil
}

// reportsException reports whether output starts with a Java exception, the
// way JDK 8 (return code 0) reports a failed diagnostic command.
func reportsException(out string) bool {
	first, _, _ := strings.Cut(strings.TrimLeft(out, " \t\r\n"), "\n")
	name, _, _ := strings.Cut(first, ":")
	name = strings.TrimSpace(name)
	return strings.HasPrefix(name, "java.lang.") && !strings.ContainsAny(name, " \t") &&
		(strings.HasSuffix(name, "Exception") || strings.HasSuffix(name, "Error"))
}

func ctxErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("%w (%w)", cerr, err)
	}
	return err
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// readStatus returns the "Key: value" lines of /proc/<pid>/status.
func readStatus(pid int) (map[string]string, error) {
	st, err := proc.Status(pid)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no process %d: %w", pid, err)
		}
		return nil, fmt.Errorf("process %d: %w", pid, err)
	}
	return st, nil
}

// effectiveID returns the effective id from a "real effective saved fs" line,
// or -1.
func effectiveID(line string) int {
	f := strings.Fields(line)
	if len(f) < 2 {
		return -1
	}
	n, err := strconv.Atoi(f[1])
	if err != nil || n < 0 {
		return -1
	}
	return n
}

// unlink removes a file (never a directory) if it exists.
func unlink(path string) error {
	if err := syscall.Unlink(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return &fs.PathError{Op: "unlink", Path: path, Err: err}
	}
	return nil
}

// Per-PID locks serialising triggers of the same JVM within this process.
var (
	locksMu sync.Mutex
	locks   = map[int]*pidLock{}
)

type pidLock struct {
	ch   chan struct{}
	refs int
}

func lockPID(ctx context.Context, pid int) (func(), error) {
	locksMu.Lock()
	l := locks[pid]
	if l == nil {
		l = &pidLock{ch: make(chan struct{}, 1)}
		locks[pid] = l
	}
	l.refs++
	locksMu.Unlock()

	release := func() {
		locksMu.Lock()
		l.refs--
		if l.refs == 0 {
			delete(locks, pid)
		}
		locksMu.Unlock()
	}
	select {
	case l.ch <- struct{}{}:
		return func() { <-l.ch; release() }, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
}
