package builder

import (
	"strings"

	"github.com/crac-build/crac-build/internal/contract"
)

// InitialHeapFlag starts the heap small, unless the command sets its own
// initial or minimum heap. Serial and Parallel never shrink their young
// generation below its initial size (a third of -Xms, which defaults to
// 1/64 of the RAM: 126 MB on a 24 GB host, all of it touched and dumped
// after a warmup), and no collector uncommits below -Xms. 8 MB is
// HotSpot's own minimum heap; the heap grows as the application needs.
const InitialHeapFlag = "-Xms8m"

// gcFlags are the per-collector settings that let each collector give
// memory back before the dump, added after jvmFlags for the collector the
// command selects (measured on examples/hello, JDK 17, 21 and 25; see the
// support matrix in docs/jdks-and-limits.md):
//   - Serial shrinks its old generation by steps over several GCs unless
//     told to shrink at once.
//   - Parallel resizes its generations after a System.gc() (what GC.run
//     is) only with UseAdaptiveSizePolicyWithSystemGC; its adaptive policy
//     then honours the heap free ratios.
//   - ZGC uncommits memory unused for ZUncommitDelay seconds (default 300);
//     1 s lets the pre-dump wait see it happen. The restored JVM keeps the
//     setting: it gives idle memory back sooner than by default.
//   - Shenandoah uncommits down to -Xms right after an explicit GC; G1
//     shrinks to the free ratios at a full GC. Neither needs more.
//
// A command that selects no collector gets G1 (or Serial in a container
// with less than 2 CPUs or 1792 MB): jvmFlags cover both.
var gcFlags = map[string][]string{
	contract.GCSerial:   {"-XX:-ShrinkHeapInSteps"},
	contract.GCParallel: {"-XX:+UseAdaptiveSizePolicyWithSystemGC"},
	contract.GCZ:        {"-XX:ZUncommitDelay=1"},
}

// javaOptionVars are the variables the JVM (JAVA_TOOL_OPTIONS) and the
// java launcher (JDK_JAVA_OPTIONS) read flags from.
var javaOptionVars = []string{"JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS", "_JAVA_OPTIONS"}

// userJVMArgs are the JVM arguments of a command and its environment: the
// command's own (java's) and those in the option variables.
func userJVMArgs(cmd, env []string) []string {
	var args []string
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		for _, name := range javaOptionVars {
			if k == name {
				args = append(args, strings.Fields(v)...)
			}
		}
	}
	return append(args, cmd...)
}

// checkpointFlags are the flags the builder adds for a command: jvmFlags,
// a small initial heap unless the command chose one, and the settings of
// the collector it selects.
func checkpointFlags(cmd, env []string) []string {
	user := userJVMArgs(cmd, env)
	flags := append([]string{}, jvmFlags...)
	if !setsInitialHeap(user) {
		flags = append(flags, InitialHeapFlag)
	}
	return append(flags, gcFlags[contract.GCOf(user)]...)
}

// setsInitialHeap says whether args choose the initial or minimum heap.
func setsInitialHeap(args []string) bool {
	for _, a := range args {
		switch {
		case strings.HasPrefix(a, "-Xms"),
			strings.HasPrefix(a, "-XX:InitialHeapSize="),
			strings.HasPrefix(a, "-XX:MinHeapSize="),
			strings.HasPrefix(a, "-XX:InitialRAMPercentage="),
			strings.HasPrefix(a, "-XX:InitialRAMFraction="):
			return true
		}
	}
	return false
}
