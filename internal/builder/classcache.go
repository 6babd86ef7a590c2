package builder

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/crac-build/crac-build/internal/contract"
	"github.com/crac-build/crac-build/internal/layers"
)

// The JDK's own start-up cache (docs/class-cache.md): a training run of
// the application with the build's warmup writes it as the JVM exits; the
// checkpointed JVM starts with it, and so does a cold start. Classes that
// come from it are a file mapping, not anonymous memory: they stay out of
// the checkpoint while the JVM maps the file where it was made.

// classCacheKind is how one JDK makes a cache and starts with one.
type classCacheKind struct {
	kind string // contract.ClassCacheAppCDS or contract.ClassCacheAOT
	file string // its name under contract.ClassCacheDir
	// train is the training run's flag and use the flag that starts a JVM
	// with the cache; the file's path follows both.
	train, use string
}

// classCacheKindFor is the cache a JDK feature release makes: JDK 25 an
// AOT cache with the training run's profiles (JEPs 483, 514, 515), JDK 13
// to 24 a dynamic AppCDS archive.
func classCacheKindFor(jdk int) (*classCacheKind, error) {
	switch {
	case jdk >= 25:
		return &classCacheKind{contract.ClassCacheAOT, "app.aot", "-XX:AOTCacheOutput=", "-XX:AOTCache="}, nil
	case jdk >= 13:
		return &classCacheKind{contract.ClassCacheAppCDS, "app.jsa", "-XX:ArchiveClassesAtExit=", "-XX:SharedArchiveFile="}, nil
	}
	return nil, fmt.Errorf("JDK %d makes no class cache (a dynamic AppCDS archive needs JDK 13 or later)", jdk)
}

// mapAtBaseFlags make the JVM map its CDS archives (the JDK's default one,
// the class cache) at the address they were made for: relocated (the
// default since JDK 17.0.x and 20), the JVM writes pointers in most of
// their pages, which the checkpoint then copies. ArchiveRelocationMode
// exists since JDK 14; if the address is taken, the JVM still relocates.
var mapAtBaseFlags = []string{"-XX:+UnlockDiagnosticVMOptions", "-XX:ArchiveRelocationMode=0"}

// agentTrainingFlags give the training run what the crac-build agent
// changes in a JVM that has it, without the agent: a JVM refuses a cache
// made with another boot class path (the agent's jar is appended to it)
// or other added modules (an agent adds java.instrument). With the agent
// itself, JDK 17 needs AllowArchivingWithJavaAgent to make an archive and
// then warns at every start, and JDK 25 makes no AOT cache at all.
func agentTrainingFlags() []string {
	return []string{"--add-modules=java.instrument", "-Xbootclasspath/a:" + contract.AgentPath}
}

// trainExitTimeout bounds the training JVM's exit, which writes the
// cache (a JDK 25 JVM starts a second JVM to assemble it).
const trainExitTimeout = 3 * time.Minute

// classCacheRun is a training run's cache.
type classCacheRun struct {
	kind *classCacheKind
	jdk  int
	// dir is the host directory the cache is written to.
	dir string
}

// inImage is the cache file's path in the image.
func (r *classCacheRun) inImage() string { return path.Join(contract.ClassCacheDir, r.kind.file) }

// noClassCache is what a build does when it makes no class cache: one
// line of log, and on without one. Only a cancelled build is an error.
func noClassCache(ctx context.Context, o *Options, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	sayNoClassCache(o, err)
	return nil
}

// sayNoClassCache is the line of log of a build without a class cache.
func sayNoClassCache(o *Options, err error) {
	first, _, _ := strings.Cut(err.Error(), "\n")
	o.Logf("class cache: none, the image goes without one: %s", first)
}

