package sandbox

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Config describes one container.
type Config struct {
	// Runtime is the OCI runtime binary; default "runc" from PATH.
	Runtime string
	// Dir is a scratch directory owned by the container: bundle, overlay
	// upper and work dirs, runtime state. It must not exist or be empty.
	Dir string
	// Lower are the read-only layers of the root filesystem, top first.
	Lower []string
	Args  []string
	Env   []string
	Cwd   string
	// Caps are the process's capabilities; nil means DefaultCaps().
	Caps     []string
	Hostname string
	Mounts   []specs.Mount
	Seccomp  *specs.LinuxSeccomp
	// CPUs and MemoryBytes limit the container as `docker run --cpus
	// --memory` does (a CFS quota over a 100 ms period, a memory cgroup
	// limit); 0 means no limit. The JVM sizes its heap, GC and compiler
	// threads from them at start.
	CPUs        float64
	MemoryBytes int64
	// Uptime, if set, starts the container in its own time namespace
	// whose CLOCK_MONOTONIC reads Uptime (rounded up to a second) at
	// start, as on a host that booted Uptime ago (CLOCK_BOOTTIME stays
	// the host's: see clock.go).
	Uptime time.Duration
	// Stdio of the container's PID 1. Files are passed through as they
	// are (the application sees these very pipes); nil means a pipe that
	// is never written (stdin) or discarded (stdout, stderr).
	Stdin          *os.File
	Stdout, Stderr io.Writer

	// Network is NetworkNone (also ""): a network namespace of its own
	// with loopback only; or NetworkHost: the host's network namespace.
	Network string
}

// Network modes of a container.
const (
	NetworkNone = "none"
	NetworkHost = "host"
)

// Container is a running container. Destroy must be called in every case.
type Container struct {
	ID      string
	cfg     Config
	runtime string
	state   string // runtime --root
	bundle  string
	rootfs  string
	upper   string
	cmd     *exec.Cmd
	initPID int
	mounted bool

	waitOnce sync.Once
	waitErr  error
	exit     int
	done     chan struct{}
	closers  []io.Closer
}

// UpperDir is the overlay's upper dir: every change the container made to
// its root filesystem, in overlayfs format (whiteouts as 0/0 char devices).
func (c *Container) UpperDir() string { return c.upper }

// RootFS is the merged root filesystem as the host sees it.
func (c *Container) RootFS() string { return c.rootfs }

// InitPID is the host PID of the container's PID 1.
func (c *Container) InitPID() int { return c.initPID }

