package bench

import (
	"fmt"
	"strings"

	"github.com/crac-build/crac-build/internal/contract"
	"github.com/crac-build/crac-build/internal/report"
	"github.com/crac-build/crac-build/internal/warmup"
)

// Page turns results into the HTML report's content.
func Page(r *Results) *report.Page {
	p := &report.Page{Title: "crac-build: cold vs restored start"}
	var heads []string
	for i := range r.Apps {
		a := &r.Apps[i]
		if a.Ratio > 0 {
			heads = append(heads, fmt.Sprintf("%s answers in %s ms restored instead of %s ms cold (%s faster)",
				a.Name, num(a.WarmMs), num(a.ColdMs), ratio(a.ColdMs, a.WarmMs)))
		}
	}
	if len(heads) > 0 {
		p.Lead = strings.Join(heads, "; ") + "."
	}
	for i := range r.Apps {
		p.Sections = append(p.Sections, appSections(&r.Apps[i], r.Settings)...)
	}
	p.Footer = []string{
		fmt.Sprintf("Each figure is the median of %d container starts (rows run interleaved, in an order rotated every round); %d requests per start, one keep-alive connection; steady state = requests after %d.",
			r.Settings.Rounds, r.Settings.Requests, r.Settings.SteadyFrom),
		fmt.Sprintf("Host: %s, %d CPUs, Linux %s; load average %s at start, %s at end. Run %s to %s.",
			r.Host.CPU, r.Host.CPUs, r.Host.Kernel, r.Host.LoadStart, r.Host.LoadEnd,
			r.Started.Format("2006-01-02 15:04:05Z"), r.Finished.Format("15:04:05Z")),
	}
	return p
}

