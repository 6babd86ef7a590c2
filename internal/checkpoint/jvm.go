package checkpoint

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/crac-build/crac-build/internal/contract"
	"github.com/crac-build/crac-build/internal/hotspot"
	"github.com/crac-build/crac-build/internal/proc"
)

// Bounds of the wait for a collector to give memory back after the
// pre-dump GC (see settle).
const (
	// settlePoll is how often the process's RSS is sampled.
	settlePoll = 100 * time.Millisecond
	// settleQuiet: the RSS has settled once it has not fallen for this
	// long. G1 and Serial/Parallel shrink within the GC, and G1 uncommits
	// the rest in the background within ~1 s.
	settleQuiet = time.Second
	// settleQuietZGC: ZGC uncommits only memory unused for ZUncommitDelay
	// (the builder sets 1 s), and JDK 25's ZGC does it in steps up to
	// ~1.5 s apart, measured over ~5 s.
	settleQuietZGC = 2 * time.Second
	// SettleMax bounds the wait whatever the collector does.
	SettleMax = 15 * time.Second
)

// settleDrop is the least fall of the RSS that counts as memory given back.
const settleDropKiB = 256

// describeJVM asks the JVM what it chose at start: collector and maximum
// heap (VM.flags). What cannot be read is left out. (VM.info would tell
// the processor count too, but leaves ~4 MB of native memory behind that
// no trim returns: ActiveProcessors comes from the sandbox's limits, read
// as the JVM reads them; see PrepareAndDump.)
func describeJVM(ctx context.Context, pid int) (*contract.JVMInfo, []string) {
	var warns []string
	j := &contract.JVMInfo{}
	if out, err := hotspot.Jcmd(ctx, pid, "VM.flags"); err == nil {
		j.Flags = parseVMFlags(out)
		j.GC = contract.GCOf(j.Flags)
		if v, ok := contract.FlagValue(j.Flags, "MaxHeapSize"); ok {
			j.MaxHeapBytes, _ = strconv.ParseInt(v, 10, 64)
		}
		if v, ok := contract.FlagValue(j.Flags, "ActiveProcessorCount"); ok {
			j.ActiveProcessors, _ = strconv.Atoi(v)
		}
	} else {
		warns = append(warns, fmt.Sprintf("VM.flags: %v", err))
	}
	return j, warns
}

// parseVMFlags splits the output of VM.flags (a "PID:" line, then the
// flags on one line) into flags.
func parseVMFlags(out string) []string {
	var flags []string
	for _, f := range strings.Fields(out) {
		if strings.HasPrefix(f, "-") {
			flags = append(flags, f)
		}
	}
	return flags
}

var (
	// Heap sizes in GC.heap_info, whatever the collector and JDK:
	//   garbage-first heap   total 36864K, used 25056K [...]            (G1, 17-21)
	//   garbage-first heap   total reserved 6172672K, committed 32768K, used 24770K (G1, 25)
	//   def new generation   total 11264K, used 203K / tenured generation total ...  (Serial, 17-21)
	//   DefNew  total 12032K, used 2K / Tenured  total 26484K, used 25156K (Serial, 25)
	//   PSYoungGen total 10752K, used 2K / ParOldGen total 26624K, used 23654K (Parallel)
	//   ZHeap   used 40M, capacity 40M, max capacity 6028M                  (ZGC)
	//    6028M max, 6028M soft max, 18432K committed, 18382K used           (Shenandoah)
	reUsed      = regexp.MustCompile(`(?:\bused (\d+)([KMG])\b|\b(\d+)([KMG]) used\b)`)
	reCommitted = regexp.MustCompile(`(?:\bcommitted (\d+)([KMG])\b|\btotal (\d+)([KMG])\b|\bused \d+[KMG], capacity (\d+)([KMG])\b|\b(\d+)([KMG]) committed\b)`)
)

// heapSizes sums the heap's used and committed sizes in the output of
// GC.heap_info, in bytes (every generation; not Metaspace, which follows
// the heap).
func heapSizes(out string) (used, committed int64) {
	for _, line := range strings.Split(out, "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "Metaspace") {
			break
		}
		if strings.HasPrefix(t, "class space") {
			continue
		}
		if m := reUsed.FindStringSubmatch(t); m != nil {
			used += size(firstPair(m[1:]))
		}
		if m := reCommitted.FindStringSubmatch(t); m != nil {
			committed += size(firstPair(m[1:]))
		}
	}
	return used, committed
}

// firstPair returns the first non-empty number and unit of a regexp match
// with alternatives.
func firstPair(groups []string) (string, string) {
	for i := 0; i+1 < len(groups); i += 2 {
		if groups[i] != "" {
			return groups[i], groups[i+1]
		}
	}
	return "", ""
}

func size(n, unit string) int64 {
	v, err := strconv.ParseInt(n, 10, 64)
	if err != nil {
		return 0
	}
	switch unit {
	case "K":
		return v << 10
	case "M":
		return v << 20
	case "G":
		return v << 30
	}
	return v
}

// settleQuietFor is how long the RSS must stay flat before the dump, for
// a collector with flags: ZGC gives memory back only after ZUncommitDelay
// seconds.
func settleQuietFor(j *contract.JVMInfo) time.Duration {
	if j == nil || j.GC != contract.GCZ {
		return settleQuiet
	}
	q := settleQuietZGC
	if v, ok := contract.FlagValue(j.Flags, "ZUncommitDelay"); ok {
		if s, err := strconv.Atoi(v); err == nil && time.Duration(s)*time.Second+time.Second > q {
			q = time.Duration(s)*time.Second + time.Second
		}
	}
	return q
}

// gcRuns is how many GC.run the pre-dump steps send. Shenandoah turns an
// explicit GC into a concurrent cycle (ExplicitGCInvokesConcurrent, on by
// default in JDK 25), which left 28-34 MB of a 6 MB live heap in use and
// committed (the tiny matrix app, JDK 25); a second cycle frees it.
func gcRuns(j *contract.JVMInfo) int {
	if j != nil && j.GC == contract.GCShenandoah {
		return 2
	}
	return 1
}

// settle waits until the process's RSS has not fallen for quiet, at least
// min and at most max, and returns how long it waited. rss reads the RSS in
// KiB (a seam for tests).
func settle(ctx context.Context, rss func() (int64, error), min, quiet, max time.Duration) (time.Duration, error) {
	start := time.Now()
	low, err := rss()
	if err != nil {
		return 0, err
	}
	lastDrop := start
	t := time.NewTicker(settlePoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return time.Since(start), ctx.Err()
		case <-t.C:
		}
		now := time.Now()
		if cur, err := rss(); err == nil && cur <= low-settleDropKiB {
			low, lastDrop = cur, now
		}
		if now.Sub(start) >= max || now.Sub(start) >= min && now.Sub(lastDrop) >= quiet {
			return now.Sub(start), nil
		}
	}
}

// rssKiB reads the resident set size of pid.
func rssKiB(pid int) (int64, error) {
	st, err := proc.Status(pid)
	if err != nil {
		return 0, err
	}
	f := strings.Fields(st["VmRSS"])
	if len(f) == 0 {
		return 0, fmt.Errorf("no VmRSS for process %d", pid)
	}
	return strconv.ParseInt(f[0], 10, 64)
}
