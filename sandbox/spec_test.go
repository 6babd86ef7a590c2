package sandbox

import "testing"

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
