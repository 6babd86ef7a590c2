// Package cpubaseline names the CPU levels a warm image can be built for
// (the x86-64 psABI levels) and what each means for a checkpointed JVM: the
// instruction-set features a restoring CPU must have, the HotSpot options
// that keep the JIT and the JVM's stubs within them, and the glibc tunables
// that keep glibc's ifunc choices (memcpy, strlen, the dynamic linker's
// trampoline) within them.
//
// A restored process keeps the code its JIT emitted and the ifuncs glibc
// resolved at its start: the launcher may only restore it on a CPU that has
// every feature that code can use. "native" keeps the build CPU's features
// (all of them needed). A level limits the JVM and glibc at the start of the
// application in the build sandbox, and the cold command gets the same
// limits (so a cold fallback behaves like the restored JVM).
//
// What a level does not bound: features HotSpot uses without a flag that
// turns them off. Those that a level's CPUs commonly have are in its
// Features (AES-NI and PCLMULQDQ from x86-64-v2 on, ADX from x86-64-v3 on:
// HotSpot's BigInteger stubs use ADX with BMI2), so the launcher refuses a
// CPU without them instead of letting the JVM meet an invalid instruction.
// x86-64-v4 needs every AVX-512 extension the build CPU has: with UseAVX=3
// HotSpot picks extensions (VBMI, VNNI, IFMA, ...) that no flag masks.
package cpubaseline

import (
	"fmt"
	"sort"
	"strings"

	"github.com/crac-build/crac-build/internal/contract"
	"github.com/crac-build/crac-build/internal/environ"
	"github.com/crac-build/crac-build/internal/host"
)

// Needs are the instruction-set features a restoring CPU must have for a
// checkpoint: its baseline's, or every one of the build CPU's (native).
func Needs(m *contract.Metadata) []string {
	if m.CPUBaseline != nil {
		return m.CPUBaseline.Needs
	}
	return host.ISAFeatures(m.Host.CPUFeatures)
}

// Native is the build CPU itself: no limit, every feature needed.
const Native = "native"

// Level is one baseline.
type Level struct {
	Name string `json:"name"`
	// CPUs says which processors have it, for people.
	CPUs string `json:"cpus"`
	// Features are the /proc/cpuinfo flags a restoring CPU must have.
	Features []string `json:"features"`
	// JVMFlags are the HotSpot options that limit the JVM to Features.
	JVMFlags []string `json:"jvmFlags"`
	// GlibcHwcaps is the value of the glibc.cpu.hwcaps tunable that masks
	// the features glibc would otherwise pick beyond the level.
	GlibcHwcaps string `json:"glibcHwcaps"`
	// OpenEnded: the restoring CPU also needs the build CPU's features of
	// the kinds in OpenEndedPrefixes (x86-64-v4: AVX-512 extensions).
	OpenEnded bool `json:"-"`
}

var (
	v1 = []string{"cmov", "cx8", "fxsr", "mmx", "sse", "sse2"}
	v2 = append(append([]string{}, v1...), "cx16", "popcnt", "sse4_1", "sse4_2", "ssse3",
		// Not in the psABI level, used by HotSpot's and the JDK's crypto
		// intrinsics and present on every server CPU of the level's time
		// but Nehalem (2008): kept rather than giving up AES-NI.
		"aes", "pclmulqdq")
	// LZCNT is not listed: every CPU with AVX2 has it, and hypervisors
	// may hide its CPUID bit ("abm"; Firecracker on AMD does).
	v3 = append(append([]string{}, v2...), "avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "movbe", "xsave",
		// Not in the psABI level: HotSpot's BigInteger stubs use ADX
		// with BMI2 (Intel Broadwell and later, every AMD Zen).
		"adx")
	v4 = append(append([]string{}, v3...), "avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl")

	// Flags common to the limited levels: SHA-NI (Zen, Intel Ice Lake and
	// later) is in no level; the SHA intrinsics fall back to Java code.
	noSHA = []string{"-XX:-UseSHA"}
	// glibc masks common to the limited levels: XSAVEC (the dynamic
	// linker's lazy-binding trampoline saves registers with it when the
	// CPU has it) and the hints of features outside every level.
	glibcCommon = []string{"-XSAVEC", "-AVX_VNNI", "-AVX512_FP16", "-AMX_BF16", "-AMX_TILE", "-AMX_INT8"}
)

