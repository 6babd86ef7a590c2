package builder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/crac-build/crac-build/internal/contract"
	"github.com/crac-build/crac-build/internal/cpubaseline"
	"github.com/crac-build/crac-build/internal/environ"
	"github.com/crac-build/crac-build/internal/layers"
	"github.com/crac-build/crac-build/internal/sandbox"
	"github.com/crac-build/crac-build/internal/secrets"
)

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
//
// It takes the same Options as Build but for the fields marked "Build
// only", which it refuses. Secrets are the build step's: every file under
// contract.SecretsDir (as RUN --mount=type=secret puts them) and each
// Secrets file, whose values must not be in the checkpoint.
func Checkpoint(ctx context.Context, o Options) (_ *CheckpointResult, err error) {
	if err := o.checkpointDefaults(); err != nil {
		return nil, err
	}
	if err := CheckBuildStep(); err != nil {
		return nil, err
	}
	if o.WorkDir == "" {
		if o.WorkDir, err = os.Getwd(); err != nil {
			return nil, err
		}
	}
	env := environ.Merge(stepEnv(os.Environ()), o.Env)
	found, err := stepSecrets(contract.SecretsDir, o.Secrets)
	if err != nil {
		return nil, err
	}
	values, err := secrets.Load(found)
	if err != nil {
		return nil, err
	}
	defer values.Clear()
	timings := map[string]int64{}

	co := o.coord()
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
			removeClassCaches()
		}
	}()
	// So is an earlier step's class cache: only this step's JVM may use
	// one.
	removeClassCaches()
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
	level, err := cpuLevel(o.CPUBaseline, o.Logf)
	if err != nil {
		return nil, err
	}
	var levelEnv []string
	o.Cmd, levelEnv = level.Apply(o.Cmd)
	jflags := checkpointFlags(o.Cmd, env)
	jdk, jdkErr := jdkFeature([]string{"/"}, o.Cmd, env)
	if jdkErr == nil && jdk >= 14 {
		jflags = append(jflags, mapAtBaseFlags...)
	}
	command := func(flags []string) ([]string, []string) {
		return withJVMFlags(o.Cmd, flags), cpubaseline.AppendEnv(jvmEnv(o.Cmd, env, flags), levelEnv)
	}
	var cacheRun *classCacheRun
	if !o.NoClassCache {
		tc := time.Now()
		if cacheRun, err = stepClassCache(ctx, &o, jdk, jdkErr, jflags, command); err != nil {
			return nil, err
		}
		if cacheRun != nil {
			jflags = append(jflags, cacheRun.kind.use+cacheRun.inImage())
		}
		timings["classcache"] = time.Since(tc).Milliseconds()
		t0 = time.Now()
	}
	args, runEnv := command(jflags)
	args, runEnv = o.withAgent(args, runEnv)
	o.Logf("starting %s", strings.Join(args, " "))
	a, err := startInNamespaces(contract.LauncherPath, sandbox.DefaultCaps(), args, runEnv, o.WorkDir, out)
	if err != nil {
		return nil, err
	}
	defer a.stop()
	out.closeWrite()

	wr, err := warmAndDump(ctx, a, warmRun{
		o: &o, coord: co, flags: dumpFlags(work, o.NoGC, o.Settle, o.AllowConnections),
		out: out, logf: o.Logf, scriptOut: o.AppOutput, started: t0, timings: timings,
	})
	if err != nil {
		return nil, err
	}
	if err := a.stop(); err != nil {
		return nil, err
	}
	out.drain()

	hyg, err := checkpointHygiene(wr.report, o.RestoreSignal, contract.ImagesDir, "", values, o.Logf)
	if err != nil {
		return nil, err
	}
	meta := newMetadata(contract.Command{Args: o.Cmd, Env: env, WorkDir: o.WorkDir}, wr, timings, o.Version)
	meta.CPUBaseline = baselineMeta(level, levelEnv, meta.Host.CPUFeatures)
	meta.Hygiene, meta.RestoreSignal = hyg, o.RestoreSignal
	meta.OnLimitsChange, meta.OnEnvChange = o.OnLimitsChange, o.OnEnvChange
	if cacheRun != nil {
		file := filepath.Join(cacheRun.dir, cacheRun.kind.file)
		if meta.ClassCache = recordClassCache(&o, cacheRun, file, wr.report.OpenFiles, "the step's layer"); meta.ClassCache == nil {
			removeClassCaches()
		}
	}
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

