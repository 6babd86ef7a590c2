package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/crac-build/crac-build/internal/contract"
)

// JarName is the agent jar's file name; its manifest names itself on the
// boot class path, so a copy must keep it.
const JarName = "crac-agent.jar"

// maxReply bounds an answer: a report of stack traces, far smaller.
const maxReply = 16 << 20

// JavaOption is the JVM option that loads the agent at jar; build turns
// on build mode, in which the agent listens for the builder and the
// launcher in contract.AgentDir.
func JavaOption(jar string, build bool) string {
	if build {
		return "-javaagent:" + jar + "=build"
	}
	return "-javaagent:" + jar
}

// AddJavaOption adds a JVM option to a command: after the executable when
// the command is java itself, else in JAVA_TOOL_OPTIONS (which every JVM
// the command starts reads). It returns new slices.
func AddJavaOption(cmd, env []string, opt string) ([]string, []string) {
	if len(cmd) > 0 && path.Base(cmd[0]) == "java" {
		out := append([]string{cmd[0], opt}, cmd[1:]...)
		return out, append([]string{}, env...)
	}
	out := append([]string{}, env...)
	for i, kv := range out {
		if v, ok := strings.CutPrefix(kv, "JAVA_TOOL_OPTIONS="); ok {
			out[i] = "JAVA_TOOL_OPTIONS=" + strings.TrimSpace(opt+" "+v)
			return append([]string{}, cmd...), out
		}
	}
	return append([]string{}, cmd...), append(out, "JAVA_TOOL_OPTIONS="+opt)
}

// Find lists the agents listening in contract.AgentDir under root (""
// or "/" for this process's own view, "/proc/PID/root" for a
// container's). Addresses are as the container sees them.
func Find(root string) ([]contract.AgentEndpoint, error) {
	dir := filepath.Join(root, contract.AgentDir)
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing agents in %s: %w", dir, err)
	}
	var out []contract.AgentEndpoint
	for _, e := range ents {
		name := e.Name()
		switch {
		case strings.HasSuffix(name, ".sock"):
			pid, err := strconv.Atoi(strings.TrimSuffix(name, ".sock"))
			if err != nil {
				continue
			}
			out = append(out, contract.AgentEndpoint{PID: pid, Network: "unix", Address: path.Join(contract.AgentDir, name)})
		case strings.HasSuffix(name, ".tcp"):
			pid, err := strconv.Atoi(strings.TrimSuffix(name, ".tcp"))
			if err != nil {
				continue
			}
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				return nil, fmt.Errorf("reading agent address: %w", err)
			}
			out = append(out, contract.AgentEndpoint{PID: pid, Network: "tcp", Address: strings.TrimSpace(string(b))})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PID < out[j].PID })
	return out, nil
}

// Request is an application's call of org.crac Core.checkpointRestore()
// in build mode.
type Request struct {
	PID int
	// Failed: a Resource's beforeCheckpoint threw; Report says which and
	// how. Otherwise the JVM is ready to be dumped.
	Failed bool
	Report string
	// path of the marker, removed by Ack.
	path string
}

// Ack tells the agent that the builder has read a failed request: the
// agent then lets the application go on (with a CheckpointException).
func (r *Request) Ack() error {
	if err := os.Remove(r.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("acknowledging checkpoint request of process %d: %w", r.PID, err)
	}
	return nil
}

// Requests lists the checkpoint requests in contract.AgentDir under root.
func Requests(root string) ([]Request, error) {
	dir := filepath.Join(root, contract.AgentDir)
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing checkpoint requests in %s: %w", dir, err)
	}
	var out []Request
	for _, e := range ents {
		pid, err := strconv.Atoi(strings.TrimSuffix(e.Name(), ".request"))
		if err != nil || !strings.HasSuffix(e.Name(), ".request") {
			continue
		}
		p := filepath.Join(dir, e.Name())
		b, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading checkpoint request: %w", err)
		}
		status, report, _ := strings.Cut(string(b), "\n")
		out = append(out, Request{PID: pid, Failed: status != "ready", Report: report, path: p})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PID < out[j].PID })
	return out, nil
}

// Dialer connects to an endpoint; net.Dialer.DialContext will do where
// the endpoint's addresses are valid as they are.
type Dialer func(ctx context.Context, network, address string) (net.Conn, error)

