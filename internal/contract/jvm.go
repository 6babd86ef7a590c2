package contract

import "strings"

// Garbage collectors of HotSpot, as JVMInfo.GC names them.
const (
	GCG1         = "G1"
	GCSerial     = "Serial"
	GCParallel   = "Parallel"
	GCZ          = "ZGC"
	GCShenandoah = "Shenandoah"
)

// gcFlags maps the flag that selects a collector to its name.
var gcFlags = map[string]string{
	"-XX:+UseG1GC":         GCG1,
	"-XX:+UseSerialGC":     GCSerial,
	"-XX:+UseParallelGC":   GCParallel,
	"-XX:+UseZGC":          GCZ,
	"-XX:+UseShenandoahGC": GCShenandoah,
}

// GCOf returns the collector that JVM arguments select (the last selection
// wins, as in HotSpot), or "" when they select none and the JVM's
// ergonomics choose (G1, or Serial on a machine or container with fewer
// than 2 CPUs or 1792 MB).
func GCOf(args []string) string {
	gc := ""
	for _, a := range args {
		if g, ok := gcFlags[a]; ok {
			gc = g
		}
	}
	return gc
}

// JVMInfo describes the checkpointed JVM: what it chose at its start from
// its flags and its container (collector, processor count, maximum heap),
// which a restore keeps, and what the pre-dump steps left of its memory.
type JVMInfo struct {
	// GC is the collector (GCG1, GCSerial, ...).
	GC string `json:"gc,omitempty"`
	// ActiveProcessors is the JVM's processor count (it sized its GC and
	// compiler threads from it): -XX:ActiveProcessorCount if set, else
	// what the JVM computes from the container's cgroups and CPU affinity
	// (Limits.CPUs).
	ActiveProcessors int   `json:"activeProcessors,omitempty"`
	MaxHeapBytes     int64 `json:"maxHeapBytes,omitempty"`
	// Flags are the flags set on the command line or by the JVM's
	// ergonomics (jcmd VM.flags).
	Flags []string `json:"flags,omitempty"`
	// RSSBeforeKiB and RSSAfterKiB are the process's resident memory
	// before and after the pre-dump steps (GC, native heap trim, the wait
	// for the collector to give memory back, SettleMs). The heap after
	// them is in Hygiene.Memory.
	RSSBeforeKiB int64 `json:"rssBeforeKiB,omitempty"`
	RSSAfterKiB  int64 `json:"rssAfterKiB,omitempty"`
	SettleMs     int64 `json:"settleMs,omitempty"`
}

// FlagValue returns the value of -XX:NAME=VALUE in flags, if present.
func FlagValue(flags []string, name string) (string, bool) {
	var v string
	found := false
	for _, f := range flags {
		if s, ok := strings.CutPrefix(f, "-XX:"+name+"="); ok {
			v, found = s, true
		}
	}
	return v, found
}
