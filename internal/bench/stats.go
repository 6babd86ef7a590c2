package bench

import (
	"math"
	"sort"
)

// Median of xs; NaN values are ignored, and an empty input gives 0.
func Median(xs []float64) float64 {
	s := make([]float64, 0, len(xs))
	for _, x := range xs {
		if !math.IsNaN(x) {
			s = append(s, x)
		}
	}
	if len(s) == 0 {
		return 0
	}
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Latency summarises one start's request latencies (ms) the way the
// benchmark reports them: the first request, requests 2-10, 11-100, and
// the steady state (requests after SteadyFrom), each a median.
type Latency struct {
	First  float64 `json:"req1Ms"`
	To10   float64 `json:"req2to10Ms"`
	To100  float64 `json:"req11to100Ms"`
	Steady float64 `json:"steadyMs"`
	// SteadyFresh is the steady state of requests on a new connection
	// each, as request 1 is (0 if not measured).
	SteadyFresh float64 `json:"steadyNewConnMs,omitempty"`
	Requests    int     `json:"requests"`
}

// Summarize buckets lat (lat[0] is request 1). Buckets the series does not
// reach are 0; steadyFrom <= 0 or beyond the series takes its last quarter.
func Summarize(lat []float64, steadyFrom int) Latency {
	l := Latency{Requests: len(lat)}
	if len(lat) == 0 {
		return l
	}
	l.First = lat[0]
	l.To10 = Median(window(lat, 2, 10))
	l.To100 = Median(window(lat, 11, 100))
	if steadyFrom <= 0 || steadyFrom >= len(lat) {
		steadyFrom = len(lat) - len(lat)/4
	}
	l.Steady = Median(lat[steadyFrom:])
	return l
}

// window returns requests from..to (1-based, inclusive) that exist.
func window(lat []float64, from, to int) []float64 {
	if from > len(lat) {
		return nil
	}
	if to > len(lat) {
		to = len(lat)
	}
	return lat[from-1 : to]
}

// MedianLatency is the per-bucket median over several starts.
func MedianLatency(ls []Latency) Latency {
	pick := func(f func(Latency) float64) float64 {
		xs := make([]float64, len(ls))
		for i, l := range ls {
			xs[i] = f(l)
		}
		return Median(xs)
	}
	out := Latency{
		First:       pick(func(l Latency) float64 { return l.First }),
		To10:        pick(func(l Latency) float64 { return l.To10 }),
		To100:       pick(func(l Latency) float64 { return l.To100 }),
		Steady:      pick(func(l Latency) float64 { return l.Steady }),
		SteadyFresh: pick(func(l Latency) float64 { return l.SteadyFresh }),
	}
	for _, l := range ls {
		if l.Requests > out.Requests {
			out.Requests = l.Requests
		}
	}
	return out
}

// MedianSeries returns, for each request index, the median latency over
// the series that reach it: the curve the report draws.
func MedianSeries(series [][]float64) []float64 {
	n := 0
	for _, s := range series {
		if len(s) > n {
			n = len(s)
		}
	}
	out := make([]float64, n)
	col := make([]float64, 0, len(series))
	for i := 0; i < n; i++ {
		col = col[:0]
		for _, s := range series {
			if i < len(s) {
				col = append(col, s[i])
			}
		}
		out[i] = Median(col)
	}
	return out
}

// Ratio is a/b, or 0 when b is 0 (a figure that was not measured).
func Ratio(a, b float64) float64 {
	if b == 0 || math.IsNaN(a) || math.IsNaN(b) {
		return 0
	}
	return a / b
}

// PairedRatio compares two rows start by start: the median, over the rounds
// in which both succeeded, of a's first-response time over b's in the same
// round. The machine's load drifts over a run; rows of one round run within
// a minute of each other, so their ratio cancels most of the drift that a
// ratio of the two medians would keep. Without common rounds it falls back
// to the ratio of the medians.
func PairedRatio(a, b []Start) float64 {
	byRound := map[int]float64{}
	for _, s := range b {
		if s.Error == "" && s.ReadyMs > 0 {
			byRound[s.Round] = s.ReadyMs
		}
	}
	var rs, av, bv []float64
	for _, s := range a {
		if s.Error != "" {
			continue
		}
		av = append(av, s.ReadyMs)
		if ref, ok := byRound[s.Round]; ok {
			rs = append(rs, s.ReadyMs/ref)
		}
	}
	if len(rs) > 0 {
		return Median(rs)
	}
	for _, v := range byRound {
		bv = append(bv, v)
	}
	return Ratio(Median(av), Median(bv))
}
