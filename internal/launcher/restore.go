package launcher

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/crac-build/crac-build/internal/checkpoint"
	"github.com/crac-build/crac-build/internal/contract"
	"github.com/crac-build/crac-build/internal/cpubaseline"
	"github.com/crac-build/crac-build/internal/environ"
	"github.com/crac-build/crac-build/internal/host"
	"github.com/crac-build/crac-build/internal/proc"
)

// DefaultRestoreTimeout bounds a restore. A healthy restore takes 40-200 ms
// (ENVIRONMENT.md); reading a large image from a cold disk takes longer, but
// a criu that has not finished in 10 s is hung (a missing capability makes
// it spin forever), and a cold start is the better outcome.
const DefaultRestoreTimeout = 10 * time.Second

// Options say where the launcher finds the checkpoint and the bundle. The
// zero value means the paths of the image contract.
type Options struct {
	MetadataPath string
	ImagesDir    string
	CriuPath     string
	// Args are the launcher's own arguments: if present they replace the
	// command, and the launcher starts cold (the checkpoint is of another).
	Args []string
	// Env is the container's environment (os.Environ()).
	Env []string
	// Self is the launcher's own executable, which probes clone3 in a
	// child and enters a time namespace for criu (default os.Executable).
	Self string

	// limits reads the container's limits (default host.ReadLimits).
	limits func() (*contract.Limits, error)
}

func (o *Options) defaults() {
	if o.MetadataPath == "" {
		o.MetadataPath = contract.MetadataPath
	}
	if o.ImagesDir == "" {
		o.ImagesDir = contract.ImagesDir
	}
	if o.CriuPath == "" {
		o.CriuPath = contract.CriuPath
	}
	if o.Self == "" {
		o.Self, _ = os.Executable()
	}
}

// Plan is the outcome of Check: either a restore can be tried, or Reason
// says why the application must start cold.
type Plan struct {
	Meta    *contract.Metadata
	Opts    Options
	Cold    []string // the cold command
	WorkDir string
	Reason  error // nil: try a restore
	Timeout time.Duration
	// Warnings are for the log when the restore goes ahead (e.g. the
	// environment or the container's limits differ from the build's under
	// the warn policy).
	Warnings []string
	// TimeNS, if set, makes criu and the restored JVM run in a new time
	// namespace whose clocks continue from the dump's.
	TimeNS *checkpoint.Clocks
	// Steps say how long each check took (CRAC_DEBUG=1 prints them).
	Steps []Step
	// Start is when the launcher started (for Breakdown.ChecksMs).
	Start time.Time
	// ColdNote, set by ColdEnv, says in one line why a cold start goes
	// without the image's class cache ("": it has none, or uses it).
	ColdNote string
	// Breakdown is where the restore's time went; Restore fills it when
	// CRAC_BREAKDOWN=1 (contract.EnvBreakdown).
	Breakdown *checkpoint.Breakdown
	// verify, if set, finishes the checks still running when Check
	// returned (the image checksums); Restore lets the restored process
	// resume only if it returns nil.
	verify func() error
}

// Step is one check and its duration.
type Step struct {
	Name string
	Took time.Duration
}

// step runs one check and records its duration.
func (p *Plan) step(name string, fn func() error) error {
	t0 := time.Now()
	err := fn()
	p.Steps = append(p.Steps, Step{name, time.Since(t0)})
	return err
}

// Check reads the metadata and checks, cheapest first, everything a restore
// depends on that can be known before trying it.
func Check(opts Options) *Plan {
	opts.defaults()
	p := &Plan{Opts: opts, Timeout: DefaultRestoreTimeout}
	env := environ.Map(opts.Env)
	m, err := contract.Read(opts.MetadataPath)
	if err == nil {
		p.Meta = m
		p.Cold = m.Cold.Args
		p.WorkDir = m.Cold.WorkDir
	}
	if len(opts.Args) > 0 {
		p.Cold = opts.Args
		p.Reason = because(ReasonArguments, errors.New("command given as arguments replaces the checkpointed one"))
		return p
	}
	if err != nil {
		p.Reason = because(ReasonMetadata, err)
		return p
	}
	if v := env[contract.EnvRestore]; strings.EqualFold(v, "off") || v == "0" || strings.EqualFold(v, "false") {
		p.Reason = because(ReasonRestoreOff, fmt.Errorf("%s=%s", contract.EnvRestore, v))
		return p
	}
	if v := env[contract.EnvRestoreTimeout]; v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			p.Reason = because(ReasonTimeoutValue, fmt.Errorf("%s=%q is not a duration", contract.EnvRestoreTimeout, v))
			return p
		}
		p.Timeout = d
	}
	if strings.EqualFold(env[contract.EnvPrefetch], "on") {
		prefetch(p.Meta, opts)
	}
	p.Reason = p.checkAll(env)
	return p
}

