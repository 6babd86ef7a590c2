package contract

import (
	"fmt"
	"strings"
)

// Policies for a container whose CPU or memory limits differ from the
// build's (Metadata.OnLimitsChange). A restored JVM keeps what it sized at
// its start (heap, GC and compiler threads, processor count): the policy
// says whether to restore anyway, with a warning naming the differences, or
// to start cold so that the JVM sizes itself for this container.
const (
	LimitsChangeWarn = "warn"
	LimitsChangeCold = "cold"
)

// CheckLimitsPolicy accepts the values of Metadata.OnLimitsChange.
func CheckLimitsPolicy(p string) error {
	switch p {
	case "", LimitsChangeWarn, LimitsChangeCold:
		return nil
	}
	return fmt.Errorf("limits policy %q: want %s or %s", p, LimitsChangeWarn, LimitsChangeCold)
}

// Limits are a container's CPU and memory limits as a JVM sees them at
// start: read from the process's own cgroups (v1 or v2), where the JVM
// reads them, and from the CPUs it may run on and the host's memory.
type Limits struct {
	// CPUQuota is the CFS quota in CPUs (quota / period, e.g. 1.5), 0 when
	// there is none.
	CPUQuota float64 `json:"cpuQuota,omitempty"`
	// MemoryLimitBytes is the cgroup memory limit, 0 when there is none.
	MemoryLimitBytes int64 `json:"memoryLimitBytes,omitempty"`
	// CPUs is the processor count a JVM starts with: the CPUs this
	// process may run on (affinity, cpuset), capped by the quota rounded
	// up (what Runtime.availableProcessors() returns).
	CPUs int `json:"cpus"`
	// MemoryBytes is the memory a JVM sizes its default heap from: the
	// limit, or the host's RAM when there is none.
	MemoryBytes int64 `json:"memoryBytes"`
	// Cgroup is the hierarchy the limits came from: "v1", "v2", or empty
	// when no cgroup filesystem is mounted (then there are no limits).
	Cgroup string `json:"cgroup,omitempty"`
}

// LimitsDiff names how the limits here differ from the build's in what the
// JVM sizes itself from: its processor count and its memory. Memory within
// 1/64 counts as the same (hosts report slightly different totals for the
// same RAM, and the JVM's default heap is a quarter of it).
func LimitsDiff(build, here Limits) []string {
	var out []string
	if build.CPUs > 0 && here.CPUs > 0 && build.CPUs != here.CPUs {
		out = append(out, fmt.Sprintf("%s here, %d at build", cpuString(here.CPUs), build.CPUs))
	}
	if build.MemoryBytes > 0 && here.MemoryBytes > 0 {
		d := build.MemoryBytes - here.MemoryBytes
		if d < 0 {
			d = -d
		}
		if d > max(build.MemoryBytes, here.MemoryBytes)/64 {
			out = append(out, fmt.Sprintf("memory %s here, %s at build", memString(here), memString(build)))
		}
	}
	return out
}

func cpuString(n int) string {
	if n == 1 {
		return "1 CPU"
	}
	return fmt.Sprintf("%d CPUs", n)
}

// memString says how much memory and whether it is a limit or the host's.
func memString(l Limits) string {
	s := HumanBytes(l.MemoryBytes)
	if l.MemoryLimitBytes <= 0 || l.MemoryLimitBytes > l.MemoryBytes {
		s += " (no limit: the host's)"
	}
	return s
}

// HumanBytes prints n in binary units, e.g. "1.5 GiB".
func HumanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return strings.TrimSuffix(fmt.Sprintf("%.1f", float64(n)/(1<<30)), ".0") + " GiB"
	case n >= 1<<20:
		return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
