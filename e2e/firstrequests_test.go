package e2e

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/crac-build/crac-build/internal/builder"
	"github.com/crac-build/crac-build/internal/contract"
)

// The launcher's post-restore pass (docs/restore-speed.md): an image whose
// warmup was the built-in one records its path, and the launcher requests
// it once right after the restore (the breakdown
// says so, and the restored application counted the request);
// CRAC_FIRST_REQUESTS names other paths or turns the pass off; an image
// warmed up by a script records no paths, and restores without a pass.
func TestPostRestorePass(t *testing.T) {
	requireE2E(t)
	if err := ensureWorkDir(); err != nil {
		t.Fatal(err)
	}
	root := repoRoot(t)
	ref := "oci-layout:" + filepath.Join(workDir, "images") + ":first-requests"
	var log bytes.Buffer
	o := helloBuild(root, ref, &log)
	o.WarmupScript, o.WarmupRequests, o.WarmupPath, o.WarmupRounds = "", 40, "/work?n=4", ""
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	res, err := builder.Build(ctx, o)
	if err != nil {
		t.Fatalf("build: %v\n%s", err, log.String())
	}
	want := contract.FirstRequests{Base: "http://127.0.0.1:8080", Paths: []string{"/work?n=4"}}
	if f := res.Metadata.FirstRequests; f == nil || f.Base != want.Base || len(f.Paths) != 1 || f.Paths[0] != want.Paths[0] {
		t.Fatalf("metadata firstRequests = %+v, want %+v", f, want)
	}

	// served starts a container and returns how many requests the JVM
	// counts (the checkpoint's, the pass's and this one) and the
	// launcher's pass.
	served := func(ref string, env ...string) (int, int, float64) {
		t.Helper()
		s := startRef(t, ref, env...)
		if mode, reason := s.r.WaitMode(30 * time.Second); mode != "restored" {
			t.Fatalf("%s (%s), want a restore", mode, reason)
		}
		// The breakdown line follows the pass: wait for it before the
		// request that reads the JVM's count.
		bd := s.r.Breakdown()
		if bd == nil {
			t.Fatalf("no breakdown line; stderr:\n%s", s.stderr)
		}
		n := requestsServed(get(t, s.url+"/"))
		return n, bd.FirstRequests, bd.FirstRequestsMs
	}
	off, offPass, _ := served(ref, contract.EnvFirstRequests+"=off")
	if offPass != 0 {
		t.Errorf("CRAC_FIRST_REQUESTS=off: the breakdown says %d first requests", offPass)
	}
	n, pass, took := served(ref)
	if pass != 1 || took <= 0 || n != off+1 {
		t.Errorf("image's pass: %d first requests in %.1f ms, the JVM counts %d requests (without the pass %d); want 1 and one more", pass, took, n, off)
	}
	n, pass, _ = served(ref, contract.EnvFirstRequests+"=/,/work?n=2,/health")
	// /health is not counted by examples/hello.
	if pass != 3 || n != off+2 {
		t.Errorf("CRAC_FIRST_REQUESTS with 3 paths: %d first requests, the JVM counts %d requests (without the pass %d); want 3 and two more", pass, n, off)
	}

	// A script's requests are not known: no pass.
	if _, pass, _ := served(helloImage(t)); pass != 0 {
		t.Errorf("image warmed up by a script: the breakdown says %d first requests, want none", pass)
	}
}
