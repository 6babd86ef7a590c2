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
