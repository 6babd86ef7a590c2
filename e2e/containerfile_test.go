package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"

	"github.com/crac-build/crac-build/contract"
	"github.com/crac-build/crac-build/sandbox"
)

// containersConf is what podman and buildah need on these machines
// (ENVIRONMENT.md): crun does not work here, and the default ulimits are
// too low for a JVM. Events are not logged: nothing is written outside the
// test's private storage.
const containersConf = `[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
events_logger = "none"
`

// podmanEnv runs buildah and podman on private storage in a temp dir, so
// the test neither sees nor changes the machine's images and containers.
type podmanEnv struct {
	t       *testing.T
	dir     string
	env     []string
	storage []string
}

func newPodmanEnv(t *testing.T) *podmanEnv {
	t.Helper()
	requireE2E(t)
	root := repoRoot(t)
	var missing []string
	for _, tool := range []string{"buildah", "podman"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool+" (make deps)")
		}
	}
	for _, p := range []string{"build/image/index.json", "bin/crac-build"} {
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			missing = append(missing, p+" (make image)")
		}
	}
	if len(missing) > 0 {
		msg := "the Containerfile test needs " + strings.Join(missing, ", ")
		if os.Getenv("CRAC_E2E") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	// Not t.TempDir: its removal must come after the unmounts below.
	dir, err := os.MkdirTemp("", "crac-e2e-podman-")
	if err != nil {
		t.Fatal(err)
	}
	p := &podmanEnv{t: t, dir: dir}
	t.Cleanup(p.cleanup)
	conf := filepath.Join(dir, "containers.conf")
	tmp := filepath.Join(dir, "tmp")
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, []byte(containersConf), 0o644); err != nil {
		t.Fatal(err)
	}
	p.env = append(os.Environ(), "CONTAINERS_CONF="+conf, "TMPDIR="+tmp)
	p.storage = []string{"--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "runroot"), "--storage-driver", "overlay"}
	return p
}

// cleanup removes every container and image of the private storage, then
// whatever is still mounted below it, then the directory.
func (p *podmanEnv) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, c := range [][]string{
		{"podman", "rm", "--all", "--force", "--time", "0"},
		{"buildah", "rm", "--all"},
		{"podman", "rmi", "--all", "--force"},
	} {
		if out, err := p.cmd(ctx, c[0], c[1:]...).CombinedOutput(); err != nil {
			p.t.Logf("cleanup: %s: %v: %s", strings.Join(c, " "), err, out)
		}
	}
	unmountUnder(p.t, p.dir)
	if err := os.RemoveAll(p.dir); err != nil {
		p.t.Errorf("cleanup: %v", err)
	}
}

func (p *podmanEnv) cmd(ctx context.Context, tool string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, tool, append(append([]string{}, p.storage...), args...)...)
	cmd.Env = p.env
	if tool == "podman" {
		cmd.Args = append(cmd.Args[:1], append([]string{"--tmpdir", filepath.Join(p.dir, "tmp")}, cmd.Args[1:]...)...)
	}
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// run runs a tool and returns its stdout; a failure's error carries the
// output.
func (p *podmanEnv) run(ctx context.Context, tool string, args ...string) (string, error) {
	cmd := p.cmd(ctx, tool, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w\n%s%s", tool, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}

// unmountUnder detaches every mount below dir, deepest first.
func unmountUnder(t *testing.T, dir string) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	defer f.Close()
	var mounts []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && (fields[4] == dir || strings.HasPrefix(fields[4], dir+"/")) {
			mounts = append(mounts, fields[4])
		}
	}
	sort.Slice(mounts, func(i, j int) bool { return len(mounts[i]) > len(mounts[j]) })
	for _, m := range mounts {
		if err := unix.Unmount(m, unix.MNT_DETACH); err != nil && err != unix.EINVAL && err != unix.ENOENT {
			t.Errorf("cleanup: unmounting %s: %v", m, err)
		}
	}
}

// buildStepFlags are what examples/containerfile needs from buildah.
var buildStepFlags = []string{"--cap-add", "CAP_SYS_ADMIN,CAP_NET_ADMIN,CAP_CHECKPOINT_RESTORE", "--security-opt", "seccomp=unconfined"}

