package sandbox

import (
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func hasNetns(s *specs.Spec) bool {
	for _, n := range s.Linux.Namespaces {
		if n.Type == specs.NetworkNamespace {
			return true
		}
	}
	return false
}

func TestSpecNetwork(t *testing.T) {
	for network, want := range map[string]bool{"": true, NetworkNone: true, NetworkHost: false} {
		s := spec(&Config{Args: []string{"true"}, Network: network})
		if got := hasNetns(s); got != want {
			t.Errorf("network %q: own network namespace %v, want %v", network, got, want)
		}
		if len(s.Linux.Namespaces) != 4+btoi(want) {
			t.Errorf("network %q: namespaces %v, want PID, IPC, UTS, mount too", network, s.Linux.Namespaces)
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestSpecLimits(t *testing.T) {
	s := spec(&Config{Args: []string{"true"}})
	if s.Linux.Resources != nil {
		t.Errorf("no limits asked, resources %+v", s.Linux.Resources)
	}
	cgroupMount := false
	for _, m := range s.Mounts {
		if m.Destination == "/sys/fs/cgroup" && m.Type == "cgroup" {
			cgroupMount = true
		}
	}
	if !cgroupMount {
		t.Error("no /sys/fs/cgroup mount: the JVM would not see its limits")
	}
	s = spec(&Config{Args: []string{"true"}, CPUs: 1.5, MemoryBytes: 1 << 30})
	r := s.Linux.Resources
	if r == nil || r.CPU == nil || r.Memory == nil {
		t.Fatalf("resources %+v", r)
	}
	if *r.CPU.Quota != 150000 || *r.CPU.Period != 100000 || *r.Memory.Limit != 1<<30 {
		t.Errorf("quota %d period %d memory %d, want 150000, 100000, 1 GiB", *r.CPU.Quota, *r.CPU.Period, *r.Memory.Limit)
	}
	s = spec(&Config{Args: []string{"true"}, MemoryBytes: 256 << 20})
	if s.Linux.Resources.CPU != nil {
		t.Error("a memory limit alone set a CPU limit")
	}
}
