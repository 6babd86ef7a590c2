package builder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/crac-build/crac-build/internal/checkpoint"
	"github.com/crac-build/crac-build/internal/contract"
	"github.com/crac-build/crac-build/internal/host"
	"github.com/crac-build/crac-build/internal/warmup"
)

// warmupDefaults checks and completes the fields that say when the
// application is ready and how to warm it up, which Build (in a runc
// sandbox) and Checkpoint (in an image build step) share.
func (o *Options) warmupDefaults() error {
	if o.Port == 0 && o.ReadyURL == "" {
		return fmt.Errorf("the application's port (--port) or a readiness URL (--ready-url) is needed to know when it is ready")
	}
	if o.ReadyURL == "" {
		o.ReadyURL = fmt.Sprintf("http://127.0.0.1:%d/", o.Port)
	}
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = DefaultReadyTimeout
	}
	if o.WarmupTimeout == 0 {
		o.WarmupTimeout = DefaultWarmupTimeout
	}
	if o.WarmupPath != "" && !strings.HasPrefix(o.WarmupPath, "/") {
		return fmt.Errorf("--warmup-path %q must start with /", o.WarmupPath)
	}
	if o.WarmupRequests > 0 && o.Port == 0 {
		return fmt.Errorf("--warmup-requests needs --port")
	}
	if o.WarmupRequestsFile != "" {
		if o.Port == 0 {
			return fmt.Errorf("--warmup-requests-file needs --port")
		}
		if _, err := warmup.ReadRequests(o.WarmupRequestsFile); err != nil {
			return err
		}
		if o.WarmupMaxErrors < 0 || o.WarmupMaxErrors > 1 {
			return fmt.Errorf("--warmup-max-errors %g: want a share between 0 and 1 (0.05 is 5%%)", o.WarmupMaxErrors)
		}
	}
	if o.WarmupScript != "" {
		abs, err := filepath.Abs(o.WarmupScript)
		if err != nil {
			return err
		}
		fi, err := os.Stat(abs)
		if err != nil {
			return fmt.Errorf("warmup script: %w", err)
		}
		if fi.Mode()&0o111 == 0 {
			return fmt.Errorf("--warmup %s is not executable: chmod +x %s", o.WarmupScript, o.WarmupScript)
		}
		o.WarmupScript = abs
	}
	_, _, err := o.warmupRounds()
	return err
}

// appAddr is the host and port the warmup script is told.
func (o *Options) appAddr() (string, int) {
	host, port := "127.0.0.1", o.Port
	if u, err := url.Parse(o.ReadyURL); err == nil && port == 0 {
		host = u.Hostname()
		port, _ = strconv.Atoi(u.Port())
		if port == 0 {
			port = 80
			if u.Scheme == "https" {
				port = 443
			}
		}
	}
	return host, port
}

// app is the application while it runs to be checkpointed: in a runc
// sandbox (Build) or in namespaces of the image build step (Checkpoint).
type app interface {
	// Done is closed when the application (or what holds it) has exited;
	// Wait returns its status.
	Done() <-chan struct{}
	Wait() int
	// DialContext and StartInNetns reach into its network namespace.
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
	StartInNetns(cmd *exec.Cmd) error
	// InitPID is the host PID of the init whose one child is the
	// application; /proc/PID/root is the application's root.
	InitPID() int
	// dump runs crac-launch's dump mode (pre-dump steps, facts, criu dump)
	// on the application with the given flags (dumpFlags) and returns its
	// report. The application is left frozen.
	dump(ctx context.Context, flags []string) (*checkpoint.Report, error)
}

// dumpFlags are the flags of crac-launch's dump mode, but --pid.
func dumpFlags(workDir string, noGC bool, settle time.Duration, allowConnections bool) []string {
	args := []string{"--work", workDir}
	if noGC {
		args = append(args, "--gc=false")
	}
	if settle > 0 {
		args = append(args, "--settle="+settle.String())
	}
	if allowConnections {
		args = append(args, "--allow-connections")
	}
	return args
}

