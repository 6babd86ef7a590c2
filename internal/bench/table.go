package bench

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/crac-build/crac-build/internal/checkpoint"
)

// Table renders the results as plain-text tables: per application the
// cold/restored comparison with ratios, the checkpoint sizes, the build
// time split, and every variant against the default.
func Table(r *Results) string {
	var b strings.Builder
	fmt.Fprintf(&b, "crac-build benchmark: %d starts per row (median), %d requests per start, steady state after request %d\n",
		r.Settings.Rounds, r.Settings.Requests, r.Settings.SteadyFrom)
	fmt.Fprintf(&b, "host: %s, %d CPUs, kernel %s, load %s -> %s\n", r.Host.CPU, r.Host.CPUs, r.Host.Kernel, r.Host.LoadStart, r.Host.LoadEnd)
	for _, a := range r.Apps {
		b.WriteString("\n")
		b.WriteString(AppTable(&a, r.Settings))
	}
	return b.String()
}

// AppTable renders one application's tables.
func AppTable(a *AppResult, set Settings) string {
	var b strings.Builder
	cold, def := a.row(ColdVariant), a.row(DefaultVariant)
	fmt.Fprintf(&b, "== %s (first response: GET %s; requests: %s)\n", a.Name, a.Probe, strings.Join(a.Paths, ", "))
	if cold != nil && def != nil {
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "\tcold\trestored\tcold/restored\t\n")
		line := func(name string, c, w float64) {
			fmt.Fprintf(tw, "%s\t%s ms\t%s ms\t%s\t\n", name, num(c), num(w), ratio(c, w))
		}
		line("container start -> first response", cold.ReadyMs, def.ReadyMs)
		line("request 1", cold.Latency.First, def.Latency.First)
		line("requests 2-10 (median)", cold.Latency.To10, def.Latency.To10)
		line("requests 11-100 (median)", cold.Latency.To100, def.Latency.To100)
		line(fmt.Sprintf("steady state (requests > %d)", set.SteadyFrom), cold.Latency.Steady, def.Latency.Steady)
		line("steady state, new connection each", cold.Latency.SteadyFresh, def.Latency.SteadyFresh)
		fmt.Fprintf(tw, "request 1 / steady state\t%s\t%s\t\t\n", ratio(cold.Latency.First, cold.Latency.Steady), ratio(def.Latency.First, def.Latency.Steady))
		fmt.Fprintf(tw, "request 1 / steady state, new connection\t%s\t%s\t\t\n", ratio(cold.Latency.First, cold.Latency.SteadyFresh), ratio(def.Latency.First, def.Latency.SteadyFresh))
		fmt.Fprintf(tw, "starts measured (failed)\t%d (%d)\t%d (%d)\t\t\n", len(cold.Starts)-cold.Failed, cold.Failed, len(def.Starts)-def.Failed, def.Failed)
		tw.Flush()
	}
	for _, bd := range a.Builds {
		fmt.Fprintf(&b, "image %s (%s):\n", bd.Name, strings.Join(bd.Variants, ", "))
		fmt.Fprintf(&b, "  checkpoint: CRIU images %s; layer %s raw, %s zstd, %s gzip; image total %s (base %s); %d threads\n",
			mib(bd.CriuImagesBytes), mib(bd.LayerRawBytes), mib(bd.ZstdBytes), mib(bd.GzipBytes), mib(bd.ImageBytes), mib(bd.BaseBytes), bd.Threads)
		s := bd.Split
		cache := ""
		if s.ClassCache > 0 {
			cache = " + class cache training " + sec(s.ClassCache)
		}
		fmt.Fprintf(&b, "  build %s = app start %s + warmup %s + pre-dump %s + dump %s + compression %s + write %s%s + other %s\n",
			sec(s.Total), sec(s.AppStart), sec(s.Warmup), sec(s.PreDump), sec(s.Dump), sec(s.Compress), sec(s.Write), cache, sec(s.Other))
		if w := bd.Warmup; w != nil && w.Rounds > 0 {
			// Stopped names the rounds (steady after N rounds, 1 round, as asked...).
			reqs := ""
			if w.Requests > 0 {
				reqs = fmt.Sprintf(" (%d requests)", w.Requests)
			}
			fmt.Fprintf(&b, "  warmup: %s%s\n", w.Stopped, reqs)
		}
		if w := bd.Warmup; w != nil && w.Reached != nil {
			fmt.Fprintf(&b, "  warmup reached %s\n", w.Reached)
		}
	}
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "row\tfirst response\tvs default*\tlauncher\treq 1\treq 2-10\tsteady\tsteady new conn\tCRIU images\tzstd\tstarts\t\n")
	for i := range a.Rows {
		r := &a.Rows[i]
		name := r.label("[page cache dropped]")
		if r.Skipped != "" {
			fmt.Fprintf(tw, "%s\tskipped: %s\t\t\t\t\t\t\t\t\t\t\n", name, r.Skipped)
			continue
		}
		imgs, zstd := "", ""
		if bd := a.build(r.Build); bd != nil {
			imgs, zstd = mib(bd.CriuImagesBytes), mib(bd.ZstdBytes)
		}
		vs := ""
		if r.VsDefault != 0 {
			vs = fmt.Sprintf("%.2fx", r.VsDefault)
		}
		launcher := ""
		if r.LauncherMs != 0 {
			launcher = num(r.LauncherMs) + " ms"
		}
		fmt.Fprintf(tw, "%s\t%s ms\t%s\t%s\t%s ms\t%s ms\t%s ms\t%s\t%s\t%s\t%d/%d\t\n", name, num(r.ReadyMs), vs, launcher,
			num(r.Latency.First), num(r.Latency.To10), num(r.Latency.Steady), optNum(r.Latency.SteadyFresh), imgs, zstd, len(r.Starts)-r.Failed, len(r.Starts))
	}
	tw.Flush()
	b.WriteString("(* median over rounds of this row's first response / the default's in the same round)\n")
	b.WriteString(BreakdownTable(a))
	b.WriteString(ReplicaTable(a))
	for i := range a.Rows {
		if r := &a.Rows[i]; r.Desc != "" {
			fmt.Fprintf(&b, "(%s: %s)\n", r.Name, r.Desc)
		}
	}
	return b.String()
}

