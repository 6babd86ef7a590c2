package bench

import (
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{math.NaN(), 7, 1}, 4},
	} {
		if got := Median(tc.in); got != tc.want {
			t.Errorf("Median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestSummarize(t *testing.T) {
	lat := make([]float64, 2100)
	for i := range lat {
		switch {
		case i == 0:
			lat[i] = 500 // request 1
		case i < 10:
			lat[i] = 50 + float64(i) // requests 2-10: 51..59
		case i < 100:
			lat[i] = 5
		case i < 2000:
			lat[i] = 2
		default:
			lat[i] = 1
		}
	}
	lat[2050] = 1000 // one outlier in the steady state does not move the median
	got := Summarize(lat, 2000)
	want := Latency{First: 500, To10: 55, To100: 5, Steady: 1, Requests: 2100}
	if d := cmp.Diff(got, want); d != "" {
		t.Errorf("Summarize (-got +want):\n%s", d)
	}
	// A short series: buckets it does not reach are 0; steady = last quarter.
	got = Summarize([]float64{9, 4, 4, 2, 2, 1, 1, 1}, 2000)
	want = Latency{First: 9, To10: 2, To100: 0, Steady: 1, Requests: 8}
	if d := cmp.Diff(got, want); d != "" {
		t.Errorf("Summarize short (-got +want):\n%s", d)
	}
	if got := Summarize(nil, 10); got != (Latency{}) {
		t.Errorf("Summarize(nil) = %+v", got)
	}
}

func TestMedianSeriesAndLatency(t *testing.T) {
	got := MedianSeries([][]float64{{1, 10, 100}, {3, 30}, {2, 20, 300}})
	if d := cmp.Diff(got, []float64{2, 20, 200}); d != "" {
		t.Errorf("MedianSeries (-got +want):\n%s", d)
	}
	ml := MedianLatency([]Latency{{First: 1, Steady: 5, Requests: 10}, {First: 3, Steady: 1, Requests: 20}, {First: 2, Steady: 2, Requests: 20}})
	if ml.First != 2 || ml.Steady != 2 || ml.Requests != 20 {
		t.Errorf("MedianLatency = %+v", ml)
	}
	if Ratio(1, 0) != 0 || Ratio(6, 3) != 2 {
		t.Errorf("Ratio")
	}
}

func TestFinishRatiosAndHeadline(t *testing.T) {
	round := 0
	start := func(ready float64, lat ...float64) Start {
		round++
		return Start{Round: (round-1)%3 + 1, Mode: "x", ReadyMs: ready, Latency: Summarize(lat, 0), latency: lat}
	}
	a := &AppResult{Name: "tomcat", Rows: []Row{
		{Variant: Variant{Name: ColdVariant, Cold: true}, Starts: []Start{start(3000, 400, 50, 2, 2), start(3200, 500, 40, 2, 2), start(2900, 450, 45, 2, 2)}},
		{Variant: Variant{Name: DefaultVariant}, Starts: []Start{start(150, 3, 2, 2, 2), start(160, 4, 2, 2, 2), {Round: 3, Error: "boom"}}},
		{Variant: Variant{Name: "slower"}, Starts: []Start{{Round: 2, ReadyMs: 320}}},
	}}
	finish(a, 0)
	if a.ColdMs != 3000 || a.WarmMs != 155 {
		t.Fatalf("headline figures %v -> %v, want 3000 -> 155", a.ColdMs, a.WarmMs)
	}
	if got, want := Headline(a), "tomcat: cold 3000 ms -> warm 155 ms (19.4x)"; got != want {
		t.Errorf("Headline = %q, want %q", got, want)
	}
	if a.Rows[1].Failed != 1 {
		t.Errorf("failed starts = %d, want 1", a.Rows[1].Failed)
	}
	if got := a.Rows[2].VsDefault; math.Abs(got-2) > 1e-9 { // paired with round 2's 160 ms
		t.Errorf("VsDefault = %v", got)
	}
	if d := cmp.Diff(a.Rows[0].SeriesMs, []float64{450, 45, 2, 2}); d != "" {
		t.Errorf("cold series (-got +want):\n%s", d)
	}
}

func TestBuildSplit(t *testing.T) {
	got := split(map[string]int64{"unpack": 100, "layers": 200, "start": 3000, "warmup": 9000, "predump": 1600,
		"inspect": 200, "dump": 700, "checksum": 20, "sandbox": 12000, "compress": 600, "write": 400}, 16000)
	want := Split{AppStart: 3000, Warmup: 9000, PreDump: 1600, Dump: 920, Compress: 600, Write: 400, Other: 480, Total: 16000}
	if d := cmp.Diff(got, want); d != "" {
		t.Errorf("split (-got +want):\n%s", d)
	}
}

func TestPairedRatio(t *testing.T) {
	// b's load doubles in round 2; a is 10% slower than b in each round.
	b := []Start{{Round: 1, ReadyMs: 100}, {Round: 2, ReadyMs: 200}, {Round: 3, ReadyMs: 100}}
	a := []Start{{Round: 1, ReadyMs: 110}, {Round: 2, ReadyMs: 220}, {Round: 3, ReadyMs: 110}, {Round: 4, Error: "x"}}
	if got := PairedRatio(a, b); math.Abs(got-1.1) > 1e-9 {
		t.Errorf("PairedRatio = %v, want 1.1", got)
	}
	// No common rounds: ratio of medians.
	if got := PairedRatio([]Start{{Round: 9, ReadyMs: 300}}, b); got != 3 {
		t.Errorf("PairedRatio without pairs = %v, want 3", got)
	}
}

func TestCacheLine(t *testing.T) {
	row := func(name string, cold bool, ready ...float64) Row {
		r := Row{Variant: Variant{Name: name, Cold: cold, ClassCache: strings.Contains(name, "class cache")}}
		for i, ms := range ready {
			r.Starts = append(r.Starts, Start{Round: i + 1, ReadyMs: ms})
		}
		return r
	}
	a := &AppResult{Name: "tomcat-jdk25", Rows: []Row{
		row(ColdVariant, true, 3100, 3000),
		row(ColdCacheVariant, true, 1900, 2100),
		row(DefaultVariant, false, 250, 260),
		row(RestoredCacheVariant, false, 240, 230),
	}}
	finish(a, 0)
	if got, want := CacheLine(a, "tomcat jdk25"), "tomcat jdk25: cold 3050 ms, cold with cache 2000 ms, restored 255 ms, restored with cache 235 ms"; got != want {
		t.Errorf("CacheLine = %q, want %q", got, want)
	}
	a.Rows = a.Rows[:3]
	if got := CacheLine(a, "tomcat jdk25"); got != "" {
		t.Errorf("CacheLine without the restored-with-cache row = %q, want none", got)
	}
}
