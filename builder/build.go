package builder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/crac-build/crac-build/checkpoint"
	"github.com/crac-build/crac-build/contract"
	"github.com/crac-build/crac-build/layers"
	"github.com/crac-build/crac-build/registry"
	"github.com/crac-build/crac-build/sandbox"
	"github.com/crac-build/crac-build/warmup"
)

// JVMFlags are added to the application's java command: the hsperfdata file
// would be deleted as stale by the next JVM and break the restore; the heap
// free ratios let G1 give back memory after the pre-dump GC, which makes the
// checkpoint 2-4x smaller (ENVIRONMENT.md).
var JVMFlags = []string{"-XX:-UsePerfData", "-XX:MaxHeapFreeRatio=10", "-XX:MinHeapFreeRatio=5"}

// dumpWorkDir is where criu writes its log inside the sandbox: /dev/shm is
// a tmpfs of the sandbox, so the log stays out of the image's diff.
const dumpWorkDir = "/dev/shm/crac-build-dump"

// Result describes a finished build.
type Result struct {
	Digest     v1.Hash
	Image      v1.Image
	Metadata   *contract.Metadata
	Warnings   []string
	Checkpoint struct {
		RawBytes, CompressedBytes int64
	}
}

// Build makes a warm image and writes it to every output. Nothing is
// written if any step fails.
func Build(ctx context.Context, o Options) (*Result, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	timings := map[string]int64{}
	step := func(name string, t0 time.Time) { timings[name] = time.Since(t0).Milliseconds() }
	ropts := registry.Options{Insecure: o.Insecure}

	t0 := time.Now()
	o.Logf("reading base image %s", o.Base)
	base, err := registry.Load(ctx, o.Base, ropts)
	if err != nil {
		return nil, err
	}
	baseCfg, err := base.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading config of %s: %w", o.Base, err)
	}
	cold := o.Cmd
	if len(cold) == 0 {
		cold = append(append([]string{}, baseCfg.Config.Entrypoint...), baseCfg.Config.Cmd...)
	}
	if len(cold) == 0 {
		return nil, fmt.Errorf("no command: the base %s has no ENTRYPOINT or CMD; give --cmd", o.Base)
	}
	workDir := o.WorkDir
	if workDir == "" {
		workDir = baseCfg.Config.WorkingDir
	}
	env := mergeEnv(baseCfg.Config.Env, o.Env)

	scratch, err := os.MkdirTemp(o.TempDir, "crac-build-")
	if err != nil {
		return nil, fmt.Errorf("creating build dir: %w", err)
	}
	defer os.RemoveAll(scratch)
	blobs := filepath.Join(scratch, "blobs")
	if err := os.MkdirAll(blobs, 0o700); err != nil {
		return nil, err
	}

	o.Logf("unpacking base image")
	baseFS, err := layers.CachedRootFS(base, o.CacheDir)
	if err != nil {
		return nil, err
	}
	step("unpack", t0)

	t0 = time.Now()
	appTar := layers.NewTar()
	for _, a := range o.Adds {
		if err := appTar.AddHost(a.Src, a.Dest); err != nil {
			return nil, err
		}
	}
	appLayer, err := layers.Write(appTar, blobs, layers.WriteOptions{Compression: o.Compression})
	if err != nil {
		return nil, fmt.Errorf("writing application layer: %w", err)
	}
	rtTar, err := RuntimeTar(o.Launcher, o.CriuBundle)
	if err != nil {
		return nil, err
	}
	rtLayer, err := layers.Write(rtTar, blobs, layers.WriteOptions{Compression: o.Compression})
	if err != nil {
		return nil, fmt.Errorf("writing runtime layer: %w", err)
	}
	appFS, rtFS := filepath.Join(scratch, "app"), filepath.Join(scratch, "runtime")
	for l, dir := range map[*layers.Layer]string{appLayer: appFS, rtLayer: rtFS} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		if err := layers.ExtractLayer(l, dir); err != nil {
			return nil, fmt.Errorf("unpacking layer: %w", err)
		}
	}
	step("layers", t0)

	images := filepath.Join(scratch, "images")
	if err := os.MkdirAll(images, 0o700); err != nil {
		return nil, err
	}
	run, err := runAndDump(ctx, &o, runSpec{
		lower:   []string{rtFS, appFS, baseFS},
		args:    withJVMFlags(cold),
		env:     jvmEnv(cold, env),
		cwd:     workDir,
		images:  images,
		scratch: scratch,
	}, timings)
	if err != nil {
		return nil, err
	}

	t0 = time.Now()
	meta := &contract.Metadata{
		FormatVersion: contract.FormatVersion,
		Builder:       "crac-build " + o.Version,
		Created:       time.Now().UTC().Truncate(time.Second),
		Cold:          contract.Command{Args: cold, Env: env, WorkDir: workDir},
		JVMVersion:    run.report.JVMVersion,
		Process:       run.report.Process,
		Host:          run.report.Host,
		Images:        run.report.Images,
		OpenFiles:     run.report.OpenFiles,
		Warmup:        run.warmup,
		TCPClose:      true,
		Timings:       timings,
	}
	eff, _ := contract.ParseCapMask(run.report.Process.CapEff)
	meta.RequiredCaps = unique(append([]string{"CAP_CHECKPOINT_RESTORE", "CAP_SETPCAP"}, contract.CapNames(eff)...))
	for k, v := range run.report.TimingsMs {
		timings[k] = v
	}
	ckTar := layers.NewTar()
	if err := ckTar.AddUpper(run.upper, skipInDiff); err != nil {
		return nil, err
	}
	if err := ckTar.AddHost(images, contract.ImagesDir); err != nil {
		return nil, err
	}
	mb, err := meta.Marshal()
	if err != nil {
		return nil, err
	}
	if err := ckTar.AddBytes(contract.MetadataPath, mb, 0o644); err != nil {
		return nil, err
	}
	ckLayer, err := layers.Write(ckTar, blobs, layers.WriteOptions{Compression: o.Compression, Parallel: true})
	if err != nil {
		return nil, fmt.Errorf("writing checkpoint layer: %w", err)
	}
	step("compress", t0)

	t0 = time.Now()
	img, err := assemble(base, baseCfg, []*layers.Layer{appLayer, rtLayer, ckLayer}, meta, env, workDir, o)
	if err != nil {
		return nil, err
	}
	for _, out := range o.Outputs {
		o.Logf("writing %s", out)
		if err := registry.Write(ctx, img, out, registry.Options{}); err != nil {
			return nil, err
		}
	}
	for _, ref := range o.Push {
		o.Logf("pushing %s", ref)
		if err := registry.Write(ctx, img, ref, ropts); err != nil {
			return nil, err
		}
	}
	step("write", t0)
	d, err := img.Digest()
	if err != nil {
		return nil, err
	}
	res := &Result{Digest: d, Image: img, Metadata: meta, Warnings: run.report.Warnings}
	res.Checkpoint.RawBytes = ckLayer.RawSize()
	res.Checkpoint.CompressedBytes, _ = ckLayer.Size()
	return res, nil
}

