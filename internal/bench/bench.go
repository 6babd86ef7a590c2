package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/klauspost/compress/gzip"

	"github.com/crac-build/crac-build/internal/builder"
	"github.com/crac-build/crac-build/internal/checkpoint"
	"github.com/crac-build/crac-build/internal/contract"
	"github.com/crac-build/crac-build/internal/environ"
	"github.com/crac-build/crac-build/internal/host"
	"github.com/crac-build/crac-build/internal/proc"
	"github.com/crac-build/crac-build/internal/registry"
	"github.com/crac-build/crac-build/internal/runner"
)

// FormatVersion of results.json.
const FormatVersion = 1

// Defaults of a run.
const (
	// DefaultRounds: the issue asks for the median of at least 5 starts.
	DefaultRounds = 5
	// DefaultRequests covers request 1, 2-10, 11-100 and 100 requests of
	// steady state after DefaultSteadyFrom.
	DefaultRequests   = 2100
	DefaultSteadyFrom = 2000
)

// Config of a benchmark run.
type Config struct {
	Apps []App
	// Rounds is the number of starts per row; each round starts every row
	// once, in an order rotated from round to round, so that noise from
	// the machine hits all rows alike.
	Rounds int
	// ColdCacheRounds bounds the starts of rows that drop the page cache
	// (default Rounds): dropping it slows down everyone on the machine.
	// Those rows run after all the others, so that no row that expects
	// the image in the page cache follows a drop.
	ColdCacheRounds int
	Requests        int
	SteadyFrom      int
	// WorkDir holds the images and the unpacked-image cache (default
	// a directory under os.TempDir()).
	WorkDir string
	// CriuBundle, Launcher, Runtime and Version are passed to the builder.
	CriuBundle, Launcher, Runtime, Version string
	// DropCaches empties the page cache (the caller decides how). Nil:
	// rows with ColdCache are skipped.
	DropCaches func() error
	// Logf reports progress (nil: silent).
	Logf func(format string, args ...any)
	// AppOutput receives the applications' output during builds (nil: none).
	AppOutput io.Writer
}

// App is one application under test.
type App struct {
	Name string
	// Build is the build of the default image; the benchmark sets its
	// outputs, cache and runtime, and varies its environment per Variant.
	Build builder.Options
	// Probe is the path polled until the first successful response.
	Probe string
	// Paths are requested round-robin after the probe answered.
	Paths []string
	// Variants are the rows. Build variants (BuildEnv, NoGC) get images of
	// their own; run variants share the default image.
	Variants []Variant
	// Lazy runs the lazy-pages experiment (LazyPagesAB) on the default image.
	Lazy bool
	// Replicas, if > 0, runs that many containers of the default image side
	// by side per start mode and sums their memory (see Replicas), after
	// ReplicaRequests requests to each.
	Replicas        int
	ReplicaRequests int
}

// Variant is one row of an app's table.
type Variant struct {
	Name string `json:"name"`
	Note string `json:"note"`
	// Cold starts the application cold (CRAC_RESTORE=off).
	Cold bool `json:"cold,omitempty"`
	// BuildEnv is added to the build's environment, e.g.
	// JAVA_TOOL_OPTIONS=-XX:+UseSerialGC (the builder appends its own flags).
	BuildEnv []string `json:"buildEnv,omitempty"`
	// NoGC skips the pre-dump GC and heap trim.
	NoGC bool `json:"noGC,omitempty"`
	// Settle overrides the pause between the pre-dump GC and the dump.
	Settle time.Duration `json:"settle,omitempty"`
	// Adds are extra files for the build (e.g. a configuration).
	Adds []builder.Add `json:"adds,omitempty"`
	// CriuBundle, if set, replaces the benchmark's CRIU bundle in this
	// row's image (it travels in the image and restores it).
	CriuBundle string `json:"criuBundle,omitempty"`
	// RunEnv is added to the container's environment (launcher knobs).
	RunEnv []string `json:"runEnv,omitempty"`
	// ColdCache drops the page cache before each start.
	ColdCache bool `json:"coldCache,omitempty"`
	// CPUBaseline, if set, builds this row's image at a CPU level
	// (builder.Options.CPUBaseline), e.g. "native" against the default.
	CPUBaseline string `json:"cpuBaseline,omitempty"`
	// ClassCache builds this row's image with the JDK's class cache when
	// the app's build has none (builder.Options.NoClassCache).
	ClassCache bool `json:"classCache,omitempty"`
	// CapAdd are capabilities added to the container's (Docker's defaults
	// and CHECKPOINT_RESTORE), e.g. SYS_ADMIN and SYS_TIME, with which the
	// launcher restores in a time namespace (the clocks continue).
	CapAdd []string `json:"capAdd,omitempty"`
	// PauseBefore is waited between the first response and request 1.
	PauseBefore time.Duration `json:"pauseBefore,omitempty"`
	// Warmup, if set, replaces the application's warmup in this row's
	// build, e.g. a fixed count of requests against rounds until steady.
	Warmup *Warmup `json:"warmup,omitempty"`
}

