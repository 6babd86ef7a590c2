package host

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/crac-build/crac-build/internal/contract"
)

// fakeRoot writes files (path -> content) under a temp dir.
func fakeRoot(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, c := range files {
		f := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

const meminfo = "MemTotal:       24599596 kB\nMemFree:        14000000 kB\n"

// hostMem is MemTotal of meminfo in bytes.
const hostMem = 24599596 * 1024

func TestReadLimits(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  contract.Limits
	}{{
		// This project's VMs: cgroup v1 controllers and an empty cgroup2,
		// runc's container cgroups bind-mounted as the mounts' roots (the
		// memory cgroup nested under the caller's).
		name: "v1 hybrid, runc",
		files: map[string]string{
			"proc/meminfo": meminfo,
			"proc/self/cgroup": "9:name=systemd:/crac-1\n4:memory:/api/x/crac-1\n3:cpuset:/crac-1\n" +
				"2:cpuacct:/crac-1\n1:cpu:/crac-1\n0::/crac-1\n",
			"proc/self/mountinfo": "93 92 0:47 / /sys/fs/cgroup rw,nosuid - tmpfs tmpfs rw,mode=755\n" +
				"94 93 0:29 /crac-1 /sys/fs/cgroup/cpu ro,nosuid - cgroup cgroup rw,cpu\n" +
				"95 93 0:30 /crac-1 /sys/fs/cgroup/cpuacct ro,nosuid - cgroup cgroup rw,cpuacct\n" +
				"97 93 0:32 /api/x/crac-1 /sys/fs/cgroup/memory ro,nosuid - cgroup cgroup rw,memory\n" +
				"98 93 0:38 /crac-1 /sys/fs/cgroup/unified ro,nosuid - cgroup2 cgroup2 rw\n",
			"sys/fs/cgroup/cpu/cpu.cfs_quota_us":         "150000\n",
			"sys/fs/cgroup/cpu/cpu.cfs_period_us":        "100000\n",
			"sys/fs/cgroup/memory/memory.limit_in_bytes": "1073741824\n",
			"sys/fs/cgroup/unified/cgroup.controllers":   "\n",
		},
		want: contract.Limits{CPUQuota: 1.5, MemoryLimitBytes: 1 << 30, MemoryBytes: 1 << 30, Cgroup: "v1"},
	}, {
		name: "v1, no limits",
		files: map[string]string{
			"proc/meminfo":     meminfo,
			"proc/self/cgroup": "4:memory:/c\n1:cpu,cpuacct:/c\n",
			"proc/self/mountinfo": "94 93 0:29 /c /sys/fs/cgroup/cpu,cpuacct ro - cgroup cgroup rw,cpu,cpuacct\n" +
				"97 93 0:32 /c /sys/fs/cgroup/memory ro - cgroup cgroup rw,memory\n",
			"sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us":  "-1\n",
			"sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us": "100000\n",
			"sys/fs/cgroup/memory/memory.limit_in_bytes":  "9223372036854771712\n",
			"sys/fs/cgroup/memory/memory.stat":            "cache 0\nhierarchical_memory_limit 9223372036854771712\n",
		},
		want: contract.Limits{MemoryBytes: hostMem, Cgroup: "v1"},
	}, {
		name: "v1, the limit on a parent",
		files: map[string]string{
			"proc/meminfo":        meminfo,
			"proc/self/cgroup":    "4:memory:/c\n",
			"proc/self/mountinfo": "97 93 0:32 /c /sys/fs/cgroup/memory ro - cgroup cgroup rw,memory\n",
			"sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712\n",
			"sys/fs/cgroup/memory/memory.stat":           "cache 0\nhierarchical_memory_limit 536870912\n",
		},
		want: contract.Limits{MemoryLimitBytes: 512 << 20, MemoryBytes: 512 << 20, Cgroup: "v1"},
	}, {
		// Docker and podman on a v2 host: a cgroup namespace, the
		// container's cgroup mounted as /sys/fs/cgroup.
		name: "v2, cgroup namespace",
		files: map[string]string{
			"proc/meminfo":                     meminfo,
			"proc/self/cgroup":                 "0::/\n",
			"proc/self/mountinfo":              "30 29 0:26 / /sys/fs/cgroup ro,nosuid - cgroup2 cgroup2 rw\n",
			"sys/fs/cgroup/cgroup.controllers": "cpuset cpu io memory pids\n",
			"sys/fs/cgroup/cpu.max":            "200000 100000\n",
			"sys/fs/cgroup/memory.max":         "max\n",
		},
		want: contract.Limits{CPUQuota: 2, MemoryBytes: hostMem, Cgroup: "v2"},
	}, {
		// A v2 host without a cgroup namespace: the whole hierarchy is
		// mounted, the process's cgroup is a path in it.
		name: "v2, host hierarchy",
		files: map[string]string{
			"proc/meminfo":        meminfo,
			"proc/self/cgroup":    "0::/kubepods/pod1/c1\n",
			"proc/self/mountinfo": "30 29 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
			"sys/fs/cgroup/kubepods/pod1/c1/cgroup.controllers": "cpu memory\n",
			"sys/fs/cgroup/kubepods/pod1/c1/cpu.max":            "max 100000\n",
			"sys/fs/cgroup/kubepods/pod1/c1/memory.max":         "2147483648\n",
		},
		want: contract.Limits{MemoryLimitBytes: 2 << 30, MemoryBytes: 2 << 30, Cgroup: "v2"},
	}, {
		name: "no cgroups mounted",
		files: map[string]string{
			"proc/meminfo":        meminfo,
			"proc/self/cgroup":    "0::/\n",
			"proc/self/mountinfo": "22 1 0:21 / /proc rw - proc proc rw\n",
		},
		want: contract.Limits{MemoryBytes: hostMem},
	}, {
		name: "a limit above the host's memory",
		files: map[string]string{
			"proc/meminfo":                     meminfo,
			"proc/self/cgroup":                 "0::/\n",
			"proc/self/mountinfo":              "30 29 0:26 / /sys/fs/cgroup ro - cgroup2 cgroup2 rw\n",
			"sys/fs/cgroup/cgroup.controllers": "memory\n",
			"sys/fs/cgroup/memory.max":         "68719476736\n",
		},
		want: contract.Limits{MemoryLimitBytes: 64 << 30, MemoryBytes: hostMem, Cgroup: "v2"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readLimits(fakeRoot(t, tc.files))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(*got, tc.want); diff != "" {
				t.Errorf("readLimits (-got +want):\n%s", diff)
			}
		})
	}
}

func TestReadLimitsErrors(t *testing.T) {
	if _, err := readLimits(fakeRoot(t, map[string]string{"proc/self/cgroup": "0::/\n"})); err == nil || !strings.Contains(err.Error(), "memory size") {
		t.Errorf("no meminfo: error %v, want one naming the memory size", err)
	}
	if _, err := readLimits(fakeRoot(t, map[string]string{"proc/meminfo": meminfo})); err == nil || !strings.Contains(err.Error(), "cgroups") {
		t.Errorf("no /proc/self/cgroup: error %v, want one naming the cgroups", err)
	}
}

func TestReadLimitsHere(t *testing.T) {
	l, err := ReadLimits()
	if err != nil {
		t.Fatal(err)
	}
	if l.CPUs < 1 || l.MemoryBytes <= 0 {
		t.Errorf("ReadLimits() = %+v, want at least one CPU and some memory", l)
	}
	if l.CPUQuota > 0 && float64(l.CPUs) < l.CPUQuota-1 {
		t.Errorf("ReadLimits() = %+v: CPUs below the quota", l)
	}
}