// recordClassCache is the metadata of the cache the checkpointed JVM
// mapped (classCacheMeta), with one line of log that names where the
// image has it; nil, after the line saying why, when the JVM did not map it.
func recordClassCache(o *Options, r *classCacheRun, file string, open []contract.OpenFile, where string) *contract.ClassCache {
	cc, err := classCacheMeta(r, file, open)
	if err != nil {
		sayNoClassCache(o, err)
		return nil
	}
	o.Logf("class cache: %s of JDK %d, %s, in %s", cc.Kind, cc.JDK, contract.HumanBytes(cc.Size), where)
	return cc
}

// planClassCache is the cache a training run of cold in the image made of
// roots makes into dir (on the host), and the training run's JVM flags:
// the builder's jflags, what the agent would change (agentTrainingFlags)
// and the flag that writes the cache. jdk is the JDK's feature release
// (jdkErr: it is not known).
func planClassCache(o *Options, jdk int, jdkErr error, roots, cold, jflags []string, dir string) (*classCacheRun, []string, error) {
	if jdkErr != nil {
		return nil, nil, jdkErr
	}
	kind, err := classCacheKindFor(jdk)
	if err != nil {
		return nil, nil, err
	}
	if d := classPathDir(roots, cold); d != "" {
		return nil, nil, fmt.Errorf("the class path has the directory %s: the JDK archives classes from jars only", d)
	}
	r := &classCacheRun{kind: kind, jdk: jdk, dir: dir}
	flags := append([]string{}, jflags...)
	if agentInColdStart(o) {
		flags = append(flags, agentTrainingFlags()...)
	}
	return r, append(flags, kind.train+r.inImage()), nil
}

// makeClassCache makes Build's class cache: it returns nil after one line
// of log when the JDK cannot make one (jdkErr: it is not known), and an
// error only when the build is cancelled. cold is the cold command;
// command turns JVM flags into the application's command and environment
// (without the agent), jflags are the builder's.
func makeClassCache(ctx context.Context, o *Options, rs runSpec, jdk int, jdkErr error, cold []string, command func([]string) ([]string, []string), jflags []string) (*classCacheRun, string, error) {
	r, flags, err := planClassCache(o, jdk, jdkErr, rs.lower, cold, jflags, filepath.Join(rs.scratch, "class-cache"))
	if err != nil {
		return nil, "", noClassCache(ctx, o, err)
	}
	rs.args, rs.env = command(flags)
	file, err := trainClassCache(ctx, o, rs, r)
	if err != nil {
		return nil, "", noClassCache(ctx, o, err)
	}
	return r, file, nil
}

// trainClassCache runs the application once with the build's warmup, in a
// sandbox of its own, and stops it with SIGTERM: on its way out the JVM
// writes the cache. It returns the cache file on the host.
func trainClassCache(ctx context.Context, o *Options, rs runSpec, r *classCacheRun) (_ string, err error) {
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		return "", err
	}
	// The application may run as another user: it writes here.
	if err := os.Chmod(r.dir, 0o777); err != nil {
		return "", err
	}
	out, err := newAppOutput(o.AppOutput)
	if err != nil {
		return "", err
	}
	defer out.Close()
	o.Logf("class cache: training run: %s", strings.Join(rs.args, " "))
	t0 := time.Now()
	c, err := startSandbox(ctx, o, rs, "training", []specs.Mount{{
		Destination: contract.ClassCacheDir, Type: "bind", Source: r.dir,
		Options: []string{"rbind", "rw"},
	}}, out)
	if err != nil {
		return "", err
	}
	defer func() {
		if derr := c.Destroy(); derr != nil && err == nil {
			err = derr
		}
	}()
	return finishTraining(ctx, o, sandboxApp{c, rs.user != nil}, out, t0, r)
}

