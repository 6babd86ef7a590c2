package cpubaseline

import (
	"slices"
	"strings"
	"testing"
)

func TestLevelsNest(t *testing.T) {
	var prev []string
	for _, name := range []string{"x86-64-v2", "x86-64-v3", "x86-64-v4"} {
		l, err := Lookup(name)
		if err != nil || l == nil {
			t.Fatalf("Lookup(%s) = %v, %v", name, l, err)
		}
		for _, f := range prev {
			if !slices.Contains(l.Features, f) {
				t.Errorf("%s lacks %s of the level below", name, f)
			}
		}
		prev = l.Features
	}
	v2, _ := Lookup("x86-64-v2")
	for _, f := range v2.Features {
		if strings.HasPrefix(f, "avx") || strings.HasPrefix(f, "bmi") || f == "fma" {
			t.Errorf("x86-64-v2 needs %s, which is beyond it", f)
		}
	}
	if !slices.Contains(v2.JVMFlags, "-XX:UseAVX=0") {
		t.Errorf("x86-64-v2 flags %v: want UseAVX=0", v2.JVMFlags)
	}
	v3, _ := Lookup("x86-64-v3")
	if !slices.Contains(v3.JVMFlags, "-XX:UseAVX=2") || !strings.Contains(v3.GlibcHwcaps, "-AVX512F") || strings.Contains(v3.GlibcHwcaps, "-AVX2") {
		t.Errorf("x86-64-v3: flags %v, glibc %q: want UseAVX=2 and AVX-512 (not AVX2) masked", v3.JVMFlags, v3.GlibcHwcaps)
	}
	for _, name := range []string{"native"} {
		if l, err := Lookup(name); l != nil || err != nil {
			t.Errorf("Lookup(%q) = %v, %v; want no level", name, l, err)
		}
	}
	for _, name := range []string{"x86-64-v5", "armv8-a", "x86-64"} {
		if _, err := Lookup(name); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("Lookup(%q): %v, want an error naming it", name, err)
		}
	}
}

func TestNeeded(t *testing.T) {
	build := []string{"sse2", "avx2", "avx512f", "avx512vbmi", "avx512_vnni", "vaes", "sha_ni", "erms", "xsavec"}
	v3, _ := Lookup("x86-64-v3")
	got := v3.Needed(build)
	for _, f := range []string{"avx512f", "avx512vbmi", "vaes", "sha_ni", "erms", "xsavec"} {
		if slices.Contains(got, f) {
			t.Errorf("x86-64-v3 needs %s of the build CPU", f)
		}
	}
	v4, _ := Lookup("x86-64-v4")
	got = v4.Needed(build)
	for _, f := range []string{"avx512f", "avx512vbmi", "avx512_vnni", "vaes"} {
		if !slices.Contains(got, f) {
			t.Errorf("x86-64-v4 does not need the build CPU's %s (UseAVX=3 may use it)", f)
		}
	}
	if slices.Contains(got, "sha_ni") {
		t.Error("x86-64-v4 needs sha_ni (UseSHA is off)")
	}
	if !slices.IsSorted(got) {
		t.Errorf("Needed = %v, not sorted", got)
	}
	if miss := v4.Missing([]string{"avx2"}); !slices.Contains(miss, "avx512f") {
		t.Errorf("Missing on an AVX2 CPU = %v, want avx512f", miss)
	}
}

func TestApply(t *testing.T) {
	v3, _ := Lookup("x86-64-v3")
	cmd, add := v3.Apply([]string{"/usr/bin/java", "-jar", "app.jar"})
	if cmd[0] != "/usr/bin/java" || cmd[1] != "-XX:UseAVX=2" || cmd[len(cmd)-1] != "app.jar" {
		t.Errorf("java command %v: want the flags right after java", cmd)
	}
	if len(add) != 1 || !strings.HasPrefix(add[0], "GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX512F") {
		t.Errorf("env additions %v: want GLIBC_TUNABLES alone", add)
	}
	cmd, add = v3.Apply([]string{"/app/start.sh"})
	if len(cmd) != 1 || len(add) != 2 || add[1] != "JAVA_TOOL_OPTIONS=-XX:UseAVX=2 -XX:-UseSHA" {
		t.Errorf("script: %v %v: want the flags in JAVA_TOOL_OPTIONS", cmd, add)
	}
	env := AppendEnv([]string{"PATH=/bin", "GLIBC_TUNABLES=glibc.malloc.arena_max=2", "JAVA_TOOL_OPTIONS="}, add)
	want := []string{"PATH=/bin", "GLIBC_TUNABLES=glibc.malloc.arena_max=2:" + strings.TrimPrefix(add[0], "GLIBC_TUNABLES="), add[1]}
	if !slices.Equal(env, want) {
		t.Errorf("AppendEnv = %q, want %q", env, want)
	}
	if again := AppendEnv(env, add); !slices.Equal(again, env) {
		t.Errorf("AppendEnv twice = %q, want no second copy", again)
	}
}
