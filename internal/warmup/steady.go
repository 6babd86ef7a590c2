package warmup

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/crac-build/crac-build/internal/hotspot"
)

// JIT is what the JVM's just-in-time compiler and class loading had done
// at one moment, as the attach mechanism reports it (jcmd
// Compiler.codecache, Compiler.queue, VM.classloader_stats): it works with
// -XX:-UsePerfData, which the builder sets.
type JIT struct {
	// Methods are the compiled methods in the code cache (nmethods).
	Methods int
	// CodeKiB is the code cache in use, over its heaps.
	CodeKiB int64
	// Queued are the methods waiting in the compile queues or being
	// compiled; -1 when unknown.
	Queued int
	// Classes loaded; 0 when unknown.
	Classes int
}

var (
	reNMethods  = regexp.MustCompile(`\bnmethods=(\d+)`)
	reCodeUsed  = regexp.MustCompile(`\bused=(\d+)Kb`)
	reLoaderSum = regexp.MustCompile(`(?m)^Total = \d+\s+(\d+)\s`)
)

// ParseCodeCache reads jcmd Compiler.codecache: the compiled methods and
// the code cache used (summed over its heaps). ok is false when the
// output has no nmethods count.
func ParseCodeCache(out string) (methods int, usedKiB int64, ok bool) {
	m := reNMethods.FindStringSubmatch(out)
	if m == nil {
		return 0, 0, false
	}
	methods, _ = strconv.Atoi(m[1])
	for _, u := range reCodeUsed.FindAllStringSubmatch(out, -1) {
		n, _ := strconv.ParseInt(u[1], 10, 64)
		usedKiB += n
	}
	return methods, usedKiB, true
}

// ParseCompileQueue counts the compilations jcmd Compiler.queue lists:
// running ("Current compiles") and waiting.
func ParseCompileQueue(out string) int {
	// A task is a line naming a method: "C2 CompilerThread0   342 %  4
	// java.util.TimSort::countRunAndMakeAscending @ 92 (128 bytes)" while
	// it compiles, "  298   4   java.util.HashMap::get (23 bytes)" queued.
	n := 0
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "::") {
			n++
		}
	}
	return n
}