// TestContainerfile builds examples/containerfile with buildah (the
// checkpoint is taken in a RUN step) and runs the result with podman with
// only CAP_CHECKPOINT_RESTORE added: it must restore and serve. `make
// e2e-containerfile` runs it alone.
func TestContainerfile(t *testing.T) {
	p := newPodmanEnv(t)
	root := repoRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	const image = "localhost/crac-e2e/hello:warm"
	out := p.buildExample(ctx, t, filepath.Join(root, "examples/containerfile/Containerfile"), image)
	if !strings.Contains(out, "checkpoint of ") {
		t.Errorf("buildah output lacks the checkpoint's summary:\n%s", out)
	}

	t.Run("metadata", func(t *testing.T) {
		checkMetadata(ctx, t, p, image)
	})

	t.Run("restores", func(t *testing.T) {
		c := p.start(ctx, t, image)
		if mode := c.waitMode(t); mode != "restored" {
			t.Fatalf("launcher: %q, want a restore", mode)
		}
		c.checkServes(t)
		// The launcher passes the JVM's status on: 143 after SIGTERM.
		if _, err := p.run(ctx, "podman", "stop", "--time", "20", c.name); err != nil {
			t.Fatal(err)
		}
		st, err := p.run(ctx, "podman", "inspect", "--format", "{{.State.ExitCode}}", c.name)
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(st) != "143" {
			t.Errorf("exit status after podman stop = %s, want 143", strings.TrimSpace(st))
		}
	})

	// examples/kubernetes's Deployment asks for the least privileges a
	// restore needs: the same security context, applied by podman, must
	// restore.
	t.Run("kubernetes security context", func(t *testing.T) {
		c := p.start(ctx, t, image, deploymentSecurityFlags(t, root)...)
		if mode := c.waitMode(t); mode != "restored" {
			t.Fatalf("launcher: %q, want a restore", mode)
		}
		c.checkServes(t)
	})

	// A profile that makes clone3 fail with ENOSYS, as Docker's and
	// containerd's defaults do: the launcher must start cold and serve.
	t.Run("clone3 blocked starts cold", func(t *testing.T) {
		prof := filepath.Join(p.dir, "no-clone3.json")
		if err := writeNoClone3Profile(filepath.Join(root, "examples/kubernetes/crac-restore-seccomp.json"), prof); err != nil {
			t.Fatal(err)
		}
		c := p.start(ctx, t, image, "--security-opt", "seccomp="+prof)
		if mode := c.waitMode(t); mode != "cold" {
			t.Fatalf("launcher with clone3 blocked: %q, want a cold start", mode)
		}
		// CRIU's fallback for clone3 is ns_last_pid, read-only in a container.
		if logs := c.logs(); !strings.Contains(logs, "ns_last_pid") {
			t.Errorf("the cold start's reason does not name ns_last_pid:\n%s", logs)
		}
		if body := c.get(t, "/"); !strings.Contains(body, "hello from crac-build") {
			t.Errorf("cold GET / = %q", body)
		}
	})
}