// finishTraining warms the training run's application a up as the build
// does and stops it with SIGTERM: on its way out the JVM writes the cache
// into r.dir. It returns the cache file on the host. started is when a
// was started.
func finishTraining(ctx context.Context, o *Options, a app, out *appOutput, started time.Time, r *classCacheRun) (string, error) {
	logf := func(f string, a ...any) { o.Logf("class cache: "+f, a...) }
	if _, err := warmAndDump(ctx, a, warmRun{
		o: o, coord: o.coord(), out: out, logf: logf, scriptOut: o.AppOutput,
		started: started, timings: map[string]int64{}, train: true,
	}); err != nil {
		return "", err
	}
	jvm, err := appChild(a.InitPID())
	if err != nil {
		return "", fmt.Errorf("the training run: %w", err)
	}
	if err := syscall.Kill(jvm, syscall.SIGTERM); err != nil {
		return "", fmt.Errorf("stopping the training run (SIGTERM to process %d): %w", jvm, err)
	}
	select {
	case <-a.Done():
	case <-time.After(trainExitTimeout):
		return "", fmt.Errorf("the JVM did not exit within %s of SIGTERM (it writes the cache on exit)", trainExitTimeout)
	case <-ctx.Done():
		return "", ctx.Err()
	}
	out.drain()
	file := filepath.Join(r.dir, r.kind.file)
	if fi, err := os.Stat(file); err != nil || fi.Size() == 0 {
		return "", fmt.Errorf("the JVM wrote no %s on exit; its last line: %s", r.kind.file, lastLine(out.log.String()))
	}
	return file, nil
}

// lastLine is the last non-empty line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			return l
		}
	}
	return "(none)"
}

// classCacheMeta describes the cache the checkpointed JVM mapped, or says
// why it did not (the JVM refused it at its start).
func classCacheMeta(r *classCacheRun, file string, open []contract.OpenFile) (*contract.ClassCache, error) {
	inImage := r.inImage()
	fi, err := os.Stat(file)
	if err != nil {
		return nil, err
	}
	cc := &contract.ClassCache{Kind: r.kind.kind, Path: inImage, JDK: r.jdk, Size: fi.Size(), JVMFlags: []string{r.kind.use + inImage}}
	mapped := false
	for _, f := range open {
		switch {
		case f.Path == inImage:
			mapped = f.Mapped
		case f.Writable || f.MTime == nil:
		case strings.HasSuffix(f.Path, ".jar") || strings.HasSuffix(f.Path, "/lib/modules"):
			cc.Files = append(cc.Files, contract.StampedFile{Path: f.Path, Size: f.Size, MTime: *f.MTime})
		}
	}
	if !mapped {
		return nil, fmt.Errorf("the checkpointed JVM did not map %s (it refused the cache at its start)", inImage)
	}
	return cc, nil
}

// withClassCache adds the cache file to the application layer's tar and
// unpacks that entry into appFS, where the checkpointed run sees it as a
// container of the image will.
func withClassCache(t *layers.Tar, file, inImage, appFS string) error {
	if err := t.AddHost(file, inImage); err != nil {
		return fmt.Errorf("adding the class cache: %w", err)
	}
	one := layers.NewTar()
	if err := one.AddHost(file, inImage); err != nil {
		return fmt.Errorf("adding the class cache: %w", err)
	}
	return extractTar(one, appFS)
}

// extractTar unpacks a tar as layers.Extract unpacks a layer of it.
func extractTar(t *layers.Tar, dir string) error {
	pr, pw := io.Pipe()
	go func() {
		_, err := t.WriteTo(pw)
		pw.CloseWithError(err)
	}()
	err := layers.Extract(pr, dir)
	pr.Close()
	return err
}