// RuntimeTar is the runtime layer: the launcher and the CRIU bundle. It is
// the same for every image built with the same bundle and launcher.
func RuntimeTar(launcher, bundle string) (*layers.Tar, error) {
	// A symlinked bundle (a git worktree's build/criu pointing at another
	// checkout's) would land in the image as a dangling link: add its target.
	if r, err := filepath.EvalSymlinks(bundle); err == nil {
		bundle = r
	}
	if r, err := filepath.EvalSymlinks(launcher); err == nil {
		launcher = r
	}
	t := layers.NewTar()
	if err := t.AddHost(launcher, contract.LauncherPath); err != nil {
		return nil, fmt.Errorf("adding launcher: %w", err)
	}
	if _, err := os.Stat(filepath.Join(bundle, "criu")); err != nil {
		return nil, fmt.Errorf("CRIU bundle %s is incomplete (run `make criu`): %w", bundle, err)
	}
	if err := t.AddHost(bundle, contract.CriuDir); err != nil {
		return nil, fmt.Errorf("adding CRIU bundle: %w", err)
	}
	// The checkpoint's mount point in the sandbox; present in the runtime
	// layer so that the sandbox's diff does not record its creation.
	if err := t.AddDir(contract.ImagesDir, 0o755); err != nil {
		return nil, err
	}
	return t, nil
}

// skipInDiff leaves out of the container diff what the sandbox itself made.
func skipInDiff(rel string) bool {
	switch {
	case rel == strings.TrimPrefix(contract.ImagesDir, "/"),
		rel == "proc", rel == "sys", rel == "dev":
		return true
	}
	base := path.Base(rel)
	return strings.HasPrefix(base, ".java_pid") || strings.HasPrefix(base, ".attach_pid")
}

type runSpec struct {
	lower   []string
	args    []string
	env     []string
	cwd     string
	images  string
	scratch string
}

type runResult struct {
	report *checkpoint.Report
	warmup contract.Warmup
	upper  string
}