// Warmup is a row's warmup: builder.Options' fields of the same names.
type Warmup struct {
	Script       string `json:"script,omitempty"`
	RequestsFile string `json:"requestsFile,omitempty"`
	Requests     int    `json:"requests,omitempty"`
	Path         string `json:"path,omitempty"`
	Rounds       string `json:"rounds,omitempty"`
}

// freshRequests follow each start's series, on a new connection each: the
// steady state to compare request 1 with, which pays for a connection too.
const freshRequests = 50

// DefaultVariant names the reference row of restored starts.
const DefaultVariant = "restored"

// ColdVariant names the reference row of cold starts.
const ColdVariant = "cold"

// The rows of an app built without the class cache that measure it
// (CacheLine): cold and restored starts of an image with it.
const (
	ColdCacheVariant     = "cold with class cache"
	RestoredCacheVariant = "restored with class cache"
)

func (v Variant) buildKey() string {
	k := strings.Join(v.BuildEnv, "\x00") + fmt.Sprintf("\x01%v\x01%v\x01%v\x01%s\x01%s\x01%v", v.NoGC, v.Settle, v.Adds, v.CriuBundle, v.CPUBaseline, v.ClassCache)
	if v.Warmup != nil {
		k += fmt.Sprintf("\x01%+v", *v.Warmup)
	}
	return k
}

// Results of a run (results.json).
type Results struct {
	Format   int         `json:"format"`
	Started  time.Time   `json:"started"`
	Finished time.Time   `json:"finished"`
	Host     Host        `json:"host"`
	Settings Settings    `json:"settings"`
	Apps     []AppResult `json:"apps"`
}

// Host is where the benchmark ran.
type Host struct {
	Kernel string `json:"kernel"`
	CPU    string `json:"cpu"`
	CPUs   int    `json:"cpus"`
	// LoadAvg at start and end: the machine may be shared.
	LoadStart string `json:"loadStart"`
	LoadEnd   string `json:"loadEnd"`
}

// Settings are the run's parameters.
type Settings struct {
	Rounds          int `json:"rounds"`
	ColdCacheRounds int `json:"coldCacheRounds"`
	Requests        int `json:"requests"`
	SteadyFrom      int `json:"steadyFrom"`
}

// AppResult is one application's builds and rows.
type AppResult struct {
	Name   string        `json:"name"`
	Probe  string        `json:"probe"`
	Paths  []string      `json:"paths"`
	Builds []BuildResult `json:"builds"`
	Rows   []Row         `json:"rows"`
	// Replicas: the memory of App.Replicas containers side by side, per
	// start mode (cold first).
	Replicas []ReplicaRow `json:"replicas,omitempty"`
	// Headline: medians of container start to first response.
	ColdMs float64 `json:"coldMs"`
	WarmMs float64 `json:"warmMs"`
	Ratio  float64 `json:"ratio"`
}

