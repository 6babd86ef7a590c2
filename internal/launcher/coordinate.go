package launcher

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/crac-build/crac-build/internal/agent"
	"github.com/crac-build/crac-build/internal/contract"
	"github.com/crac-build/crac-build/internal/cpubaseline"
)

// PrepareAgents creates the directories of the agents' Unix sockets, owned
// by the application's user as at build. CRIU binds a restored listening
// socket to its path again, and /dev/shm of a fresh container is empty.
func PrepareAgents(p *Plan) error {
	if p.Meta == nil || p.Meta.Coordination == nil {
		return nil
	}
	for _, ep := range p.Meta.Coordination.Endpoints {
		if ep.Network != "unix" {
			continue
		}
		dir := filepath.Dir(ep.Address)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("creating the directory of the agent socket %s: %w", ep.Address, err)
		}
		// The restored agent removes its socket when it is done.
		if err := chownForUser(dir, p.Meta.User); err != nil {
			return err
		}
	}
	return nil
}

// NotifyRestored tells the agent in every restored JVM to run the
// Resources' afterRestore, passing env (the container's environment), and
// waits for them, at most p.Timeout. It returns the number of Resources
// notified; a failure is an *agent.Error (or a connection error).
func NotifyRestored(ctx context.Context, p *Plan, env []string) (int, error) {
	if p.Meta == nil || p.Meta.Coordination == nil {
		return 0, nil
	}
	if p.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.Timeout)
		defer cancel()
	}
	var d net.Dialer
	total := 0
	var errs []error
	for _, ep := range p.Meta.Coordination.Endpoints {
		n, err := agent.Restore(ctx, d.DialContext, ep, env)
		total += n
		if err != nil {
			errs = append(errs, err)
		}
	}
	return total, errors.Join(errs...)
}

// KeepAfterRestoreError reports whether the image's policy keeps a
// restored JVM whose afterRestore failed (else it is killed and the
// application starts cold).
func KeepAfterRestoreError(p *Plan) bool {
	return p.Meta != nil && p.Meta.Coordination != nil && p.Meta.Coordination.OnRestoreError == contract.OnRestoreErrorContinue
}

// abandonWait bounds the wait for a killed process tree: SIGKILL takes
// effect at once, but a large JVM takes a moment to tear down.
const abandonWait = 10 * time.Second

// Abandon kills a restored process tree (pid and its process group: the
// build started it as a session leader) and reaps every child, so that a
// cold start can follow.
func Abandon(pid int) error {
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	_ = syscall.Kill(pid, syscall.SIGKILL)
	deadline := time.Now().Add(abandonWait)
	for time.Now().Before(deadline) {
		var ws unix.WaitStatus
		wpid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		switch {
		case errors.Is(err, unix.EINTR):
		case errors.Is(err, unix.ECHILD):
			return nil
		case err != nil:
			return fmt.Errorf("reaping the restored process %d: %w", pid, err)
		case wpid == 0:
			time.Sleep(5 * time.Millisecond)
		}
	}
	return fmt.Errorf("the restored process %d did not exit within %s of SIGKILL", pid, abandonWait)
}

// ColdEnv adds the agent to a cold start the way the build did (on the
// command line of a java command, else in JAVA_TOOL_OPTIONS), so that an
// application using org.crac behaves alike warm or cold: registering
// Resources works, and Core.checkpointRestore() returns at once. It may
// change p.Cold and returns the environment to start with. An image built
// with --cpu-baseline gives the cold JVM the same limits (GLIBC_TUNABLES,
// JAVA_TOOL_OPTIONS for a command that is not java). An image with a class
// cache gives the cold JVM the cache's flags while the JVM would take the
// cache (coldClassCache); p.ColdNote then says why it does not.
func ColdEnv(p *Plan, env []string) []string {
	// own: the image's command, not the container's arguments.
	own := p.Meta != nil && len(p.Cold) > 0 && sameArgs(p.Cold, p.Meta.Cold.Args)
	if own && p.Meta.CPUBaseline != nil {
		// The cold JVM gets the limits the checkpointed one had.
		env = cpubaseline.AppendEnv(env, p.Meta.CPUBaseline.Env)
	}
	if own && p.Meta.ClassCache != nil {
		env = coldClassCache(p, env)
	}
	if !own || p.Meta.Coordination == nil || p.Meta.Coordination.Agent == "" {
		return env // (the container's arguments replace the command: theirs alone)
	}
	if _, err := os.Stat(p.Meta.Coordination.Agent); err != nil {
		return env
	}
	p.Cold, env = agent.AddJavaOption(p.Cold, env, agent.JavaOption(p.Meta.Coordination.Agent, false))
	return env
}

func sameArgs(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
