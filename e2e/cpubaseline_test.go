package e2e

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crac-build/crac-build/internal/builder"
	"github.com/crac-build/crac-build/internal/contract"
	"github.com/crac-build/crac-build/internal/cpubaseline"
)

// An image built with --cpu-baseline x86-64-v2 needs no AVX of the
// restoring CPU: its metadata and label say so, the restored JVM runs with
// UseAVX=0 and with glibc limited to x86-64-v2 (the tunable it started
// with, as glibc reads it), and the launcher restores it on a host view
// without AVX or AVX-512 (CRAC_CPU_MASK) but refuses one without SSE4.2,
// naming the level. The default build (x86-64-v3) restores without AVX-512
// and starts cold without AVX2.
func TestCPUBaseline(t *testing.T) {
	requireE2E(t)
	root := repoRoot(t)
	ref := "oci-layout:" + filepath.Join(t.TempDir(), "images") + ":v2"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var log bytes.Buffer
	o := helloBuild(root, ref, &log)
	o.CPUBaseline = "x86-64-v2"
	res, err := builder.Build(ctx, o)
	if err != nil {
		t.Fatalf("build: %v\n%s", err, log.String())
	}
	m := res.Metadata
	if m.CPUBaseline == nil || m.CPUBaseline.Name != "x86-64-v2" {
		t.Fatalf("metadata baseline %+v, want x86-64-v2", m.CPUBaseline)
	}
	for _, f := range cpubaseline.Needs(m) {
		if strings.HasPrefix(f, "avx") || strings.HasPrefix(f, "bmi") || f == "fma" {
			t.Errorf("the x86-64-v2 image needs %s", f)
		}
	}
	cfg, err := res.Image.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Config.Labels[contract.LabelCPUBaseline]; got != "x86-64-v2" {
		t.Errorf("label %s = %q, want x86-64-v2", contract.LabelCPUBaseline, got)
	}

	// Restored on a host view without any AVX: the JVM's own settings.
	s := startRef(t, ref, contract.EnvCPUMask+"=avx,avx2,avx512f,avx512bw,avx512cd,avx512dq,avx512vl,bmi1,bmi2,fma")
	if mode, reason := s.r.WaitMode(30 * time.Second); mode != "restored" {
		t.Fatalf("x86-64-v2 image on a host view without AVX: %s (%s), want a restore", mode, reason)
	}
	if got := strings.TrimSpace(get(t, s.url+"/vm?option=UseAVX")); got != "UseAVX=0" {
		t.Errorf("restored JVM reports %q, want UseAVX=0", got)
	}
	if got := strings.TrimSpace(get(t, s.url+"/vm?option=UseBMI2Instructions")); got != "UseBMI2Instructions=false" {
		t.Errorf("restored JVM reports %q, want BMI2 off", got)
	}
	tunables := strings.TrimPrefix(strings.TrimSpace(get(t, s.url+"/vm?env=GLIBC_TUNABLES")), "GLIBC_TUNABLES=")
	if !strings.Contains(tunables, "glibc.cpu.hwcaps=-AVX,") {
		t.Fatalf("the restored JVM started with GLIBC_TUNABLES=%q, want AVX masked", tunables)
	}
	// What glibc makes of that tunable: the glibc-hwcaps levels it finds
	// usable (the base's glibc is this host's, Debian 12's).
	cmd := exec.Command("/lib64/ld-linux-x86-64.so.2", "--help")
	cmd.Env = []string{"GLIBC_TUNABLES=" + tunables}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ld.so --help: %v", err)
	}
	if !strings.Contains(string(out), "x86-64-v2 (supported") || strings.Contains(string(out), "x86-64-v3 (supported") {
		t.Errorf("glibc under the image's tunable:\n%s\nwant x86-64-v2 usable and x86-64-v3 not", out)
	}

	// Below the level: cold, naming the level and the feature.
	s = startRef(t, ref, contract.EnvCPUMask+"=sse4_2")
	mode, reason := s.r.WaitMode(30 * time.Second)
	if mode != "cold" || !strings.Contains(reason, "x86-64-v2") || !strings.Contains(reason, "sse4_2") {
		t.Errorf("x86-64-v2 image on a host view without SSE4.2: %s (%s), want cold naming x86-64-v2 and sse4_2", mode, reason)
	}
	if got := strings.TrimSpace(get(t, s.url+"/vm?option=UseAVX")); got != "UseAVX=0" {
		t.Errorf("cold JVM reports %q, want the same UseAVX=0 as the restored one", got)
	}

	// The default build (x86-64-v3) restores on a host view without
	// AVX-512, and starts cold without AVX2, naming its level.
	s = startRef(t, helloImage(t), contract.EnvCPUMask+"=avx512f,avx512bw,avx512cd,avx512dq,avx512vl")
	if mode, reason := s.r.WaitMode(30 * time.Second); mode != "restored" {
		t.Errorf("default image on a host view without AVX-512: %s (%s), want a restore", mode, reason)
	}
	s = startRef(t, helloImage(t), contract.EnvCPUMask+"=avx2")
	if mode, reason := s.r.WaitMode(30 * time.Second); mode != "cold" || !strings.Contains(reason, "x86-64-v3") || !strings.Contains(reason, "avx2") {
		t.Errorf("default image on a host view without AVX2: %s (%s), want cold naming x86-64-v3 and avx2", mode, reason)
	}
}
