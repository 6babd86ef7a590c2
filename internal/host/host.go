package host

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/crac-build/crac-build/internal/proc"
)

// capNames maps capability bit numbers to their names (linux/capability.h).
var capNames = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
	"CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP",
	"CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
	"CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
	"CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
	"CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
	"CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD",
	"CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP",
	"CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
}

// CapNames returns the names of the capabilities set in mask, sorted.
func CapNames(mask uint64) []string {
	var out []string
	for i := 0; i < 64; i++ {
		if mask&(1<<uint(i)) == 0 {
			continue
		}
		if i < len(capNames) {
			out = append(out, capNames[i])
		} else {
			out = append(out, "CAP_"+strconv.Itoa(i))
		}
	}
	sort.Strings(out)
	return out
}

// CapMask returns the bit mask of the named capabilities; unknown names are
// an error. Names may omit the CAP_ prefix and are case-insensitive.
func CapMask(names []string) (uint64, error) {
	var m uint64
	for _, n := range names {
		n = strings.ToUpper(n)
		if !strings.HasPrefix(n, "CAP_") {
			n = "CAP_" + n
		}
		found := false
		for i, c := range capNames {
			if c == n {
				m |= 1 << uint(i)
				found = true
				break
			}
		}
		if !found {
			return 0, fmt.Errorf("unknown capability %q", n)
		}
	}
	return m, nil
}

// ParseCapMask parses a hex capability mask as found in /proc/PID/status.
func ParseCapMask(s string) (uint64, error) {
	if s == "" {
		return 0, nil
	}
	v, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		return 0, fmt.Errorf("parsing capability mask %q: %w", s, err)
	}
	return v, nil
}

// CPUFeatures returns the sorted flags of the first CPU in /proc/cpuinfo and
// the model name.
func CPUFeatures() (flags []string, model string, err error) {
	return proc.CPUInfo()
}

// MissingFeatures returns the entries of need that have is lacks.
func MissingFeatures(need, have []string) []string {
	set := make(map[string]bool, len(have))
	for _, h := range have {
		set[h] = true
	}
	var miss []string
	for _, n := range need {
		if !set[n] {
			miss = append(miss, n)
		}
	}
	return miss
}

// Kernel returns the running kernel's release, e.g. "6.18.44".
func Kernel() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

// Arch returns the machine name from uname, e.g. "x86_64".
func Arch() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Machine[:])
}

// isaPrefixes name the CPU flags that describe instructions the JIT may have
// emitted code for. Other flags (hypervisor, tsc details, ...) may differ
// between hosts without harm, so the launcher compares only these.
var isaPrefixes = []string{
	"sse", "ssse3", "avx", "fma", "bmi", "popcnt", "abm", "lzcnt", "adx",
	"aes", "pclmulqdq", "vpclmulqdq", "sha_ni", "f16c", "movbe", "erms",
	"cx8", "cx16", "gfni", "vaes", "clflushopt", "clwb", "rdrand", "rdseed",
	"amx", "cmov", "mmx", "fxsr", "xsave",
}

// ISAFeatures filters flags down to instruction-set features.
func ISAFeatures(flags []string) []string {
	var out []string
	for _, f := range flags {
		for _, p := range isaPrefixes {
			if strings.HasPrefix(f, p) {
				out = append(out, f)
				break
			}
		}
	}
	return out
}