// Start mounts the root filesystem and starts the container. It returns
// once PID 1 exists.
func Start(ctx context.Context, cfg Config) (_ *Container, err error) {
	if cfg.Runtime == "" {
		cfg.Runtime = "runc"
	}
	rt, err := exec.LookPath(cfg.Runtime)
	if err != nil {
		return nil, fmt.Errorf("finding OCI runtime %q: %w (install it: apt-get install runc)", cfg.Runtime, err)
	}
	if len(cfg.Lower) == 0 {
		return nil, errors.New("sandbox: no root filesystem layers")
	}
	if cfg.Network != "" && cfg.Network != NetworkNone && cfg.Network != NetworkHost {
		return nil, fmt.Errorf("sandbox: network %q: want %s or %s", cfg.Network, NetworkNone, NetworkHost)
	}
	c := &Container{
		ID:      "crac-" + randomID(),
		cfg:     cfg,
		runtime: rt,
		state:   filepath.Join(cfg.Dir, "state"),
		bundle:  filepath.Join(cfg.Dir, "bundle"),
		upper:   filepath.Join(cfg.Dir, "upper"),
		done:    make(chan struct{}),
	}
	c.rootfs = filepath.Join(c.bundle, "rootfs")
	defer func() {
		if err != nil {
			_ = c.Destroy()
		}
	}()
	for _, d := range []string{c.state, c.rootfs, c.upper, filepath.Join(cfg.Dir, "work")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("creating sandbox dir: %w", err)
		}
	}
	// The container's "/" has the upper dir's mode: 0755, as under Docker
	// and containerd, so that an application running as another user than
	// root can reach its files (cfg.Dir itself stays private).
	if err := os.Chmod(c.upper, 0o755); err != nil {
		return nil, fmt.Errorf("creating sandbox dir: %w", err)
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", strings.Join(cfg.Lower, ":"), c.upper, filepath.Join(cfg.Dir, "work"))
	if err := unix.Mount("overlay", c.rootfs, "overlay", 0, opts); err != nil {
		return nil, fmt.Errorf("mounting overlay root filesystem at %s: %w", c.rootfs, err)
	}
	c.mounted = true
	b, err := json.MarshalIndent(spec(&cfg), "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(c.bundle, "config.json"), b, 0o600); err != nil {
		return nil, fmt.Errorf("writing OCI config: %w", err)
	}

	pidFile := filepath.Join(cfg.Dir, "init.pid")
	argv := []string{rt, "--root", c.state, "run", "--bundle", c.bundle, "--pid-file", pidFile, c.ID}
	if cfg.Uptime > 0 {
		pre, err := uptimeArgs(cfg.Uptime)
		if err != nil {
			return nil, err
		}
		argv = append(pre, argv...)
	}
	c.cmd = exec.Command(argv[0], argv[1:]...)
	// runc passes its own stdio through to the container's PID 1.
	if cfg.Stdin != nil {
		c.cmd.Stdin = cfg.Stdin
	} else {
		r, w, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		c.cmd.Stdin = r
		c.closers = append(c.closers, r, w)
	}
	c.cmd.Stdout, c.cmd.Stderr = cfg.Stdout, cfg.Stderr
	var runcErr bytes.Buffer
	if c.cmd.Stderr == nil {
		c.cmd.Stderr = &runcErr
	}
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s run: %w", cfg.Runtime, err)
	}
	go func() {
		c.waitErr = c.cmd.Wait()
		c.exit = c.cmd.ProcessState.ExitCode()
		if ws, ok := c.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			c.exit = 128 + int(ws.Signal())
		}
		close(c.done)
	}()
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	for {
		if b, err := os.ReadFile(pidFile); err == nil && len(b) > 0 {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				c.initPID = pid
				return c, nil
			}
		}
		select {
		case <-c.done:
			return nil, fmt.Errorf("%s run exited with status %d before the container started: %s", cfg.Runtime, c.exit, strings.TrimSpace(runcErr.String()))
		case <-deadline.C:
			return nil, fmt.Errorf("%s run: container did not start within 30 s", cfg.Runtime)
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// Done is closed when the container's PID 1 has exited.
func (c *Container) Done() <-chan struct{} { return c.done }

// Wait waits for the container's PID 1 and returns its exit status
// (128+signal if it was killed).
func (c *Container) Wait() int {
	<-c.done
	return c.exit
}

// Signal sends sig to the container's PID 1.
func (c *Container) Signal(sig syscall.Signal) error {
	if c.initPID <= 0 {
		return errors.New("container not started")
	}
	return syscall.Kill(c.initPID, sig)
}

// ExecOptions configure Exec.
type ExecOptions struct {
	Args []string
	// ExtraCaps are added to the container's capabilities for this process.
	ExtraCaps      []string
	Env            []string
	Stdout, Stderr io.Writer
}

// Exec runs a process inside the container (all its namespaces) and waits
// for it. A failure's error carries the process's stderr.
func (c *Container) Exec(ctx context.Context, o ExecOptions) error {
	args := []string{"--root", c.state, "exec"}
	for _, cp := range o.ExtraCaps {
		args = append(args, "--cap", cp)
	}
	for _, e := range o.Env {
		args = append(args, "--env", e)
	}
	args = append(args, c.ID)
	args = append(args, o.Args...)
	args = append([]string{c.runtime}, args...)
	if c.cfg.Uptime > 0 {
		pre, err := c.nsenterTimeArgs()
		if err != nil {
			return err
		}
		args = append(pre, args...)
	}
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	var stderr bytes.Buffer
	cmd.Stdout = o.Stdout
	if o.Stderr != nil {
		cmd.Stderr = io.MultiWriter(o.Stderr, &stderr)
	} else {
		cmd.Stderr = &stderr
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s in container: %w: %s", strings.Join(o.Args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// Destroy kills the container if it still runs, deletes it from the
// runtime, unmounts its root filesystem and removes its directory.
// Call KeepUpper first to keep the diff.
func (c *Container) Destroy() error {
	var errs []error
	if c.cmd != nil && c.cmd.Process != nil {
		select {
		case <-c.done:
		default:
			_ = exec.Command(c.runtime, "--root", c.state, "kill", c.ID, "KILL").Run()
			select {
			case <-c.done:
			case <-time.After(10 * time.Second):
				_ = c.cmd.Process.Kill()
				<-c.done
			}
		}
	}
	if c.cmd != nil {
		if out, err := exec.Command(c.runtime, "--root", c.state, "delete", "--force", c.ID).CombinedOutput(); err != nil &&
			!strings.Contains(string(out), "does not exist") {
			errs = append(errs, fmt.Errorf("deleting container %s: %w: %s", c.ID, err, strings.TrimSpace(string(out))))
		}
	}
	for _, cl := range c.closers {
		_ = cl.Close()
	}
	c.closers = nil
	if c.mounted {
		if err := unmount(c.rootfs); err != nil {
			errs = append(errs, err)
		} else {
			c.mounted = false
		}
	}
	if !c.mounted {
		if err := os.RemoveAll(c.cfg.Dir); err != nil {
			errs = append(errs, fmt.Errorf("removing sandbox dir: %w", err))
		}
	}
	return errors.Join(errs...)
}

// DetachUpper moves the upper dir out of the container's directory to dst,
// after the container has stopped, so it survives Destroy.
func (c *Container) DetachUpper(dst string) error {
	if c.mounted {
		if err := unmount(c.rootfs); err != nil {
			return err
		}
		c.mounted = false
	}
	if err := os.Rename(c.upper, dst); err != nil {
		return fmt.Errorf("keeping container diff: %w", err)
	}
	return nil
}

func unmount(path string) error {
	var err error
	for i := 0; i < 50; i++ {
		err = unix.Unmount(path, 0)
		if err == nil || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err2 := unix.Unmount(path, unix.MNT_DETACH); err2 == nil {
		return nil
	}
	return fmt.Errorf("unmounting %s: %w", path, err)
}

func randomID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