// TestContainerfileDockerfile builds examples/containerfile/Dockerfile
// (for BuildKit) with buildah, but for the --security=insecure that
// buildah does not know (its build flags give the same): crac-build is
// bind-mounted into the step, installs the launcher and the CRIU bundle,
// and does not stay in the image.
func TestContainerfileDockerfile(t *testing.T) {
	p := newPodmanEnv(t)
	root := repoRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	b, err := os.ReadFile(filepath.Join(root, "examples/containerfile/Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := strings.ReplaceAll(string(b), " --security=insecure", "")
	if !strings.Contains(string(b), "--security=insecure") || df == string(b) {
		t.Fatal("the Dockerfile lacks RUN --security=insecure, which BuildKit needs")
	}
	file := filepath.Join(p.dir, "Dockerfile")
	if err := os.WriteFile(file, []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	const image = "localhost/crac-e2e/hello:warm-mount"
	p.buildExample(ctx, t, file, image)
	c := p.start(ctx, t, image)
	if mode := c.waitMode(t); mode != "restored" {
		t.Fatalf("launcher: %q, want a restore", mode)
	}
	c.checkServes(t)
	out, err := p.run(ctx, "podman", "run", "--rm", "--network", "none", "--entrypoint", "/opt/crac-build/bin/crac-build", image, "--version")
	if err == nil || !strings.Contains(err.Error(), "no such file or directory") {
		t.Errorf("crac-build stayed in the image: %s %v", out, err)
	}
}

// checkMetadata reads the checkpoint's metadata out of image: the cold
// command is the one the RUN step gave, the JVM kept only the
// capabilities a restoring container has, the warmup ran.
func checkMetadata(ctx context.Context, t *testing.T, p *podmanEnv, image string) {
	t.Helper()
	id, err := p.run(ctx, "podman", "create", image)
	if err != nil {
		t.Fatal(err)
	}
	id = strings.TrimSpace(id)
	defer p.run(context.Background(), "podman", "rm", "--force", id) //nolint:errcheck // best effort; cleanup removes all
	dst := filepath.Join(p.dir, "metadata-"+id+".json")
	if _, err := p.run(ctx, "podman", "cp", id+":"+contract.MetadataPath, dst); err != nil {
		t.Fatal(err)
	}
	m, err := contract.Read(dst)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(m.Cold.Args, []string{"java", "-Xmx256m", "-jar", "/app/hello.jar"}); diff != "" {
		t.Errorf("cold command (-got +want):\n%s", diff)
	}
	want := sandbox.DefaultCaps
	eff, _ := contract.ParseCapMask(m.Process.CapEff)
	bnd, _ := contract.ParseCapMask(m.Process.CapBnd)
	wantMask, _ := contract.CapMask(want)
	if eff != wantMask || bnd != wantMask {
		t.Errorf("the JVM had CapEff %s, CapBnd %s; want the build step's capabilities cut to %v", contract.CapNames(eff), contract.CapNames(bnd), want)
	}
	if m.Process.PID < 128 {
		t.Errorf("the JVM had PID %d, want >= 128", m.Process.PID)
	}
	if m.Warmup.Requests != 200 || m.Warmup.Errors != 0 {
		t.Errorf("warmup %+v, want 200 requests without error", m.Warmup)
	}
	label, err := p.run(ctx, "podman", "image", "inspect", "--format", "{{index .Labels \""+contract.LabelFormat+"\"}}", image)
	if err != nil || strings.TrimSpace(label) != strconv.Itoa(contract.FormatVersion) {
		t.Errorf("label %s = %q (%v), want %d", contract.LabelFormat, label, err, contract.FormatVersion)
	}
}

// buildExample builds a Containerfile of examples/containerfile with
// buildah and the flags the README gives, tagged image.
func (p *podmanEnv) buildExample(ctx context.Context, t *testing.T, file, image string) string {
	t.Helper()
	root := repoRoot(t)
	args := append([]string{"bud", "--network", "none"}, buildStepFlags...)
	args = append(args,
		"--build-arg", "CRAC_BUILD_IMAGE=oci:"+filepath.Join(root, "build/image")+":crac-build",
		"--build-arg", "BASE=oci:"+filepath.Join(root, "build/base")+":jre17",
		"-f", file, "-t", image, filepath.Join(root, "examples/hello"))
	out, err := p.run(ctx, "buildah", args...)
	if err != nil {
		t.Fatalf("building %s: %v", file, err)
	}
	return out
}

// TestContainerfileBuildStepErrors: a RUN step without what CRIU needs
// fails at once, naming the flags that fix it.
func TestContainerfileBuildStepErrors(t *testing.T) {
	p := newPodmanEnv(t)
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
			_, err := p.run(ctx, "buildah", args...)
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

type podmanContainer struct {
	p    *podmanEnv
	name string
	pid  int
}

// start runs image detached with only CAP_CHECKPOINT_RESTORE added, and no
// network but loopback: the test reaches it through its network
// namespace, so nothing changes on the host's network.
func (p *podmanEnv) start(ctx context.Context, t *testing.T, image string, extra ...string) *podmanContainer {
	t.Helper()
	c := &podmanContainer{p: p, name: "crac-e2e-" + strconv.FormatInt(time.Now().UnixNano(), 36)}
	args := append([]string{"run", "--detach", "--name", c.name, "--network", "none", "--cap-add", "CHECKPOINT_RESTORE"}, extra...)
	if _, err := p.run(ctx, "podman", append(args, image)...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("container output:\n%s", c.logs())
		}
		if _, err := p.run(context.Background(), "podman", "rm", "--force", "--time", "0", c.name); err != nil {
			t.Errorf("removing container: %v", err)
		}
	})
	out, err := p.run(ctx, "podman", "inspect", "--format", "{{.State.Pid}}", c.name)
	if err != nil {
		t.Fatal(err)
	}
	if c.pid, err = strconv.Atoi(strings.TrimSpace(out)); err != nil || c.pid <= 0 {
		t.Fatalf("container PID %q: %v", out, err)
	}
	return c
}

// logs is the container's stdout and stderr (podman logs writes them to
// its own).
func (c *podmanContainer) logs() string {
	out, err := c.p.cmd(context.Background(), "podman", "logs", c.name).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("podman logs: %v: %s", err, out)
	}
	return string(out)
}

// waitMode returns "restored" or "cold" from the launcher's log line.
func (c *podmanContainer) waitMode(t *testing.T) string {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		logs := c.logs()
		switch {
		case strings.Contains(logs, "crac-launch: restored in"):
			return "restored"
		case strings.Contains(logs, "crac-launch: cold start"):
			return "cold"
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatal("no launcher line within a minute")
	return ""
}

func (c *podmanContainer) get(t *testing.T, path string) string {
	t.Helper()
	client := &http.Client{
		Transport: &http.Transport{DialContext: sandbox.Netns{PID: c.pid, Name: c.name}.DialContext, DisableKeepAlives: true},
		Timeout:   10 * time.Second,
	}
	var last error
	for i := 0; i < 150; i++ { // a cold start takes seconds
		resp, err := client.Get("http://127.0.0.1:8080" + path)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return string(b)
			}
			err = fmt.Errorf("%s: %s", resp.Status, b)
		}
		last = err
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("GET %s in %s: %v", path, c.name, last)
	return ""
}

// checkServes: the restored JVM answers and carries on counting from the
// warmup's requests (a fresh JVM would say 1).
func (c *podmanContainer) checkServes(t *testing.T) {
	t.Helper()
	body := c.get(t, "/")
	if !strings.Contains(body, "hello from crac-build") {
		t.Fatalf("GET / = %q", body)
	}
	if requestsServed(body) < 100 {
		t.Errorf("GET / = %q: want the warmup's 200 requests carried over", body)
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
	// The README installs the example's profile under this name.
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