func appSections(a *AppResult, set Settings) []report.Section {
	cold, def := a.row(ColdVariant), a.row(DefaultVariant)
	main := report.Section{Heading: a.Name}
	main.Text = append(main.Text, fmt.Sprintf("First response: container start to the first 2xx answer of GET %s. Then requests to %s, round-robin, on one keep-alive connection (request 1 opens it), then %d more on a new connection each.",
		a.Probe, strings.Join(a.Paths, ", "), freshRequests))
	if cold != nil && def != nil {
		t := report.Table{
			Caption: "Cold vs restored (medians)",
			Header:  []string{"", "cold", "restored", "cold / restored"},
		}
		add := func(name string, c, w float64) {
			t.Rows = append(t.Rows, []string{name, num(c) + " ms", num(w) + " ms", ratio(c, w)})
		}
		add("container start → first response", cold.ReadyMs, def.ReadyMs)
		add("request 1", cold.Latency.First, def.Latency.First)
		add("requests 2-10", cold.Latency.To10, def.Latency.To10)
		add("requests 11-100", cold.Latency.To100, def.Latency.To100)
		add(fmt.Sprintf("steady state (after %d)", set.SteadyFrom), cold.Latency.Steady, def.Latency.Steady)
		add("steady state, new connection each", cold.Latency.SteadyFresh, def.Latency.SteadyFresh)
		t.Rows = append(t.Rows, []string{"request 1 / steady state", ratio(cold.Latency.First, cold.Latency.Steady), ratio(def.Latency.First, def.Latency.Steady), ""})
		t.Rows = append(t.Rows, []string{"request 1 / steady state, new connection", ratio(cold.Latency.First, cold.Latency.SteadyFresh), ratio(def.Latency.First, def.Latency.SteadyFresh), ""})
		t.Highlight = map[int]bool{0: true}
		main.Tables = append(main.Tables, t)
		main.Charts = append(main.Charts, report.Chart{
			Title:  a.Name + ": latency of each request after the first response (median over starts)",
			XLabel: "request number (faint: each request; bold: rolling median)", YLabel: "latency (ms)", LogX: true, LogY: true, Smooth: true,
			Series: []report.Series{{Name: "cold", Y: cold.SeriesMs}, {Name: "restored", Y: def.SeriesMs}},
		})
	}
	var bars []report.Bar
	for i := range a.Rows {
		r := &a.Rows[i]
		if r.Skipped != "" || len(r.Starts) == r.Failed || r.Desc != "" {
			continue
		}
		g := 1
		note := ""
		switch {
		case r.Cold:
			g = 0
		case r.Name == DefaultVariant && !r.ColdCache:
			note = ratio(r.ColdOver, 1) + " faster than cold"
		case r.VsDefault != 0:
			note = fmt.Sprintf("%.2fx the default", r.VsDefault)
			g = 2
		}
		bars = append(bars, report.Bar{Label: rowLabel(r), Value: r.ReadyMs, Group: g, Note: note})
	}
	if len(bars) > 0 {
		main.Charts = append(main.Charts, report.Chart{Title: a.Name + ": container start → first response (median)", Bars: bars, Unit: "ms"})
	}
	if bt := breakdownTable(a); bt != nil {
		main.Tables = append(main.Tables, *bt)
	}
	if len(a.Replicas) > 0 {
		rt := report.Table{
			Caption: fmt.Sprintf("Memory of %d containers side by side, after the same requests to each (PSS summed over their processes)", len(a.Replicas[0].PerReplica)),
			Header:  []string{"start", "PSS sum", "RSS sum", "per replica PSS (MiB)"},
		}
		for _, r := range a.Replicas {
			if r.Error != "" {
				rt.Rows = append(rt.Rows, []string{r.Name, "failed: " + r.Error, "", ""})
				continue
			}
			var per []string
			for _, p := range r.PerReplica {
				per = append(per, fmt.Sprintf("%.0f", float64(p)/1024))
			}
			rt.Rows = append(rt.Rows, []string{r.Name, fmt.Sprintf("%.1f MiB", float64(r.PSSKiB)/1024), fmt.Sprintf("%.1f MiB", float64(r.RSSKiB)/1024), strings.Join(per, ", ")})
		}
		main.Tables = append(main.Tables, rt)
	}
	secs := []report.Section{main}

	if len(a.Rows) > 2 {
		v := report.Section{Heading: a.Name + ": variants"}
		t := report.Table{Wrap: map[int]bool{1: true}, Header: []string{"row", "what it changes", "first response", "vs default", "launcher", "req 1", "req 2-10", "steady", "new conn.", "CRIU images", "zstd", "starts"}}
		for i := range a.Rows {
			r := &a.Rows[i]
			if r.Skipped != "" {
				t.Rows = append(t.Rows, []string{rowLabel(r), r.Note, "skipped: " + r.Skipped, "", "", "", "", "", "", "", "", ""})
				continue
			}
			imgs, zstd := "", ""
			if bd := a.build(r.Build); bd != nil {
				imgs, zstd = mib(bd.CriuImagesBytes), mib(bd.ZstdBytes)
			}
			vs, launcher := "", ""
			if r.VsDefault != 0 {
				vs = fmt.Sprintf("%.2fx", r.VsDefault)
			}
			if r.LauncherMs != 0 {
				launcher = num(r.LauncherMs) + " ms"
			}
			if r.Name == DefaultVariant && !r.ColdCache {
				t.Highlight = map[int]bool{i: true}
			}
			t.Rows = append(t.Rows, []string{rowLabel(r), r.Note, num(r.ReadyMs) + " ms", vs, launcher,
				num(r.Latency.First) + " ms", num(r.Latency.To10) + " ms", num(r.Latency.Steady) + " ms", optNum(r.Latency.SteadyFresh), imgs, zstd,
				fmt.Sprintf("%d/%d", len(r.Starts)-r.Failed, len(r.Starts))})
		}
		v.Tables = append(v.Tables, t)
		v.Text = []string{"“vs default”: the median, over the rounds, of the row's first-response time divided by the default row's in the same round (rows with the page cache dropped are compared with the default with the page cache dropped). The machine's load drifts during a run; rows of one round run within a minute of each other."}
		for i := range a.Rows {
			if r := &a.Rows[i]; r.Desc != "" {
				v.Text = append(v.Text, fmt.Sprintf("Rows marked “criu”: %s.", r.Desc))
				break
			}
		}
		secs = append(secs, v)
	}

	if len(a.Builds) > 0 {
		s := report.Section{Heading: a.Name + ": images and build time"}
		t := report.Table{Caption: "Checkpoint and image size", Wrap: map[int]bool{1: true}, Header: []string{"image", "rows", "CRIU images", "layer raw", "zstd", "gzip", "image total", "of which base", "threads"}}
		bt := report.Table{Caption: "Build time", Header: []string{"image", "total", "app start", "warmup", "pre-dump", "dump", "compression", "write", "other"}}
		training := false
		for _, b := range a.Builds {
			training = training || b.Split.ClassCache > 0
		}
		if training {
			bt.Header = append(bt.Header, "class cache training")
		}
		for _, b := range a.Builds {
			sp := b.Split
			t.Rows = append(t.Rows, []string{b.Name, strings.Join(b.Variants, ", "), mib(b.CriuImagesBytes), mib(b.LayerRawBytes),
				mib(b.ZstdBytes), mib(b.GzipBytes), mib(b.ImageBytes), mib(b.BaseBytes), fmt.Sprint(b.Threads)})
			row := []string{b.Name, sec(sp.Total), sec(sp.AppStart), sec(sp.Warmup), sec(sp.PreDump), sec(sp.Dump), sec(sp.Compress), sec(sp.Write), sec(sp.Other)}
			if training {
				row = append(row, sec(sp.ClassCache))
			}
			bt.Rows = append(bt.Rows, row)
		}
		s.Tables = append(s.Tables, t, bt)
		for _, b := range a.Builds {
			if w := b.Warmup; w != nil && w.Rounds > 0 {
				s.Text = append(s.Text, fmt.Sprintf("%s: warmup of %s in %s: %s.", b.Name, warmup.Plural(w.Rounds, "round"), sec(w.DurationMs), w.Stopped))
			}
		}
		var bars []report.Bar
		for _, b := range a.Builds {
			bars = append(bars,
				report.Bar{Label: b.Name + " CRIU images", Value: float64(b.CriuImagesBytes) / (1 << 20), Group: 1},
				report.Bar{Label: b.Name + " zstd", Value: float64(b.ZstdBytes) / (1 << 20), Group: 2},
				report.Bar{Label: b.Name + " gzip", Value: float64(b.GzipBytes) / (1 << 20), Group: 4})
		}
		s.Charts = append(s.Charts, report.Chart{Title: a.Name + ": checkpoint size", Bars: bars, Unit: "MiB"})
		secs = append(secs, s)
	}
	return secs
}

