package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crac-build/crac-build/internal/builder"
	"github.com/crac-build/crac-build/internal/contract"
	"github.com/crac-build/crac-build/internal/runner"
)

// hostJemalloc is Debian's jemalloc (libjemalloc2, installed by make deps).
const hostJemalloc = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"

// TestDirectMapZeroFill is the safety test of direct-mapped restores
// (docs/restore-speed.md). A private file mapping differs from anonymous
// memory in one way a program can rely on: after MADV_DONTNEED its pages
// refill from the file, not with zeros. The application (testdata/zerofill)
// fills an area, and after the restore discards it with MADV_DONTNEED and
// says whether it reads back as zeros.
//
//   - Without a zero-reliant allocator the build allows mapping; the restored
//     area is a mapping of the pages image and reads back stale: the
//     semantics the docs describe, shown for real.
//   - With jemalloc preloaded (it marks purged memory zeroed and hands it to
//     calloc() uncleared) the build must refuse mapping, and the restored
//     area must read back as zeros. Forcing the mapping (CRAC_PAGES=map)
//     makes it stale: this test fails if such an area is ever mapped.
func TestDirectMapZeroFill(t *testing.T) {
	requireE2E(t)
	if _, err := os.Stat(hostJemalloc); err != nil {
		t.Fatalf("needs %s (make deps installs libjemalloc2): %v", hostJemalloc, err)
	}
	if err := ensureWorkDir(); err != nil {
		t.Fatal(err)
	}
	root := repoRoot(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "zerofill")
	if out, err := exec.Command("gcc", "-O2", "-Wall", "-o", bin, filepath.Join(root, "e2e/testdata/zerofill/zerofill.c")).CombinedOutput(); err != nil {
		t.Fatalf("gcc testdata/zerofill: %v\n%s", err, out)
	}
	build := func(tag string, adds []builder.Add, env []string) (string, *contract.Metadata) {
		t.Helper()
		ref := "oci-layout:" + filepath.Join(workDir, "images") + ":" + tag
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		var log bytes.Buffer
		res, err := builder.Build(ctx, builder.Options{
			Base:       "oci-layout:" + filepath.Join(root, "build/base") + ":jre17",
			Adds:       append([]builder.Add{{Src: bin, Dest: "/app/zerofill"}}, adds...),
			Cmd:        []string{"/app/zerofill", "8080"},
			Env:        env,
			Port:       8080,
			ReadyURL:   "http://127.0.0.1:8080/health",
			NoAgent:    true,
			Outputs:    []string{ref},
			CriuBundle: filepath.Join(root, "build/criu"),
			Launcher:   filepath.Join(root, "bin/crac-launch"),
			CacheDir:   cacheDir,
			AppOutput:  &log,
			Version:    "e2e",
		})
		if err != nil {
			t.Fatalf("building %s: %v\napp output:\n%s", tag, err, log.String())
		}
		return ref, res.Metadata
	}
	// check starts ref restored with env and returns /check's answer and
	// the maps lines of the area.
	check := func(ref string, env ...string) (string, string) {
		t.Helper()
		s := startRefWith(t, runner.Options{Image: ref, Env: env})
		if mode, reason := s.r.WaitMode(5 * time.Second); mode != "restored" {
			t.Fatalf("%s %v: want a restore, got %q (%s)", ref, env, mode, reason)
		}
		maps := get(t, s.url+"/maps")
		return get(t, s.url+"/check"), maps
	}

	plain, m := build("zerofill", nil, nil)
	if m.Pages == nil || !m.Pages.Map {
		t.Fatalf("plain build: pages policy %+v, want map", m.Pages)
	}
	got, maps := check(plain)
	if !strings.HasPrefix(got, "stale") || !strings.Contains(maps, "pages-") {
		t.Errorf("plain build, default restore: /check %q with the area backed by\n%s\nwant stale data from a mapping of the pages image", got, maps)
	}
	if got, maps := check(plain, contract.EnvPages+"="+contract.PagesRead); got != "zero" || strings.Contains(maps, "pages-") {
		t.Errorf("plain build, CRAC_PAGES=read: /check %q with the area backed by\n%s\nwant zero (anonymous memory)", got, maps)
	}

	jem, m := build("zerofill-jemalloc", []builder.Add{{Src: hostJemalloc, Dest: "/app/libjemalloc.so.2"}},
		[]string{"LD_PRELOAD=/app/libjemalloc.so.2"})
	if m.Pages == nil || m.Pages.Map || !strings.Contains(m.Pages.Reason, "jemalloc") {
		t.Fatalf("jemalloc build: pages policy %+v, want read with a reason naming jemalloc", m.Pages)
	}
	if got, maps := check(jem); got != "zero" || strings.Contains(maps, "pages-") {
		t.Errorf("jemalloc build, default restore: /check %q with the area backed by\n%s\nwant zero: this area must refill with zeros and was mapped from the pages image", got, maps)
	}
	if got, _ := check(jem, contract.EnvPages+"="+contract.PagesMap); !strings.HasPrefix(got, "stale") {
		t.Errorf("jemalloc build, CRAC_PAGES=map: /check %q, want stale (else this test could not catch a mapped area)", got)
	}
}