// checkAll runs the checks. The image checksums are the slow one (~10 ms
// per 100 MB from the page cache, much longer from disk), then the open
// files' fingerprints: by default both run while CRIU restores (p.verify
// waits for them, and the restored process resumes only if they pass);
// with CRAC_VERIFY=before they run here, side by side with a criu start-up
// probe, as the launcher first did.
func (p *Plan) checkAll(env map[string]string) error {
	m, opts := p.Meta, p.Opts
	if err := p.step("environment", func() error { return p.checkEnv(env) }); err != nil {
		return because(ReasonEnvironment, err)
	}
	if err := p.step("limits", p.checkLimits); err != nil {
		return because(ReasonLimits, err)
	}
	if a := host.Arch(); m.Host.Arch != "" && a != m.Host.Arch {
		return because(ReasonArchitecture, fmt.Errorf("checkpoint made on %s, this host is %s", m.Host.Arch, a))
	}
	if err := p.step("capabilities", func() error { return checkCaps(m) }); err != nil {
		return because(ReasonCapabilities, err)
	}
	if err := p.step("seccomp", func() error { return checkClone3(opts.Self) }); err != nil {
		return because(ReasonSeccomp, err)
	}
	if err := p.step("cpu", func() error { return checkCPU(m) }); err != nil {
		return because(ReasonCPUFeatures, err)
	}
	if err := p.step("pids", func() error { return checkPIDs(m) }); err != nil {
		return because(ReasonPIDs, err)
	}
	// The slow checks: the files the JVM had open, criu's own start-up,
	// and hashing the image files (which also pulls them into the page
	// cache for the restore). With CRAC_VERIFY=before they run here, side
	// by side; by default the restore shows whether criu runs, and the
	// other two run beside it.
	full := strings.EqualFold(env[contract.EnvVerifyFiles], "full")
	if strings.EqualFold(env[contract.EnvVerify], "before") {
		if err := p.parallel(
			check{"open-files", func() error { return because(ReasonOpenFiles, checkFiles(m, full)) }},
			check{"criu", func() error { return because(ReasonCriuBundle, checkCriu(opts.CriuPath)) }},
			check{"images", func() error { return because(ReasonCheckpoint, checkImages(m, opts.ImagesDir)) }},
		); err != nil {
			return err
		}
	} else {
		// The restore itself shows whether the bundle runs.
		if err := p.step("criu", func() error {
			if _, err := os.Stat(opts.CriuPath); err != nil {
				return fmt.Errorf("criu bundle: %w", err)
			}
			return nil
		}); err != nil {
			return because(ReasonCriuBundle, err)
		}
		if err := p.step("image-sizes", func() error { return checkImageSizes(m, opts.ImagesDir) }); err != nil {
			return because(ReasonCheckpoint, err)
		}
		// The files the JVM held open and the image checksums are
		// compared while CRIU restores (reading the same files): the
		// restored tree resumes only if both pass (p.verify is the
		// restore's gate), and a restore that fails first (a file of
		// another size, a missing one) takes their reason, which names
		// the file.
		t0 := time.Now()
		files, images := make(chan error, 1), make(chan error, 1)
		var filesTook time.Duration
		go func() {
			err := checkFiles(m, full)
			filesTook = time.Since(t0)
			files <- because(ReasonOpenFiles, err)
		}()
		go func() { images <- because(ReasonCheckpoint, checkImages(m, opts.ImagesDir)) }()
		var once sync.Once
		var verr error
		p.verify = func() error {
			once.Do(func() {
				ferr, ierr := <-files, <-images
				p.Steps = append(p.Steps, Step{"open-files (during the restore)", filesTook},
					Step{"images (during the restore)", time.Since(t0)})
				// A file changed under the checkpoint is the clearer reason.
				verr = cmp.Or(ferr, ierr)
			})
			return verr
		}
	}
	return because(ReasonClock, p.step("clocks", p.checkClocks))
}