// runAndDump runs the application in the sandbox, waits for it, warms it
// up and dumps it. The sandbox is gone when it returns.
func runAndDump(ctx context.Context, o *Options, rs runSpec, timings map[string]int64) (_ *runResult, err error) {
	t0 := time.Now()
	appLog := newRing(40)
	var appOut io.Writer = appLog
	if o.AppOutput != nil {
		appOut = io.MultiWriter(o.AppOutput, appLog)
	}
	stdout, err := newPipe(appOut)
	if err != nil {
		return nil, err
	}
	defer stdout.Close()
	stderr, err := newPipe(appOut)
	if err != nil {
		return nil, err
	}
	defer stderr.Close()

	o.Logf("starting %s in the sandbox", strings.Join(rs.args, " "))
	c, err := sandbox.Start(ctx, sandbox.Config{
		Runtime: o.Runtime,
		Dir:     filepath.Join(rs.scratch, "sandbox"),
		Lower:   rs.lower,
		Args:    append([]string{contract.LauncherPath, "--crac-mode=init", "--"}, rs.args...),
		Env:     rs.env,
		Cwd:     rs.cwd,
		Mounts: []specs.Mount{{
			Destination: contract.ImagesDir, Type: "bind", Source: rs.images,
			Options: []string{"rbind", "rw"},
		}},
		Stdout: stdout.w, Stderr: stderr.w,
	})
	if err != nil {
		return nil, err
	}
	defer func() {
		if derr := c.Destroy(); derr != nil && err == nil {
			err = derr
		}
	}()
	// The pipes' write ends now live in the container; close ours so the
	// readers see EOF when the application is gone.
	stdout.closeWrite()
	stderr.closeWrite()
	failed := func(what string, err error) error {
		stdout.drain()
		stderr.drain()
		return fmt.Errorf("%s: %w\n--- last lines of the application's output ---\n%s", what, err, appLog.String())
	}

	client := warmup.Client(c.DialContext)
	rctx, cancel := context.WithTimeout(ctx, o.ReadyTimeout)
	ready, err := warmup.WaitReady(rctx, client, o.ReadyURL, c.Done())
	cancel()
	if errors.Is(err, warmup.ErrExited) {
		return nil, failed("application exited before it was ready", fmt.Errorf("exit status %d", c.Wait()))
	}
	if err != nil {
		return nil, failed("waiting for "+o.ReadyURL, err)
	}
	o.Logf("ready after %d ms", ready.Milliseconds())
	timings["start"] = time.Since(t0).Milliseconds()

	t0 = time.Now()
	w := contract.Warmup{ReadyAfterMs: ready.Milliseconds()}
	host, port := appAddr(o)
	if o.WarmupScript != "" {
		o.Logf("running warmup script %s", o.WarmupScript)
		w.Script = filepath.Base(o.WarmupScript)
		sctx, cancel := context.WithTimeout(ctx, o.WarmupTimeout)
		err := warmup.Script(sctx, o.WarmupScript, os.Environ(), host, port, c.StartInNetns, o.AppOutput)
		cancel()
		if err != nil {
			return nil, failed("warmup", err)
		}
	}
	if o.WarmupRequests > 0 {
		u := "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(o.Port)) + o.WarmupPath
		o.Logf("sending %d warmup requests to %s", o.WarmupRequests, u)
		s, err := warmup.HTTP(ctx, client, u, o.WarmupRequests)
		if err != nil {
			return nil, failed("warmup", err)
		}
		w.Requests, w.Errors = s.Requests, s.Errors
		w.FirstMs = float64(s.First.Microseconds()) / 1000
		w.LastMs = float64(s.Last.Microseconds()) / 1000
	}
	client.CloseIdleConnections()
	select {
	case <-c.Done():
		return nil, failed("application exited during warmup", fmt.Errorf("exit status %d", c.Wait()))
	default:
	}
	w.DurationMs = time.Since(t0).Milliseconds()
	timings["warmup"] = w.DurationMs

	pid, err := appPID(c.InitPID())
	if err != nil {
		return nil, failed("finding the application's process", err)
	}
	o.Logf("checkpointing process %d", pid)
	var out strings.Builder
	args := []string{contract.LauncherPath, "--crac-mode=dump", "--pid", strconv.Itoa(pid), "--work", dumpWorkDir}
	if o.NoGC {
		args = append(args, "--gc=false")
	}
	if o.Settle > 0 {
		args = append(args, "--settle="+o.Settle.String())
	}
	if err := c.Exec(ctx, sandbox.ExecOptions{
		Args:      args,
		ExtraCaps: []string{"CAP_CHECKPOINT_RESTORE"},
		Stdout:    &out,
	}); err != nil {
		return nil, failed("checkpoint", err)
	}
	var rep checkpoint.Report
	if err := json.Unmarshal([]byte(out.String()), &rep); err != nil {
		return nil, fmt.Errorf("reading the dump report: %w: %q", err, out.String())
	}
	// The dumped tree is frozen; end the sandbox.
	_ = c.Signal(syscall.SIGKILL)
	select {
	case <-c.Done():
	case <-time.After(30 * time.Second):
		return nil, fmt.Errorf("the sandbox did not stop after the dump")
	}
	stdout.drain()
	stderr.drain()
	timings["sandbox"] = time.Since(t0).Milliseconds()
	upper := filepath.Join(rs.scratch, "diff")
	if err := c.DetachUpper(upper); err != nil {
		return nil, err
	}
	return &runResult{report: &rep, warmup: w, upper: upper}, nil
}

