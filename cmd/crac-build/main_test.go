package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/crac-build/crac-build/internal/contract"
	"github.com/crac-build/crac-build/internal/inspect"
	"github.com/crac-build/crac-build/internal/progress"
)

func TestWriteInspect(t *testing.T) {
	created := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	info := &inspect.Info{
		Ref: "oci-layout:x:hello", Digest: "sha256:abc", Platform: "linux/amd64", Warm: true,
		Builder: "crac-build v1", Created: &created, JVMVersion: "17.0.13", CriuVersion: "4.2.1",
		BuildKernel: "6.18.0", BuildArch: "x86_64", BuildCPU: "Test CPU",
		RequiredCapabilities: []string{"CAP_CHECKPOINT_RESTORE", "CAP_SETPCAP"},
		CPUFeatures:          []string{"sse2", "avx2"},
		ColdCommand:          []string{"java", "-jar", "/app/hello.jar"},
		Warmup: &contract.Warmup{ReadyAfterMs: 1500, DurationMs: 3000, Requests: 200, Script: "warmup.sh",
			Until: "steady", Rounds: 2, MaxRounds: 30, Steady: true, Stopped: "steady after 2 rounds: JIT quiet",
			Curve:   []contract.WarmupRound{{LatencyMs: 4.5}, {LatencyMs: 0.987}},
			Reached: &contract.WarmupReached{CompiledMethods: 1234, CodeCacheKiB: 8192, ClassesLoaded: 4321}},
		Checkpoint: &inspect.Checkpoint{CompressedBytes: 18 << 20, RawBytes: 90 << 20, ImagesBytes: 88 << 20, ImageFiles: 44, Compression: "zstd"},
		Layers: []inspect.Layer{
			{Digest: "sha256:0123456789abcdef0123", Size: 18 << 20, Role: inspect.RoleCheckpoint, CreatedBy: "crac-build: checkpoint of java"},
		},
		TotalBytes: 18 << 20,
	}
	var b bytes.Buffer
	if err := writeInspect(&b, info); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"JVM", "17.0.13", "CRIU", "4.2.1", "build kernel", "6.18.0",
		"cold command", "java -jar /app/hello.jar",
		"restore needs", "CAP_CHECKPOINT_RESTORE,CAP_SETPCAP",
		"2 instruction-set features", "sse2 avx2",
		"18.0 MiB compressed (zstd), 90.0 MiB raw; CRIU images 88.0 MiB in 44 files",
		"ready after 1500 ms", "200 requests (0 errors)", "script warmup.sh",
		"warmup rounds", "steady after 2 rounds: JIT quiet", "round latency (ms): 4.5 0.987",
		"warmup reached", "1234 compiled methods, code cache 8 MiB, 4321 classes loaded",
		"sha256:0123456789a", "checkpoint",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect output lacks %q:\n%s", want, out)
		}
	}
}

func TestUIBars(t *testing.T) {
	var b bytes.Buffer
	u := &ui{w: &b, bars: true}
	f := u.progress()
	if f == nil {
		t.Fatal("no progress callback with bars on")
	}
	f(progress.Update{Op: progress.Push, Name: "reg/app:1", Done: 0, Total: 4 << 20})
	f(progress.Update{Op: progress.Push, Name: "reg/app:1", Done: 4 << 20, Total: 4 << 20})
	f(progress.Update{Op: progress.Push, Name: "reg/app:1", Done: 4 << 20, Total: 4 << 20})
	u.logf("done")
	out := b.String()
	if n := strings.Count(out, "100%"); n != 1 {
		t.Errorf("a finished push drew %d complete bars, want 1: %q", n, out)
	}
	for _, want := range []string{"pushing reg/app:1", "100%", "crac-build: done"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q: %q", want, out)
		}
	}

	quiet := &ui{w: &b, quiet: true}
	if quiet.progress() != nil {
		t.Error("--quiet still draws progress")
	}
	b.Reset()
	quiet.logf("step")
	if b.Len() != 0 {
		t.Errorf("--quiet printed %q", b.String())
	}
	if (&ui{w: &b}).progress() != nil {
		t.Error("progress drawn on a non-terminal")
	}
}
