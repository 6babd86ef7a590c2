package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crac-build/crac-build/internal/contract"
)

// A warmup from a requests file: bin/crac-build build sends the file's
// requests (a POST with a body and a header among them) round after round,
// records each endpoint's answers in the image (inspect shows them), and
// the image restores; a file whose endpoint answers 404 fails the build,
// naming the endpoint, and writes nothing.
func TestWarmupRequestsFile(t *testing.T) {
	requireE2E(t)
	if err := ensureWorkDir(); err != nil {
		t.Fatal(err)
	}
	root := repoRoot(t)
	cli := filepath.Join(root, "bin/crac-build")
	dir := t.TempDir()
	good := filepath.Join(dir, "requests.txt")
	err := os.WriteFile(good, []byte(`# the endpoints that matter
GET /work?n=16
GET /
POST / {"from": "warmup"}
  Content-Type: application/json
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	ref := "oci-layout:" + filepath.Join(dir, "images") + ":requests"
	build := func(file, out string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, cli, "--cache-dir", cacheDir, "build",
			"--base", "oci-layout:"+filepath.Join(root, "build/base")+":jre17",
			"--add", filepath.Join(root, "examples/hello/build/hello.jar")+":/app/hello.jar",
			"--cmd", "java -jar /app/hello.jar", "--port", "8080", "--ready-url", "http://127.0.0.1:8080/health",
			"--warmup-requests-file", file, "--warmup-requests", "60", "--output", out)
		var b bytes.Buffer
		cmd.Stdout, cmd.Stderr = &b, &b
		err := cmd.Run()
		return b.String(), err
	}
	out, err := build(good, ref)
	if err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	for _, want := range []string{"sending 60 warmup requests from requests.txt (3 endpoints)", "GET /work?n=16: 200 x20", "POST /: 200 x20"} {
		if !strings.Contains(out, want) {
			t.Errorf("build output lacks %q:\n%s", want, out)
		}
	}
	insp, err := exec.Command(cli, "inspect", ref).CombinedOutput()
	if err != nil || !strings.Contains(string(insp), "60 requests (0 errors)") || !strings.Contains(string(insp), "GET /: 200 x20") {
		t.Errorf("inspect: %v\n%s\nwant the endpoints' counts", err, insp)
	}
	s := startRef(t, ref)
	if mode, reason := s.r.WaitMode(30 * time.Second); mode != "restored" {
		t.Fatalf("%s (%s), want a restore", mode, reason)
	}
	// The warmup's 40 requests to / (GET and POST) carried over.
	if n := requestsServed(get(t, s.url+"/")); n < 41 {
		t.Errorf("restored JVM counts %d requests to /, want the warmup's 40 and this one", n)
	}

	bad := filepath.Join(dir, "bad.txt")
	if err := os.WriteFile(bad, []byte("GET /\nGET /vm?option=NoSuchOption\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	badOut := filepath.Join(dir, "bad.tar")
	out, err = build(bad, "docker-archive:"+badOut+":crac-e2e/bad:1")
	if err == nil {
		t.Fatalf("a warmup half of whose requests answer 404 built an image:\n%s", out)
	}
	if !strings.Contains(out, "30 of 60 warmup requests failed") || !strings.Contains(out, "GET /vm?option=NoSuchOption: 404 x30") {
		t.Errorf("build failure does not name the failing endpoint:\n%s", out)
	}
	if fileExists(badOut) {
		t.Errorf("the failed build wrote %s", badOut)
	}
}

// buildHelloWarmup builds examples/hello with bin/crac-build and the given
// warmup flags into an OCI layout under dir, and returns the build's
// output and the image's warmup record (inspect --json).
func buildHelloWarmup(t *testing.T, dir string, flags ...string) (string, *contract.Warmup) {
	t.Helper()
	root := repoRoot(t)
	cli := filepath.Join(root, "bin/crac-build")
	ref := "oci-layout:" + filepath.Join(dir, "images") + ":hello"
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	args := append([]string{"--cache-dir", cacheDir, "build",
		"--base", "oci-layout:" + filepath.Join(root, "build/base") + ":jre17",
		"--add", filepath.Join(root, "examples/hello/build/hello.jar") + ":/app/hello.jar",
		"--cmd", "java -jar /app/hello.jar", "--port", "8080", "--ready-url", "http://127.0.0.1:8080/health",
		"--output", ref}, flags...)
	var b bytes.Buffer
	cmd := exec.CommandContext(ctx, cli, args...)
	cmd.Stdout, cmd.Stderr = &b, &b
	if err := cmd.Run(); err != nil {
		t.Fatalf("build %v: %v\n%s", flags, err, b.String())
	}
	out, err := exec.Command(cli, "inspect", "--json", ref).Output()
	if err != nil {
		t.Fatalf("inspect --json %s: %v", ref, err)
	}
	var info struct {
		Warmup *contract.Warmup `json:"warmup"`
	}
	if err := json.Unmarshal(out, &info); err != nil || info.Warmup == nil {
		t.Fatalf("inspect --json: %v, warmup %v\n%s", err, info.Warmup, out)
	}
	text, err := exec.Command(cli, "inspect", ref).CombinedOutput()
	if err != nil {
		t.Fatalf("inspect %s: %v\n%s", ref, err, text)
	}
	return b.String() + "\n--- inspect ---\n" + string(text), info.Warmup
}

// A warmup path without a count of requests warms up in rounds until the
// JVM is steady: the build stops on its own before the bound, says why
// (the JIT quiet, the latency flat), records the rounds, their curve and
// what the JVM reached (inspect shows them), and the image restores.
func TestWarmupUntilSteady(t *testing.T) {
	requireE2E(t)
	if err := ensureWorkDir(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out, w := buildHelloWarmup(t, dir, "--warmup-path", "/work?n=16")
	if !w.Steady || w.Until != "steady" || w.Rounds < 4 || w.Rounds >= w.MaxRounds || w.MaxRounds != 30 {
		t.Errorf("warmup %+v: want steady, 4 <= rounds < 30 (the bound)\n%s", w, out)
	}
	if !strings.HasPrefix(w.Stopped, fmt.Sprintf("steady after %d rounds: JIT quiet (", w.Rounds)) || !strings.Contains(w.Stopped, "latency flat") {
		t.Errorf("stopped %q, want steady after %d rounds, the JIT quiet and the latency flat", w.Stopped, w.Rounds)
	}
	if len(w.Curve) != w.Rounds || w.Curve[0].CompiledMethods == 0 || w.Curve[len(w.Curve)-1].CompiledMethods < w.Curve[0].CompiledMethods {
		t.Errorf("curve %+v: want one point per round, compiled methods read", w.Curve)
	}
	sent := 0
	for i, r := range w.Curve {
		if want := min(max(100, sent/2), 1000); r.Requests != want {
			t.Errorf("round %d: %d requests, want %d (100, or half of those before, at most 1000)", i+1, r.Requests, want)
		}
		sent += r.Requests
	}
	if w.Requests != sent || w.Errors != 0 {
		t.Errorf("%d requests (%d errors), want the rounds' %d", w.Requests, w.Errors, sent)
	}
	if r := w.Reached; r == nil || r.CompiledMethods < 100 || r.CodeCacheKiB < 1024 || r.ClassesLoaded < 500 {
		t.Errorf("reached %+v: want compiled methods, code cache and classes of a warm JVM", r)
	}
	for _, want := range []string{"warming up in rounds of 100 GET /work?n=16 or half of those before (at most 1000), until steady (at most 30 rounds, 10m0s)",
		"round 1: 100 requests, ", "warmup steady after ", "warmup reached ", " compiled methods, code cache ", " classes loaded",
		"warmup rounds", "round latency (ms): "} {
		if !strings.Contains(out, want) {
			t.Errorf("build or inspect output lacks %q:\n%s", want, out)
		}
	}
	s := startRef(t, "oci-layout:"+filepath.Join(dir, "images")+":hello")
	if mode, reason := s.r.WaitMode(30 * time.Second); mode != "restored" {
		t.Fatalf("%s (%s), want a restore", mode, reason)
	}
	get(t, s.url+"/work?n=16")
}

// A warmup that cannot settle within its bound stops there and says so:
// two rounds are fewer than a verdict needs.
func TestWarmupRoundsBound(t *testing.T) {
	requireE2E(t)
	if err := ensureWorkDir(); err != nil {
		t.Fatal(err)
	}
	out, w := buildHelloWarmup(t, t.TempDir(), "--warmup-path", "/work?n=16", "--warmup-rounds", "steady:2")
	if w.Steady || w.Rounds != 2 || w.MaxRounds != 2 {
		t.Errorf("warmup %+v: want 2 rounds, not steady", w)
	}
	want := "stopped at the bound: 2 rounds (--warmup-rounds steady:2) before the JVM settled: "
	if !strings.HasPrefix(w.Stopped, want) || !strings.Contains(out, "warmup "+want) {
		t.Errorf("stopped %q, want %q in the metadata and the build's output:\n%s", w.Stopped, want, out)
	}
}
