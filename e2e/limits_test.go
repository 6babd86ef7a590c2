package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/crac-build/crac-build/internal/builder"
	"github.com/crac-build/crac-build/internal/contract"
	"github.com/crac-build/crac-build/internal/inspect"
	"github.com/crac-build/crac-build/internal/layers"
	"github.com/crac-build/crac-build/internal/registry"
	"github.com/crac-build/crac-build/internal/runner"
	"github.com/crac-build/crac-build/internal/testutil"
)

// TestContainerLimits builds the tiny app in a sandbox limited to 1 CPU and
// 512 MiB, checks that the JVM sized itself for that (and that the
// metadata and inspect say so), then restores it in containers with the
// same and with other limits under both policies.
func TestContainerLimits(t *testing.T) {
	requireE2E(t)
	root := repoRoot(t)
	dir := t.TempDir()
	cache := filepath.Join(dir, "cache")
	ref := "oci-layout:" + filepath.Join(dir, "images") + ":limits"
	var log bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	res, err := builder.Build(ctx, builder.Options{
		Base:           "oci-layout:" + filepath.Join(root, "build/base") + ":jre17",
		Adds:           []builder.Add{{Src: compileTiny(t, dir), Dest: "/app"}},
		Cmd:            []string{"java", "-cp", "/app", "Tiny"}, // the JVM picks the collector
		Port:           8080,
		ReadyURL:       "http://127.0.0.1:8080/health",
		WarmupRequests: 50,
		CPUs:           1,
		MemoryBytes:    512 << 20,
		Outputs:        []string{ref},
		CriuBundle:     filepath.Join(root, "build/criu"),
		Launcher:       filepath.Join(root, "bin/crac-launch"),
		CacheDir:       cache,
		AppOutput:      &log,
		Version:        "e2e-limits",
	})
	if err != nil {
		t.Fatalf("build: %v\napp output:\n%s", err, log.String())
	}
	m := res.Metadata
	l, j := m.Limits, m.JVM
	if l == nil || j == nil {
		t.Fatalf("metadata lacks limits (%v) or JVM facts (%v)", l, j)
	}
	if l.CPUQuota != 1 || l.CPUs != 1 || l.MemoryLimitBytes != 512<<20 || l.MemoryBytes != 512<<20 || l.Cgroup == "" {
		t.Errorf("limits seen in the sandbox %+v, want 1 CPU and 512 MiB from a cgroup", l)
	}
	// The JVM's ergonomics: one processor, a quarter of the memory as the
	// maximum heap, and Serial (G1 needs 2 CPUs and 1792 MB).
	if j.ActiveProcessors != 1 || j.MaxHeapBytes != 128<<20 || j.GC != contract.GCSerial {
		t.Errorf("the JVM sized itself as %d processors, max heap %d, %s; want 1, 128 MiB, Serial", j.ActiveProcessors, j.MaxHeapBytes, j.GC)
	}
	if m.OnLimitsChange != contract.LimitsChangeWarn {
		t.Errorf("policy %q, want the default warn", m.OnLimitsChange)
	}
	info, err := inspect.Image(ctx, ref, registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if info.Limits == nil || info.Limits.CPUs != 1 || info.JVM == nil || info.JVM.GC != contract.GCSerial || info.OnLimitsChange != "warn" ||
		info.Labels[contract.LabelGC] != "Serial" || info.Labels[contract.LabelLimits] != "cpus=1,memory=536870912" {
		t.Errorf("inspect: limits %+v, JVM %+v, policy %q, labels %v", info.Limits, info.JVM, info.OnLimitsChange, info.Labels)
	}

	// The same limits: restored, no warning; the JVM sees 1 CPU.
	s := runLimited(t, ref, cache, 1, 512<<20)
	s.wantMode(t, "restored")
	if w := s.warning(); w != "" {
		t.Errorf("same limits, warning %q", w)
	}
	if body := s.get(t); !strings.Contains(body, "cpus=1 ") {
		t.Errorf("GET / = %q, want cpus=1", body)
	}
	s.stop(t)

	// Other limits, policy warn: restored, with one line saying what
	// differs and what the JVM keeps.
	s = runLimited(t, ref, cache, 2, 1<<30)
	s.wantMode(t, "restored")
	w := s.warning()
	for _, want := range []string{"container limits differ from the build's (policy warn)", "2 CPUs here, 1 at build",
		"memory 1 GiB here, 512 MiB at build", "keeps its build-time sizing (1 processor, max heap 128 MiB, Serial)"} {
		if !strings.Contains(w, want) {
			t.Errorf("warning %q lacks %q", w, want)
		}
	}
	// availableProcessors() reads the cgroup again (the new container's),
	// but what the JVM sized from it at start stays: the heap's maximum.
	body := s.get(t)
	if !strings.Contains(body, "cpus=2 ") || !regexp.MustCompile(`maxheap=1[0-3]\d{7} `).MatchString(body) {
		t.Errorf("GET / = %q, want cpus=2 (read live) and the build's max heap of about 128 MiB", body)
	}
	s.stop(t)

	// Policy cold: the image's metadata with onLimitsChange=cold (a layer
	// on top, as a rebuild with --on-limits-change cold would make).
	coldRef := withPolicy(t, ref, dir, m, contract.LimitsChangeCold)
	s = runLimited(t, coldRef, cache, 2, 1<<30)
	mode, reason := s.r.WaitMode(10 * time.Second)
	if mode != "cold" || !strings.Contains(reason, "container limits differ from the build's (policy cold): 2 CPUs here, 1 at build") {
		t.Errorf("cold policy, other limits: mode %q reason %q, want a cold start naming the CPUs", mode, reason)
	}
	// A cold JVM sizes itself for this container.
	if body := s.get(t); !strings.Contains(body, "requests=1 ") || !strings.Contains(body, "cpus=2 ") {
		t.Errorf("cold GET / = %q, want a fresh JVM with 2 CPUs", body)
	}
	s.stop(t)
	s = runLimited(t, coldRef, cache, 1, 512<<20)
	s.wantMode(t, "restored")
	s.stop(t)
}

type limitedRun struct {
	r           *runner.Run
	out, errOut *testutil.SyncBuffer
}

func runLimited(t *testing.T, ref, cache string, cpus float64, mem int64) *limitedRun {
	t.Helper()
	s := &limitedRun{out: &testutil.SyncBuffer{}, errOut: &testutil.SyncBuffer{}}
	r, err := runner.Start(context.Background(), runner.Options{
		Image: ref, HostAddr: "127.0.0.1:0", CacheDir: cache, CPUs: cpus, MemoryBytes: mem,
		Stdout: s.out, Stderr: s.errOut,
	})
	if err != nil {
		t.Fatalf("starting %s with %g CPUs and %d bytes: %v", ref, cpus, mem, err)
	}
	s.r = r
	t.Cleanup(func() {
		if _, err := r.Stop(5 * time.Second); err != nil {
			t.Errorf("removing container: %v", err)
		}
		if t.Failed() {
			t.Logf("container stderr:\n%s", s.errOut)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := r.Probe(ctx, "http://"+r.Addr+"/health"); err != nil {
		t.Fatalf("probing %s: %v\nstderr:\n%s", ref, err, s.errOut)
	}
	return s
}

func (s *limitedRun) wantMode(t *testing.T, want string) {
	t.Helper()
	if mode, reason := s.r.WaitMode(10 * time.Second); mode != want {
		t.Errorf("launcher mode %q (%s), want %s", mode, reason, want)
	}
}

// warning is the launcher's warning line, if any (it follows "restored").
func (s *limitedRun) warning() string {
	var w string
	waitFor(func() bool {
		for _, line := range strings.Split(s.errOut.String(), "\n") {
			if v, ok := strings.CutPrefix(line, "crac-launch: warning: "); ok {
				w = v
				return true
			}
		}
		return false
	})
	return w
}

func (s *limitedRun) get(t *testing.T) string {
	t.Helper()
	body, err := httpGet("http://" + s.r.Addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	return body
}

func (s *limitedRun) stop(t *testing.T) {
	t.Helper()
	if _, err := s.r.Stop(10 * time.Second); err != nil {
		t.Errorf("stopping: %v", err)
	}
}

// withPolicy writes ref with its metadata's onLimitsChange set to policy,
// as a layer on top, and returns the new reference.
func withPolicy(t *testing.T, ref, dir string, m *contract.Metadata, policy string) string {
	t.Helper()
	img, err := registry.Load(context.Background(), ref, registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	changed := *m
	changed.OnLimitsChange = policy
	b, err := json.Marshal(&changed)
	if err != nil {
		t.Fatal(err)
	}
	tr := layers.NewTar()
	if err := tr.AddBytes(contract.MetadataPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	nref := fmt.Sprintf("oci-layout:%s:%s", filepath.Join(dir, "images"), "limits-"+policy)
	appendLayer(t, img, tr, nref)
	return nref
}