// BreakdownTable renders where the restores' time went, per restored row
// (medians of the launcher's breakdowns), or "" when no row has one.
func BreakdownTable(a *AppResult) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	n := 0
	for i := range a.Rows {
		r := &a.Rows[i]
		bd := r.Breakdown
		if bd == nil || r.Skipped != "" {
			continue
		}
		if n == 0 {
			fmt.Fprintf(tw, "restore breakdown (ms)	checks	criu exec	start-up	tree	mappings	pages	mapped MiB	read MiB	resume	beside	afterRestore	first requests	launcher	\n")
		}
		n++
		name := r.label("[page cache dropped]")
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.1f\t%.1f\t%s\t%s\t%s\t%s\t%s\t\n", name, num(bd.ChecksMs), num(bd.CriuExecMs), num(bd.StartupMs),
			num(bd.TreeMs), num(bd.MappingsMs), num(bd.PagesMs), float64(bd.PagesMapped)/(1<<20), float64(bd.PagesRead)/(1<<20),
			num(bd.ResumeMs), num(bd.GateMs), num(bd.NotifyMs), firstReqs(bd), num(r.LauncherMs))
	}
	if n == 0 {
		return ""
	}
	tw.Flush()
	b.WriteString("(checks: the launcher's before criu; criu exec: starting criu and its RPC; start-up: criu's kernel probing; tree: files, sockets, forking;\n mappings: placing the areas; pages: mapping or reading the pages image; resume: threads, network unlock, resume, of which \"beside\" the launcher's checks;\n afterRestore: the org.crac notification after criu, while the JVM already serves; first requests: the launcher's post-restore pass;\n launcher: its \"restored in\")\n")
	return b.String()
}