// check is a named check that parallel runs.
type check struct {
	name string
	fn   func() error
}

// parallel runs the checks side by side, records their times as steps, and
// returns the first failure in the order given.
func (p *Plan) parallel(checks ...check) error {
	errs := make([]error, len(checks))
	steps := make([]Step, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			errs[i] = c.fn()
			steps[i] = Step{c.name, time.Since(t0)}
		}()
	}
	wg.Wait()
	p.Steps = append(p.Steps, steps...)
	return cmp.Or(errs...)
}

// checkImageSizes compares only the sizes of the image files: cheap, and it
// catches a truncated layer before CRIU reads it.
func checkImageSizes(m *contract.Metadata, dir string) error {
	if len(m.Images) == 0 {
		return fmt.Errorf("checkpoint metadata lists no image files")
	}
	for _, f := range m.Images {
		fi, err := os.Stat(filepath.Join(dir, f.Name))
		if err != nil {
			return fmt.Errorf("checkpoint file %s: %w", f.Name, err)
		}
		if fi.Size() != f.Size {
			return fmt.Errorf("checkpoint file %s has %d bytes, expected %d (truncated or damaged)", f.Name, fi.Size(), f.Size)
		}
	}
	return nil
}

// prefetchMaxFile bounds the files prefetch reads whole: the JVM maps big
// files (lib/modules, ~130 MB) of which it touches a few pages.
const prefetchMaxFile = 64 << 20

// prefetch (CRAC_PREFETCH=on) asks the kernel to read, in the background,
// the CRIU bundle (criu and its libraries, which the loader maps at exec)
// and the files the JVM maps (libjvm.so, the CDS archive, jars), which the
// restored JVM touches as it resumes, into the page cache while the checks
// and the restore run. It is off by default: measured with the page cache
// dropped, it won ~10 ms on a quiet machine (9 of 10 paired starts) but
// lost up to 90 ms when other work on the machine competed for the disk (5
// of 5), as on a node where many containers start at once: the extra reads
// queue up in front of the pages criu needs first (docs/benchmarks.md). The
// image files need no prefetch: the checksums read them, side by side with
// criu.
func prefetch(m *contract.Metadata, opts Options) {
	var paths []string
	_ = filepath.WalkDir(filepath.Dir(opts.CriuPath), func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			paths = append(paths, p)
		}
		return nil
	})
	for _, f := range m.OpenFiles {
		if f.Mapped && f.Size <= prefetchMaxFile {
			paths = append(paths, f.Path)
		}
	}
	go func() {
		for _, p := range paths {
			f, err := os.Open(p)
			if err != nil {
				continue
			}
			// WILLNEED starts the reads and returns; the page cache
			// serves whoever needs the pages first.
			_ = unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_WILLNEED)
			f.Close()
		}
	}()
}

// unprivilegedCaps are what CRIU needs to restore in --unprivileged mode.
var unprivilegedCaps = []string{"CAP_CHECKPOINT_RESTORE", "CAP_SETPCAP"}

const (
	capSysAdmin          = uint64(1) << 21
	capCheckpointRestore = uint64(1) << 40
)

// capHint names the flag that grants CAP_CHECKPOINT_RESTORE when it is
// the one missing: each engine spells it its own way, and Docker before 23
// knows only SYS_ADMIN.
func capHint(miss uint64) string {
	if miss&capCheckpointRestore == 0 {
		return ""
	}
	return " (--cap-add CHECKPOINT_RESTORE, or SYS_ADMIN on Docker before 23)"
}

