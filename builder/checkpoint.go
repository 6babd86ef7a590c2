package builder

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/crac-build/crac-build/contract"
	"github.com/crac-build/crac-build/layers"
	"github.com/crac-build/crac-build/sandbox"
)

// CheckpointOptions configure Checkpoint. Zero values mean the documented
// defaults.
type CheckpointOptions struct {
	// Cmd is the application's command (required).
	Cmd []string
	// WorkDir is its working directory (default: the current one).
	WorkDir string
	// Env adds or replaces variables of the build step's environment.
	Env    []string
	Warmup WarmupOptions
	// CriuBundle, Launcher and Agent (crac-agent.jar; default: next to
	// the launcher) are installed under contract.Prefix unless they are
	// already there (as in the crac-build image).
	CriuBundle string
	Launcher   string
	Agent      string
	// NoAgent runs the application without the agent: org.crac Resources
	// are then not notified. OnRestoreError is the launcher's policy when
	// an afterRestore fails (as in Options).
	NoAgent        bool
	OnRestoreError string
	// AllowConnections and RestoreSignal are as in Options.
	AllowConnections bool
	RestoreSignal    string
	// AppOutput receives the application's stdout and stderr (nil: kept
	// only for error messages).
	AppOutput io.Writer
	// Logf reports progress (nil: silent).
	Logf func(format string, args ...any)
	// Version is the builder's version, recorded in the metadata.
	Version string

	// OnLimitsChange is as in Options: the build step's container limits
	// are the ones the JVM sized itself for.
	OnLimitsChange string
}

// CheckpointResult describes a finished in-build checkpoint.
type CheckpointResult struct {
	Metadata *contract.Metadata
	Warnings []string
	// RawBytes is the size of the CRIU image files.
	RawBytes int64
}