// ParseClassCount reads the classes loaded from jcmd VM.classloader_stats
// ("Total = LOADERS  CLASSES ..."); 0 when the output has no total.
func ParseClassCount(out string) int {
	m := reLoaderSum.FindStringSubmatch(out)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// ReadJIT asks the JVM with process id pid (as the caller sees it) what
// its compiler has done. withClasses also counts the loaded classes (a
// safepoint: once at the end, not every round).
func ReadJIT(ctx context.Context, pid int, withClasses bool) (JIT, error) {
	out, err := hotspot.Jcmd(ctx, pid, "Compiler.codecache")
	if err != nil {
		return JIT{}, err
	}
	j := JIT{Queued: -1}
	var ok bool
	if j.Methods, j.CodeKiB, ok = ParseCodeCache(out); !ok {
		return JIT{}, fmt.Errorf("jcmd Compiler.codecache in process %d: no nmethods count in %q", pid, firstLines(out, 3))
	}
	if q, err := hotspot.Jcmd(ctx, pid, "Compiler.queue"); err == nil {
		j.Queued = ParseCompileQueue(q)
	}
	if withClasses {
		if c, err := hotspot.Jcmd(ctx, pid, "VM.classloader_stats"); err == nil {
			j.Classes = ParseClassCount(c)
		}
	}
	return j, nil
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}

// Round is one round of a warmup: one run of the script, or one batch of
// requests.
type Round struct {
	// Latency is the round's median request latency, or the script's run
	// time when the round sent no request of its own.
	Latency  time.Duration
	Duration time.Duration
	// Requests the round sent (0: a script's run alone).
	Requests int
	// JIT after the round; HasJIT is false when the JVM could not be read.
	JIT    JIT
	HasJIT bool
}

// Steadiness says when a warmup that repeats in rounds has warmed the JVM
// (Judge). Zero fields take the defaults below.
type Steadiness struct {
	// MinRounds: no verdict before (default DefaultMinRounds).
	MinRounds int
	// Window: the rounds over which the JIT must have stayed quiet and
	// the latency flat (default DefaultWindow).
	Window int
	// Gain: a latency this much lower (a share) than the best before the
	// window still counts as falling (default DefaultGain).
	Gain float64
	// MethodsSlack: compiled methods that may still appear per round of
	// the window, at least, or as a share of the compiled methods (the
	// larger): a JIT never stops for good (rare paths, recompilations).
	MethodsSlack      int
	MethodsSlackShare float64
}

// Defaults of Steadiness, tried on examples/hello (docs/warmup.md): a
// compiler that added or flushed at most 1% of its methods (or 3) a round
// and emptied its queue over 2 rounds, and a latency that did not beat
// the best before them by more than 5%.
const (
	DefaultMinRounds  = 4
	DefaultWindow     = 2
	DefaultGain       = 0.05
	defaultSlack      = 3
	defaultSlackShare = 0.01
)

func (s Steadiness) withDefaults() Steadiness {
	if s.MinRounds <= 0 {
		s.MinRounds = DefaultMinRounds
	}
	if s.Window <= 0 {
		s.Window = DefaultWindow
	}
	if s.MinRounds < s.Window+1 {
		s.MinRounds = s.Window + 1
	}
	if s.Gain <= 0 {
		s.Gain = DefaultGain
	}
	if s.MethodsSlack <= 0 {
		s.MethodsSlack = defaultSlack
	}
	if s.MethodsSlackShare <= 0 {
		s.MethodsSlackShare = defaultSlackShare
	}
	return s
}

// Verdict is Judge's answer after a round.
type Verdict struct {
	Steady bool
	// JIT and Latency say what the last rounds showed, in words, e.g.
	// "JIT quiet (812 compiled methods, +2 over 2 rounds, queue empty)".
	JIT, Latency string
}

func (v Verdict) String() string {
	if v.JIT == "" {
		return v.Latency
	}
	return v.JIT + ", " + v.Latency
}

// Judge says whether the JVM has settled after rounds: the JIT compiled
// (almost) nothing new over the window and its queue is empty, and the
// latency of the window's rounds did not fall below the best before them
// by more than Gain. Without JIT figures (HasJIT false on the last rounds)
// the latency alone decides.
func (s Steadiness) Judge(rounds []Round) Verdict {
	s = s.withDefaults()
	n := len(rounds)
	var v Verdict
	if n < 2 {
		v.Latency = "one round"
		return v
	}
	w := min(s.Window, n-1)
	win, before := rounds[n-w:], rounds[:n-w]

	jitQuiet := true
	last := rounds[n-1]
	hasJIT := true
	for _, r := range rounds[n-w-1:] {
		hasJIT = hasJIT && r.HasJIT
	}
	if hasJIT {
		// Methods added and methods flushed (the sweeper, class
		// unloading) both count: a JIT that is still busy either way is
		// not settled.
		d := 0
		for i := n - w; i < n; i++ {
			d += abs(rounds[i].JIT.Methods - rounds[i-1].JIT.Methods)
		}
		slack := max(s.MethodsSlack, int(s.MethodsSlackShare*float64(last.JIT.Methods)))
		queue := "queue empty"
		if last.JIT.Queued > 0 {
			queue = fmt.Sprintf("%d queued", last.JIT.Queued)
		}
		jitQuiet = d <= slack*w && last.JIT.Queued <= 0
		state := "JIT quiet"
		if !jitQuiet {
			state = "JIT busy"
		}
		v.JIT = fmt.Sprintf("%s (%d compiled methods, %d added or flushed over %s, %s)", state, last.JIT.Methods, d, Plural(w, "round"), queue)
	} else {
		v.JIT = "JIT not readable"
	}

	best := before[0].Latency
	for _, r := range before[1:] {
		best = min(best, r.Latency)
	}
	now := win[0].Latency
	for _, r := range win[1:] {
		now = min(now, r.Latency)
	}
	flat := float64(now) >= (1-s.Gain)*float64(best)
	state := "latency flat"
	if !flat {
		state = "latency falling"
	}
	v.Latency = fmt.Sprintf("%s (%s over the last %s, best before %s)", state, Ms(now), Plural(w, "round"), Ms(best))
	v.Steady = n >= s.MinRounds && jitQuiet && flat
	return v
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// Plural is "1 round" or "N rounds": n and what, in the plural unless n is 1.
func Plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

// Ms formats a latency in milliseconds, 3 significant digits.
func Ms(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	switch {
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64) + " ms"
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64) + " ms"
	default:
		return strconv.FormatFloat(v, 'f', 2, 64) + " ms"
	}
}

// median of ds (0 for none); ds is sorted in place.
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	if n := len(ds); n%2 == 0 {
		return (ds[n/2-1] + ds[n/2]) / 2
	}
	return ds[len(ds)/2]
}