func checkCaps(m *contract.Metadata) error {
	st, err := proc.Status(proc.Self)
	if err != nil {
		return fmt.Errorf("reading own capabilities: %w", err)
	}
	eff, _ := host.ParseCapMask(st["CapEff"])
	bnd, _ := host.ParseCapMask(st["CapBnd"])
	return capsMissing(eff, bnd, m)
}

// capsMissing checks the launcher's effective and bounding sets against
// what the checkpoint needs.
func capsMissing(eff, bnd uint64, m *contract.Metadata) error {
	need, err := host.CapMask(append(append([]string{}, unprivilegedCaps...), m.RequiredCaps...))
	if err != nil {
		return err
	}
	// The restored task gets back the capabilities it had at dump: a
	// container that lacks one makes CRIU hang (ENVIRONMENT.md).
	procEff, _ := host.ParseCapMask(m.Process.CapEff)
	procBnd, _ := host.ParseCapMask(m.Process.CapBnd)
	if miss := (need | procEff) &^ eff; miss != 0 {
		// The kernel accepts CAP_SYS_ADMIN wherever it asks for
		// CAP_CHECKPOINT_RESTORE (checkpoint_restore_ns_capable): an
		// engine that does not know the narrower one (Docker before 23)
		// grants the broader, and it does for CRIU's restore, unless the
		// checkpointed process itself held CAP_CHECKPOINT_RESTORE (it
		// gets it back at restore).
		if eff&capSysAdmin != 0 && procEff&capCheckpointRestore == 0 {
			miss &^= capCheckpointRestore
		}
		if miss != 0 {
			return fmt.Errorf("missing capabilities %s%s", strings.Join(host.CapNames(miss), ","), capHint(miss))
		}
	}
	// A task that ran as another user than root had no capabilities in
	// effect; CRIU only drops from the bounding set to restore it, and
	// one that the container lacks is already gone (measured: restored
	// with the container's capabilities cut to requiredCapabilities).
	if miss := procBnd &^ bnd; miss != 0 && m.User.IsRoot() {
		return fmt.Errorf("missing capabilities in the bounding set %s", strings.Join(host.CapNames(miss), ","))
	}
	return nil
}

func checkCPU(m *contract.Metadata) error {
	if len(m.Host.CPUFeatures) == 0 {
		return nil
	}
	have, _, err := host.CPUFeatures()
	if err != nil {
		return err
	}
	return cpuMissing(m, maskFeatures(have, os.Getenv(contract.EnvCPUMask)))
}

// cpuMissing checks a CPU's features (its /proc/cpuinfo flags) against what
// the checkpoint needs: its baseline's features, or every instruction-set
// feature of the build CPU.
func cpuMissing(m *contract.Metadata, have []string) error {
	miss := host.MissingFeatures(cpubaseline.Needs(m), have)
	if len(miss) == 0 {
		return nil
	}
	if b := m.CPUBaseline; b != nil {
		return fmt.Errorf("CPU lacks features of %s that the checkpoint needs: %s (%s needs %s)", b.Name, strings.Join(miss, ","), b.Name, b.CPUs)
	}
	return fmt.Errorf("CPU lacks features the checkpoint was made with: %s", strings.Join(miss, ","))
}

// maskFeatures drops the comma-separated features of mask from have: with
// CRAC_CPU_MASK the launcher answers for a CPU without them (will this
// image restore on nodes without AVX-512?).
func maskFeatures(have []string, mask string) []string {
	if mask == "" {
		return have
	}
	drop := map[string]bool{}
	for _, f := range strings.Split(mask, ",") {
		drop[strings.TrimSpace(f)] = true
	}
	var out []string
	for _, f := range have {
		if !drop[f] {
			out = append(out, f)
		}
	}
	return out
}

// checkPIDs checks that every PID and TID of the checkpoint is free: CRIU
// recreates each task under its old number. The images name them: one
// core-<TID>.img per thread of every process in the tree.
func checkPIDs(m *contract.Metadata) error {
	if m.Process.PID <= 0 {
		return fmt.Errorf("checkpoint metadata has no PID")
	}
	ids := []int{m.Process.PID}
	for _, f := range m.Images {
		if n, ok := strings.CutPrefix(f.Name, "core-"); ok {
			if id, err := strconv.Atoi(strings.TrimSuffix(n, ".img")); err == nil && id != m.Process.PID {
				ids = append(ids, id)
			}
		}
	}
	for _, id := range ids {
		if proc.Exists(id) {
			what := "PID"
			if id != m.Process.PID {
				what = "thread ID"
			}
			by := ""
			if c := proc.Comm(id); c != "" {
				by = " by " + c
			}
			return fmt.Errorf("%s %d, which the checkpoint needs, is taken%s", what, id, by)
		}
	}
	return nil
}

