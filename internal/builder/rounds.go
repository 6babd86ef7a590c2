package builder

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/crac-build/crac-build/internal/contract"
	"github.com/crac-build/crac-build/internal/proc"
	"github.com/crac-build/crac-build/internal/warmup"
)

// The modes of a warmup (Options.WarmupRounds, contract.Warmup.Until).
const (
	// UntilSteady repeats the warmup in rounds until the JVM has settled
	// (warmup.Steadiness), at most a bound of rounds.
	UntilSteady = "steady"
	// UntilRounds repeats it a given number of rounds.
	UntilRounds = "rounds"
)

// DefaultMaxRounds bounds a warmup until steady: examples/hello settled
// in 7 to 14 runs of its script and 10 to 19 rounds of requests on a
// loaded machine, over the day's versions of the verdict
// (docs/benchmarks.md#warmup-until-steady); 30 leaves room.
const DefaultMaxRounds = 30

// roundRequests is the least number of requests in a round of a
// requests-file or --warmup-path warmup: enough for a median that the
// machine's noise does not move much, few enough (~0.1-0.3 s) to stop
// soon after a JVM that settles at once. A round sends half as many
// requests as all the rounds before it, at least this: the JIT compiles a
// method once its invocation count passes a threshold, so a warmup is
// steady only if adding a good share of what it did already changes
// nothing (the last two rounds are about half the warmup), and rounds
// that grow bound the number of rounds, not only their size.
const roundRequests = 100

// maxRoundRequests caps a growing round: on a JIT that never quite stops
// (an application that makes classes as it serves, as examples/hello does
// with reflection) rounds that grew without end would outlast a fixed
// warmup of 10,000 requests (measured on 2026-12-05: 17,000 requests and
// counting).
const maxRoundRequests = 10 * roundRequests

// jitReadTimeout bounds one reading of the JIT through the attach
// mechanism (a first attach starts the JVM's attach listener).
const jitReadTimeout = 10 * time.Second

// ParseWarmupRounds reads --warmup-rounds: "steady" (until the JVM
// settles, at most DefaultMaxRounds), "steady:MAX", or a number of rounds.
// It returns the mode (UntilSteady, UntilRounds) and the bound.
func ParseWarmupRounds(s string) (string, int, error) {
	bad := fmt.Errorf("--warmup-rounds %q: want steady, steady:MAX (at most MAX rounds) or a number of rounds", s)
	if s == "" || s == UntilSteady {
		return UntilSteady, DefaultMaxRounds, nil
	}
	if m, ok := strings.CutPrefix(s, UntilSteady+":"); ok {
		n, err := strconv.Atoi(m)
		if err != nil || n < 1 {
			return "", 0, bad
		}
		return UntilSteady, n, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return "", 0, bad
	}
	return UntilRounds, n, nil
}

// warmupRounds says whether the warmup runs in rounds, and how: until is
// UntilSteady or UntilRounds, or "" for no rounds (a count of requests,
// or nothing to repeat); max is the bound of rounds. Rounds are the
// default when a script, a requests file or a warmup path is given
// without a count of requests.
func (o *Options) warmupRounds() (until string, max int, err error) {
	repeatable := o.WarmupScript != "" || o.WarmupRequestsFile != "" || o.WarmupPath != ""
	switch {
	case o.WarmupRequests > 0 && o.WarmupRounds != "":
		return "", 0, fmt.Errorf("--warmup-requests %d sends a fixed number of requests and --warmup-rounds %s repeats the warmup in rounds: give one of them", o.WarmupRequests, o.WarmupRounds)
	case o.WarmupRequests > 0:
		return "", 0, nil
	case !repeatable && o.WarmupRounds != "":
		return "", 0, fmt.Errorf("--warmup-rounds %s repeats a warmup: give it one (--warmup, --warmup-requests-file or --warmup-path)", o.WarmupRounds)
	case !repeatable:
		return "", 0, nil
	case o.WarmupPath != "" && o.Port == 0:
		return "", 0, fmt.Errorf("--warmup-path needs --port")
	}
	return ParseWarmupRounds(o.WarmupRounds)
}

// warmupPath is the path of the built-in GET warmup.
func (o *Options) warmupPath() string {
	if o.WarmupPath == "" {
		return "/"
	}
	return o.WarmupPath
}

// warmer runs one warmup: a script run, requests from a file or to the
// warmup path, or both (the script first).
type warmer struct {
	r      warmRun
	a      app
	client *http.Client
	// reqs are the requests and base where they go (none: nil); perRound
	// is how many a round sends at least (whole passes over reqs), grow
	// whether a round sends half as many as the rounds before it.
	reqs     []warmup.Request
	base     string
	perRound int
	grow     bool
	stats    warmup.ListStats
}

