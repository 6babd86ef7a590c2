package launcher

import (
	"fmt"
	"strings"

	"github.com/crac-build/crac-build/internal/contract"
	"github.com/crac-build/crac-build/internal/host"
)

// A restored JVM keeps what it sized at its start in the build sandbox:
// its processor count (GC worker and compiler threads, the common
// fork-join pool, every pool sized from availableProcessors() at start),
// its maximum heap and its collector's ergonomics. checkLimits compares
// this container's CPU and memory limits with the build's, read the same
// way (host.ReadLimits), and applies the build's policy: warn and
// restore, or start cold so that the JVM sizes itself for this container.
func (p *Plan) checkLimits() error {
	m := p.Meta
	if m.Limits == nil {
		return nil // built without recorded limits
	}
	read := p.Opts.limits
	if read == nil {
		read = host.ReadLimits
	}
	here, err := read()
	if err != nil {
		p.Warnings = append(p.Warnings, fmt.Sprintf("cannot compare this container's limits with the build's: %v", err))
		return nil
	}
	diff := contract.LimitsDiff(*m.Limits, *here)
	if len(diff) == 0 {
		return nil
	}
	what := strings.Join(diff, ", ")
	if s := jvmSizing(m.JVM, here); s != "" {
		what += "; " + s
	}
	if m.OnLimitsChange == contract.LimitsChangeCold {
		return fmt.Errorf("container limits differ from the build's (policy %s): %s", contract.LimitsChangeCold, what)
	}
	p.Warnings = append(p.Warnings, fmt.Sprintf("container limits differ from the build's (policy %s): %s", contract.LimitsChangeWarn, what))
	return nil
}

// jvmSizing says what the restored JVM keeps from its start, and the risk
// of a heap that may outgrow this container's memory.
func jvmSizing(j *contract.JVMInfo, here *contract.Limits) string {
	if j == nil || (j.ActiveProcessors == 0 && j.MaxHeapBytes == 0) {
		return ""
	}
	var parts []string
	if j.ActiveProcessors > 0 {
		n := fmt.Sprintf("%d processors", j.ActiveProcessors)
		if j.ActiveProcessors == 1 {
			n = "1 processor"
		}
		parts = append(parts, n)
	}
	if j.MaxHeapBytes > 0 {
		parts = append(parts, "max heap "+contract.HumanBytes(j.MaxHeapBytes))
	}
	if j.GC != "" {
		parts = append(parts, j.GC)
	}
	s := "the restored JVM keeps its build-time sizing (" + strings.Join(parts, ", ") + ")"
	if j.MaxHeapBytes > 0 && here.MemoryBytes > 0 && j.MaxHeapBytes >= here.MemoryBytes*3/4 {
		s += fmt.Sprintf(": its heap may grow to %s in %s of memory, and the container be killed for it", contract.HumanBytes(j.MaxHeapBytes), contract.HumanBytes(here.MemoryBytes))
	}
	return s
}