// checkOpenFiles compares the files the process held open with build time.
func checkOpenFiles(m *contract.Metadata) error { return checkFiles(m, false) }

// checkFiles compares the files the process held open with build time.
// Size and mode are what CRIU checks. Content: a layer added on top of the
// image (FROM warm-image; COPY app.jar ...) or a volume can replace a file
// with one of the same size, and CRIU would restore a JVM whose mapped
// code and open jars no longer match. Files are compared by their
// fingerprint (contract.Fingerprint: whole up to 1 MiB, sampled above;
// about a millisecond for a JDK's ~175 MB); files on another filesystem
// than / (volumes) and files whose mtime changed are hashed in full
// (SHA-256), as is every file when full is set.
func checkFiles(m *contract.Metadata, full bool) error {
	var root unix.Stat_t
	if err := unix.Stat("/", &root); err != nil {
		return fmt.Errorf("stat /: %w", err)
	}
	for _, f := range m.OpenFiles {
		var st unix.Stat_t
		if err := unix.Stat(f.Path, &st); err != nil {
			return fmt.Errorf("file %s held open at checkpoint: %w", f.Path, err)
		}
		// CRIU's own mode check is off (see checkpoint.Restore): this one
		// stands for it, for writable files too.
		if st.Mode&0o7777 != f.Mode&0o7777 {
			return fmt.Errorf("file %s held open at checkpoint has mode %o, was %o", f.Path, st.Mode&0o7777, f.Mode)
		}
		if f.Writable {
			continue // its size changes by design; CRIU restores its position
		}
		if st.Size != f.Size {
			return fmt.Errorf("file %s held open at checkpoint has size %d, was %d", f.Path, st.Size, f.Size)
		}
		if f.SHA256 == "" {
			continue
		}
		// Metadata of an older builder has no fingerprint: its small files
		// are hashed, its large ones checked by size and mode only.
		hashAll := full || st.Dev != root.Dev || f.MTime != nil && st.Mtim.Sec != *f.MTime ||
			f.Fingerprint == "" && f.Size <= contract.FullHashMax
		switch {
		case hashAll:
			d, err := contract.FileSHA256(f.Path)
			if err != nil {
				return fmt.Errorf("checksumming %s: %w", f.Path, err)
			}
			if d != f.SHA256 {
				return fmt.Errorf("file %s held open at checkpoint has other content than at build (same size)", f.Path)
			}
		case f.Fingerprint != "":
			d, err := contract.Fingerprint(f.Path)
			if err != nil {
				return fmt.Errorf("checksumming %s: %w", f.Path, err)
			}
			if d != f.Fingerprint {
				how := "same size"
				if f.Size > contract.FullHashMax {
					how = "same size, sampled blocks differ"
				}
				return fmt.Errorf("file %s held open at checkpoint has other content than at build (%s)", f.Path, how)
			}
		}
	}
	return nil
}

func checkCriu(path string) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("criu bundle: %w", err)
	}
	v, err := checkpoint.Version(path)
	if err != nil {
		// The RPC error alone ("EOF") does not say why: criu's own
		// output does (a missing library, a damaged loader, ...).
		out, _ := exec.Command(path, "--version").CombinedOutput()
		if tail := lastLine(string(out)); tail != "" {
			return fmt.Errorf("criu bundle does not run: %w: %s", err, tail)
		}
		return fmt.Errorf("criu bundle does not run: %w", err)
	}
	if v < 40200 {
		return fmt.Errorf("criu %s is older than 4.2", checkpoint.VersionString(v))
	}
	return nil
}

