package host_test

import (
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/crac-build/crac-build/internal/host"
	"github.com/crac-build/crac-build/internal/proc"
)

// cpuinfo is /proc/cpuinfo of a two-CPU x86 guest, shortened; the second
// CPU's flags differ so that a parser reading past the first shows.
const cpuinfo = `processor	: 0
vendor_id	: GenuineIntel
cpu family	: 6
model		: 85
model name	: Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz
stepping	: 4
flags		: fpu vme sse2 ssse3 hypervisor avx2 avx512f sse4_2 cx16 pclmulqdq aes tsc_known_freq xsaveopt bmi2 constant_tsc
bugs		: spectre_v1

processor	: 1
vendor_id	: GenuineIntel
model name	: Other CPU
flags		: fpu only_on_cpu1
`

func TestISAFeatures(t *testing.T) {
	flags, _, err := proc.ParseCPUInfo(cpuinfo)
	if err != nil {
		t.Fatal(err)
	}
	got := host.ISAFeatures(flags)
	want := []string{"aes", "avx2", "avx512f", "bmi2", "cx16", "pclmulqdq", "sse2", "sse4_2", "ssse3", "xsaveopt"}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("ISAFeatures (-got +want):\n%s", diff)
	}
	for _, f := range got {
		switch f {
		case "hypervisor", "tsc_known_freq", "constant_tsc", "vme", "fpu":
			t.Errorf("%s is not an instruction-set feature", f)
		}
	}
	if got := host.ISAFeatures(nil); len(got) != 0 {
		t.Errorf("ISAFeatures(nil) = %q", got)
	}
}

func TestMissingFeatures(t *testing.T) {
	for _, tc := range []struct {
		need, have, want []string
	}{
		{[]string{"avx2", "sse4_2"}, []string{"sse4_2", "avx2", "aes"}, nil},
		{[]string{"avx2", "avx512f", "sse4_2"}, []string{"sse4_2", "avx2"}, []string{"avx512f"}},
		{[]string{"b", "a"}, nil, []string{"b", "a"}},
		{nil, []string{"avx2"}, nil},
	} {
		got := host.MissingFeatures(tc.need, tc.have)
		if diff := cmp.Diff(got, tc.want); diff != "" {
			t.Errorf("MissingFeatures(%q, %q) (-got +want):\n%s", tc.need, tc.have, diff)
		}
	}
}

func TestCapNamesMask(t *testing.T) {
	for _, tc := range []struct {
		mask  uint64
		names []string
	}{
		{0, nil},
		{1 << 0, []string{"CAP_CHOWN"}},
		{1<<21 | 1<<8, []string{"CAP_SETPCAP", "CAP_SYS_ADMIN"}},
		{1 << 40, []string{"CAP_CHECKPOINT_RESTORE"}},
		// Docker's default set.
		{0xa80425fb, []string{"CAP_AUDIT_WRITE", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_MKNOD", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID", "CAP_SYS_CHROOT"}},
		{1<<41 - 1, nil}, // every known capability; names checked below
	} {
		got := host.CapNames(tc.mask)
		if tc.names != nil || tc.mask == 0 {
			if diff := cmp.Diff(got, tc.names); diff != "" {
				t.Errorf("CapNames(%#x) (-got +want):\n%s", tc.mask, diff)
			}
		}
		back, err := host.CapMask(got)
		if err != nil {
			t.Errorf("CapMask(CapNames(%#x)): %v", tc.mask, err)
		}
		if back != tc.mask {
			t.Errorf("CapMask(CapNames(%#x)) = %#x", tc.mask, back)
		}
	}
	if n := len(host.CapNames(1<<41 - 1)); n != 41 {
		t.Errorf("%d names for the 41 capabilities of Linux 5.9+", n)
	}
	// Bits the table does not know are still shown.
	if got := host.CapNames(1 << 63); !cmp.Equal(got, []string{"CAP_63"}) {
		t.Errorf("CapNames(1<<63) = %q", got)
	}
}

func TestCapMaskNames(t *testing.T) {
	got, err := host.CapMask([]string{"cap_sys_ptrace", "SYS_ADMIN", "Checkpoint_Restore"})
	if err != nil {
		t.Fatal(err)
	}
	if want := uint64(1<<19 | 1<<21 | 1<<40); got != want {
		t.Errorf("CapMask = %#x, want %#x", got, want)
	}
	for _, bad := range []string{"CAP_FLY", "", "CAP_63"} {
		_, err := host.CapMask([]string{"CAP_CHOWN", bad})
		if err == nil || !strings.Contains(err.Error(), "unknown capability") {
			t.Errorf("CapMask with %q: %v, want an unknown capability error", bad, err)
		}
	}
}

func TestParseCapMask(t *testing.T) {
	for in, want := range map[string]uint64{"": 0, "0000000000000000": 0, "000001ffffffffff": 1<<41 - 1, "00000000a80425fb": 0xa80425fb} {
		if got, err := host.ParseCapMask(in); err != nil || got != want {
			t.Errorf("ParseCapMask(%q) = %#x, %v; want %#x", in, got, err, want)
		}
	}
	for _, in := range []string{"xyz", "1ffffffffffffffff"} {
		if _, err := host.ParseCapMask(in); err == nil {
			t.Errorf("ParseCapMask(%q) succeeded", in)
		}
	}
}

func TestHostFacts(t *testing.T) {
	if host.Kernel() == "" {
		t.Error("Kernel() is empty")
	}
	arch := map[string]string{"amd64": "x86_64", "arm64": "aarch64"}[runtime.GOARCH]
	if arch != "" && host.Arch() != arch {
		t.Errorf("Arch() = %q on %s, want %q", host.Arch(), runtime.GOARCH, arch)
	}
	if runtime.GOARCH != "amd64" {
		return // other architectures' cpuinfo has no flags line
	}
	flags, model, err := host.CPUFeatures()
	if err != nil {
		t.Fatal(err)
	}
	if len(flags) == 0 || model == "" {
		t.Errorf("CPUFeatures = %d flags, model %q", len(flags), model)
	}
	if len(host.MissingFeatures(host.ISAFeatures(flags), flags)) != 0 {
		t.Error("this host lacks its own features")
	}
}
