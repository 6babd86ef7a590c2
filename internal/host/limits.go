package host

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/crac-build/crac-build/internal/contract"
	"github.com/crac-build/crac-build/internal/proc"
)

// ReadLimits reads the calling process's limits.
func ReadLimits() (*contract.Limits, error) {
	l, err := readLimits("/")
	if err != nil {
		return nil, err
	}
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, fmt.Errorf("reading CPU affinity: %w", err)
	}
	l.CPUs = set.Count()
	if l.CPUQuota > 0 {
		// The JVM rounds a fractional quota up: 1.5 CPUs run 2 threads.
		if q := int(math.Ceil(l.CPUQuota)); q < l.CPUs {
			l.CPUs = q
		}
	}
	return l, nil
}

// readLimits reads the cgroup limits and the host's memory below root (a
// test seam: "/" in production). CPUs is left to the caller.
func readLimits(root string) (*contract.Limits, error) {
	l := &contract.Limits{}
	mem, err := proc.MemTotal(root)
	if err != nil {
		return nil, fmt.Errorf("reading memory size: %w", err)
	}
	dirs, v2, err := cgroupDirs(root)
	if err != nil {
		return nil, err
	}
	switch {
	case v2 != "":
		l.Cgroup = "v2"
		if s, err := readTrim(filepath.Join(root, v2, "cpu.max")); err == nil {
			// "max 100000" or "150000 100000"
			if f := strings.Fields(s); len(f) == 2 && f[0] != "max" {
				q, err1 := strconv.ParseFloat(f[0], 64)
				p, err2 := strconv.ParseFloat(f[1], 64)
				if err1 == nil && err2 == nil && q > 0 && p > 0 {
					l.CPUQuota = q / p
				}
			}
		}
		if s, err := readTrim(filepath.Join(root, v2, "memory.max")); err == nil && s != "max" {
			l.MemoryLimitBytes, _ = strconv.ParseInt(s, 10, 64)
		}
	case len(dirs) > 0:
		l.Cgroup = "v1"
		if d, ok := dirs["cpu"]; ok {
			q, err1 := readInt(filepath.Join(root, d, "cpu.cfs_quota_us"))
			p, err2 := readInt(filepath.Join(root, d, "cpu.cfs_period_us"))
			if err1 == nil && err2 == nil && q > 0 && p > 0 {
				l.CPUQuota = float64(q) / float64(p)
			}
		}
		if d, ok := dirs["memory"]; ok {
			lim, err := readInt(filepath.Join(root, d, "memory.limit_in_bytes"))
			if err == nil && !unlimitedV1(lim) {
				l.MemoryLimitBytes = lim
			} else if h, ok := hierarchicalLimit(filepath.Join(root, d, "memory.stat")); ok {
				// The leaf has none, a parent may (the JVM looks there too).
				l.MemoryLimitBytes = h
			}
		}
	}
	l.MemoryBytes = mem
	if l.MemoryLimitBytes > 0 && l.MemoryLimitBytes < mem {
		l.MemoryBytes = l.MemoryLimitBytes
	}
	return l, nil
}

// unlimitedV1 says whether a cgroup v1 memory limit means "none": the
// kernel reports LONG_MAX rounded down to a page.
func unlimitedV1(v int64) bool { return v <= 0 || v >= math.MaxInt64/2 }

func hierarchicalLimit(stat string) (int64, bool) {
	f, err := os.Open(stat)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "hierarchical_memory_limit "); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err == nil && !unlimitedV1(n) {
				return n, true
			}
			return 0, false
		}
	}
	return 0, false
}

// cgroupDirs finds the process's cgroup directories (relative to root) as
// the JVM does: each cgroup mount of /proc/self/mountinfo, at the
// process's path from /proc/self/cgroup taken relative to the mount's
// root. v1 maps controller names to dirs; v2 is the unified dir (only
// when it has controllers: a hybrid host's empty cgroup2 holds no limits).
func cgroupDirs(root string) (v1 map[string]string, v2 string, err error) {
	paths, err := proc.Cgroups(root)
	if err != nil {
		return nil, "", err
	}
	ms, err := proc.Mounts(root)
	if err != nil {
		return nil, "", err
	}
	v1 = map[string]string{}
	for _, m := range ms {
		mroot, mpoint, fstype := m.Root, m.Mountpoint, m.FSType
		switch fstype {
		case "cgroup2":
			p, ok := paths[""]
			if !ok {
				continue
			}
			d := within(mpoint, mroot, p)
			if _, err := os.Stat(filepath.Join(root, d, "cgroup.controllers")); err != nil {
				continue
			}
			if b, _ := os.ReadFile(filepath.Join(root, d, "cgroup.controllers")); len(strings.TrimSpace(string(b))) == 0 {
				continue // hybrid: the unified hierarchy has no controllers
			}
			v2 = d
		case "cgroup":
			for _, opt := range strings.Split(m.VFSOptions, ",") {
				if opt != "cpu" && opt != "memory" && opt != "cpuset" {
					continue
				}
				if p, ok := paths[opt]; ok {
					v1[opt] = within(mpoint, mroot, p)
				}
			}
		}
	}
	if len(v1) > 0 {
		v2 = "" // hybrid: v1 controllers hold the limits
	}
	return v1, v2, nil
}

// within is the directory of cgroup path p under a mount of the hierarchy
// at mpoint whose root is mroot. A container's mount usually has its own
// cgroup as root (then p equals it, or lies below it).
func within(mpoint, mroot, p string) string {
	if mroot == "/" {
		return path.Join(mpoint, p)
	}
	if rel, ok := strings.CutPrefix(p, mroot); ok && (rel == "" || strings.HasPrefix(rel, "/")) {
		return path.Join(mpoint, rel)
	}
	// The process is outside the mount's root (a cgroup namespace shows
	// "/"): the mount point itself is the best guess, as the JVM's.
	return mpoint
}

func readTrim(p string) (string, error) {
	b, err := os.ReadFile(p)
	return strings.TrimSpace(string(b)), err
}

func readInt(p string) (int64, error) {
	s, err := readTrim(p)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(s, 10, 64)
}
