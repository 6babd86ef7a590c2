package builder

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/crac-build/crac-build/internal/agent"
	"github.com/crac-build/crac-build/internal/contract"
	"github.com/crac-build/crac-build/internal/proc"
	"github.com/crac-build/crac-build/internal/sandbox"
)

// beforeCheckpointTimeout bounds the Resources' beforeCheckpoint: closing
// pools and connections takes seconds at most; a hung Resource must fail
// the build rather than hold it forever.
const beforeCheckpointTimeout = 2 * time.Minute

// requestPoll is how often the builder looks for an application's
// checkpoint request: small next to any application's start-up, and a
// directory listing on a tmpfs costs nothing.
const requestPoll = 50 * time.Millisecond

// coordOptions are the org.crac settings that Build and Checkpoint share
// (the Agent, NoAgent and OnRestoreError fields of their options).
type coordOptions struct {
	agent          string
	noAgent        bool
	onRestoreError string
}

func (o *Options) coord() coordOptions {
	return coordOptions{agent: o.Agent, noAgent: o.NoAgent, onRestoreError: o.OnRestoreError}
}

func (o *Options) agentDefaults() error {
	c := o.coord()
	err := c.defaults(o.Launcher)
	o.Agent, o.OnRestoreError = c.agent, c.onRestoreError
	return err
}

// withAgent adds the agent in build mode to the application's command.
func (o *Options) withAgent(args, env []string) ([]string, []string) {
	return o.coord().withAgent(args, env)
}

// defaults sets the restore policy and finds the agent next to launcher.
func (c *coordOptions) defaults(launcher string) error {
	if c.onRestoreError == "" {
		c.onRestoreError = contract.OnRestoreErrorCold
	}
	switch c.onRestoreError {
	case contract.OnRestoreErrorCold, contract.OnRestoreErrorContinue:
	default:
		return fmt.Errorf("--on-restore-error %q: want %s or %s", c.onRestoreError, contract.OnRestoreErrorCold, contract.OnRestoreErrorContinue)
	}
	// Next to the launcher (a checkout's bin/), or where the image prefix
	// keeps it (the crac-build image's /opt/crac-build, wherever mounted).
	for _, p := range []string{
		filepath.Join(filepath.Dir(launcher), agent.JarName),
		filepath.Join(filepath.Dir(launcher), "..", strings.TrimPrefix(contract.AgentPath, contract.Prefix+"/")),
	} {
		if c.agent != "" || launcher == "" {
			break
		}
		if _, err := os.Stat(p); err == nil {
			c.agent = p
		}
	}
	if c.noAgent {
		return nil
	}
	if c.agent == "" {
		return fmt.Errorf("the crac-build agent (%s) is not next to the launcher %s: run `make`, give its path, or build without it (--no-agent)", agent.JarName, launcher)
	}
	return nil
}

func (c coordOptions) withAgent(args, env []string) ([]string, []string) {
	if c.noAgent {
		return args, env
	}
	return agent.AddJavaOption(args, env, agent.JavaOption(contract.AgentPath, true))
}

// agentHost is where the application runs: a runc sandbox, or the
// namespaces of `crac-build checkpoint`.
type agentHost interface {
	InitPID() int
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
}

var _ agentHost = (*sandbox.Container)(nil)

// sandboxAgents reaches the agents in the sandbox from the host: their
// files through /proc/PID/root, their sockets there or in the sandbox's
// network namespace.
type sandboxAgents struct {
	c    agentHost
	root string
}

func newSandboxAgents(c agentHost) *sandboxAgents {
	return &sandboxAgents{c: c, root: "/proc/" + strconv.Itoa(c.InitPID()) + "/root"}
}

func (s *sandboxAgents) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if network == "unix" {
		var d net.Dialer
		return d.DialContext(ctx, "unix", s.root+addr)
	}
	return s.c.DialContext(ctx, network, addr)
}

// requestWatch notices an application's checkpoint request while the
// builder waits for readiness or warms up; its context is cancelled then,
// which stops those steps: the checkpoint is taken at that moment.
type requestWatch struct {
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	req    *agent.Request
	at     time.Duration
}

