package bench

import (
	"strings"
	"testing"

	"github.com/crac-build/crac-build/internal/checkpoint"
	"github.com/crac-build/crac-build/internal/contract"
	"github.com/crac-build/crac-build/internal/report"
)

func testResults() *Results {
	lat := func(first, rest float64) []float64 {
		s := make([]float64, 120)
		for i := range s {
			s[i] = rest
		}
		s[0] = first
		return s
	}
	st := func(ready, first, rest float64) Start {
		l := lat(first, rest)
		return Start{Mode: "m", ReadyMs: ready, Latency: Summarize(l, 100), latency: l}
	}
	a := AppResult{Name: "tomcat", Probe: "/examples/", Paths: []string{"/examples/a.jsp"},
		Builds: []BuildResult{{Name: "tomcat", Image: "img", Variants: []string{"cold", "restored"}, CriuImagesBytes: 100 << 20, ZstdBytes: 22 << 20, GzipBytes: 27 << 20,
			Split: Split{Total: 20000, AppStart: 5000, Warmup: 9000}}},
		Rows: []Row{
			{Variant: Variant{Name: ColdVariant, Cold: true}, Build: "img", Starts: []Start{st(3000, 400, 2), st(3100, 380, 2)}},
			{Variant: Variant{Name: DefaultVariant}, Build: "img", Starts: []Start{
				withBreakdown(st(150, 3, 1.5), checkpoint.Breakdown{PagesMs: 4, PagesMapped: 80 << 20, NotifyMs: 30}),
				withBreakdown(st(160, 3, 1.5), checkpoint.Breakdown{PagesMs: 6, PagesMapped: 80 << 20, NotifyMs: 40}),
			}},
			{Variant: Variant{Name: "prefetch off", ColdCache: true, Note: "CRAC_PREFETCH=off"}, Build: "img", Starts: []Start{st(400, 5, 1.5)}},
			{Variant: Variant{Name: "lazy"}, Skipped: "no uffd"},
		}}
	finish(&a, 100)
	return &Results{Settings: Settings{Rounds: 2, Requests: 120, SteadyFrom: 100}, Apps: []AppResult{a}}
}

func withBreakdown(s Start, b checkpoint.Breakdown) Start {
	s.Breakdown = &b
	return s
}

func TestBreakdownMedians(t *testing.T) {
	r := testResults()
	bd := r.Apps[0].row(DefaultVariant).Breakdown
	if bd == nil || bd.PagesMs != 5 || bd.NotifyMs != 35 || bd.PagesMapped != 80<<20 {
		t.Fatalf("restored row's breakdown = %+v, want the medians (pages 5 ms, afterRestore 35 ms, 80 MiB mapped)", bd)
	}
	if r.Apps[0].row(ColdVariant).Breakdown != nil {
		t.Errorf("cold row has a breakdown")
	}
	txt := Table(r)
	if !strings.Contains(txt, "restore breakdown (ms)") || !strings.Contains(txt, "80.0") {
		t.Errorf("table without the breakdown:\n%s", txt)
	}
	var b strings.Builder
	if err := report.Render(&b, Page(r)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "Where a restore") || !strings.Contains(b.String(), "80.0 / 0.0") {
		t.Errorf("report page without the breakdown table")
	}
}

func TestTableAndPage(t *testing.T) {
	r := testResults()
	txt := Table(r)
	for _, want := range []string{
		"container start -> first response", "3050 ms", "155 ms", "19.7x",
		"request 1 / steady state", "prefetch off [page cache dropped]", "skipped: no uffd",
		"CRIU images 100.0 MiB", "build 20.0 s = app start 5.0 s + warmup 9.0 s",
	} {
		if !strings.Contains(txt, want) {
			t.Errorf("table lacks %q:\n%s", want, txt)
		}
	}
	if got, want := Headline(&r.Apps[0]), "tomcat: cold 3050 ms -> warm 155 ms (19.7x)"; got != want {
		t.Errorf("Headline = %q, want %q", got, want)
	}
	var b strings.Builder
	if err := report.Render(&b, Page(r)); err != nil {
		t.Fatal(err)
	}
	html := b.String()
	for _, want := range []string{"tomcat answers in 155 ms restored instead of 3050 ms cold (19.7x faster)", "<svg", "prefetch off (page cache dropped)", "checkpoint size"} {
		if !strings.Contains(html, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

// The warmup of the image in `run --report`: why it stopped, what it
// reached, and its rounds as small inline SVG charts.
func TestWarmupSection(t *testing.T) {
	if WarmupSection("img", nil) != nil || WarmupSection("img", &contract.Warmup{Requests: 100}) != nil {
		t.Error("a section for a warmup without rounds or figures")
	}
	w := &contract.Warmup{Until: "steady", Rounds: 3, DurationMs: 2500, Requests: 300, Steady: true,
		Stopped: "steady after 3 rounds: JIT quiet",
		Curve:   []contract.WarmupRound{{LatencyMs: 4, CompiledMethods: 500}, {LatencyMs: 1.2, CompiledMethods: 900}, {LatencyMs: 1.1, CompiledMethods: 901}},
		Reached: &contract.WarmupReached{CompiledMethods: 901, CodeCacheKiB: 4096, ClassesLoaded: 3000}}
	s := WarmupSection("img", w)
	if s == nil || len(s.Charts) != 2 || !s.Charts[0].Small {
		t.Fatalf("section %+v, want two small charts", s)
	}
	var b strings.Builder
	if err := report.Render(&b, &report.Page{Title: "t", Sections: []report.Section{*s}}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"3 rounds in 2.5 s: steady after 3 rounds: JIT quiet.", "901 compiled methods, code cache 4 MiB, 3000 classes loaded",
		`viewBox="0 0 600 260"`, "Warmup rounds: median request (ms)", "<polyline"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("page lacks %q", want)
		}
	}
}
