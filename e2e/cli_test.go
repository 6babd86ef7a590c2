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

	"github.com/google/go-cmp/cmp"

	"github.com/crac-build/crac-build/internal/contract"
	"github.com/crac-build/crac-build/internal/registry"
	"github.com/crac-build/crac-build/internal/runner"
	"github.com/crac-build/crac-build/internal/testutil"
)

// The tests of this file run bin/crac-build itself, as a user or a
// Containerfile does: the flags go through the command line, not through
// builder.Options.

// crac runs bin/crac-build with args; a failure's error carries its
// stderr. stdout is returned alone (--json).
func crac(t *testing.T, ctx context.Context, args ...string) (string, error) {
	t.Helper()
	stdout, _, err := cracIn(t, ctx, "", nil, args...)
	return stdout, err
}

// cracIn is crac run in dir (the test's own if "") with env added to the
// test's; it returns stderr too.
func cracIn(t *testing.T, ctx context.Context, dir string, env []string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	bin := filepath.Join(repoRoot(t), "bin/crac-build")
	if !fileExists(bin) {
		msg := "the command-line tests need bin/crac-build (make all)"
		if os.Getenv("CRAC_E2E") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	// SIGTERM first: crac-build then removes its sandbox on the way out.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 30 * time.Second
	var out bytes.Buffer
	var errOut testutil.SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String(), errOut.String(), fmt.Errorf("crac-build %s: %w\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String(), errOut.String(), nil
}

// TestCLIBuild: `crac-build build` with the flags a CI job gives (a build
// secret, a memory limit, the environment policy, an output and a push to
// a registry): each lands in the image, which restores and serves, and
// whose policy applies.
func TestCLIBuild(t *testing.T) {
	requireTools(t, "docker-registry")
	helloImage(t) // the package's work and cache dirs
	root := repoRoot(t)
	reg := distRegistry(t)
	dir := t.TempDir()
	secret, value := secretFile(t)
	ref := "oci-layout:" + filepath.Join(dir, "images") + ":cli"
	pushed := reg + "/crac-e2e/hello:cli"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	out, err := crac(t, ctx,
		"--criu-bundle", filepath.Join(root, "build/criu"), "--cache-dir", cacheDir,
		"build",
		"--base", "oci-layout:"+filepath.Join(root, "build/base")+":jre17",
		"--add", filepath.Join(root, "examples/hello/build/hello.jar")+":/app/hello.jar",
		"--cmd", "java -jar /app/hello.jar",
		"--port", "8080", "--ready-url", "http://127.0.0.1:8080/health",
		"--warmup-requests", "20",
		"--secret", "token="+secret,
		"--memory", "512m",
		"--on-env-change", "cold",
		"--output", ref,
		"--push", pushed, "--insecure",
		"--json",
	)
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Digest   string            `json:"digest"`
		Metadata contract.Metadata `json:"metadata"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("build --json: %v\n%s", err, out)
	}
	m := res.Metadata
	// --cmd, with the default CPU baseline's JVM options after java.
	if diff := cmp.Diff(m.Cold.Args, []string{"java", "-XX:UseAVX=2", "-XX:-UseSHA", "-jar", "/app/hello.jar"}); diff != "" {
		t.Errorf("--cmd: cold command (-got +want):\n%s", diff)
	}
	if m.CPUBaseline == nil || m.CPUBaseline.Name != "x86-64-v3" {
		t.Errorf("CPU baseline %+v, want the default x86-64-v3", m.CPUBaseline)
	}
	if m.OnEnvChange != contract.EnvChangeCold {
		t.Errorf("--on-env-change cold: policy %q", m.OnEnvChange)
	}
	if m.Limits == nil || m.Limits.MemoryLimitBytes != 512<<20 {
		t.Errorf("--memory 512m: limits %+v", m.Limits)
	}
	if h := m.Hygiene; h == nil || len(h.Secrets) != 1 || h.Secrets[0].ID != "token" || !h.Secrets[0].Scanned {
		t.Errorf("--secret token: scans %+v, want token scanned", h)
	}
	if strings.Contains(out, value) {
		t.Error("the build's JSON holds the secret's value")
	}
	img, err := registry.Load(ctx, pushed, registry.Options{Insecure: true})
	if err != nil {
		t.Fatalf("--push: %v", err)
	}
	if d, err := img.Digest(); err != nil || d.String() != res.Digest {
		t.Errorf("--push: the registry has %v (%v), the build made %s", d, err, res.Digest)
	}

	// Restores with the build's environment; with another one, the policy
	// starts it cold.
	s := startRef(t, ref)
	if mode, reason := s.r.WaitMode(5 * time.Second); mode != "restored" {
		t.Errorf("launcher mode %q (%s), want restored", mode, reason)
	}
	get(t, s.url+"/")
	s = startRefWith(t, runner.Options{Image: ref, Env: []string{"GREETING=changed"}})
	if mode, reason := s.r.WaitMode(5 * time.Second); mode != "cold" || !strings.Contains(reason, "GREETING (set at run time)") {
		t.Errorf("with GREETING set: launcher %q (%s), want a cold start naming GREETING", mode, reason)
	}
	get(t, s.url+"/")
}

// cliContext makes a build context for buildah with bin/crac-build in it
// (the Containerfile copies it in: the command under test is this
// checkout's, not the one in the crac-build image) and the given files.
func cliContext(t *testing.T, p *engine, containerfile string, files map[string]string) string {
	t.Helper()
	root := repoRoot(t)
	dir := filepath.Join(p.dir, "context-"+strings.ReplaceAll(t.Name(), "/", "-"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	files["crac-build"] = filepath.Join(root, "bin/crac-build")
	for name, src := range files {
		if out, err := exec.Command("cp", "-a", src, filepath.Join(dir, name)).CombinedOutput(); err != nil {
			t.Fatalf("cp %s: %v\n%s", src, err, out)
		}
	}
	cf := fmt.Sprintf(`FROM oci:%s:crac-build AS crac-build
FROM oci:%s:jre17
COPY --from=crac-build /opt/crac-build /opt/crac-build
COPY crac-build /usr/local/bin/crac-build
`, filepath.Join(root, "build/image"), filepath.Join(root, "build/base")) + containerfile
	if err := os.WriteFile(filepath.Join(dir, "Containerfile"), []byte(cf), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestCLICheckpointSecret: an application that reads a secret the build
// step mounts (RUN --mount=type=secret) and keeps it: `crac-build
// checkpoint` must fail naming the secret, as `build` does, never printing
// its value.
func TestCLICheckpointSecret(t *testing.T) {
	p := newBuildah(t)
	classes, _ := probe(t)
	secret, value := secretFile(t)
	dir := cliContext(t, p, `COPY probe /app/probe
RUN --mount=type=secret,id=token crac-build checkpoint \
      --port 8080 --ready-url http://127.0.0.1:8080/health \
      --env SECRET_MODE=keep --env SECRET_ID=token \
      -- java -cp /app/probe Probe
ENTRYPOINT ["/opt/crac-build/bin/crac-launch"]
`, map[string]string{"probe": classes})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	args := append(append([]string{"bud", "--network", "none"}, buildStepFlags...),
		"--secret", "id=token,src="+secret, "-f", filepath.Join(dir, "Containerfile"), "-t", "localhost/crac-e2e/probe:keep", dir)
	out, err := p.buildah(ctx, args...)
	if err == nil {
		t.Fatalf("the checkpoint of an application that keeps its build step's secret succeeded:\n%s", tail(out, 30))
	}
	for _, want := range []string{`secret "token" found in pages-`, "read secrets after the restore"} {
		if !strings.Contains(out, want) {
			t.Errorf("buildah output lacks %q:\n%s", want, tail(out, 30))
		}
	}
	if strings.Contains(out, value) {
		t.Errorf("the output prints the secret's value")
	}
}

// TestCLICheckpointEnv: `crac-build checkpoint --on-env-change cold` in a
// RUN step records the image's environment, not what the step's shell set
// (PWD, SHLVL, ...): the image restores under the cold policy, without a
// warning, and starts cold with another GREETING.
func TestCLICheckpointEnv(t *testing.T) {
	p := newBuildah(t)
	root := repoRoot(t)
	dir := cliContext(t, p, `COPY hello.jar /app/hello.jar
ENV GREETING=built
WORKDIR /app
RUN cd / && cd /app && crac-build checkpoint --on-env-change cold \
      --port 8080 --ready-url http://127.0.0.1:8080/health \
      --warmup-requests 20 \
      -- java -jar /app/hello.jar
ENTRYPOINT ["/opt/crac-build/bin/crac-launch"]
`, map[string]string{"hello.jar": filepath.Join(root, "examples/hello/build/hello.jar")})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	const image = "localhost/crac-e2e/hello:cli-env"
	args := append(append([]string{"bud", "--network", "none"}, buildStepFlags...), "-f", filepath.Join(dir, "Containerfile"), "-t", image, dir)
	if _, err := p.buildah(ctx, args...); err != nil {
		t.Fatal(err)
	}
	id := strings.TrimSpace(p.run("create", image))
	dst := filepath.Join(p.dir, "metadata-env.json")
	p.run("cp", id+":"+contract.MetadataPath, dst)
	p.run("rm", id)
	m, err := contract.Read(dst)
	if err != nil {
		t.Fatal(err)
	}
	if m.OnEnvChange != contract.EnvChangeCold {
		t.Errorf("policy %q, want cold", m.OnEnvChange)
	}
	for _, kv := range m.Cold.Env {
		if k, _, _ := strings.Cut(kv, "="); shellSetForTest[k] {
			t.Errorf("the build's environment holds %s, which only the RUN step's shell set", kv)
		}
	}
	if lines := p.runExpect(image, "crac-e2e-cli-env", "restored"); strings.Contains(lines, "environment differs") {
		t.Errorf("the restore warns of an environment change:\n%s", lines)
	}
	line := p.runExpect(image, "crac-e2e-cli-env-cold", "cold", "-e", "GREETING=run")
	if !strings.Contains(line, "GREETING (changed)") {
		t.Errorf("the cold start's reason does not name GREETING: %s", line)
	}
}

// shellSetForTest are the variables a shell sets for the commands it runs.
var shellSetForTest = map[string]bool{"PWD": true, "OLDPWD": true, "SHLVL": true, "_": true}

// TestCLIMistakes: the likely mistakes of a first build, made for real
// with bin/crac-build and a JVM: each ends the build with one line that
// names the fix (builder/mistakes_test.go and cmd/crac-build's tests
// check the wording without a JVM).
func TestCLIMistakes(t *testing.T) {
	requireFiles(t, "image", "build/image/index.json")
	if err := ensureWorkDir(); err != nil {
		t.Fatal(err)
	}
	root := repoRoot(t)
	dir := t.TempDir()
	jar := filepath.Join(root, "examples/hello/build/hello.jar") + ":/app/hello.jar"
	base := "oci-layout:" + filepath.Join(root, "build/base") + ":jre17"
	notExec := filepath.Join(dir, "warmup.sh")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	aFile := filepath.Join(dir, "a-file")
	if err := os.WriteFile(aFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string // the start of the line that says what went wrong
	}{
		{"no port answering", []string{"--base", base, "--add", jar, "--cmd", "java -jar /app/hello.jar", "--port", "9999", "--ready-timeout", "10s"},
			"nothing answered at http://127.0.0.1:9999/ within 10s: give --port the port the application listens on"},
		{"wrong ready URL", []string{"--base", base, "--add", jar, "--cmd", "java -jar /app/hello.jar", "--port", "8080", "--ready-url", "http://127.0.0.1:8080/ready", "--ready-timeout", "10s"},
			"http://127.0.0.1:8080/ready answered 404 Not Found until the 10s timeout: give --ready-url a page that answers 2xx or 3xx"},
		{"base without java", []string{"--base", "oci-layout:" + filepath.Join(root, "build/image") + ":crac-build", "--add", jar, "--cmd", "java -jar /app/hello.jar", "--port", "8080"},
			`the image has no "java" on its PATH: use a base image with a JDK 11+`},
		{"app exits at start", []string{"--base", base, "--cmd", "java -jar /app/missing.jar", "--port", "8080"},
			"the application exited (status 1) before it was ready: its last lines are below"},
		{"warmup not executable", []string{"--base", base, "--add", jar, "--port", "8080", "--warmup", notExec},
			"--warmup " + notExec + " is not executable: chmod +x " + notExec},
		{"output exists", []string{"--base", base, "--add", jar, "--port", "8080", "--output", "oci-layout:" + aFile + ":x"},
			"--output oci-layout:" + aFile + ":x: " + aFile + " exists and is a file, not an OCI layout directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--cache-dir", cacheDir, "build"}, tc.args...)
			if !strings.Contains(strings.Join(args, " "), "--output") {
				args = append(args, "--output", "oci-layout:"+filepath.Join(dir, "images")+":x")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			_, stderr, err := cracIn(t, ctx, "", nil, args...)
			if err == nil {
				t.Fatal("the build succeeded")
			}
			if firstLine(stderr, "crac-build: "+tc.want) == "" {
				t.Errorf("no line starting %q:\n%s", "crac-build: "+tc.want, stderr)
			}
			if fileExists(filepath.Join(dir, "images")) {
				t.Errorf("the failed build wrote %s", filepath.Join(dir, "images"))
			}
		})
	}
}