// roundSize is how many requests the next round sends.
func (k *warmer) roundSize() int {
	n := k.perRound
	if k.grow && k.stats.Requests/2 > n {
		n = min(k.stats.Requests/2, max(maxRoundRequests, k.perRound))
		n = len(k.reqs) * ((n + len(k.reqs) - 1) / len(k.reqs))
	}
	return n
}

func newWarmer(a app, r warmRun, client *http.Client) (*warmer, error) {
	w := r.o
	k := &warmer{r: r, a: a, client: client, base: "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(w.Port))}
	switch {
	case w.WarmupRequestsFile != "":
		reqs, err := warmup.ReadRequests(w.WarmupRequestsFile)
		if err != nil {
			return nil, err
		}
		k.reqs = reqs
		// Whole passes over the list, roundRequests at least.
		k.perRound = len(reqs) * ((roundRequests + len(reqs) - 1) / len(reqs))
	case w.WarmupPath != "":
		k.reqs = []warmup.Request{{Method: http.MethodGet, Path: w.WarmupPath}}
		k.perRound = roundRequests
	}
	return k, nil
}

// what names the warmup's round in the build's log.
func (k *warmer) what() string {
	var parts []string
	if k.r.o.WarmupScript != "" {
		parts = append(parts, "a run of "+filepath.Base(k.r.o.WarmupScript))
	}
	switch {
	case k.r.o.WarmupRequestsFile != "":
		parts = append(parts, fmt.Sprintf("%d requests from %s (%d endpoints)", k.perRound, filepath.Base(k.r.o.WarmupRequestsFile), len(k.reqs)))
	case len(k.reqs) > 0:
		parts = append(parts, fmt.Sprintf("%d GET %s", k.perRound, k.r.o.WarmupPath))
	}
	if k.grow && len(k.reqs) > 0 {
		parts[len(parts)-1] += fmt.Sprintf(" or half of those before (at most %d)", max(maxRoundRequests, k.perRound))
	}
	return strings.Join(parts, " and ")
}

// round runs the script once and sends a round of requests.
func (k *warmer) round(ctx context.Context) (warmup.Round, error) {
	w := k.r.o
	t0 := time.Now()
	if w.WarmupScript != "" {
		host, port := w.appAddr()
		if err := warmup.Script(ctx, w.WarmupScript, os.Environ(), host, port, k.a.StartInNetns, k.r.scriptOut); err != nil {
			return warmup.Round{}, err
		}
	}
	rd := warmup.Round{Latency: time.Since(t0)}
	if len(k.reqs) > 0 {
		s, err := warmup.List(ctx, k.client, k.base, k.reqs, k.roundSize(), w.WarmupMaxErrors)
		k.stats.Add(s)
		if err != nil {
			return warmup.Round{}, err
		}
		rd.Latency, rd.Requests = s.Median, s.Requests
	}
	rd.Duration = time.Since(t0)
	return rd, nil
}

// jvmPID is the host PID of the application's JVM: the first process
// named java in the tree under the sandbox's init, else init's child.
func jvmPID(initPID int) (int, error) {
	app, err := appChild(initPID)
	if err != nil {
		return 0, err
	}
	tree, err := proc.Tree(app)
	if err != nil {
		return 0, err
	}
	for _, p := range tree {
		if proc.Comm(p) == "java" {
			return p, nil
		}
	}
	return app, nil
}

// readJIT reads the JIT of the JVM at pid, bounded in time.
func readJIT(ctx context.Context, pid int, withClasses bool) (warmup.JIT, error) {
	ctx, cancel := context.WithTimeout(ctx, jitReadTimeout)
	defer cancel()
	return warmup.ReadJIT(ctx, pid, withClasses)
}

// warmRounds repeats the warmup in rounds (Options.WarmupRounds) until the JVM
// has settled, the bound of rounds or the warmup timeout, or the
// application asks for its checkpoint (asked). It fills res.warmup.
func warmRounds(ctx context.Context, k *warmer, asked func() bool, res *warmResult) error {
	w, logf := k.r.o, k.r.logf
	until, maxRounds, err := w.warmupRounds()
	if err != nil {
		return err
	}
	pid, perr := jvmPID(k.a.InitPID())
	jitOK := perr == nil
	if perr != nil {
		logf("the JIT is not readable (%v): the round latency alone decides", perr)
	}
	k.grow = until == UntilSteady
	tctx, cancel := context.WithTimeout(ctx, w.WarmupTimeout)
	defer cancel()
	bound := fmt.Sprintf("at most %d rounds", maxRounds)
	if until == UntilRounds {
		bound = fmt.Sprintf("%d rounds", maxRounds)
	}
	logf("warming up in rounds of %s, until %s (%s, %s)", k.what(), map[string]string{UntilSteady: "steady", UntilRounds: "the last round"}[until], bound, w.WarmupTimeout)
	var judge warmup.Steadiness
	var rounds []warmup.Round
	var prev warmup.JIT
	var stopped string
	for i := 1; ; i++ {
		rd, err := k.round(tctx)
		if err != nil {
			if len(rounds) > 0 && tctx.Err() != nil && ctx.Err() == nil {
				stopped = fmt.Sprintf("stopped at the bound: the warmup timeout of %s (--warmup-timeout) ended round %d", w.WarmupTimeout, i)
				if v := judge.Judge(rounds); v.Latency != "" {
					stopped += ": " + v.String()
				}
				break
			}
			return err
		}
		line := fmt.Sprintf("round %d: %s", i, warmup.Ms(rd.Latency))
		if len(k.reqs) > 0 {
			line = fmt.Sprintf("round %d: %d requests, %s median", i, rd.Requests, warmup.Ms(rd.Latency))
		}
		if jitOK {
			j, err := readJIT(ctx, pid, false)
			if err != nil {
				jitOK = false
				logf("reading the JIT of process %d: %v; the round latency alone decides", pid, err)
			} else {
				rd.JIT, rd.HasJIT = j, true
				line += fmt.Sprintf(", %d compiled methods (%+d)", j.Methods, j.Methods-prev.Methods)
				if j.Queued > 0 {
					line += fmt.Sprintf(", %d queued", j.Queued)
				}
				prev = j
			}
		}
		logf("  %s", line)
		rounds = append(rounds, rd)
		res.warmup.Curve = append(res.warmup.Curve, contract.WarmupRound{
			LatencyMs: float64(rd.Latency.Microseconds()) / 1000, DurationMs: rd.Duration.Milliseconds(), Requests: rd.Requests,
			CompiledMethods: rd.JIT.Methods, CodeCacheKiB: rd.JIT.CodeKiB,
		})
		v := judge.Judge(rounds)
		if asked() {
			stopped = fmt.Sprintf("the application asked for its checkpoint after round %d", i)
			break
		}
		if until == UntilSteady && v.Steady {
			stopped = fmt.Sprintf("steady after %d rounds: %s", i, v)
			res.warmup.Steady = true
			break
		}
		if i >= maxRounds {
			if until == UntilRounds {
				stopped = roundsAsked(i, v)
			} else {
				stopped = fmt.Sprintf("stopped at the bound: %d rounds (--warmup-rounds %s:%d) before the JVM settled: %s", i, UntilSteady, maxRounds, v)
			}
			break
		}
		if tctx.Err() != nil {
			stopped = fmt.Sprintf("stopped at the bound: the warmup timeout of %s (--warmup-timeout) after round %d: %s", w.WarmupTimeout, i, v)
			break
		}
	}
	res.warmup.Until, res.warmup.Rounds, res.warmup.MaxRounds, res.warmup.Stopped = until, len(rounds), maxRounds, stopped
	logf("warmup %s", stopped)
	return nil
}

// warmReached records what the JVM had compiled and loaded when the
// warmup ended (contract.Warmup.Reached) and logs it.
func warmReached(ctx context.Context, a app, logf func(string, ...any), res *warmResult) {
	pid, err := jvmPID(a.InitPID())
	if err == nil {
		var j warmup.JIT
		if j, err = readJIT(ctx, pid, true); err == nil {
			res.warmup.Reached = &contract.WarmupReached{CompiledMethods: j.Methods, CodeCacheKiB: j.CodeKiB, ClassesLoaded: j.Classes}
			logf("warmup reached %s", res.warmup.Reached)
			return
		}
	}
	if !errors.Is(err, context.Canceled) {
		logf("what the warmup reached is unknown: %v", err)
	}
}

// roundsAsked is why a warmup of a fixed count of rounds stopped: the
// count, and what the rounds showed when there were several to compare.
func roundsAsked(n int, v warmup.Verdict) string {
	if n == 1 {
		return "1 round, as asked"
	}
	return fmt.Sprintf("%d rounds, as asked: %s", n, v)
}