func checkImages(m *contract.Metadata, dir string) error {
	if len(m.Images) == 0 {
		return fmt.Errorf("checkpoint metadata lists no image files")
	}
	// Hash the largest files first, on all cores, to finish soonest.
	files := append([]contract.FileSum(nil), m.Images...)
	sort.Slice(files, func(i, j int) bool { return files[i].Size > files[j].Size })
	work := make(chan contract.FileSum)
	errs := make(chan error, len(files))
	var wg sync.WaitGroup
	for i := 0; i < runtime.NumCPU(); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range work {
				errs <- checkImage(filepath.Join(dir, f.Name), f)
			}
		}()
	}
	for _, f := range files {
		work <- f
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func checkImage(path string, f contract.FileSum) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("checkpoint file %s: %w", f.Name, err)
	}
	if fi.Size() != f.Size {
		return fmt.Errorf("checkpoint file %s has %d bytes, expected %d (truncated or damaged)", f.Name, fi.Size(), f.Size)
	}
	sum, err := contract.FileCRC32C(path)
	if err != nil {
		return fmt.Errorf("checksumming checkpoint file %s: %w", f.Name, err)
	}
	if sum != f.CRC32C {
		return fmt.Errorf("checkpoint file %s fails its checksum (damaged)", f.Name)
	}
	return nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// Restore restores the checkpoint of a plan whose checks passed, handing