// BuildResult describes one image built for the benchmark.
type BuildResult struct {
	Name     string   `json:"name"`
	Variants []string `json:"variants"`
	Image    string   `json:"image"`
	Digest   string   `json:"digest"`
	BuildEnv []string `json:"buildEnv,omitempty"`
	NoGC     bool     `json:"noGC,omitempty"`
	SettleMs int64    `json:"settleMs,omitempty"`
	// Sizes in bytes: the CRIU image files; the checkpoint layer as a tar
	// (images + the app's filesystem changes), compressed with zstd (level
	// 3, what the image holds) and with gzip (level 6, for comparison);
	// the whole image (compressed layers + config + manifest) and its base.
	CriuImagesBytes int64 `json:"criuImagesBytes"`
	LayerRawBytes   int64 `json:"checkpointRawBytes"`
	ZstdBytes       int64 `json:"checkpointZstdBytes"`
	GzipBytes       int64 `json:"checkpointGzipBytes"`
	ImageBytes      int64 `json:"imageBytes"`
	BaseBytes       int64 `json:"baseBytes"`
	Threads         int   `json:"threads"`
	RSSKiB          int64 `json:"rssKiB"`
	// Split of the build time (ms): the application's start until ready,
	// the warmup, the pre-dump steps (GC, trim, settle), the dump (facts,
	// criu dump, checksums), compressing the checkpoint layer, writing the
	// image, the rest (reading the base, the other layers), and the total.
	Split     Split            `json:"splitMs"`
	TimingsMs map[string]int64 `json:"timingsMs"`
	Warnings  []string         `json:"warnings,omitempty"`
	// Warmup is the image's record of its warmup (rounds, why it
	// stopped, what it reached).
	Warmup *contract.Warmup `json:"warmup,omitempty"`
}

// Split of a build's time in ms.
type Split struct {
	AppStart int64 `json:"appStart"`
	Warmup   int64 `json:"warmup"`
	PreDump  int64 `json:"preDump"`
	Dump     int64 `json:"dump"`
	Compress int64 `json:"compress"`
	Write    int64 `json:"write"`
	Other    int64 `json:"other"`
	Total    int64 `json:"total"`

	// ClassCache is the class cache's training run (0: none).
	ClassCache int64 `json:"classCache,omitempty"`
}

// Row is one variant's starts and their medians.
type Row struct {
	Variant
	Build string `json:"build"`
	// Medians over the successful starts.
	ReadyMs    float64 `json:"readyMs"`
	LauncherMs float64 `json:"launcherMs,omitempty"`
	Latency    Latency `json:"latency"`
	// Breakdown: the median of each step over the starts that have one.
	Breakdown *checkpoint.Breakdown `json:"breakdown,omitempty"`
	// VsDefault is this row's first-response time over the default
	// restored row's, paired by round (PairedRatio; lower is better);
	// ColdOver is the cold row's ReadyMs over this one's.
	VsDefault float64 `json:"vsDefault,omitempty"`
	ColdOver  float64 `json:"coldOver,omitempty"`
	// SeriesMs[i] is the median latency of request i+1 over the starts.
	SeriesMs []float64 `json:"seriesMs,omitempty"`
	Starts   []Start   `json:"starts"`
	Failed   int       `json:"failed"`
	Skipped  string    `json:"skipped,omitempty"`
	// Desc: what the row measures when it is not a container start (the
	// lazy-pages experiment).
	Desc string `json:"desc,omitempty"`
}

// Start is one container start.
type Start struct {
	Round      int     `json:"round"`
	Mode       string  `json:"mode"`
	Reason     string  `json:"reason,omitempty"`
	ReadyMs    float64 `json:"readyMs"`
	LauncherMs float64 `json:"launcherMs,omitempty"`
	Latency    Latency `json:"latency"`
	Errors     int     `json:"errors"`
	Error      string  `json:"error,omitempty"`
	// Breakdown is where the restore's time went (the launcher's line).
	Breakdown *checkpoint.Breakdown `json:"breakdown,omitempty"`
	latency   []float64
}

