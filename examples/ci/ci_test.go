// Package ci_test checks the example GitHub Actions workflow: actionlint
// (the workflow linter, as a library) finds nothing, and it has the steps
// a warm image needs.
package ci_test

import (
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/rhysd/actionlint"
	"sigs.k8s.io/yaml"
)

const workflowFile = "warm-image.yml"

func TestWorkflowLints(t *testing.T) {
	// shellcheck, where installed, also checks the run: scripts.
	var opts actionlint.LinterOptions
	if p, err := exec.LookPath("shellcheck"); err == nil {
		opts.Shellcheck = p
	}
	l, err := actionlint.NewLinter(io.Discard, &opts)
	if err != nil {
		t.Fatal(err)
	}
	errs, err := l.LintFile(workflowFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range errs {
		t.Errorf("%s:%d:%d: %s [%s]", workflowFile, e.Line, e.Column, e.Message, e.Kind)
	}
}

type step struct {
	Name string            `json:"name"`
	Uses string            `json:"uses"`
	Run  string            `json:"run"`
	With map[string]string `json:"with"`
}

type workflow struct {
	Permissions map[string]string `json:"permissions"`
	Env         map[string]string `json:"env"`
	Jobs        map[string]struct {
		Steps []step `json:"steps"`
	} `json:"jobs"`
}

func load(t *testing.T) workflow {
	t.Helper()
	b, err := os.ReadFile(workflowFile)
	if err != nil {
		t.Fatal(err)
	}
	var w workflow
	if err := yaml.Unmarshal(b, &w); err != nil {
		t.Fatalf("%s: %v", workflowFile, err)
	}
	return w
}

// find returns the first step of a job whose uses or run contains s.
func find(t *testing.T, steps []step, s string) step {
	t.Helper()
	for _, st := range steps {
		if strings.Contains(st.Uses, s) || strings.Contains(st.Run, s) {
			return st
		}
	}
	t.Fatalf("no step with %q", s)
	return step{}
}

func TestWorkflowBuildsAndPushes(t *testing.T) {
	w := load(t)
	if w.Permissions["packages"] != "write" {
		t.Errorf("permissions %v: pushing to ghcr.io needs packages: write", w.Permissions)
	}
	job, ok := w.Jobs["warm-image"]
	if !ok {
		t.Fatalf("no job warm-image in %v", w.Jobs)
	}
	find(t, job.Steps, "actions/checkout@")
	find(t, job.Steps, "docker/login-action@")
	install := find(t, job.Steps, "/opt/crac-build")
	if !strings.Contains(install.Run, "$CRAC_BUILD_IMAGE") {
		t.Errorf("crac-build is not installed from the crac-build image: %q", install.Run)
	}
	build := find(t, job.Steps, "crac-build build")
	for _, want := range []string{"sudo", "DOCKER_CONFIG=", "--base ", "--add ", "--cmd ", "--ready-url ", "--warmup ", "--push "} {
		if !strings.Contains(build.Run, want) {
			t.Errorf("the build step lacks %q:\n%s", want, build.Run)
		}
	}
	// The warmup script and the jar the step names exist in this repo.
	for _, p := range []string{"../hello/warmup.sh", "../hello/build.sh"} {
		if _, err := os.Stat(p); err != nil {
			t.Error(err)
		}
	}
}

func TestWorkflowDockerfileJob(t *testing.T) {
	w := load(t)
	job, ok := w.Jobs["warm-image-dockerfile"]
	if !ok {
		t.Fatal("no job warm-image-dockerfile")
	}
	buildx := find(t, job.Steps, "docker/setup-buildx-action@")
	if !strings.Contains(buildx.With["buildkitd-flags"], "--allow-insecure-entitlement security.insecure") {
		t.Errorf("the builder does not allow security.insecure: %v", buildx.With)
	}
	push := find(t, job.Steps, "docker/build-push-action@")
	if push.With["allow"] != "security.insecure" {
		t.Errorf("build-push-action allow = %q, want security.insecure", push.With["allow"])
	}
	if _, err := os.Stat("../containerfile/" + strings.TrimPrefix(push.With["file"], "examples/containerfile/")); err != nil || !strings.HasPrefix(push.With["file"], "examples/containerfile/") {
		t.Errorf("file %q is not one of examples/containerfile: %v", push.With["file"], err)
	}
}