// the JVM the launcher's own stdin, stdout and stderr. It returns the
// restored JVM's PID.
func Restore(ctx context.Context, p *Plan, stdio [3]*os.File) (int, error) {
	var bd *checkpoint.Breakdown
	if os.Getenv(contract.EnvBreakdown) == "1" {
		bd = &checkpoint.Breakdown{}
		if !p.Start.IsZero() {
			bd.ChecksMs = ms(time.Since(p.Start))
		}
	}
	work, err := os.MkdirTemp("", "crac-launch-")
	if err != nil {
		return 0, because(ReasonRestoreFailed, fmt.Errorf("creating CRIU work dir: %w", err))
	}
	inherit := map[string]*os.File{}
	for i, key := range p.Meta.Process.Stdio {
		if !strings.HasPrefix(key, "pipe:") && !strings.HasPrefix(key, "socket:") {
			continue // a file or device: CRIU reopens it by path
		}
		if _, dup := inherit[key]; dup {
			continue // stdout and stderr were one pipe: they stay one
		}
		inherit[key] = stdio[i]
	}
	criuPath := p.Opts.CriuPath
	if v := pagesMode(p.Meta, os.Getenv(contract.EnvPages)); v != "" {
		// Read by the bundle's patched criu (scripts/criu-patches); the
		// cold command and the restored JVM never see it (the JVM keeps
		// the environment it had at the checkpoint).
		os.Setenv(envCriuMmapPages, v)
		defer os.Unsetenv(envCriuMmapPages)
	}
	if p.TimeNS != nil {
		// criu starts through the launcher itself, which enters the time
		// namespace and execs criu (see TimensExec). The variable is in
		// this process's environment only while criu starts: the cold
		// command gets the environment captured at start.
		os.Setenv(EnvTimensExec, timensSpec(*p.TimeNS, criuPath))
		defer os.Unsetenv(EnvTimensExec)
		criuPath = p.Opts.Self
	}
	gate, logLevel := p.verify, restoreLogLevel()
	var gateTook time.Duration
	if bd != nil {
		if gate != nil {
			gate = func() error {
				t0 := time.Now()
				defer func() { gateTook = time.Since(t0) }()
				return p.verify()
			}
		}
	}
	t0 := time.Now()
	pid, err := checkpoint.Restore(ctx, checkpoint.RestoreOptions{
		CriuPath:  criuPath,
		ImagesDir: p.Opts.ImagesDir,
		WorkDir:   work,
		Inherit:   inherit,
		TCPClose:  p.Meta.TCPClose,
		Timeout:   p.Timeout,
		Gate:      gate,
		LogLevel:  logLevel,
	})
	if bd != nil && err == nil {
		log, _ := os.ReadFile(filepath.Join(work, "restore.log"))
		checks := bd.ChecksMs
		*bd = checkpoint.ParseRestoreLog(log, ms(time.Since(t0)))
		bd.ChecksMs, bd.GateMs = checks, ms(gateTook)
		if !p.Start.IsZero() {
			bd.LauncherStartUnixMs = float64(p.Start.UnixNano()) / 1e6
		}
		p.Breakdown = bd
	}
	if err != nil && p.verify != nil && !errors.Is(err, checkpoint.ErrTimeout) {
		// The checks did not probe criu (the restore shows whether it
		// runs), and the files and checksums ran beside it: when the
		// restore failed, a changed file or a damaged image, or else a
		// bundle that does not run, is the clearer reason ("file
		// /app/app.jar held open at checkpoint has size ...", "criu bundle
		// does not run: ... libc.so.6") than CRIU's or a broken RPC
		// connection.
		if verr := p.verify(); verr != nil {
			err = verr
		} else if cerr := checkCriu(p.Opts.CriuPath); cerr != nil {
			err = because(ReasonCriuBundle, cerr)
		}
	}
	if errors.Is(err, checkpoint.ErrTimeout) {
		err = because(ReasonRestoreTimeout, err)
	}
	err = because(ReasonRestoreFailed, err)
	if err != nil || os.Getenv(contract.EnvDebug) == "" {
		// On failure the reason already carries the log's last error.
		_ = os.RemoveAll(work)
	}
	return pid, err
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// envCriuMmapPages turns on the patched CRIU's direct-mapped restore.
const envCriuMmapPages = "CRIU_MMAP_PAGE_IMAGE"

// pagesMode is CRIU_MMAP_PAGE_IMAGE for a restore, "" to read the pages:
// where the checkpoint allows mapping (contract.Pages), "copy" maps the
// pages image with MAP_POPULATE, which copies every page at once in the
// kernel (Tomcat, make bench 2026-12-05: first answer 222 ms against 270 ms
// for "populate" and 446 ms for a stock read); "populate" (CRAC_PAGES=share)
// fills the page tables read-only, so a page is copied only when written
// and the containers of an image share the rest (4 Tomcats: 342 MiB PSS
// against 520 MiB); "1" maps without filling them.
func pagesMode(m *contract.Metadata, mode string) string {
	allowed := m != nil && m.Pages != nil && m.Pages.Map
	switch mode {
	case contract.PagesRead:
		return ""
	case contract.PagesMap:
		return "copy"
	case contract.PagesMapLazy:
		return "1"
	case contract.PagesShare:
		if allowed {
			return "populate"
		}
		return ""
	}
	if allowed {
		return "copy"
	}
	return ""
}

// restoreLogLevel: criu's warnings level (2), which still logs the error
// a failed restore reports, unless CRAC_DEBUG asks for the full debug log
// (level 4 costs ~5% of the restore time writing ~2,000 lines).
func restoreLogLevel() int32 {
	if os.Getenv(contract.EnvDebug) != "" {
		return 4
	}
	return 2
}

// ExecCold replaces the launcher with the plan's cold command, in the
// container's environment, as the image's user (contract.User) if it has
// one: a cold application runs as the restored one would. It returns only
// on failure.
func ExecCold(p *Plan, env []string) error {
	if len(p.Cold) == 0 {
		return fmt.Errorf("no command to start: the image has no checkpoint metadata and no arguments were given")
	}
	if p.WorkDir != "" {
		if err := os.Chdir(p.WorkDir); err != nil {
			return fmt.Errorf("changing to working dir %s: %w", p.WorkDir, err)
		}
	}
	if p.Meta != nil {
		env = userEnv(p.Meta, env)
		if err := dropToUser(p.Meta.User); err != nil {
			return err
		}
	}
	path := p.Cold[0]
	if !strings.Contains(path, "/") {
		lp, err := lookPath(path, environ.Map(env)["PATH"])
		if err != nil {
			return err
		}
		path = lp
	}
	if err := unix.Exec(path, p.Cold, env); err != nil {
		return fmt.Errorf("starting %s: %w", p.Cold[0], err)
	}
	return nil
}

func lookPath(name, pathEnv string) (string, error) {
	if pathEnv == "" {
		pathEnv = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	}
	for _, dir := range filepath.SplitList(pathEnv) {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: not found in PATH %s", name, pathEnv)
}