// Run builds the images and measures every row. It returns what it has
// measured so far together with an error if it had to stop.
func Run(ctx context.Context, cfg Config) (*Results, error) {
	if cfg.Rounds <= 0 {
		cfg.Rounds = DefaultRounds
	}
	if cfg.ColdCacheRounds <= 0 || cfg.ColdCacheRounds > cfg.Rounds {
		cfg.ColdCacheRounds = cfg.Rounds
	}
	if cfg.Requests <= 0 {
		cfg.Requests = DefaultRequests
	}
	if cfg.SteadyFrom <= 0 {
		cfg.SteadyFrom = DefaultSteadyFrom
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	if cfg.WorkDir == "" {
		cfg.WorkDir = filepath.Join(os.TempDir(), "crac-bench")
	}
	res := &Results{
		Format:  FormatVersion,
		Started: time.Now().UTC(),
		Host:    hostInfo(),
		Settings: Settings{
			Rounds: cfg.Rounds, ColdCacheRounds: cfg.ColdCacheRounds,
			Requests: cfg.Requests, SteadyFrom: cfg.SteadyFrom,
		},
	}
	cache := filepath.Join(cfg.WorkDir, "cache")
	images := filepath.Join(cfg.WorkDir, "images")
	// Images from an earlier run would only pile up.
	if err := os.RemoveAll(images); err != nil {
		return nil, err
	}
	var unpacked []string
	defer func() {
		// The unpacked benchmark images (hundreds of MB each) go; the
		// unpacked bases stay for the next run.
		for _, d := range unpacked {
			_ = os.RemoveAll(filepath.Join(cache, "rootfs", d))
		}
	}()

	type appState struct {
		app    *App
		res    *AppResult
		images map[string]string // variant name -> image ref
	}
	var states []*appState
	for i := range cfg.Apps {
		app := &cfg.Apps[i]
		st := &appState{app: app, res: &AppResult{Name: app.Name, Probe: app.Probe, Paths: app.Paths}, images: map[string]string{}}
		res.Apps = append(res.Apps, *st.res)
		states = append(states, st)
		built := map[string]int{} // build key -> index in Builds
		for _, v := range app.Variants {
			k := v.buildKey()
			if bi, ok := built[k]; ok {
				st.res.Builds[bi].Variants = append(st.res.Builds[bi].Variants, v.Name)
				st.images[v.Name] = st.res.Builds[bi].Image
				continue
			}
			name := app.Name + "-" + sanitize(v.Name)
			if v.buildKey() == (Variant{}).buildKey() {
				name = app.Name
			}
			cfg.Logf("building %s", name)
			b, err := buildOne(ctx, cfg, app, v, name, "oci-layout:"+images+":"+name, cache)
			if err != nil {
				res.Finished = time.Now().UTC()
				return res, fmt.Errorf("building %s: %w", name, err)
			}
			unpacked = append(unpacked, strings.TrimPrefix(b.Digest, "sha256:"))
			b.Variants = []string{v.Name}
			built[k] = len(st.res.Builds)
			st.res.Builds = append(st.res.Builds, *b)
			st.images[v.Name] = b.Image
			cfg.Logf("built %s: checkpoint %s raw, %s zstd, in %.1f s", name, mib(b.CriuImagesBytes), mib(b.ZstdBytes), float64(b.Split.Total)/1000)
		}
		for _, v := range app.Variants {
			row := Row{Variant: v, Build: st.images[v.Name]}
			if v.ColdCache && cfg.DropCaches == nil {
				row.Skipped = "no way to drop the page cache was given"
			}
			st.res.Rows = append(st.res.Rows, row)
		}
	}

	// Rows that keep the page cache first, all rounds; then the rows that
	// drop it, so that no drop leaves a later row reading from disk.
	var runErr error
	for _, dropped := range []bool{false, true} {
		n := cfg.Rounds
		if dropped {
			n = cfg.ColdCacheRounds
		}
		for round := 0; round < n && runErr == nil; round++ {
			for _, st := range states {
				var rows []*Row
				for k := range st.res.Rows {
					if r := &st.res.Rows[k]; r.ColdCache == dropped && r.Skipped == "" {
						rows = append(rows, r)
					}
				}
				for k := range rows {
					// Rotate the order from round to round.
					row := rows[(k+round)%len(rows)]
					if err := ctx.Err(); err != nil {
						runErr = err
						break
					}
					if dropped {
						if err := cfg.DropCaches(); err != nil {
							runErr = fmt.Errorf("dropping the page cache: %w", err)
							break
						}
					}
					s := measureOne(ctx, cfg, st.app, row, cache)
					s.Round = round + 1
					row.Starts = append(row.Starts, s)
					if s.Error != "" {
						cfg.Logf("%s round %d %s: %s", st.app.Name, round+1, rowName(row), s.Error)
					} else {
						cfg.Logf("%s round %d %-40s %-8s first response %7.1f ms, req1 %6.2f ms, steady %5.2f ms",
							st.app.Name, round+1, rowName(row), s.Mode, s.ReadyMs, s.Latency.First, s.Latency.Steady)
					}
				}
			}
		}
	}
	for i, st := range states {
		if st.app.Lazy && runErr == nil {
			cfg.Logf("%s: lazy-pages experiment", st.app.Name)
			img := st.images[DefaultVariant]
			lr, err := LazyPagesAB(ctx, LazyConfig{
				Image: img, CacheDir: cache, Runtime: cfg.Runtime,
				Probe: st.app.Probe, Paths: st.app.Paths, Port: st.app.Build.Port,
				Rounds: cfg.Rounds, Requests: cfg.Requests, SteadyFrom: cfg.SteadyFrom, Logf: cfg.Logf,
			})
			if err != nil {
				cfg.Logf("%s: lazy-pages experiment failed: %v", st.app.Name, err)
				lr = []Row{{Variant: Variant{Name: "lazy-pages"}, Skipped: err.Error()}}
			}
			st.res.Rows = append(st.res.Rows, lr...)
		}
		if st.app.Replicas > 0 && runErr == nil {
			cfg.Logf("%s: %d replicas side by side", st.app.Name, st.app.Replicas)
			st.res.Replicas = Replicas(ctx, ReplicaConfig{
				Image: st.images[DefaultVariant], CacheDir: cache, Runtime: cfg.Runtime,
				Port: st.app.Build.Port, Probe: st.app.Probe, Paths: st.app.Paths,
				N: st.app.Replicas, Requests: st.app.ReplicaRequests, Logf: cfg.Logf,
			})
		}
		finish(st.res, cfg.SteadyFrom)
		res.Apps[i] = *st.res
	}
	res.Host.LoadEnd = loadAvg()
	res.Finished = time.Now().UTC()
	return res, runErr
}

func rowName(r *Row) string {
	if r.ColdCache {
		return r.Name + " [page cache dropped]"
	}
	return r.Name
}

func measureOne(ctx context.Context, cfg Config, app *App, row *Row, cache string) Start {
	o := runner.Options{
		Image:    row.Build,
		Cold:     row.Cold,
		Env:      row.RunEnv,
		Port:     app.Build.Port,
		Runtime:  cfg.Runtime,
		CacheDir: cache,
	}
	if len(row.CapAdd) > 0 {
		caps, err := runner.Caps(row.CapAdd, nil)
		if err != nil {
			return Start{Error: err.Error()}
		}
		o.Caps = caps
	}
	m, err := runner.Measure(ctx, o, runner.MeasureOptions{
		ProbeURL:      app.Probe,
		Requests:      cfg.Requests,
		Paths:         app.Paths,
		FreshRequests: freshRequests,
		Pause:         row.PauseBefore,
	})
	if err != nil {
		return Start{Error: err.Error()}
	}
	s := Start{
		Mode: m.Mode, Reason: m.Reason, ReadyMs: m.ReadyMs, LauncherMs: m.LauncherMs,
		Latency: Summarize(m.LatencyMs, cfg.SteadyFrom), Errors: m.Errors, latency: m.LatencyMs,
		Breakdown: m.Breakdown,
	}
	s.Latency.SteadyFresh = Median(m.FreshMs)
	want := "restored"
	if row.Cold {
		want = "cold"
	}
	if m.Mode != want {
		s.Error = fmt.Sprintf("started %q, want %q (%s)", m.Mode, want, m.Reason)
	}
	return s
}

// Recompute derives every median and ratio again from the starts, e.g.
// for results read back from results.json (whose per-request series are
// kept as they were).
func (r *Results) Recompute() {
	for i := range r.Apps {
		finish(&r.Apps[i], r.Settings.SteadyFrom)
	}
}

// finish computes the medians, ratios and the headline.
func finish(a *AppResult, steadyFrom int) {
	var def, cold, defDropped *Row
	for i := range a.Rows {
		r := &a.Rows[i]
		var ok []Start
		var series [][]float64
		r.Failed = 0
		for _, s := range r.Starts {
			if s.Error != "" {
				r.Failed++
				continue
			}
			ok = append(ok, s)
			if s.latency != nil {
				series = append(series, s.latency)
			}
		}
		if len(ok) == 0 {
			continue
		}
		ready := make([]float64, len(ok))
		launch := make([]float64, len(ok))
		lats := make([]Latency, len(ok))
		for j, s := range ok {
			ready[j], launch[j], lats[j] = s.ReadyMs, s.LauncherMs, s.Latency
		}
		r.ReadyMs = Median(ready)
		r.LauncherMs = Median(launch)
		r.Breakdown = medianBreakdown(ok)
		r.Latency = MedianLatency(lats)
		if len(series) > 0 { // (results read back from JSON keep theirs)
			r.SeriesMs = MedianSeries(series)
		}
		switch {
		case r.Name == DefaultVariant && r.ColdCache:
			defDropped = r
		case r.Name == DefaultVariant && def == nil:
			def = r
		case r.Name == ColdVariant && !r.ColdCache && cold == nil:
			cold = r
		}
	}
	var exp *Row // the reference of the experiment rows: the first one
	for i := range a.Rows {
		r := &a.Rows[i]
		if r.Desc != "" {
			if exp == nil {
				exp = r
			}
			r.VsDefault = PairedRatio(r.Starts, exp.Starts)
		}
		// Rows are compared with the default row of the same page-cache
		// state.
		ref := def
		if r.ColdCache {
			ref = defDropped
		}
		if ref != nil && !r.Cold && r.Desc == "" {
			r.VsDefault = PairedRatio(r.Starts, ref.Starts)
		}
		if cold != nil && !r.Cold && !r.ColdCache && r.Desc == "" {
			r.ColdOver = Ratio(cold.ReadyMs, r.ReadyMs)
		}
	}
	if def != nil && cold != nil {
		a.ColdMs, a.WarmMs = cold.ReadyMs, def.ReadyMs
		a.Ratio = Ratio(cold.ReadyMs, def.ReadyMs)
	}
}

// medianBreakdown is the median of each step of the starts' breakdowns
// (nil if none has one).
func medianBreakdown(starts []Start) *checkpoint.Breakdown {
	var bds []*checkpoint.Breakdown
	for _, s := range starts {
		if s.Breakdown != nil {
			bds = append(bds, s.Breakdown)
		}
	}
	if len(bds) == 0 {
		return nil
	}
	med := func(f func(*checkpoint.Breakdown) float64) float64 {
		v := make([]float64, len(bds))
		for i, b := range bds {
			v[i] = f(b)
		}
		return Median(v)
	}
	return &checkpoint.Breakdown{
		ChecksMs:    med(func(b *checkpoint.Breakdown) float64 { return b.ChecksMs }),
		CriuExecMs:  med(func(b *checkpoint.Breakdown) float64 { return b.CriuExecMs }),
		StartupMs:   med(func(b *checkpoint.Breakdown) float64 { return b.StartupMs }),
		TreeMs:      med(func(b *checkpoint.Breakdown) float64 { return b.TreeMs }),
		MappingsMs:  med(func(b *checkpoint.Breakdown) float64 { return b.MappingsMs }),
		PagesMs:     med(func(b *checkpoint.Breakdown) float64 { return b.PagesMs }),
		PagesMapped: int64(med(func(b *checkpoint.Breakdown) float64 { return float64(b.PagesMapped) })),
		PagesRead:   int64(med(func(b *checkpoint.Breakdown) float64 { return float64(b.PagesRead) })),
		ResumeMs:    med(func(b *checkpoint.Breakdown) float64 { return b.ResumeMs }),
		GateMs:      med(func(b *checkpoint.Breakdown) float64 { return b.GateMs }),
		CriuMs:      med(func(b *checkpoint.Breakdown) float64 { return b.CriuMs }),
		NotifyMs:    med(func(b *checkpoint.Breakdown) float64 { return b.NotifyMs }),

		FirstRequests:   int(med(func(b *checkpoint.Breakdown) float64 { return float64(b.FirstRequests) })),
		FirstRequestsMs: med(func(b *checkpoint.Breakdown) float64 { return b.FirstRequestsMs }),
	}
}

func buildOne(ctx context.Context, cfg Config, app *App, v Variant, name, ref, cache string) (*BuildResult, error) {
	o := app.Build
	o.Outputs = []string{ref}
	o.Push = nil
	o.CacheDir = cache
	o.Runtime = cfg.Runtime
	o.CriuBundle, o.Launcher, o.Version = cfg.CriuBundle, cfg.Launcher, cfg.Version
	if v.CriuBundle != "" {
		o.CriuBundle = v.CriuBundle
	}
	o.Env = environ.Merge(o.Env, v.BuildEnv, "JAVA_TOOL_OPTIONS")
	o.NoGC = o.NoGC || v.NoGC
	if v.Settle > 0 {
		o.Settle = v.Settle
	}
	o.Adds = append(append([]builder.Add{}, o.Adds...), v.Adds...)
	if v.CPUBaseline != "" {
		o.CPUBaseline = v.CPUBaseline
	}
	if v.ClassCache {
		o.NoClassCache = false
	}
	if w := v.Warmup; w != nil {
		o.WarmupScript, o.WarmupRequestsFile, o.WarmupRequests, o.WarmupPath, o.WarmupRounds = w.Script, w.RequestsFile, w.Requests, w.Path, w.Rounds
		if o.WarmupMaxErrors == 0 {
			o.WarmupMaxErrors = 0.05
		}
	}
	o.AppOutput = cfg.AppOutput
	o.Logf = func(f string, a ...any) { cfg.Logf(name+": "+f, a...) }
	t0 := time.Now()
	r, err := builder.Build(ctx, o)
	if err != nil {
		return nil, err
	}
	total := time.Since(t0).Milliseconds()
	b := &BuildResult{
		Name: name, Image: ref, Digest: r.Digest.String(),
		BuildEnv: v.BuildEnv, NoGC: v.NoGC, SettleMs: v.Settle.Milliseconds(),
		LayerRawBytes: r.Checkpoint.RawBytes, ZstdBytes: r.Checkpoint.CompressedBytes,
		Threads: r.Metadata.Process.Threads, RSSKiB: r.Metadata.Process.RSSKiB,
		TimingsMs: r.Metadata.Timings, Warnings: r.Warnings,
		Warmup: &r.Metadata.Warmup,
	}
	for _, f := range r.Metadata.Images {
		b.CriuImagesBytes += f.Size
	}
	b.Split = split(r.Metadata.Timings, total)
	// The builder's own layer files are gone with its scratch dir: read
	// the image back from where it was written.
	img, err := registry.Load(ctx, ref, registry.Options{})
	if err != nil {
		return nil, err
	}
	if b.ImageBytes, b.BaseBytes, b.GzipBytes, err = imageSizes(img, 3); err != nil {
		return nil, err
	}
	return b, nil
}

// split maps the builder's step timings onto the reported split.
func split(t map[string]int64, total int64) Split {
	s := Split{
		AppStart: t["start"],
		Warmup:   t["warmup"],
		PreDump:  t["predump"],
		Dump:     t["inspect"] + t["dump"] + t["checksum"],
		Compress: t["compress"],
		Write:    t["write"],
		Total:    total,
		// The training run's own start and warmup are in it.
		ClassCache: t["classcache"],
	}
	s.Other = total - s.AppStart - s.Warmup - s.PreDump - s.Dump - s.Compress - s.Write - s.ClassCache
	if s.Other < 0 {
		s.Other = 0
	}
	return s
}

// imageSizes returns the image's size as a registry stores it (compressed
// layers, config and manifest), the part of it that is the base's (all but
// the last added layers), and the checkpoint layer (the last) recompressed
// with gzip.
func imageSizes(img v1.Image, added int) (total, base, gz int64, err error) {
	ls, err := img.Layers()
	if err != nil {
		return 0, 0, 0, err
	}
	for i, l := range ls {
		n, err := l.Size()
		if err != nil {
			return 0, 0, 0, err
		}
		total += n
		if i < len(ls)-added {
			base += n
		}
	}
	if m, err := img.RawManifest(); err == nil {
		total += int64(len(m))
	}
	if c, err := img.RawConfigFile(); err == nil {
		total += int64(len(c))
	}
	if len(ls) == 0 {
		return total, base, 0, errors.New("image has no layers")
	}
	rc, err := ls[len(ls)-1].Uncompressed()
	if err != nil {
		return 0, 0, 0, err
	}
	defer rc.Close()
	cw := &countWriter{}
	zw, _ := gzip.NewWriterLevel(cw, gzip.DefaultCompression)
	if _, err := io.Copy(zw, rc); err != nil {
		return 0, 0, 0, fmt.Errorf("recompressing the checkpoint layer: %w", err)
	}
	if err := zw.Close(); err != nil {
		return 0, 0, 0, err
	}
	return total, base, cw.n, nil
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '.':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return '-'
	}, s)
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func hostInfo() Host {
	_, model, _ := host.CPUFeatures()
	return Host{Kernel: host.Kernel(), CPU: model, CPUs: runtime.NumCPU(), LoadStart: loadAvg()}
}

func loadAvg() string {
	l, err := proc.LoadAvg()
	if err != nil {
		return ""
	}
	// As /proc/loadavg prints them.
	return fmt.Sprintf("%.2f %.2f %.2f", l[0], l[1], l[2])
}