// jdkFeature reads the feature release (17, 21, 25) of the JDK that the
// command runs, from the release file of its Java home in the image:
// JAVA_HOME if the environment sets it, else the java on the command or
// on PATH, symlinks followed. roots are the image's layers, upper first.
func jdkFeature(roots, cmd, env []string) (int, error) {
	home := ""
	vars := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	if h := vars["JAVA_HOME"]; strings.HasPrefix(h, "/") {
		home = h
	} else {
		java := "java"
		if len(cmd) > 0 && path.Base(cmd[0]) == "java" {
			java = cmd[0]
		}
		if !strings.HasPrefix(java, "/") {
			pathVar := vars["PATH"]
			if pathVar == "" {
				pathVar = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
			}
			for _, d := range strings.Split(pathVar, ":") {
				if p := path.Join(d, java); d != "" && lookIn(roots, p) != "" {
					java = p
					break
				}
			}
		}
		real, err := resolveIn(roots, java)
		if err != nil {
			return 0, fmt.Errorf("finding the JDK: %w", err)
		}
		home = path.Dir(path.Dir(real))
	}
	release, err := resolveIn(roots, path.Join(home, "release"))
	if err != nil {
		return 0, fmt.Errorf("finding the JDK's version: %w", err)
	}
	f, err := os.Open(lookIn(roots, release))
	if err != nil {
		return 0, fmt.Errorf("finding the JDK's version: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "JAVA_VERSION="); ok {
			return featureOf(strings.Trim(v, `"`))
		}
	}
	return 0, fmt.Errorf("%s has no JAVA_VERSION", release)
}

// featureOf is the feature release of a java.version: "17.0.15" is 17,
// "1.8.0_402" 8, "25" 25.
func featureOf(v string) (int, error) {
	v = strings.TrimPrefix(v, "1.")
	fields := strings.FieldsFunc(v, func(r rune) bool { return r < '0' || r > '9' })
	if len(fields) == 0 {
		return 0, fmt.Errorf("JAVA_VERSION %q: no feature release", v)
	}
	n, err := strconv.Atoi(fields[0])
	if err != nil || n == 0 {
		return 0, fmt.Errorf("JAVA_VERSION %q: no feature release", v)
	}
	return n, nil
}

// classPathDir is the first directory of a java command's class path
// (-cp, -classpath, --class-path) in the image made of roots ("": none,
// or not a java command).
func classPathDir(roots, cmd []string) string {
	if len(cmd) == 0 || path.Base(cmd[0]) != "java" {
		return ""
	}
	for i := 1; i+1 < len(cmd); i++ {
		switch cmd[i] {
		case "-cp", "-classpath", "--class-path":
		default:
			continue
		}
		for _, e := range strings.Split(cmd[i+1], ":") {
			if !strings.HasPrefix(e, "/") {
				continue // relative to the working directory: left to the JVM
			}
			real, err := resolveIn(roots, e)
			if err != nil {
				continue
			}
			if fi, err := os.Stat(lookIn(roots, real)); err == nil && fi.IsDir() {
				return e
			}
		}
		return ""
	}
	return ""
}

// lookIn is the host path of p in the first of roots that has it ("":
// none does). Symlinks are not followed.
func lookIn(roots []string, p string) string {
	for _, r := range roots {
		h := filepath.Join(r, p)
		if _, err := os.Lstat(h); err == nil {
			return h
		}
	}
	return ""
}

// resolveIn resolves p in the image made of roots, following symlinks
// (absolute ones from the image's root), and returns the image path.
func resolveIn(roots []string, p string) (string, error) {
	parts := strings.Split(p, "/")
	cur, hops := "/", 0
	for len(parts) > 0 {
		name := parts[0]
		parts = parts[1:]
		switch name {
		case "", ".":
			continue
		case "..":
			cur = path.Dir(cur)
			continue
		}
		next := path.Join(cur, name)
		h := lookIn(roots, next)
		if h == "" {
			return "", fmt.Errorf("%s is not in the image", next)
		}
		fi, err := os.Lstat(h)
		if err != nil {
			return "", err
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			cur = next
			continue
		}
		if hops++; hops > 40 {
			return "", errors.New(p + ": too many symlinks")
		}
		target, err := os.Readlink(h)
		if err != nil {
			return "", err
		}
		if strings.HasPrefix(target, "/") {
			cur = "/"
		}
		parts = append(strings.Split(target, "/"), parts...)
	}
	return cur, nil
}

// agentInColdStart says whether the cold command gets the agent (see
// launcher.ColdEnv): whenever the build runs with it.
func agentInColdStart(o *Options) bool { return !o.coord().noAgent }