// ReplicaTable renders the replicas' memory, each mode against cold and
// against stock read, or "" when the app ran no replicas.
func ReplicaTable(a *AppResult) string {
	if len(a.Replicas) == 0 {
		return ""
	}
	var b strings.Builder
	ref := map[string]float64{}
	for _, r := range a.Replicas {
		if r.Error == "" {
			ref[r.Name] = float64(r.PSSKiB)
		}
	}
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%d replicas side by side\tPSS sum\tvs cold\tvs stock read\tRSS sum\tper replica PSS\t\n", len(a.Replicas[0].PerReplica))
	for _, r := range a.Replicas {
		if r.Error != "" {
			fmt.Fprintf(tw, "%s\tfailed: %s\t\t\t\t\t\n", r.Name, r.Error)
			continue
		}
		pct := func(ref float64) string {
			if ref == 0 {
				return "-"
			}
			return fmt.Sprintf("%.0f%%", 100*float64(r.PSSKiB)/ref)
		}
		var per []string
		for _, p := range r.PerReplica {
			per = append(per, fmt.Sprintf("%.0f", float64(p)/1024))
		}
		fmt.Fprintf(tw, "%s\t%.1f MiB\t%s\t%s\t%.1f MiB\t%s MiB\t\n", r.Name, float64(r.PSSKiB)/1024, pct(ref["cold"]), pct(ref["stock read"]),
			float64(r.RSSKiB)/1024, strings.Join(per, ", "))
	}
	tw.Flush()
	return b.String()
}

// Headline is the benchmark's last line for an application, e.g.
// "tomcat: cold 3144 ms -> warm 168 ms (18.7x)".
func Headline(a *AppResult) string {
	return fmt.Sprintf("%s: cold %.0f ms -> warm %.0f ms (%.1fx)", a.Name, a.ColdMs, a.WarmMs, a.Ratio)
}

// CacheLine compares an app's starts without and with the JDK's class
// cache, e.g. "tomcat jdk25: cold 3100 ms, cold with cache 1900 ms,
// restored 250 ms, restored with cache 240 ms" ("" if a row has no
// successful start). label names the app.
func CacheLine(a *AppResult, label string) string {
	var ms []any
	for _, n := range []string{ColdVariant, ColdCacheVariant, DefaultVariant, RestoredCacheVariant} {
		r := a.row(n)
		if r == nil {
			return ""
		}
		ms = append(ms, r.ReadyMs)
	}
	return fmt.Sprintf(label+": cold %.0f ms, cold with cache %.0f ms, restored %.0f ms, restored with cache %.0f ms", ms...)
}

// row finds the row of that name with the page cache kept and at least
// one successful start.
func (a *AppResult) row(name string) *Row {
	for i := range a.Rows {
		if a.Rows[i].Name == name && !a.Rows[i].ColdCache && len(a.Rows[i].Starts) > a.Rows[i].Failed {
			return &a.Rows[i]
		}
	}
	return nil
}

// label is the row's name, with dropped after it if the row drops the
// page cache before each start.
func (r *Row) label(dropped string) string {
	if r.ColdCache {
		return r.Name + " " + dropped
	}
	return r.Name
}

func (a *AppResult) build(image string) *BuildResult {
	for i := range a.Builds {
		if a.Builds[i].Image == image {
			return &a.Builds[i]
		}
	}
	return nil
}

func num(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// optNum is num with a unit, or "-" for a figure not measured.
func optNum(v float64) string {
	if v == 0 {
		return "-"
	}
	return num(v) + " ms"
}

func ratio(a, b float64) string {
	r := Ratio(a, b)
	if r == 0 {
		return "-"
	}
	if r >= 100 {
		return fmt.Sprintf("%.0fx", r)
	}
	return fmt.Sprintf("%.1fx", r)
}

func sec(msec int64) string { return fmt.Sprintf("%.1f s", float64(msec)/1000) }

// firstReqs is the post-restore pass of a breakdown: "-" without one, else
// its time.
func firstReqs(bd *checkpoint.Breakdown) string {
	if bd.FirstRequests == 0 {
		return "-"
	}
	return num(bd.FirstRequestsMs)
}