// Error is an agent's report that Resources failed.
type Error struct {
	Endpoint contract.AgentEndpoint
	Request  string // CHECKPOINT or RESTORE
	// Report names each failing Resource, with its stack trace.
	Report string
}

func (e *Error) Error() string {
	return fmt.Sprintf("process %d: %s", e.Endpoint.PID, strings.TrimSpace(e.Report))
}

// Summary is the report's first failure in one line: the Resource and
// the exception, without the stack trace.
func (e *Error) Summary() string {
	lines := strings.SplitN(strings.TrimSpace(e.Report), "\n", 3)
	return fmt.Sprintf("process %d: %s", e.Endpoint.PID, strings.Join(lines[:min(2, len(lines))], " "))
}

// Checkpoint asks the agent at ep to run every Resource's beforeCheckpoint
// (in reverse registration order) and returns how many it notified. A
// Resource that threw yields an *Error. The connection is closed when it
// returns: none may be open at dump time.
func Checkpoint(ctx context.Context, dial Dialer, ep contract.AgentEndpoint) (int, error) {
	return call(ctx, dial, ep, "CHECKPOINT", nil)
}

// Restore tells the agent at ep that its JVM was restored into a container
// whose environment is env (K=V), and returns once every Resource's
// afterRestore has run (in registration order). The agent publishes env to
// the application as crac-build.env.K system properties.
func Restore(ctx context.Context, dial Dialer, ep contract.AgentEndpoint, env []string) (int, error) {
	var b bytes.Buffer
	for _, kv := range env {
		if strings.IndexByte(kv, 0) >= 0 {
			continue // cannot be in an environment
		}
		b.WriteString(kv)
		b.WriteByte(0)
	}
	return call(ctx, dial, ep, "RESTORE", b.Bytes())
}

// listenGrace is how long a refused connection is retried: the agent's
// socket file appears at bind(2), a moment before its listen(2), and a
// loaded machine can stretch that moment.
const listenGrace = 2 * time.Second

// dialAgent dials ep, retrying a refused connection for up to listenGrace.
func dialAgent(ctx context.Context, dial Dialer, ep contract.AgentEndpoint) (net.Conn, error) {
	deadline := time.Now().Add(listenGrace)
	for {
		conn, err := dial(ctx, ep.Network, ep.Address)
		if err == nil || !errors.Is(err, syscall.ECONNREFUSED) || time.Now().After(deadline) {
			return conn, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func call(ctx context.Context, dial Dialer, ep contract.AgentEndpoint, req string, body []byte) (int, error) {
	conn, err := dialAgent(ctx, dial, ep)
	if err != nil {
		return 0, fmt.Errorf("connecting to the crac-build agent of process %d at %s: %w", ep.PID, ep.Address, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	wrap := func(what string, err error) error {
		if cerr := ctx.Err(); cerr != nil {
			err = fmt.Errorf("%w (%w)", cerr, err)
		}
		return fmt.Errorf("%s %s to the crac-build agent of process %d: %w", what, req, ep.PID, err)
	}
	if _, err := conn.Write(append([]byte(req+"\n"), body...)); err != nil {
		return 0, wrap("sending", err)
	}
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		if err := cw.CloseWrite(); err != nil {
			return 0, wrap("sending", err)
		}
	}
	reply, err := io.ReadAll(io.LimitReader(conn, maxReply))
	if err != nil {
		return 0, wrap("answer of", err)
	}
	status, report, _ := strings.Cut(string(reply), "\n")
	if n, ok := strings.CutPrefix(status, "OK "); ok {
		count, err := strconv.Atoi(strings.TrimSpace(n))
		if err != nil {
			return 0, fmt.Errorf("crac-build agent of process %d: malformed answer %q", ep.PID, status)
		}
		return count, nil
	}
	if status == "ERROR" {
		return 0, &Error{Endpoint: ep, Request: req, Report: report}
	}
	if len(reply) == 0 {
		return 0, fmt.Errorf("crac-build agent of process %d closed the connection without answering %s (see the application's output)", ep.PID, req)
	}
	return 0, fmt.Errorf("crac-build agent of process %d: malformed answer %q", ep.PID, status)
}
