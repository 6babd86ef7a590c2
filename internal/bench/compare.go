package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/crac-build/crac-build/internal/runner"
)

// CompareOptions configure Compare.
type CompareOptions struct {
	// Run is the container setup (image, env, cache, ...); Cold is set per
	// start.
	Run runner.Options
	// Measure says what to probe and request.
	Measure runner.MeasureOptions
	// Rounds of one cold and one restored start each (default 3).
	Rounds int
	// SteadyFrom: requests after it count as steady state (default: the
	// last quarter of the series).
	SteadyFrom int
	Logf       func(format string, args ...any)
}

// Compare starts one image cold and restored, alternately, Rounds times,
// and returns the results as a one-application benchmark (what
// `crac-build run --report` shows).
func Compare(ctx context.Context, o CompareOptions) (*Results, error) {
	if o.Rounds <= 0 {
		o.Rounds = 3
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	steady := o.SteadyFrom
	if steady <= 0 || steady >= o.Measure.Requests {
		steady = o.Measure.Requests - o.Measure.Requests/4
	}
	res := &Results{
		Format: FormatVersion, Started: time.Now().UTC(), Host: hostInfo(),
		Settings: Settings{Rounds: o.Rounds, ColdCacheRounds: o.Rounds, Requests: o.Measure.Requests, SteadyFrom: steady},
	}
	if o.Measure.FreshRequests == 0 && o.Measure.Requests > 0 {
		o.Measure.FreshRequests = freshRequests
	}
	a := AppResult{Name: o.Run.Image, Probe: o.Measure.ProbeURL, Paths: o.Measure.Paths}
	if len(a.Paths) == 0 {
		a.Paths = []string{o.Measure.ProbeURL}
	}
	a.Rows = []Row{
		{Variant: Variant{Name: ColdVariant, Note: "CRAC_RESTORE=off", Cold: true}, Build: o.Run.Image},
		{Variant: Variant{Name: DefaultVariant, Note: "restored from the checkpoint"}, Build: o.Run.Image},
	}
	for round := 0; round < o.Rounds; round++ {
		for k := range a.Rows {
			row := &a.Rows[(k+round)%len(a.Rows)]
			ro := o.Run
			ro.Cold = row.Cold
			m, err := runner.Measure(ctx, ro, o.Measure)
			s := Start{Round: round + 1}
			if err != nil {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				s.Error = err.Error()
			} else {
				s.Mode, s.Reason, s.ReadyMs, s.LauncherMs = m.Mode, m.Reason, m.ReadyMs, m.LauncherMs
				s.Latency, s.Errors, s.latency = Summarize(m.LatencyMs, steady), m.Errors, m.LatencyMs
				s.Latency.SteadyFresh = Median(m.FreshMs)
				s.Breakdown = m.Breakdown
				if want := map[bool]string{true: "cold", false: "restored"}[row.Cold]; m.Mode != want {
					s.Error = fmt.Sprintf("started %q, want %q (%s)", m.Mode, want, m.Reason)
				}
			}
			row.Starts = append(row.Starts, s)
			if s.Error != "" {
				o.Logf("round %d %s: %s", round+1, row.Name, s.Error)
			} else {
				o.Logf("round %d %-8s first response %7.1f ms, request 1 %6.2f ms", round+1, row.Name, s.ReadyMs, s.Latency.First)
			}
		}
	}
	finish(&a, steady)
	res.Apps = []AppResult{a}
	res.Host.LoadEnd = loadAvg()
	res.Finished = time.Now().UTC()
	if a.Ratio == 0 {
		return res, fmt.Errorf("no successful cold and restored starts to compare")
	}
	return res, nil
}