func parseReport(out string) (*checkpoint.Report, error) {
	var rep checkpoint.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		return nil, fmt.Errorf("reading the dump report: %w: %q", err, out)
	}
	return &rep, nil
}

// notReady says why the application never became ready, and what to
// change: status is what the ready URL answers now (0: nothing answers).
func notReady(readyURL string, timeout time.Duration, status int) string {
	if status == 0 {
		return fmt.Sprintf("nothing answered at %s within %s: give --port the port the application listens on (on 0.0.0.0 or 127.0.0.1), or more time with --ready-timeout", readyURL, timeout)
	}
	return fmt.Sprintf("%s answered %d %s until the %s timeout: give --ready-url a page that answers 2xx or 3xx once the application is ready", readyURL, status, http.StatusText(status), timeout)
}

// answerStatus is the status of one GET of url, 0 if nothing answers
// within a few seconds (a server that accepts and never answers).
func answerStatus(ctx context.Context, client *http.Client, readyURL string) int {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, readyURL, nil)
	if err != nil {
		return 0
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// exitedBeforeReady says what to change when the application ended
// before it was ready, from its exit status and last lines: the launcher
// reports a program that is not in the image (exit status 127).
func exitedBeforeReady(status int, lastLines string) string {
	if m := notInPath.FindStringSubmatch(lastLines); m != nil {
		return fmt.Sprintf("the image has no %q on its PATH: use a base image with a JDK 11+ (e.g. --base eclipse-temurin:17-jre), or give the program's full path in --cmd", m[1])
	}
	return fmt.Sprintf("the application exited (status %d) before it was ready: its last lines are below; check its command (--cmd or the base's) and its environment (--env)", status)
}

// notInPath is Go's exec.LookPath error as the launcher prints it.
var notInPath = regexp.MustCompile(`exec: "([^"]+)": executable file not found in \$PATH`)

// appOutput carries the application's stdout and stderr to the caller's
// writer and keeps the last lines for error messages.
type appOutput struct {
	log            *ring
	stdout, stderr *pipe
}

func newAppOutput(w io.Writer) (*appOutput, error) {
	a := &appOutput{log: newRing(40)}
	var dst io.Writer = a.log
	if w != nil {
		dst = io.MultiWriter(w, a.log)
	}
	var err error
	if a.stdout, err = newPipe(dst); err != nil {
		return nil, err
	}
	if a.stderr, err = newPipe(dst); err != nil {
		a.stdout.Close()
		return nil, err
	}
	return a, nil
}

// closeWrite closes our write ends once the application holds them, so
// the readers see EOF when it is gone.
func (a *appOutput) closeWrite() {
	a.stdout.closeWrite()
	a.stderr.closeWrite()
}

func (a *appOutput) drain() {
	a.stdout.drain()
	a.stderr.drain()
}

func (a *appOutput) Close() {
	a.stdout.Close()
	a.stderr.Close()
}

// failed says what went wrong, followed by the application's last lines.
func (a *appOutput) failed(what string, err error) error {
	a.drain()
	return fmt.Errorf("%s: %w\n--- last lines of the application's output ---\n%s", what, err, a.log.String())
}

// warmRun is what warmAndDump needs besides the application.
type warmRun struct {
	// o says when the application is ready and how to warm it up.
	o     *Options
	coord coordOptions
	// flags are the dump mode's (dumpFlags).
	flags     []string
	out       *appOutput
	logf      func(string, ...any)
	scriptOut io.Writer
	// started is when the application was started.
	started time.Time
	timings map[string]int64
	// train stops after the warmup: no org.crac notification, no dump
	// (the class cache's training run, trainClassCache).
	train bool
}

// warmResult is what the application's run tells the metadata.
type warmResult struct {
	report   *checkpoint.Report
	warmup   contract.Warmup
	coord    *contract.Coordination
	warnings []string
	// first is the post-restore pass the image gets.
	first *contract.FirstRequests
}

// warmAndDump waits until the application is ready, warms it up, has its
// org.crac Resources run beforeCheckpoint and dumps it: the part of a
// build that does not depend on where the application runs. An
// application's own checkpoint request (org.crac) ends the wait for
// readiness and the warmup: the checkpoint is taken at that moment.
func warmAndDump(ctx context.Context, a app, r warmRun) (*warmResult, error) {
	w, out := r.o, r.out
	res := &warmResult{}
	client := warmup.Client(a.DialContext)
	agents := newSandboxAgents(a)
	req := agents.watch(ctx)
	defer req.stop()
	rctx, cancel := context.WithTimeout(req.ctx, w.ReadyTimeout)
	ready, err := warmup.WaitReady(rctx, client, w.ReadyURL, a.Done())
	cancel()
	if err != nil {
		if ferr := agents.failedRequest(req); ferr != nil {
			return nil, out.failed("checkpoint", ferr)
		}
	}
	switch asked := req.asked(); {
	case asked != nil:
		r.logf("the application asked for a checkpoint after %d ms", req.at.Milliseconds())
		ready = req.at
	case errors.Is(err, warmup.ErrExited):
		status := a.Wait()
		out.drain()
		return nil, out.failed(exitedBeforeReady(status, out.log.String()), fmt.Errorf("exit status %d", status))
	case err != nil && ctx.Err() != nil:
		return nil, out.failed("waiting for "+w.ReadyURL, err)
	case err != nil:
		return nil, out.failed(notReady(w.ReadyURL, w.ReadyTimeout, answerStatus(req.ctx, client, w.ReadyURL)), err)
	default:
		r.logf("ready after %d ms", ready.Milliseconds())
	}
	r.timings["start"] = time.Since(r.started).Milliseconds()

	t0 := time.Now()
	res.warmup.ReadyAfterMs = ready.Milliseconds()
	if req.asked() == nil {
		if err := warm(req.ctx, a, r, client, func() bool { return req.asked() != nil }, res); err != nil && req.asked() == nil {
			return nil, out.failed("warmup", err)
		}
	}
	client.CloseIdleConnections()
	res.first = firstRequests(w)
	select {
	case <-a.Done():
		return nil, out.failed("application exited during warmup", fmt.Errorf("exit status %d", a.Wait()))
	default:
	}
	res.warmup.DurationMs = time.Since(t0).Milliseconds()
	r.timings["warmup"] = res.warmup.DurationMs
	if r.train {
		return res, nil
	}
	if req.asked() == nil {
		warmReached(req.ctx, a, r.logf, res)
	}

	req.stop()
	if ferr := agents.failedRequest(req); ferr != nil {
		return nil, out.failed("checkpoint", ferr)
	}
	if res.coord, res.warnings, err = agents.checkpoint(ctx, r.coord, req); err != nil {
		return nil, out.failed("checkpoint", err)
	}
	if res.coord != nil {
		r.logf("%d org.crac Resources ran beforeCheckpoint", res.coord.Resources)
	}
	r.logf("checkpointing")
	if res.report, err = a.dump(ctx, r.flags); err != nil {
		return nil, out.failed("checkpoint", err)
	}
	return res, nil
}

// firstRequests is the launcher's post-restore pass (docs/restore-speed.md):
// the application's address and, once each, the GET endpoints its warmup
// requested from a list (--warmup-requests-file) or the built-in warmup's
// path. A warmup script's requests are not known: its images get the
// address only, and a container names the paths (CRAC_FIRST_REQUESTS).
// Only GET: a pass must not change the application's state.
func firstRequests(o *Options) *contract.FirstRequests {
	host, port := o.appAddr()
	scheme := "http"
	if u, err := url.Parse(o.ReadyURL); err == nil && o.Port == 0 && u.Scheme != "" {
		scheme = u.Scheme
	}
	f := &contract.FirstRequests{Base: scheme + "://" + net.JoinHostPort(host, strconv.Itoa(port))}
	switch {
	case o.WarmupRequestsFile != "":
		reqs, _ := warmup.ReadRequests(o.WarmupRequestsFile)
		seen := map[string]bool{}
		for _, r := range reqs {
			if r.Method == http.MethodGet && !seen[r.Path] {
				seen[r.Path] = true
				f.Paths = append(f.Paths, r.Path)
			}
		}
	case o.WarmupRequests > 0 || o.WarmupPath != "":
		f.Paths = []string{o.warmupPath()}
	}
	return f
}

// warm runs the warmup: in rounds (warmRounds) or, with a count of
// requests or nothing to repeat, the script once and the requests.
func warm(ctx context.Context, a app, r warmRun, client *http.Client, asked func() bool, res *warmResult) error {
	w := r.o
	if w.WarmupScript != "" {
		res.warmup.Script = filepath.Base(w.WarmupScript)
	}
	k, err := newWarmer(a, r, client)
	if err != nil {
		return err
	}
	defer func() {
		s := k.stats
		for _, e := range s.Endpoints {
			res.warmup.Endpoints = append(res.warmup.Endpoints, contract.WarmupEndpoint{Endpoint: e.Key, Status: e.Status, Errors: e.Errors})
		}
		res.warmup.Requests, res.warmup.Errors = s.Requests, s.Errors
		res.warmup.FirstMs = float64(s.First.Microseconds()) / 1000
		res.warmup.LastMs = float64(s.Last.Microseconds()) / 1000
	}()
	until, _, err := w.warmupRounds()
	if err != nil {
		return err
	}
	if until != "" {
		err := warmRounds(ctx, k, asked, res)
		if w.WarmupRequestsFile != "" {
			for _, e := range k.stats.Endpoints {
				r.logf("  %s", e)
			}
		}
		return err
	}
	if w.WarmupScript != "" {
		r.logf("running warmup script %s", w.WarmupScript)
		host, port := w.appAddr()
		sctx, cancel := context.WithTimeout(ctx, w.WarmupTimeout)
		err := warmup.Script(sctx, w.WarmupScript, os.Environ(), host, port, a.StartInNetns, r.scriptOut)
		cancel()
		if err != nil {
			return err
		}
	}
	if w.WarmupRequests == 0 || asked() {
		return nil
	}
	reqs := []warmup.Request{{Method: http.MethodGet, Path: w.warmupPath()}}
	maxErrors := 1.0
	if w.WarmupRequestsFile != "" {
		reqs, maxErrors = k.reqs, w.WarmupMaxErrors
		r.logf("sending %d warmup requests from %s (%d endpoints)", w.WarmupRequests, filepath.Base(w.WarmupRequestsFile), len(reqs))
	} else {
		r.logf("sending %d warmup requests to %s", w.WarmupRequests, k.base+w.warmupPath())
	}
	s, err := warmup.List(ctx, client, k.base, reqs, w.WarmupRequests, maxErrors)
	k.stats.Add(s)
	if w.WarmupRequestsFile != "" {
		for _, e := range s.Endpoints {
			r.logf("  %s", e)
		}
	} else if err == nil && s.Requests > 0 && s.Errors == s.Requests {
		err = fmt.Errorf("every warmup request failed: %s", s.LastError)
	}
	return err
}

// newMetadata is the metadata of a checkpoint: how to start cold, what
// the run found, and the build's timings.
func newMetadata(cold contract.Command, r *warmResult, timings map[string]int64, version string) *contract.Metadata {
	for k, v := range r.report.TimingsMs {
		timings[k] = v
	}
	rep := r.report
	meta := &contract.Metadata{
		FormatVersion: contract.FormatVersion,
		Builder:       "crac-build " + version,
		Created:       time.Now().UTC().Truncate(time.Second),
		Cold:          cold,
		JVMVersion:    rep.JVMVersion,
		Process:       rep.Process,
		Host:          rep.Host,
		Images:        rep.Images,
		OpenFiles:     rep.OpenFiles,
		Warmup:        r.warmup,
		TCPClose:      true,
		Timings:       timings,
		Coordination:  r.coord,
		Pages:         rep.Pages,
		FirstRequests: r.first,
	}
	meta.JVM, meta.Limits = rep.JVM, rep.Limits
	eff, _ := host.ParseCapMask(rep.Process.CapEff)
	meta.RequiredCaps = unique(append([]string{"CAP_CHECKPOINT_RESTORE", "CAP_SETPCAP"}, host.CapNames(eff)...))
	return meta
}
