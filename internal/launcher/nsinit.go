package launcher

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/crac-build/crac-build/internal/environ"
	"github.com/crac-build/crac-build/internal/host"
	"github.com/crac-build/crac-build/internal/proc"
)

// DumpRequest is what `crac-build checkpoint` sends on the control socket
// to ask the namespace's init for the dump: the dump mode's flags, without
// --pid (init knows the application's PID).
type DumpRequest struct {
	Args []string `json:"args"`
}

// DumpReply is init's answer: the dump mode's report (a
// checkpoint.Report), or why there is none.
type DumpReply struct {
	Report json.RawMessage `json:"report,omitempty"`
	Error  string          `json:"error,omitempty"`
}

// NamespaceOptions configure NamespaceInit.
type NamespaceOptions struct {
	// App is the application's command.
	App []string
	// Caps are the capabilities the application keeps: its bounding set
	// is cut to them, so it has what a restoring container has.
	Caps []string
	// Control is the socket to crac-build: one DumpRequest in, one
	// DumpReply out; its end (EOF) means "stop the application".
	Control *os.File
	// Self returns the command line that runs this launcher in another
	// internal mode ("exec", "dump") with args.
	Self func(mode string, args ...string) []string
}

// NamespaceInit is PID 1 of the PID, mount and network namespaces that
// `crac-build checkpoint` makes inside an image build step: it mounts a
// fresh /proc, brings up loopback, burns PIDs, and starts the application
// in its own session with its bounding set cut to opts.Caps (through the
// exec mode: init itself keeps its capabilities for the dump). On request
// it runs the dump mode against the application and replies with the
// report. It returns the application's exit status.
func NamespaceInit(opts NamespaceOptions) (int, error) {
	if len(opts.App) == 0 {
		return 0, errors.New("init: no command")
	}
	// The application must not inherit the control socket: CRIU would
	// find a socket connected outside the dumped tree and refuse.
	syscall.CloseOnExec(int(opts.Control.Fd()))
	sigs := Signals()
	if err := setupNamespaces(); err != nil {
		return 0, err
	}
	if err := BurnPIDs(MinPID); err != nil {
		return 0, err
	}
	argv := opts.Self("exec", append([]string{"--caps", strings.Join(opts.Caps, ","), "--"}, opts.App...)...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("init: starting %q: %w", opts.App[0], err)
	}
	pid := cmd.Process.Pid
	if pid < MinPID {
		_ = cmd.Process.Kill()
		return 0, fmt.Errorf("init: application got PID %d, below %d", pid, MinPID)
	}
	go serveControl(opts, pid)
	return Supervise(pid, sigs), nil
}

// setupNamespaces gives the fresh namespaces what a container runtime
// would: a /proc of the new PID namespace (read-only /proc/sys, as runc
// mounts it) and a loopback interface that is up.
func setupNamespaces() error {
	// Mounts made here must not propagate back into the build step.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("init: making mounts private: %w", err)
	}
	// The old /proc shows the build step's PID namespace; its masks go
	// with it.
	_ = unix.Unmount("/proc", unix.MNT_DETACH)
	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("init: mounting /proc: %w", err)
	}
	if err := unix.Mount("/proc/sys", "/proc/sys", "", unix.MS_BIND|unix.MS_REC, ""); err == nil {
		_ = unix.Mount("", "/proc/sys", "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "")
	}
	return loopbackUp()
}

func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("init: socket for loopback: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("init: reading flags of lo: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("init: bringing up lo: %w", err)
	}
	return nil
}

// serveControl answers dump requests until the control socket closes,
// then kills the application (stopped after a dump, or still running if
// crac-build gave up), which ends Supervise and so init and the namespace.
func serveControl(opts NamespaceOptions, pid int) {
	defer func() { _ = syscall.Kill(pid, syscall.SIGKILL) }()
	r := bufio.NewReader(opts.Control)
	enc := json.NewEncoder(opts.Control)
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			return
		}
		var req DumpRequest
		var reply DumpReply
		if err := json.Unmarshal(line, &req); err != nil {
			reply.Error = fmt.Sprintf("init: bad request %q: %v", line, err)
		} else {
			reply = runDump(opts.Self("dump", append([]string{"--pid", strconv.Itoa(pid)}, req.Args...)...))
		}
		if err := enc.Encode(reply); err != nil {
			return
		}
	}
}

// runDump runs the dump mode as a child and collects its report. Init does
// not wait for it: Supervise reaps every child, so the outcome is the
// output (a report on stdout, or the reason on stderr), not the exit status.
func runDump(argv []string) DumpReply {
	outR, outW, err := os.Pipe()
	if err != nil {
		return DumpReply{Error: err.Error()}
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return DumpReply{Error: err.Error()}
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = outW, errW
	err = cmd.Start()
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return DumpReply{Error: fmt.Sprintf("starting the dump: %v", err)}
	}
	_ = cmd.Process.Release()
	stderr := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(errR)
		errR.Close()
		stderr <- b
	}()
	out, _ := io.ReadAll(outR)
	outR.Close()
	msg := strings.TrimSpace(string(<-stderr))
	if len(out) == 0 || !json.Valid(out) {
		if msg == "" {
			msg = "the dump ended without a report"
		}
		return DumpReply{Error: msg}
	}
	return DumpReply{Report: json.RawMessage(out)}
}

// ExecWithCaps cuts the bounding set to keep, clears the inheritable and
// ambient sets, and executes argv (looked up in the PATH of env). Run as
// root, argv then gets exactly keep, as a container runtime would give it.
// The sets are per thread, so they change on every thread of this (static,
// cgo-free) process: syscall.AllThreadsSyscall. It returns only on failure.
func ExecWithCaps(keep []string, argv, env []string) error {
	if len(argv) == 0 {
		return errors.New("exec: no command")
	}
	var names []string
	for _, k := range keep {
		if k = strings.TrimSpace(k); k != "" {
			names = append(names, k)
		}
	}
	mask, err := host.CapMask(names)
	if err != nil {
		return err
	}
	last := 63
	if n, err := proc.Sysctl("kernel/cap_last_cap"); err == nil {
		last = n
	}
	for c := 0; c <= last; c++ {
		if mask&(1<<uint(c)) != 0 {
			continue
		}
		if _, _, e := syscall.AllThreadsSyscall(unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, uintptr(c), 0); e != 0 && e != unix.EINVAL {
			if e == unix.ENOTSUP {
				return errors.New("exec: this launcher was built with cgo and cannot change every thread's capabilities; build it with CGO_ENABLED=0")
			}
			return fmt.Errorf("exec: dropping capability %d from the bounding set: %w", c, e)
		}
	}
	if _, _, e := syscall.AllThreadsSyscall(unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0); e != 0 && e != unix.EINVAL {
		return fmt.Errorf("exec: clearing ambient capabilities: %w", e)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("exec: reading capabilities: %w", err)
	}
	data[0].Inheritable, data[1].Inheritable = 0, 0
	if _, _, e := syscall.AllThreadsSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); e != 0 {
		return fmt.Errorf("exec: clearing inheritable capabilities: %w", e)
	}
	path := argv[0]
	if !strings.Contains(path, "/") {
		if path, err = lookPath(path, environ.Map(env)["PATH"]); err != nil {
			return err
		}
	}
	if err := unix.Exec(path, argv, env); err != nil {
		return fmt.Errorf("exec: starting %s: %w", argv[0], err)
	}
	return nil
}