// stepClassCache makes Checkpoint's class cache (docs/class-cache.md): a
// training run of the command in the step's own root filesystem, in
// namespaces as the checkpointed run, whose JVM writes the cache on exit
// straight into contract.ClassCacheDir, this step's layer. It returns
// nil after one line of log when there is none (a half-written file is
// removed), and an error only when the build is cancelled. command turns
// JVM flags into the command and environment (without the agent), jflags
// are the builder's.
func stepClassCache(ctx context.Context, o *Options, jdk int, jdkErr error, jflags []string, command func([]string) ([]string, []string)) (*classCacheRun, error) {
	r, flags, err := planClassCache(o, jdk, jdkErr, []string{"/"}, o.Cmd, jflags, contract.ClassCacheDir)
	if err != nil {
		return nil, noClassCache(ctx, o, err)
	}
	args, env := command(flags)
	if err := trainInStep(ctx, o, r, args, env); err != nil {
		removeClassCaches()
		return nil, noClassCache(ctx, o, err)
	}
	return r, nil
}

// trainInStep is stepClassCache's training run of args with env.
func trainInStep(ctx context.Context, o *Options, r *classCacheRun, args, env []string) error {
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", r.dir, err)
	}
	out, err := newAppOutput(o.AppOutput)
	if err != nil {
		return err
	}
	defer out.Close()
	o.Logf("class cache: training run: %s", strings.Join(args, " "))
	t0 := time.Now()
	a, err := startInNamespaces(contract.LauncherPath, sandbox.DefaultCaps(), args, env, o.WorkDir, out)
	if err != nil {
		return err
	}
	defer a.stop()
	out.closeWrite()
	if _, err := finishTraining(ctx, o, a, out, t0, r); err != nil {
		return err
	}
	return a.stop()
}

// removeClassCaches removes the class cache files a step may have left in
// contract.ClassCacheDir, and the directory if that empties it.
func removeClassCaches() {
	for _, jdk := range []int{13, 25} {
		if k, err := classCacheKindFor(jdk); err == nil {
			_ = os.Remove(filepath.Join(contract.ClassCacheDir, k.file))
		}
	}
	_ = os.Remove(contract.ClassCacheDir) // fails unless empty
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

// shellSet are variables that the build step's shell sets for the commands
// it runs (`RUN crac-build checkpoint ...` is `/bin/sh -c ...`): the
// working directory, the previous one, the nesting level and the last
// command's path. They are not the image's: a container of the image has
// none of them (or the launcher's own), so recorded as the build's
// environment every start would warn that they differ.
var shellSet = map[string]bool{"PWD": true, "OLDPWD": true, "SHLVL": true, "_": true}

// stepEnv is the build step's environment without what its shell set.
func stepEnv(environ []string) []string {
	var out []string
	for _, kv := range environ {
		if k, _, _ := strings.Cut(kv, "="); !shellSet[k] {
			out = append(out, kv)
		}
	}
	return out
}

// stepSecrets lists the secrets whose values a checkpoint in a build step
// must not hold: every regular file under dir (contract.SecretsDir, where
// `RUN --mount=type=secret,id=ID` puts /run/secrets/ID), named by its path
// below dir, and the given ones (--secret ID=FILE, for secrets mounted
// elsewhere). A missing dir is no secret.
func stepSecrets(dir string, given []secrets.Secret) ([]secrets.Secret, error) {
	out := append([]secrets.Secret{}, given...)
	ids := map[string]string{}
	for _, s := range given {
		ids[s.ID] = s.File
	}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && p == dir {
			return fs.SkipAll
		}
		if err != nil {
			return fmt.Errorf("listing the build step's secrets: %w", err)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		id, _ := filepath.Rel(dir, p)
		if f, ok := ids[id]; ok {
			if samePath(f, p) {
				return nil // given as --secret too
			}
			return fmt.Errorf("--secret %s=%s: %s is another secret of that ID", id, f, p)
		}
		ids[id] = p
		out = append(out, secrets.Secret{ID: id, File: p})
		return nil
	})
	return out, err
}
