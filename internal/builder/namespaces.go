package builder

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/crac-build/crac-build/internal/checkpoint"
	"github.com/crac-build/crac-build/internal/host"
	"github.com/crac-build/crac-build/internal/launcher"
	"github.com/crac-build/crac-build/internal/proc"
	"github.com/crac-build/crac-build/internal/sandbox"
)

// BuildStepFlags is how to give an image build step what CRIU needs, for
// the build tools that can.
const BuildStepFlags = `build with
  buildah bud / podman build: --cap-add CAP_SYS_ADMIN,CAP_NET_ADMIN,CAP_CHECKPOINT_RESTORE --security-opt seccomp=unconfined
  docker buildx build (BuildKit): --allow security.insecure, and RUN --security=insecure crac-build checkpoint ... in the Dockerfile`

// buildStepCaps are what Checkpoint needs in the build step:
// CAP_SYS_ADMIN to make the namespaces and mount their /proc,
// CAP_NET_ADMIN to bring up the new network namespace's loopback,
// CAP_CHECKPOINT_RESTORE for CRIU's dump.
var buildStepCaps = []string{"CAP_SYS_ADMIN", "CAP_NET_ADMIN", "CAP_CHECKPOINT_RESTORE"}

// CheckBuildStep says, before anything starts, whether this process (an
// image build step) can make a checkpoint: root, no seccomp filter (CRIU
// cannot dump under one), and the capabilities. The error names what is
// missing and the build flags that fix it.
func CheckBuildStep() error {
	st, err := proc.Status(proc.Self)
	if err != nil {
		return fmt.Errorf("reading /proc/self/status: %w", err)
	}
	return checkBuildStep(os.Geteuid(), st)
}

func checkBuildStep(euid int, status map[string]string) error {
	var problems []string
	if euid != 0 {
		problems = append(problems, fmt.Sprintf("it runs as user %d, not root (USER root before the RUN step)", euid))
	}
	if s := status["Seccomp"]; s != "" && s != "0" {
		problems = append(problems, fmt.Sprintf("it runs under a seccomp filter (Seccomp: %s in /proc/self/status), under which CRIU cannot dump", s))
	}
	eff, _ := host.ParseCapMask(status["CapEff"])
	need, _ := host.CapMask(buildStepCaps)
	if miss := need &^ eff; miss != 0 {
		problems = append(problems, "it lacks "+strings.Join(host.CapNames(miss), " and "))
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("this build step cannot checkpoint: %s;\n%s", strings.Join(problems, "; "), BuildStepFlags)
}

// nsApp is the application in namespaces of the build step, under the
// launcher's nsinit mode: a fresh PID namespace (so it gets a PID the
// restore can reuse), a mount namespace (for that namespace's /proc) and
// a network namespace with only loopback (the warmup stays local). The
// root filesystem is the build step's own. Go cannot join a mount
// namespace (setns needs a single-threaded caller), so the namespace's
// init runs the dump on request, through a control socket.
type nsApp struct {
	cmd   *exec.Cmd
	netns sandbox.Netns
	ctl   net.Conn
	stdin *os.File
	done  chan struct{}
	exit  int

	stopOnce sync.Once
	stopErr  error
}

var _ app = (*nsApp)(nil)

// startInNamespaces starts the launcher's nsinit mode with args as the
// application, which keeps only caps.
func startInNamespaces(launcherPath string, caps, args, env []string, cwd string, out *appOutput) (_ *nsApp, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	parent, child := os.NewFile(uintptr(fds[0]), "control"), os.NewFile(uintptr(fds[1]), "control")
	defer child.Close()
	ctl, err := net.FileConn(parent)
	parent.Close()
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	// stdin: a pipe that is never written, as a container runtime gives.
	stdinR, stdinW, err := os.Pipe()
	if err != nil {
		ctl.Close()
		return nil, err
	}
	defer stdinR.Close()

	argv := append([]string{launcherPath, "--crac-mode=nsinit", "--caps", strings.Join(caps, ","), "--"}, args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env, cmd.Dir = env, cwd
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdinR, out.stdout.w, out.stderr.w
	cmd.ExtraFiles = []*os.File{child} // fd 3
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: unix.CLONE_NEWPID | unix.CLONE_NEWNS | unix.CLONE_NEWNET,
		// If crac-build dies, so does the namespace (and the application).
		Pdeathsig: syscall.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		ctl.Close()
		stdinW.Close()
		return nil, fmt.Errorf("starting %s in new namespaces: %w", strings.Join(args, " "), err)
	}
	a := &nsApp{
		cmd: cmd, ctl: ctl, stdin: stdinW, done: make(chan struct{}),
		netns: sandbox.Netns{PID: cmd.Process.Pid, Name: "the checkpoint's init"},
	}
	go func() {
		_ = cmd.Wait()
		a.exit = cmd.ProcessState.ExitCode()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			a.exit = 128 + int(ws.Signal())
		}
		close(a.done)
	}()
	return a, nil
}

func (a *nsApp) Done() <-chan struct{} { return a.done }

// InitPID is the host PID of the namespace's init.
func (a *nsApp) InitPID() int { return a.cmd.Process.Pid }

func (a *nsApp) Wait() int {
	<-a.done
	return a.exit
}

func (a *nsApp) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return a.netns.DialContext(ctx, network, addr)
}

func (a *nsApp) StartInNetns(cmd *exec.Cmd) error { return a.netns.StartInNetns(cmd) }

// dumpTimeout bounds a dump request: the pre-dump steps (GC, a 1.5 s
// settle) and criu's dump of a few hundred MB take seconds; the launcher's
// dump mode gives itself 5 minutes.
const dumpTimeout = 6 * time.Minute

func (a *nsApp) dump(ctx context.Context, flags []string) (*checkpoint.Report, error) {
	deadline := time.Now().Add(dumpTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = a.ctl.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = a.ctl.SetDeadline(time.Now()) })
	defer stop()
	b, err := json.Marshal(launcher.DumpRequest{Args: flags})
	if err != nil {
		return nil, err
	}
	if _, err := a.ctl.Write(append(b, '\n')); err != nil {
		return nil, fmt.Errorf("asking the namespace's init for the dump: %w", err)
	}
	line, err := bufio.NewReader(a.ctl).ReadBytes('\n')
	if err != nil {
		return nil, fmt.Errorf("waiting for the dump: %w", err)
	}
	var reply launcher.DumpReply
	if err := json.Unmarshal(line, &reply); err != nil {
		return nil, fmt.Errorf("reading the dump's reply %q: %w", line, err)
	}
	if reply.Error != "" {
		return nil, errors.New(reply.Error)
	}
	return parseReport(string(reply.Report))
}

// stop ends the application and its namespaces: closing the control
// socket makes init kill the application and exit; SIGKILL to init (which
// takes the whole PID namespace with it) if it does not within 30 s.
func (a *nsApp) stop() error {
	a.stopOnce.Do(func() {
		a.ctl.Close()
		a.stdin.Close()
		select {
		case <-a.done:
			return
		case <-time.After(30 * time.Second):
		}
		_ = a.cmd.Process.Signal(syscall.SIGKILL)
		select {
		case <-a.done:
		case <-time.After(30 * time.Second):
			a.stopErr = fmt.Errorf("the checkpoint's namespace (init PID %d) did not stop", a.cmd.Process.Pid)
		}
	})
	return a.stopErr
}