var levels = []Level{
	{
		Name:     "x86-64-v2",
		CPUs:     "any x86-64 server CPU since 2010 (Intel Westmere, AMD Bulldozer and later; every cloud instance type)",
		Features: v2,
		JVMFlags: append([]string{"-XX:UseAVX=0", "-XX:-UseBMI1Instructions", "-XX:-UseBMI2Instructions",
			"-XX:-UseCountLeadingZerosInstruction", "-XX:-UseCountTrailingZerosInstruction", "-XX:-UseFMA"}, noSHA...),
		GlibcHwcaps: strings.Join(append([]string{"-AVX", "-AVX2", "-AVX512F", "-AVX512BW", "-AVX512CD", "-AVX512DQ",
			"-AVX512VL", "-AVX512ER", "-AVX512PF", "-FMA", "-FMA4", "-F16C", "-BMI1", "-BMI2", "-LZCNT", "-MOVBE"}, glibcCommon...), ","),
	},
	{
		Name:        "x86-64-v3",
		CPUs:        "any x86-64 server CPU since 2015 (Intel Broadwell, AMD Zen and later; AWS c5/m5 and later, GCP N2/C2D, Azure Dv4)",
		Features:    v3,
		JVMFlags:    append([]string{"-XX:UseAVX=2"}, noSHA...),
		GlibcHwcaps: strings.Join(append([]string{"-AVX512F", "-AVX512BW", "-AVX512CD", "-AVX512DQ", "-AVX512VL", "-AVX512ER", "-AVX512PF"}, glibcCommon...), ","),
	},
	{
		Name:        "x86-64-v4",
		CPUs:        "CPUs with AVX-512: Intel Skylake-SP (Xeon Scalable) and later, AMD Zen 4 and later; the restoring CPU also needs every AVX-512 extension of the build CPU",
		Features:    v4,
		JVMFlags:    append([]string{"-XX:UseAVX=3"}, noSHA...),
		GlibcHwcaps: strings.Join(glibcCommon, ","),
		OpenEnded:   true,
	},
}

// OpenEndedPrefixes are the feature kinds x86-64-v4 leaves to the build
// CPU.
var openEndedPrefixes = []string{"avx512", "vaes", "vpclmulqdq", "gfni"}

// Names lists the accepted names, native first.
func Names() []string {
	out := []string{Native}
	for _, l := range levels {
		out = append(out, l.Name)
	}
	return out
}

// Lookup returns the level of a name; native (or "") has no Level.
func Lookup(name string) (*Level, error) {
	switch name {
	case Native:
		return nil, nil
	case "":
		return nil, fmt.Errorf("no CPU baseline named")
	case "x86-64", "x86-64-v1":
		return nil, fmt.Errorf("CPU baseline %q: below x86-64-v2 a JVM loses SSE4.2 and POPCNT; the lowest is x86-64-v2", name)
	case "armv8-a", "armv8.2-a", "arm64", "aarch64":
		return nil, fmt.Errorf("CPU baseline %q: arm64 levels are not supported yet (only native on arm64)", name)
	}
	for i := range levels {
		if levels[i].Name == name {
			l := levels[i]
			l.Features = append([]string{}, l.Features...)
			l.JVMFlags = append([]string{}, l.JVMFlags...)
			return &l, nil
		}
	}
	return nil, fmt.Errorf("unknown CPU baseline %q: %s", name, strings.Join(Names(), ", "))
}

// Needed is what a restoring CPU needs of a checkpoint made at this level
// on a CPU with buildFeatures (its /proc/cpuinfo flags): the level's
// features, plus for an open-ended level the build CPU's features of the
// kinds it leaves open. The result is sorted.
func (l *Level) Needed(buildFeatures []string) []string {
	set := map[string]bool{}
	for _, f := range l.Features {
		set[f] = true
	}
	if l.OpenEnded {
		for _, f := range buildFeatures {
			for _, p := range openEndedPrefixes {
				if strings.HasPrefix(f, p) {
					set[f] = true
				}
			}
		}
	}
	out := make([]string, 0, len(set))
	for f := range set {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

// Missing lists the level's features a CPU (its /proc/cpuinfo flags)
// lacks: a build on such a CPU cannot make an image for the level.
func (l *Level) Missing(have []string) []string {
	return host.MissingFeatures(l.Features, have)
}

// Apply returns the command of an application limited to the level (the
// JVM flags right after a direct `java`) and the KEY=VALUE additions to its
// environment: the glibc tunable, and the JVM flags in JAVA_TOOL_OPTIONS for
// a command that is not java itself. AppendEnv adds them to an environment.
// No level (native) leaves the command as it is and adds nothing.
func (l *Level) Apply(cmd []string) ([]string, []string) {
	if l == nil {
		return cmd, nil
	}
	add := []string{"GLIBC_TUNABLES=glibc.cpu.hwcaps=" + l.GlibcHwcaps}
	if len(cmd) > 0 && (cmd[0] == "java" || strings.HasSuffix(cmd[0], "/java")) {
		cmd = append(append([]string{cmd[0]}, l.JVMFlags...), cmd[1:]...)
	} else {
		add = append(add, "JAVA_TOOL_OPTIONS="+strings.Join(l.JVMFlags, " "))
	}
	return cmd, add
}

// separators of the variables Apply adds to.
var separators = map[string]string{"GLIBC_TUNABLES": ":", "JAVA_TOOL_OPTIONS": " "}

// AppendEnv returns env with each KEY=VALUE of add appended to the
// variable's value (GLIBC_TUNABLES with ":", JAVA_TOOL_OPTIONS with " "),
// or set; a value already there is not added twice.
func AppendEnv(env, add []string) []string {
	return environ.Append(env, add, separators)
}