func rowLabel(r *Row) string {
	if r.ColdCache {
		return r.Name + " (page cache dropped)"
	}
	return r.Name
}

// breakdownTable is where the restores' time went, per restored row
// (medians of the launcher's breakdowns), or nil when no row has one.
func breakdownTable(a *AppResult) *report.Table {
	t := report.Table{
		Caption: "Where a restore's time goes (ms, medians; see docs/restore-speed.md)",
		Header:  []string{"row", "checks", "criu exec", "start-up", "process tree", "mappings", "pages", "mapped / read MiB", "resume", "afterRestore", "first requests", "launcher"},
	}
	for i := range a.Rows {
		r := &a.Rows[i]
		bd := r.Breakdown
		if bd == nil || r.Skipped != "" {
			continue
		}
		name := r.Name
		if r.ColdCache {
			name += " [page cache dropped]"
		}
		t.Rows = append(t.Rows, []string{name, num(bd.ChecksMs), num(bd.CriuExecMs), num(bd.StartupMs), num(bd.TreeMs), num(bd.MappingsMs),
			num(bd.PagesMs), fmt.Sprintf("%.1f / %.1f", float64(bd.PagesMapped)/(1<<20), float64(bd.PagesRead)/(1<<20)),
			num(bd.ResumeMs), num(bd.NotifyMs), firstReqs(bd), num(r.LauncherMs)})
	}
	if len(t.Rows) == 0 {
		return nil
	}
	return &t
}

// WarmupSection shows the warmup an image was built with (its metadata's
// contract.Warmup): why it stopped, what it reached, and the latency and
// compiled methods of its rounds as small charts. nil without rounds or
// figures of what it reached.
func WarmupSection(name string, w *contract.Warmup) *report.Section {
	if w == nil || (w.Rounds == 0 && w.Reached == nil) {
		return nil
	}
	s := &report.Section{Heading: name + ": the build's warmup"}
	if w.Rounds > 0 {
		s.Text = append(s.Text, fmt.Sprintf("%s in %.1f s: %s.", warmup.Plural(w.Rounds, "round"), float64(w.DurationMs)/1000, w.Stopped))
	}
	if w.Reached != nil {
		s.Text = append(s.Text, fmt.Sprintf("When it ended, the JVM had %s.", w.Reached))
	}
	if len(w.Curve) == 0 {
		return s
	}
	lat := make([]float64, len(w.Curve))
	var methods []float64
	for i, r := range w.Curve {
		lat[i] = r.LatencyMs
		if r.CompiledMethods > 0 {
			methods = append(methods, float64(r.CompiledMethods))
		}
	}
	what := "median request"
	if len(w.Endpoints) == 0 && w.Requests == 0 {
		what = "script run"
	}
	s.Charts = append(s.Charts, report.Chart{
		Title: "Warmup rounds: " + what + " (ms)", XLabel: "round", YLabel: "ms", Small: true,
		Series: []report.Series{{Name: what, Y: lat}},
	})
	if len(methods) == len(w.Curve) {
		s.Charts = append(s.Charts, report.Chart{
			Title: "Warmup rounds: compiled methods after each", XLabel: "round", YLabel: "compiled methods", Small: true,
			Series: []report.Series{{Name: "compiled methods", Y: methods}},
		})
	}
	return s
}
