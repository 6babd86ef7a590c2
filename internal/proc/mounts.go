package proc

import (
	"fmt"
	"os"
	"strings"

	"github.com/moby/sys/mountinfo"
)

// Mounts are the mounts of the caller's mount namespace, from
// root/proc/self/mountinfo (root is "/" but in tests), parsed by
// moby/sys/mountinfo (paths unescaped).
func Mounts(root string) ([]*mountinfo.Info, error) {
	f, err := os.Open(root + "/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("reading mounts: %w", err)
	}
	defer f.Close()
	ms, err := mountinfo.GetMountsFromReader(f, nil)
	if err != nil {
		return nil, fmt.Errorf("reading mounts: %w", err)
	}
	return ms, nil
}

// Cgroups maps each controller of root/proc/self/cgroup to its path; the
// v2 entry ("0::/path") is under "". Not procfs' Cgroups: that one needs a
// /proc/self link, which the tests' fake roots do not have.
func Cgroups(root string) (map[string]string, error) {
	b, err := os.ReadFile(root + "/proc/self/cgroup")
	if err != nil {
		return nil, fmt.Errorf("reading cgroups: %w", err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[1] == "" {
			out[""] = parts[2]
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			out[c] = parts[2]
		}
	}
	return out, nil
}