// appPID finds the application's PID, as its own PID namespace numbers it:
// the one child of the sandbox's init.
func appPID(initPID int) (int, error) {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", initPID))
	if err != nil {
		return 0, err
	}
	var kids []string
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", initPID, t.Name()))
		if err == nil {
			kids = append(kids, strings.Fields(string(b))...)
		}
	}
	if len(kids) != 1 {
		return 0, fmt.Errorf("sandbox init has %d children, want 1", len(kids))
	}
	st, err := contract.ProcStatus(kids[0])
	if err != nil {
		return 0, err
	}
	ns := strings.Fields(st["NSpid"])
	if len(ns) == 0 {
		return 0, fmt.Errorf("no NSpid for process %s", kids[0])
	}
	return strconv.Atoi(ns[len(ns)-1])
}

func appAddr(o *Options) (string, int) {
	host, port := "127.0.0.1", o.Port
	if u, err := url.Parse(o.ReadyURL); err == nil && port == 0 {
		host = u.Hostname()
		port, _ = strconv.Atoi(u.Port())
	}
	return host, port
}

// withJVMFlags inserts JVMFlags after a direct java command.
func withJVMFlags(cmd []string) []string {
	if path.Base(cmd[0]) != "java" {
		return cmd
	}
	out := append([]string{cmd[0]}, JVMFlags...)
	return append(out, cmd[1:]...)
}

// jvmEnv passes JVMFlags through JAVA_TOOL_OPTIONS when the command is not
// java itself (a script that starts it).
func jvmEnv(cmd, env []string) []string {
	if path.Base(cmd[0]) == "java" {
		return env
	}
	flags := strings.Join(JVMFlags, " ")
	for i, kv := range env {
		if v, ok := strings.CutPrefix(kv, "JAVA_TOOL_OPTIONS="); ok {
			out := append([]string{}, env...)
			out[i] = "JAVA_TOOL_OPTIONS=" + strings.TrimSpace(v+" "+flags)
			return out
		}
	}
	return append(append([]string{}, env...), "JAVA_TOOL_OPTIONS="+flags)
}

// mergeEnv returns base with the K=V of add set (replacing same keys).
func mergeEnv(base, add []string) []string {
	out := append([]string{}, base...)
	for _, kv := range add {
		k, _, _ := strings.Cut(kv, "=")
		replaced := false
		for i, b := range out {
			if bk, _, _ := strings.Cut(b, "="); bk == k {
				out[i] = kv
				replaced = true
			}
		}
		if !replaced {
			out = append(out, kv)
		}
	}
	return out
}

func unique(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// pipe carries the application's output from the sandbox to a writer.
type pipe struct {
	r, w *os.File
	done chan struct{}
	once sync.Once
}

func newPipe(dst io.Writer) (*pipe, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	p := &pipe{r: r, w: w, done: make(chan struct{})}
	go func() {
		_, _ = io.Copy(dst, r)
		close(p.done)
	}()
	return p, nil
}

func (p *pipe) closeWrite() { p.once.Do(func() { p.w.Close() }) }

// drain waits briefly for the output still in flight.
func (p *pipe) drain() {
	p.closeWrite()
	select {
	case <-p.done:
	case <-time.After(2 * time.Second):
	}
}

func (p *pipe) Close() error {
	p.closeWrite()
	return p.r.Close()
}

// ring keeps the last n lines written to it.
type ring struct {
	mu    sync.Mutex
	n     int
	lines []string
	part  string
}

func newRing(n int) *ring { return &ring{n: n} }

func (r *ring) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.part + string(p)
	parts := strings.Split(s, "\n")
	r.part = parts[len(parts)-1]
	r.lines = append(r.lines, parts[:len(parts)-1]...)
	if len(r.lines) > r.n {
		r.lines = r.lines[len(r.lines)-r.n:]
	}
	return len(p), nil
}

func (r *ring) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := strings.Join(r.lines, "\n")
	if r.part != "" {
		out += "\n" + r.part
	}
	return out
}