// Checkpoint is `crac-build checkpoint`, for a RUN step of a Containerfile:
// it runs the application in the build step's own root filesystem, in
// fresh PID, mount and network namespaces (loopback only), waits until it
// is ready, warms it up, and dumps it into contract.ImagesDir with its
// metadata, the launcher and the CRIU bundle beside. The step's layer is
// then a warm image once the launcher is the ENTRYPOINT: the filesystem
// the application saw is the one the restore sees.
func Checkpoint(ctx context.Context, o CheckpointOptions) (_ *CheckpointResult, err error) {
	if len(o.Cmd) == 0 {
		return nil, fmt.Errorf("no command: give it after --, e.g. crac-build checkpoint --port 8080 -- java -jar /app/app.jar")
	}
	if err := o.Warmup.defaults(); err != nil {
		return nil, err
	}
	if o.CriuBundle == "" || o.Launcher == "" {
		return nil, fmt.Errorf("the CRIU bundle and the launcher are needed: copy /opt/crac-build from the crac-build image, or give --criu-bundle and --launcher")
	}
	co := coordOptions{agent: o.Agent, noAgent: o.NoAgent, onRestoreError: o.OnRestoreError}
	if err := co.defaults(o.Launcher); err != nil {
		return nil, err
	}
	if err := contract.CheckLimitsPolicy(o.OnLimitsChange); err != nil {
		return nil, fmt.Errorf("--on-limits-change: %w", err)
	}
	if o.RestoreSignal != "" {
		name, _, err := contract.ParseRestoreSignal(o.RestoreSignal)
		if err != nil {
			return nil, err
		}
		o.RestoreSignal = name
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	if err := CheckBuildStep(); err != nil {
		return nil, err
	}
	if o.WorkDir == "" {
		if o.WorkDir, err = os.Getwd(); err != nil {
			return nil, err
		}
	}
	env := mergeEnv(os.Environ(), o.Env)
	timings := map[string]int64{}

	agentJar := co.agent
	if co.noAgent {
		agentJar = ""
	}
	if err := installRuntime(o.Launcher, o.CriuBundle, agentJar); err != nil {
		return nil, err
	}
	// A checkpoint of an earlier step (or of the base) is replaced.
	if err := os.RemoveAll(contract.CheckpointDir); err != nil {
		return nil, fmt.Errorf("removing the previous checkpoint: %w", err)
	}
	if err := os.MkdirAll(contract.ImagesDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", contract.ImagesDir, err)
	}
	// Nothing half-made stays in the layer if this step fails (the build
	// fails with it anyway, but a retried step must not see it).
	defer func() {
		if err != nil {
			_ = os.RemoveAll(contract.CheckpointDir)
		}
	}()
	// CRIU's log goes to a tmpfs when there is one, out of the layer.
	work, err := os.MkdirTemp(tmpfsDir(), "crac-build-dump-")
	if err != nil {
		return nil, fmt.Errorf("creating the dump's work dir: %w", err)
	}
	defer os.RemoveAll(work)

	out, err := newAppOutput(o.AppOutput)
	if err != nil {
		return nil, err
	}
	defer out.Close()
	t0 := time.Now()
	jflags := checkpointFlags(o.Cmd, env)
	args, runEnv := co.withAgent(withJVMFlags(o.Cmd, jflags), jvmEnv(o.Cmd, env, jflags))
	o.Logf("starting %s", strings.Join(args, " "))
	a, err := startInNamespaces(contract.LauncherPath, sandbox.DefaultCaps, args, runEnv, o.WorkDir, out)
	if err != nil {
		return nil, err
	}
	defer a.stop()
	out.closeWrite()

	wr, err := warmAndDump(ctx, a, warmRun{
		warmup: o.Warmup, coord: co, flags: dumpFlags(work, o.Warmup.NoGC, o.Warmup.Settle, o.AllowConnections),
		out: out, logf: o.Logf, scriptOut: o.AppOutput, started: t0, timings: timings,
	})
	if err != nil {
		return nil, err
	}
	if err := a.stop(); err != nil {
		return nil, err
	}
	out.drain()

	hyg, err := checkpointHygiene(wr.report, o.RestoreSignal, contract.ImagesDir, "", nil, o.Logf)
	if err != nil {
		return nil, err
	}
	meta := newMetadata(contract.Command{Args: o.Cmd, Env: env, WorkDir: o.WorkDir}, wr, timings, o.Version)
	meta.Hygiene, meta.RestoreSignal = hyg, o.RestoreSignal
	meta.OnLimitsChange = o.OnLimitsChange
	mb, err := meta.Marshal()
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(contract.MetadataPath, mb, 0o644); err != nil {
		return nil, fmt.Errorf("writing %s: %w", contract.MetadataPath, err)
	}
	res := &CheckpointResult{Metadata: meta, Warnings: append(wr.warnings, hyg.Warnings...)}
	for _, im := range wr.report.Images {
		res.RawBytes += im.Size
	}
	return res, nil
}

// installRuntime puts the launcher, the CRIU bundle and the agent ("":
// none) at their places under contract.Prefix, as a build's runtime layer
// has them. What is already in place (the crac-build image's
// /opt/crac-build copied into the build) is left alone.
func installRuntime(launcher, bundle, agentJar string) error {
	t := layers.NewTar()
	for _, p := range []struct {
		src, dst string
		add      func(*layers.Tar, string) error
	}{
		{launcher, contract.LauncherPath, addLauncher},
		{bundle, contract.CriuDir, addBundle},
		{agentJar, contract.AgentPath, addAgent},
	} {
		if p.src == "" || samePath(p.src, p.dst) {
			continue
		}
		if err := p.add(t, p.src); err != nil {
			return err
		}
	}
	if t.Len() == 0 {
		return nil
	}
	pr, pw := io.Pipe()
	go func() { _, err := t.WriteTo(pw); pw.CloseWithError(err) }()
	err := layers.Extract(pr, "/")
	pr.Close()
	if err != nil {
		return fmt.Errorf("installing the launcher and the CRIU bundle under %s: %w", contract.Prefix, err)
	}
	return nil
}

func samePath(a, b string) bool {
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	return err == nil && os.SameFile(fa, fb)
}

// tmpfsDir is /dev/shm if it is a tmpfs (as in every container), else
// the default temp dir.
func tmpfsDir() string {
	var st unix.Statfs_t
	if unix.Statfs("/dev/shm", &st) == nil && st.Type == unix.TMPFS_MAGIC {
		return "/dev/shm"
	}
	return ""
}