func (s *sandboxAgents) watch(ctx context.Context) *requestWatch {
	w := &requestWatch{done: make(chan struct{})}
	w.ctx, w.cancel = context.WithCancel(ctx)
	t0 := time.Now()
	go func() {
		defer close(w.done)
		t := time.NewTicker(requestPoll)
		defer t.Stop()
		for {
			if r := s.request(); r != nil {
				w.mu.Lock()
				w.req, w.at = r, time.Since(t0)
				w.mu.Unlock()
				w.cancel()
				return
			}
			select {
			case <-w.ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return w
}

func (s *sandboxAgents) request() *agent.Request {
	reqs, err := agent.Requests(s.root)
	if err != nil || len(reqs) == 0 {
		return nil
	}
	for i := range reqs {
		if reqs[i].Failed {
			return &reqs[i]
		}
	}
	return &reqs[0]
}

// stop ends the watch.
func (w *requestWatch) stop() {
	w.cancel()
	<-w.done
}

// asked returns the application's request, if it made one.
func (w *requestWatch) asked() *agent.Request {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.req
}

// failedRequest looks once more for a failed request: an application that
// exits because its checkpoint failed must fail the build with the reason.
func (s *sandboxAgents) failedRequest(w *requestWatch) error {
	r := w.asked()
	if r == nil {
		r = s.request()
	}
	if r == nil || !r.Failed {
		return nil
	}
	return requestError(r)
}

func requestError(r *agent.Request) error {
	_ = r.Ack()
	return fmt.Errorf("the application asked for a checkpoint (org.crac Core.checkpointRestore()) and a Resource failed: process %d: %s", r.PID, strings.TrimSpace(r.Report))
}

// checkpoint asks every agent in the application's process tree to run
// beforeCheckpoint. Connections are closed when it returns.
func (s *sandboxAgents) checkpoint(ctx context.Context, o coordOptions, w *requestWatch) (*contract.Coordination, []string, error) {
	if o.noAgent {
		return nil, nil, nil
	}
	co := &contract.Coordination{Agent: contract.AgentPath, OnRestoreError: o.onRestoreError}
	if r := w.asked(); r != nil {
		if r.Failed {
			return nil, nil, requestError(r)
		}
		co.RequestedByApp = true
	}
	eps, err := agent.Find(s.root)
	if err != nil {
		return nil, nil, err
	}
	tree, err := appTree(s.c.InitPID())
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, beforeCheckpointTimeout)
	defer cancel()
	var failures []error
	for _, ep := range eps {
		if !tree[ep.PID] {
			continue // a JVM that exited, or one outside the dumped tree
		}
		n, err := agent.Checkpoint(ctx, s.dial, ep)
		if err != nil {
			failures = append(failures, err)
			continue
		}
		co.Endpoints = append(co.Endpoints, ep)
		co.Resources += n
	}
	if err := errors.Join(failures...); err != nil {
		return nil, nil, fmt.Errorf("org.crac Resources failed before the checkpoint: %w", err)
	}
	var warnings []string
	if len(co.Endpoints) == 0 {
		warnings = append(warnings, "no crac-build agent answered in the application: the checkpoint is not coordinated (org.crac Resources were not notified)")
	}
	return co, warnings, nil
}

// appTree returns the PIDs, as the sandbox numbers them, of the
// application (the one child of the sandbox's init) and its descendants:
// the tree CRIU dumps.
func appTree(initPID int) (map[int]bool, error) {
	app, err := appChild(initPID)
	if err != nil {
		return nil, err
	}
	tree := map[int]bool{}
	todo := []int{app}
	for len(todo) > 0 {
		pid := todo[0]
		todo = append(todo[1:], proc.Children(pid)...)
		st, err := proc.Status(pid)
		if err != nil {
			continue // exited meanwhile
		}
		if n, err := proc.NSpid(st); err == nil {
			tree[n] = true
		}
	}
	return tree, nil
}
