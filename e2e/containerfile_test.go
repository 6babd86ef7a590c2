package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"

	"github.com/crac-build/crac-build/internal/contract"
	"github.com/crac-build/crac-build/internal/host"
	"github.com/crac-build/crac-build/internal/sandbox"
)

// newBuildah is newPodman for the Containerfile tests: buildah shares the
// private storage, so podman runs what buildah built.
func newBuildah(t *testing.T) *engine {
	t.Helper()
	requireTools(t, "buildah", "podman")
	for _, f := range []string{"build/image/index.json", "bin/crac-build"} {
		if !fileExists(filepath.Join(repoRoot(t), f)) {
			msg := "the Containerfile tests need " + f + " (make image)"
			if os.Getenv("CRAC_E2E") == "1" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
	p := newPodman(t)
	if err := os.MkdirAll(filepath.Join(p.dir, "tmp"), 0o700); err != nil {
		t.Fatal(err)
	}
	// Before newPodman's cleanup: buildah's working containers, if a
	// build left any.
	t.Cleanup(func() {
		if out, err := p.buildah(context.Background(), "rm", "--all"); err != nil {
			t.Errorf("%v\n%s", err, out)
		}
	})
	return p
}

// in is p for a subtest: its failures are the subtest's.
func (p *engine) in(t *testing.T) *engine {
	q := *p
	q.t = t
	return &q
}

// buildah runs buildah on the podman's storage; a failure's error carries
// its output. Its temp files (image copies) go to the private tmp dir.
func (p *engine) buildah(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "buildah", append([]string{"--root", filepath.Join(p.dir, "root"), "--runroot", filepath.Join(p.dir, "runroot")}, args...)...)
	cmd.Env = append(append([]string{}, p.env...), "TMPDIR="+filepath.Join(p.dir, "tmp"))
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("buildah %s: %w\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String(), nil
}

// buildStepFlags are what examples/containerfile needs from buildah.
var buildStepFlags = []string{"--cap-add", "CAP_SYS_ADMIN,CAP_NET_ADMIN,CAP_CHECKPOINT_RESTORE", "--security-opt", "seccomp=unconfined"}

// TestContainerfile builds examples/containerfile with buildah (the
// checkpoint is taken in a RUN step) and runs the result with podman with
// only CAP_CHECKPOINT_RESTORE added: it must restore and serve. `make
// e2e-containerfile` runs it alone.
func TestContainerfile(t *testing.T) {
	p := newBuildah(t)
	root := repoRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	const image = "localhost/crac-e2e/hello:warm"
	out := p.buildExample(ctx, filepath.Join(root, "examples/containerfile/Containerfile"), image)
	if !strings.Contains(out, "checkpoint of ") {
		t.Errorf("buildah output lacks the checkpoint's summary:\n%s", out)
	} else if !strings.Contains(out, "; class cache: dynamic AppCDS archive of JDK 17, ") {
		t.Errorf("the checkpoint's summary does not name the step's class cache:\n%s", out)
	}

	t.Run("metadata", func(t *testing.T) {
		checkMetadata(p.in(t), image)
	})

	// Restores and serves with only CAP_CHECKPOINT_RESTORE added; SIGTERM
	// gives the JVM's 143.
	t.Run("restores", func(t *testing.T) {
		p.in(t).runWarm(image, "crac-e2e-containerfile")
	})

	// examples/kubernetes's Deployment asks for the least privileges a
	// restore needs: the same security context, applied by podman, must
	// restore.
	t.Run("kubernetes security context", func(t *testing.T) {
		p.in(t).runWarm(image, "crac-e2e-k8s", deploymentSecurityFlags(t, root)...)
	})

	// A profile that makes clone3 fail with ENOSYS, as Docker's and
	// containerd's defaults do: the launcher must start cold and serve.
	t.Run("clone3 blocked starts cold", func(t *testing.T) {
		prof := filepath.Join(p.dir, "no-clone3.json")
		if err := writeNoClone3Profile(filepath.Join(root, "examples/kubernetes/crac-restore-seccomp.json"), prof); err != nil {
			t.Fatal(err)
		}
		line := p.in(t).runExpect(image, "crac-e2e-no-clone3", "cold", "--security-opt", "seccomp="+prof)
		// CRIU's fallback for clone3 is ns_last_pid, read-only in a container.
		if !strings.Contains(line, "ns_last_pid") {
			t.Errorf("the cold start's reason does not name ns_last_pid: %s", line)
		}
	})
}

// TestContainerfileDockerfile builds examples/containerfile/Dockerfile
// (for BuildKit) with buildah, but for the --security=insecure that
// buildah does not know (its build flags give the same): crac-build is
// bind-mounted into the step, installs the launcher and the CRIU bundle,
// and does not stay in the image.
func TestContainerfileDockerfile(t *testing.T) {
	p := newBuildah(t)
	root := repoRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	b, err := os.ReadFile(filepath.Join(root, "examples/containerfile/Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := strings.ReplaceAll(string(b), " --security=insecure", "")
	if df == string(b) {
		t.Fatal("the Dockerfile lacks RUN --security=insecure, which BuildKit needs")
	}
	file := filepath.Join(p.dir, "Dockerfile")
	if err := os.WriteFile(file, []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	const image = "localhost/crac-e2e/hello:warm-mount"
	p.buildExample(ctx, file, image)
	checkMetadata(p, image)
	p.runWarm(image, "crac-e2e-dockerfile")
	out, err := p.try("run", "--rm", "--network", "none", "--entrypoint", "/opt/crac-build/bin/crac-build", image, "--version")
	if err == nil || !strings.Contains(out, "no such file or directory") {
		t.Errorf("crac-build stayed in the image: %s %v", out, err)
	}
}

// checkMetadata reads the checkpoint's metadata out of image: the cold
// command is the one the RUN step gave, the JVM kept only the
// capabilities a restoring container has, the warmup ran, the class
// cache is in the image.
func checkMetadata(p *engine, image string) {
	t := p.t
	t.Helper()
	id := strings.TrimSpace(p.run("create", image))
	defer p.try("rm", "--force", id) //nolint:errcheck // newPodman's cleanup removes it anyway
	dst := filepath.Join(p.dir, "metadata-"+id+".json")
	p.run("cp", id+":"+contract.MetadataPath, dst)
	m, err := contract.Read(dst)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(m.Cold.Args, []string{"java", "-XX:UseAVX=2", "-XX:-UseSHA", "-Xmx256m", "-jar", "/app/hello.jar"}); diff != "" {
		t.Errorf("cold command (-got +want):\n%s", diff)
	}
	want := sandbox.DefaultCaps()
	eff, _ := host.ParseCapMask(m.Process.CapEff)
	bnd, _ := host.ParseCapMask(m.Process.CapBnd)
	wantMask, _ := host.CapMask(want)
	if eff != wantMask || bnd != wantMask {
		t.Errorf("the JVM had CapEff %s, CapBnd %s; want the build step's capabilities cut to %v", host.CapNames(eff), host.CapNames(bnd), want)
	}
	if m.Process.PID < 128 {
		t.Errorf("the JVM had PID %d, want >= 128", m.Process.PID)
	}
	if m.Warmup.Requests != 200 || m.Warmup.Errors != 0 {
		t.Errorf("warmup %+v, want 200 requests without error", m.Warmup)
	}
	// The dump's inventory of what the checkpoint holds, as in a build.
	if h := m.Hygiene; h == nil || len(h.Processes) == 0 || h.Processes[0].PID != m.Process.PID {
		t.Errorf("hygiene %+v, want the inventory of the JVM's process", h)
	}
	// The JVM ran with the org.crac agent, which answered before the dump.
	if co := m.Coordination; co == nil || len(co.Endpoints) != 1 || co.Agent != contract.AgentPath {
		t.Errorf("coordination %+v, want the agent of the one JVM", co)
	}
	// The step's training run made the JDK's class cache, which the
	// checkpointed JVM mapped (JDK 17: a dynamic AppCDS archive), in the
	// step's layer; its time is in the build's split.
	if cc := m.ClassCache; cc == nil || cc.Kind != contract.ClassCacheAppCDS || cc.JDK != 17 || cc.Size <= 0 || cc.Path != contract.ClassCacheDir+"/app.jsa" {
		t.Errorf("class cache %+v, want a dynamic AppCDS archive of JDK 17 at %s/app.jsa", cc, contract.ClassCacheDir)
	} else {
		t.Logf("%s: class cache %s of JDK %d, %d bytes, training run %d ms", image, cc.Kind, cc.JDK, cc.Size, m.Timings["classcache"])
		file := filepath.Join(p.dir, "class-cache-"+id+".jsa")
		p.run("cp", id+":"+cc.Path, file)
		if fi, err := os.Stat(file); err != nil || fi.Size() != cc.Size {
			t.Errorf("the image's %s: %v, want %d bytes (the metadata's)", cc.Path, err, cc.Size)
		}
	}
	if _, ok := m.Timings["classcache"]; !ok {
		t.Errorf("timings %v lack the class cache's", m.Timings)
	}
	label := strings.TrimSpace(p.run("image", "inspect", "--format", "{{index .Labels \""+contract.LabelFormat+"\"}}", image))
	if label != strconv.Itoa(contract.FormatVersion) {
		t.Errorf("label %s = %q, want %d", contract.LabelFormat, label, contract.FormatVersion)
	}
}

// buildExample builds a Containerfile of examples/containerfile with
// buildah and the flags docs/containerfile.md gives, tagged image.
func (p *engine) buildExample(ctx context.Context, file, image string) string {
	p.t.Helper()
	root := repoRoot(p.t)
	args := append([]string{"bud", "--network", "none"}, buildStepFlags...)
	args = append(args,
		"--build-arg", "CRAC_BUILD_IMAGE=oci:"+filepath.Join(root, "build/image")+":crac-build",
		"--build-arg", "BASE=oci:"+filepath.Join(root, "build/base")+":jre17",
		"-f", file, "-t", image, filepath.Join(root, "examples/hello"))
	out, err := p.buildah(ctx, args...)
	if err != nil {
		p.t.Fatalf("building %s: %v", file, err)
	}
	return out
}

// TestContainerfileBuildStepErrors: a RUN step without what CRIU needs
// fails at once, naming the flags that fix it.
func TestContainerfileBuildStepErrors(t *testing.T) {
	p := newBuildah(t)
	root := repoRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ctxDir := filepath.Join(p.dir, "context")
	if err := os.MkdirAll(ctxDir, 0o755); err != nil {
		t.Fatal(err)
	}
	// The crac-build image alone: the step fails before it needs a JVM.
	cf := "FROM oci:" + filepath.Join(root, "build/image") + ":crac-build\n" +
		`RUN ["/opt/crac-build/bin/crac-build", "checkpoint", "--port", "8080", "--", "java", "-jar", "app.jar"]` + "\n"
	if err := os.WriteFile(filepath.Join(ctxDir, "Containerfile"), []byte(cf), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		flags []string
		want  []string
	}{
		{"default", nil, []string{"seccomp filter", "--security-opt seccomp=unconfined", "--cap-add CAP_SYS_ADMIN,CAP_NET_ADMIN,CAP_CHECKPOINT_RESTORE", "--allow security.insecure", "RUN --security=insecure"}},
		{"seccomp off, no caps", []string{"--security-opt", "seccomp=unconfined"}, []string{"lacks CAP_CHECKPOINT_RESTORE and CAP_NET_ADMIN and CAP_SYS_ADMIN", "--cap-add"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append(append([]string{"bud", "--network", "none"}, tc.flags...), "-f", filepath.Join(ctxDir, "Containerfile"), ctxDir)
			_, err := p.buildah(ctx, args...)
			if err == nil {
				t.Fatal("the build succeeded without what CRIU needs")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

// deploymentSecurityFlags translates the security context of
// examples/kubernetes/deployment.yaml into podman flags.
func deploymentSecurityFlags(t *testing.T, root string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "examples/kubernetes/deployment.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var dep *appsv1.Deployment
	for _, doc := range strings.Split(string(b), "\n---\n") {
		var d appsv1.Deployment
		if err := yaml.Unmarshal([]byte(doc), &d); err == nil && d.Kind == "Deployment" {
			dep = &d
		}
	}
	if dep == nil {
		t.Fatal("no Deployment in examples/kubernetes/deployment.yaml")
	}
	pod := dep.Spec.Template.Spec
	sc := pod.Containers[0].SecurityContext
	var flags []string
	for _, c := range sc.Capabilities.Drop {
		flags = append(flags, "--cap-drop", string(c))
	}
	for _, c := range sc.Capabilities.Add {
		flags = append(flags, "--cap-add", string(c))
	}
	if sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation {
		flags = append(flags, "--security-opt", "no-new-privileges")
	}
	if sc.RunAsUser != nil {
		flags = append(flags, "--user", strconv.FormatInt(*sc.RunAsUser, 10))
	}
	prof := pod.SecurityContext.SeccompProfile
	if prof == nil || prof.LocalhostProfile == nil {
		t.Fatal("the Deployment names no Localhost seccomp profile")
	}
	// docs/running.md installs the example's profile under this name.
	if *prof.LocalhostProfile != "profiles/crac-restore.json" {
		t.Fatalf("unexpected localhostProfile %q", *prof.LocalhostProfile)
	}
	return append(flags, "--security-opt", "seccomp="+filepath.Join(root, "examples/kubernetes/crac-restore-seccomp.json"))
}

// writeNoClone3Profile copies a seccomp profile with clone3 answered by
// ENOSYS, as Docker's and containerd's default profiles answer it.
func writeNoClone3Profile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	var prof map[string]any
	if err := json.Unmarshal(b, &prof); err != nil {
		return err
	}
	rules, _ := prof["syscalls"].([]any)
	for _, r := range rules {
		rule, _ := r.(map[string]any)
		names, _ := rule["names"].([]any)
		kept := names[:0]
		for _, n := range names {
			if n != "clone3" {
				kept = append(kept, n)
			}
		}
		rule["names"] = kept
	}
	enosys := 38
	prof["syscalls"] = append([]any{map[string]any{"names": []string{"clone3"}, "action": "SCMP_ACT_ERRNO", "errnoRet": enosys}}, rules...)
	out, err := json.Marshal(prof)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, out, 0o644)
}
