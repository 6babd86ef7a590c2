package launcher

import (
	"errors"
	"strings"
	"testing"

	"github.com/crac-build/crac-build/internal/contract"
)

func TestCheckLimits(t *testing.T) {
	build := contract.Limits{CPUQuota: 2, CPUs: 2, MemoryLimitBytes: 1 << 30, MemoryBytes: 1 << 30, Cgroup: "v1"}
	jvm := &contract.JVMInfo{GC: contract.GCG1, ActiveProcessors: 2, MaxHeapBytes: 256 << 20}
	small := contract.Limits{CPUQuota: 1, CPUs: 1, MemoryLimitBytes: 256 << 20, MemoryBytes: 256 << 20, Cgroup: "v2"}
	for _, tc := range []struct {
		name     string
		limits   *contract.Limits
		policy   string
		here     *contract.Limits
		readErr  error
		reason   []string // substrings of the reason; nil: no reason
		warnings []string // substrings of the one warning; nil: none
	}{
		{name: "same limits", limits: &build, here: &build},
		{name: "same through another cgroup version", limits: &build, here: &contract.Limits{CPUQuota: 1.5, CPUs: 2, MemoryLimitBytes: 1 << 30, MemoryBytes: 1 << 30, Cgroup: "v2"}},
		{name: "no limits recorded (an older image)", here: &small},
		{name: "fewer CPUs, warn (default)", limits: &build, here: &contract.Limits{CPUs: 1, MemoryLimitBytes: 1 << 30, MemoryBytes: 1 << 30},
			warnings: []string{"policy warn", "1 CPU here, 2 at build", "2 processors, max heap 256 MiB, G1"}},
		{name: "smaller, warn", limits: &build, policy: contract.LimitsChangeWarn, here: &small,
			warnings: []string{"1 CPU here", "memory 256 MiB here, 1 GiB at build", "its heap may grow to 256 MiB in 256 MiB"}},
		{name: "smaller, cold", limits: &build, policy: contract.LimitsChangeCold, here: &small,
			reason: []string{"container limits differ from the build's (policy cold)", "1 CPU here, 2 at build", "memory 256 MiB here"}},
		{name: "same, cold", limits: &build, policy: contract.LimitsChangeCold, here: &build},
		{name: "unreadable", limits: &build, policy: contract.LimitsChangeCold, readErr: errors.New("no /proc"),
			warnings: []string{"cannot compare this container's limits", "no /proc"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := checkpointDir(t, func(m *contract.Metadata) {
				m.Limits, m.OnLimitsChange, m.JVM = tc.limits, tc.policy, jvm
			})
			opts.limits = func() (*contract.Limits, error) { return tc.here, tc.readErr }
			p := Check(opts)
			if tc.reason == nil {
				// The later checks fail on the missing criu bundle (or
				// capabilities): anything but the limits.
				if p.Reason != nil && strings.Contains(p.Reason.Error(), "container limits") {
					t.Errorf("reason %v, want none about limits", p.Reason)
				}
			} else {
				if p.Reason == nil {
					t.Fatalf("no reason, want one with %q", tc.reason)
				}
				for _, s := range tc.reason {
					if !strings.Contains(p.Reason.Error(), s) {
						t.Errorf("reason %q lacks %q", p.Reason, s)
					}
				}
			}
			if tc.warnings == nil {
				if len(p.Warnings) != 0 {
					t.Errorf("warnings %q, want none", p.Warnings)
				}
				return
			}
			if len(p.Warnings) != 1 {
				t.Fatalf("warnings %q, want one", p.Warnings)
			}
			for _, s := range tc.warnings {
				if !strings.Contains(p.Warnings[0], s) {
					t.Errorf("warning %q lacks %q", p.Warnings[0], s)
				}
			}
		})
	}
}
