package builder

import (
	"context"
	"fmt"
	"io"
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

	"github.com/crac-build/crac-build/internal/checkpoint"
	"github.com/crac-build/crac-build/internal/contract"
	"github.com/crac-build/crac-build/internal/cpubaseline"
	"github.com/crac-build/crac-build/internal/environ"
	"github.com/crac-build/crac-build/internal/host"
	"github.com/crac-build/crac-build/internal/layers"
	"github.com/crac-build/crac-build/internal/proc"
	"github.com/crac-build/crac-build/internal/progress"
	"github.com/crac-build/crac-build/internal/registry"
	"github.com/crac-build/crac-build/internal/sandbox"
	"github.com/crac-build/crac-build/internal/secrets"
)

// jvmFlags are added to the application's java command: the hsperfdata file
// would be deleted as stale by the next JVM and break the restore; the heap
// free ratios let G1 give back memory after the pre-dump GC, which makes the
// checkpoint 2-4x smaller (ENVIRONMENT.md).
var jvmFlags = []string{"-XX:-UsePerfData", "-XX:MaxHeapFreeRatio=10", "-XX:MinHeapFreeRatio=5"}

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

// Build makes a warm image and writes it to every output. If the build
// fails, nothing is written; if an output fails, the ones before it stay
// written (each output on its own is all or nothing).
func Build(ctx context.Context, o Options) (*Result, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	timings := map[string]int64{}
	step := func(name string, t0 time.Time) { timings[name] = time.Since(t0).Milliseconds() }
	ropts := registry.Options{Insecure: o.Insecure, Platform: o.Platform, Progress: o.Progress}

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
	baseDigest, err := base.Digest()
	if err != nil {
		return nil, fmt.Errorf("reading digest of %s: %w", o.Base, err)
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
	env := environ.Merge(baseCfg.Config.Env, o.Env)
	level, err := cpuLevel(o.CPUBaseline, o.Logf)
	if err != nil {
		return nil, err
	}
	cold, levelEnv := level.Apply(cold)
	if level != nil {
		o.Logf("limiting the JVM and glibc to %s", level.Name)
	}

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
	op := progress.Unpack
	if registry.KindOf(o.Base) == registry.KindRegistry {
		op = progress.Pull // the layers are downloaded as they are unpacked
	}
	tracked, finish := registry.TrackReads(base, o.Progress, op, o.Base)
	baseFS, err := layers.CachedRootFS(tracked, o.CacheDir)
	if err != nil {
		return nil, err
	}
	finish()
	step("unpack", t0)

	t0 = time.Now()
	// The application layer is written after the checkpointed run: the
	// class cache joins it.
	appTar, err := appLayerTar(o.Adds)
	if err != nil {
		return nil, err
	}
	rtTar, err := RuntimeTar(o.Launcher, o.CriuBundle, o.Agent)
	if err != nil {
		return nil, err
	}
	rtLayer, err := layers.Write(rtTar, blobs, layers.WriteOptions{Compression: o.Compression, Progress: o.Progress, Name: "runtime layer"})
	if err != nil {
		return nil, fmt.Errorf("writing runtime layer: %w", err)
	}
	appFS, rtFS := filepath.Join(scratch, "app"), filepath.Join(scratch, "runtime")
	for _, dir := range []string{appFS, rtFS} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
	}
	if err := extractTar(appTar, appFS); err != nil {
		return nil, fmt.Errorf("unpacking the application's files: %w", err)
	}
	if err := layers.ExtractLayer(rtLayer, rtFS); err != nil {
		return nil, fmt.Errorf("unpacking layer: %w", err)
	}
	step("layers", t0)

	user, err := appUser(o.User, baseCfg.Config.User, o.Base, []string{appFS, baseFS})
	if err != nil {
		return nil, err
	}
	if user != nil {
		o.Logf("running the application as %s", user)
	}

	images := filepath.Join(scratch, "images")
	if err := os.MkdirAll(images, 0o700); err != nil {
		return nil, err
	}
	var mounts []specs.Mount
	var staged *secrets.Staged
	if len(o.Secrets) > 0 {
		if staged, err = secrets.Stage(filepath.Join(scratch, "secrets"), o.Secrets); err != nil {
			return nil, err
		}
		defer staged.Close()
		mounts = append(mounts, secretsMount(staged.Dir))
	}
	lower := []string{rtFS, appFS, baseFS}
	command := func(flags []string) ([]string, []string) {
		return withJVMFlags(cold, flags), withHome(cpubaseline.AppendEnv(jvmEnv(cold, env, flags), levelEnv), user)
	}
	jflags := checkpointFlags(cold, env)
	jdk, jdkErr := jdkFeature(lower, cold, env)
	if jdkErr == nil && jdk >= 14 {
		jflags = append(jflags, mapAtBaseFlags...)
	}
	rs := runSpec{lower: lower, user: user, cwd: workDir, images: images, scratch: scratch, mounts: mounts}
	var cacheRun *classCacheRun
	var cacheFile string
	if !o.NoClassCache {
		t0 := time.Now()
		if cacheRun, cacheFile, err = makeClassCache(ctx, &o, rs, jdk, jdkErr, cold, command, jflags); err != nil {
			return nil, err
		}
		if cacheRun != nil {
			if err := withClassCache(appTar, cacheFile, cacheRun.inImage(), appFS); err != nil {
				return nil, err
			}
			jflags = append(jflags, cacheRun.kind.use+cacheRun.inImage())
		}
		step("classcache", t0)
	}
	args, runEnv := command(jflags)
	rs.args, rs.env = o.withAgent(args, runEnv)
	run, err := runAndDump(ctx, &o, rs, timings)
	if err != nil {
		return nil, err
	}
	var classCache *contract.ClassCache
	if cacheRun != nil {
		if classCache = recordClassCache(&o, cacheRun, cacheFile, run.report.OpenFiles, "the application layer"); classCache == nil {
			if appTar, err = appLayerTar(o.Adds); err != nil {
				return nil, err
			}
		}
	}
	t0 = time.Now()
	appLayer, err := layers.Write(appTar, blobs, layers.WriteOptions{Compression: o.Compression, Progress: o.Progress, Name: "application layer"})
	if err != nil {
		return nil, fmt.Errorf("writing application layer: %w", err)
	}
	timings["layers"] += time.Since(t0).Milliseconds()

	t0 = time.Now()
	var values *secrets.Values
	if staged != nil {
		values = staged.Values
	}
	hyg, err := checkpointHygiene(run.report, o.RestoreSignal, images, run.upper, values, o.Logf)
	if err != nil {
		return nil, err
	}
	step("scan", t0)

	t0 = time.Now()
	meta := newMetadata(contract.Command{Args: cold, Env: env, WorkDir: workDir}, &run.warmResult, timings, o.Version)
	meta.Base = &contract.BaseImage{Name: o.Base, Digest: baseDigest.String()}
	meta.Hygiene, meta.RestoreSignal = hyg, o.RestoreSignal
	meta.OnLimitsChange = o.OnLimitsChange
	meta.OnEnvChange = o.OnEnvChange
	meta.CPUBaseline = baselineMeta(level, levelEnv, meta.Host.CPUFeatures)
	meta.ClassCache = classCache
	if user != nil {
		meta.User = user
		meta.RequiredCaps = unique(append(meta.RequiredCaps, userRestoreCaps...))
	}
	ckTar := layers.NewTar()
	skip := skipInDiff
	if staged != nil {
		skip = func(rel string) bool { return skipInDiff(rel) || skipSecretsDir(rel) }
	}
	if err := ckTar.AddUpper(run.upper, skip); err != nil {
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
	ckLayer, err := layers.Write(ckTar, blobs, layers.WriteOptions{Compression: o.Compression, Parallel: true, Progress: o.Progress, Name: "checkpoint layer"})
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
		wopts := ropts
		wopts.ArchiveCompression = string(o.ArchiveCompression)
		if err := registry.Write(ctx, img, out, wopts); err != nil {
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
	res := &Result{Digest: d, Image: img, Metadata: meta, Warnings: append(run.warnings, hyg.Warnings...)}
	res.Checkpoint.RawBytes = ckLayer.RawSize()
	res.Checkpoint.CompressedBytes, _ = ckLayer.Size()
	return res, nil
}

// appLayerTar is the application layer's tar: the --add files.
func appLayerTar(adds []Add) (*layers.Tar, error) {
	t := layers.NewTar()
	for _, a := range adds {
		if err := t.AddHost(a.Src, a.Dest); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// RuntimeTar is the runtime layer: the launcher, the CRIU bundle and the
// Java agent ("": none). It is the same for every image built with the
// same three.
func RuntimeTar(launcher, bundle, agentJar string) (*layers.Tar, error) {
	t := layers.NewTar()
	if err := addLauncher(t, launcher); err != nil {
		return nil, err
	}
	if err := addBundle(t, bundle); err != nil {
		return nil, err
	}
	if agentJar != "" {
		if err := addAgent(t, agentJar); err != nil {
			return nil, err
		}
	}
	// The checkpoint's mount point in the sandbox; present in the runtime
	// layer so that the sandbox's diff does not record its creation.
	if err := t.AddDir(contract.ImagesDir, 0o755); err != nil {
		return nil, err
	}
	return t, nil
}

// addLauncher, addBundle and addAgent add the runtime's pieces at their
// places. Symlinks to them (a checkout's build/criu may be one) must not
// end up in the image as links: they add what the links name.
func addLauncher(t *layers.Tar, launcher string) error {
	launcher, err := filepath.EvalSymlinks(launcher)
	if err != nil {
		return fmt.Errorf("adding launcher: %w", err)
	}
	if err := t.AddHost(launcher, contract.LauncherPath); err != nil {
		return fmt.Errorf("adding launcher: %w", err)
	}
	return nil
}

func addBundle(t *layers.Tar, bundle string) error {
	resolved, err := filepath.EvalSymlinks(bundle)
	if err != nil {
		return fmt.Errorf("CRIU bundle %s is missing (run `make criu`): %w", bundle, err)
	}
	if _, err := os.Stat(filepath.Join(resolved, "criu")); err != nil {
		return fmt.Errorf("CRIU bundle %s is incomplete (run `make criu`): %w", bundle, err)
	}
	if err := t.AddHost(resolved, contract.CriuDir); err != nil {
		return fmt.Errorf("adding CRIU bundle: %w", err)
	}
	return nil
}

func addAgent(t *layers.Tar, agentJar string) error {
	agentJar, err := filepath.EvalSymlinks(agentJar)
	if err != nil {
		return fmt.Errorf("adding crac-build agent: %w", err)
	}
	if err := t.AddHost(agentJar, contract.AgentPath); err != nil {
		return fmt.Errorf("adding crac-build agent: %w", err)
	}
	return nil
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
	lower []string
	args  []string
	env   []string
	// user, if set, is who the application runs as (the launcher, its
	// init, stays root).
	user    *contract.User
	cwd     string
	images  string
	scratch string
	// mounts are added to the sandbox's (the build secrets).
	mounts []specs.Mount
}

type runResult struct {
	warmResult
	upper string
}

// runAndDump runs the application in the sandbox, waits for it, warms it
// up and dumps it. The sandbox is gone when it returns.
func runAndDump(ctx context.Context, o *Options, rs runSpec, timings map[string]int64) (_ *runResult, err error) {
	t0 := time.Now()
	out, err := newAppOutput(o.AppOutput)
	if err != nil {
		return nil, err
	}
	defer out.Close()
	o.Logf("starting %s in the sandbox", strings.Join(rs.args, " "))
	c, err := startSandbox(ctx, o, rs, "sandbox", []specs.Mount{{
		Destination: contract.ImagesDir, Type: "bind", Source: rs.images,
		Options: []string{"rbind", "rw"},
	}}, out)
	if err != nil {
		return nil, err
	}
	defer func() {
		if derr := c.Destroy(); derr != nil && err == nil {
			err = derr
		}
	}()

	wr, err := warmAndDump(ctx, sandboxApp{c, rs.user != nil}, warmRun{
		o: o, coord: o.coord(), flags: dumpFlags(dumpWorkDir, o.NoGC, o.Settle, o.AllowConnections),
		out: out, logf: o.Logf, scriptOut: o.AppOutput, started: t0, timings: timings,
	})
	if err != nil {
		return nil, err
	}
	t0 = time.Now()
	// The dumped tree is frozen; end the sandbox.
	_ = c.Signal(syscall.SIGKILL)
	select {
	case <-c.Done():
	case <-time.After(30 * time.Second):
		return nil, fmt.Errorf("the sandbox did not stop after the dump")
	}
	out.drain()
	timings["sandbox"] = time.Since(t0).Milliseconds()
	upper := filepath.Join(rs.scratch, "diff")
	if err := c.DetachUpper(upper); err != nil {
		return nil, err
	}
	return &runResult{warmResult: *wr, upper: upper}, nil
}

// startSandbox starts the application in a runc sandbox under
// rs.scratch/dir, with mounts before rs.mounts, its output to out. The
// caller destroys it.
func startSandbox(ctx context.Context, o *Options, rs runSpec, dir string, mounts []specs.Mount, out *appOutput) (*sandbox.Container, error) {
	initArgs := []string{contract.LauncherPath, "--crac-mode=init"}
	if o.CombinedOutput {
		// runc hands the container pipes of its own, one per stream: the
		// sandbox's init joins them for the application.
		initArgs = append(initArgs, "--combined-output")
	}
	initArgs = append(initArgs, userArgs(rs.user)...)
	c, err := sandbox.Start(ctx, sandbox.Config{
		Runtime: o.Runtime,
		Dir:     filepath.Join(rs.scratch, dir),
		Lower:   rs.lower,
		Args:    append(append(initArgs, "--"), rs.args...),
		Env:     rs.env,
		Cwd:     rs.cwd,
		Mounts:  append(mounts, rs.mounts...),
		Stdout:  out.stdout.w, Stderr: out.stderr.w,
		Network: o.Network,
		Uptime:  sandboxUptime(),

		CPUs: o.CPUs, MemoryBytes: o.MemoryBytes,
	})
	if err != nil {
		return nil, err
	}
	// The pipes' write ends now live in the container.
	out.closeWrite()
	return c, nil
}

// sandboxApp is the application in a runc sandbox, dumped from inside the
// sandbox by `runc exec` of the launcher's dump mode.
type sandboxApp struct {
	*sandbox.Container
	// otherUser is set when the application runs as another user than
	// the dump (root): reading its /proc files (fd, maps, environ) then
	// needs CAP_SYS_PTRACE, which the dump alone gets, not the
	// application. (The dump takes the application's real ids for the
	// rest: launcher.TakeRealIDs.)
	otherUser bool
}

var _ app = sandboxApp{}

func (s sandboxApp) dump(ctx context.Context, flags []string) (*checkpoint.Report, error) {
	pid, err := appPID(s.InitPID())
	if err != nil {
		return nil, fmt.Errorf("finding the application's process: %w", err)
	}
	var out strings.Builder
	args := append([]string{contract.LauncherPath, "--crac-mode=dump", "--pid", strconv.Itoa(pid)}, flags...)
	caps := []string{"CAP_CHECKPOINT_RESTORE"}
	if s.otherUser {
		caps = append(caps, "CAP_SYS_PTRACE")
	}
	if err := s.Exec(ctx, sandbox.ExecOptions{
		Args:      args,
		ExtraCaps: caps,
		Stdout:    &out,
	}); err != nil {
		return nil, err
	}
	return parseReport(out.String())
}

// sandboxUptime is where the sandbox's monotonic and boot clocks start (in
// a time namespace of their own): the build host's uptime then does not
// travel in the checkpoint, and the JVM's clocks at dump read about the
// build's duration. A restoring host that has been up longer (any but one
// booted in the last minute or so) sees them jump forward, never back;
// see launcher/clock.go. Zero (no time namespace) on kernels without them.
func sandboxUptime() time.Duration {
	if !sandbox.TimeNamespaces() {
		return 0
	}
	return time.Second
}

// appChild is the application's host PID: the one child of the sandbox's
// init.
func appChild(initPID int) (int, error) {
	kids := proc.Children(initPID)
	if len(kids) != 1 {
		return 0, fmt.Errorf("sandbox init has %d children, want 1", len(kids))
	}
	return kids[0], nil
}

// appPID finds the application's PID, as its own PID namespace numbers it:
// the one child of the sandbox's init.
func appPID(initPID int) (int, error) {
	pid, err := appChild(initPID)
	if err != nil {
		return 0, err
	}
	st, err := proc.Status(pid)
	if err != nil {
		return 0, err
	}
	n, err := proc.NSpid(st)
	if err != nil {
		return 0, fmt.Errorf("process %d: %w", pid, err)
	}
	return n, nil
}

// DefaultCPUBaseline is the level of a build that names none: measured side
// by side against native on 2026-12-05 (make bench rows, hello and Tomcat,
// two runs), its steady-state latency and first response were within the
// machine's noise (faster in one run, slower in the other), and it restores
// on any x86 server CPU since 2015 instead of the build CPU's kind only.
const DefaultCPUBaseline = "x86-64-v3"

// cpuLevel is the --cpu-baseline level (nil for native). A level named
// explicitly is refused when this host's CPU lacks one of its features (the
// build would record features the JVM never had); the default is
// DefaultCPUBaseline, or the highest level below it that this CPU has, or
// native.
func cpuLevel(name string, logf func(string, ...any)) (*cpubaseline.Level, error) {
	have, _, err := host.CPUFeatures()
	if err != nil {
		return nil, err
	}
	if name == "" {
		for _, n := range []string{DefaultCPUBaseline, "x86-64-v2"} {
			if level, _ := cpubaseline.Lookup(n); level != nil && len(level.Missing(have)) == 0 {
				return level, nil
			}
		}
		logf("this CPU has no x86-64-v2 or v3 level: the image needs every feature of this CPU (--cpu-baseline native)")
		return nil, nil
	}
	level, err := cpubaseline.Lookup(name)
	if err != nil || level == nil {
		return nil, err
	}
	if miss := level.Missing(have); len(miss) > 0 {
		return nil, fmt.Errorf("--cpu-baseline %s: this host's CPU lacks %s; build on a CPU that has the level, or choose a lower one", name, strings.Join(miss, ", "))
	}
	return level, nil
}

// baselineMeta records a level in the metadata: what a restoring CPU needs
// of a checkpoint made at it on a CPU with buildFeatures.
func baselineMeta(level *cpubaseline.Level, env, buildFeatures []string) *contract.CPUBaseline {
	if level == nil {
		return nil
	}
	return &contract.CPUBaseline{Name: level.Name, Needs: level.Needed(buildFeatures), Env: env, CPUs: level.CPUs}
}

// withJVMFlags inserts flags (checkpointFlags) after a direct java
// command: the command's own flags follow them and win.
func withJVMFlags(cmd, flags []string) []string {
	if path.Base(cmd[0]) != "java" {
		return cmd
	}
	out := append([]string{cmd[0]}, flags...)
	return append(out, cmd[1:]...)
}

// jvmEnv passes flags through JAVA_TOOL_OPTIONS when the command is not
// java itself (a script that starts it).
func jvmEnv(cmd, env, jflags []string) []string {
	if path.Base(cmd[0]) == "java" {
		return env
	}
	return environ.Merge(env, []string{"JAVA_TOOL_OPTIONS=" + strings.Join(jflags, " ")}, "JAVA_TOOL_OPTIONS")
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
	lines := r.lines
	if r.part != "" {
		lines = append(append([]string{}, lines...), r.part)
	}
	return strings.Join(lines, "\n")
}
