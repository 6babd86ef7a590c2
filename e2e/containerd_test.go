package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/crac-build/crac-build/internal/host"
	"github.com/crac-build/crac-build/internal/proc"
	"github.com/crac-build/crac-build/internal/registry"
)

// ctrd is a containerd of the test's own (the runtime behind kubelet's
// CRI), driven with ctr in one namespace.
type ctrd struct {
	t   *testing.T
	dir string
	ns  string
}

// newContainerd starts containerd with its root, state and sockets under a
// temp dir and its CRI plugin off (no kubelet here). When the test ends,
// also on failure: every task is killed and deleted (their shims go with
// them), containerd is stopped by its PID, mounts left under the dir are
// unmounted and the dir removed.
func newContainerd(t *testing.T) *ctrd {
	t.Helper()
	requireTools(t, "containerd", "ctr", "nsenter")
	dir, err := os.MkdirTemp("", "crac-ctd-")
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "config.toml")
	err = os.WriteFile(conf, []byte(fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = %q
[ttrpc]
  address = %q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), filepath.Join(dir, "c.sock"), filepath.Join(dir, "c.sock.ttrpc"))), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	dm, err := startDaemon(dir, "containerd", "--config", conf)
	if err != nil {
		os.RemoveAll(dir)
		t.Fatal(err)
	}
	c := &ctrd{t: t, dir: dir, ns: "crac-e2e"}
	t.Cleanup(func() {
		if out, err := c.try("containers", "list", "--quiet"); err == nil {
			for _, id := range strings.Fields(out) {
				c.remove(id)
			}
		}
		dm.stop(t)
		for _, mp := range mountsUnder(dir) {
			if err := unix.Unmount(mp, unix.MNT_DETACH); err != nil {
				t.Errorf("unmounting %s: %v", mp, err)
			}
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("removing containerd's state: %v", err)
		}
	})
	dm.waitReady(t, 30*time.Second, func() bool { _, err := c.try("version"); return err == nil })
	return c
}

func (c *ctrd) try(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ctr", append([]string{"--address", filepath.Join(c.dir, "c.sock"), "--namespace", c.ns}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		err = fmt.Errorf("ctr %s: %w", strings.Join(args, " "), err)
	}
	return string(out), err
}

func (c *ctrd) run(args ...string) string {
	c.t.Helper()
	out, err := c.try(args...)
	if err != nil {
		c.t.Fatalf("%v\n%s", err, out)
	}
	return out
}

// remove kills a container's task, deletes it and the container.
func (c *ctrd) remove(id string) {
	_, _ = c.try("task", "kill", "--signal", "SIGKILL", id)
	for i := 0; i < 50; i++ {
		if _, err := c.try("task", "delete", id); err == nil || !c.running(id) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	_, _ = c.try("task", "delete", id)
	if out, err := c.try("containers", "delete", id); err != nil && !strings.Contains(out, "not found") {
		c.t.Errorf("%v\n%s", err, out)
	}
}

// taskPID is the PID of a container's init (the launcher), 0 if none.
func (c *ctrd) taskPID(id string) int {
	out, _ := c.try("task", "list")
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) >= 3 && f[0] == id {
			pid, _ := strconv.Atoi(f[1])
			return pid
		}
	}
	return 0
}

func (c *ctrd) running(id string) bool {
	out, _ := c.try("task", "list")
	return regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(id) + `\s+\d+\s+RUNNING`).MatchString(out)
}

// podSecurity is what examples/kubernetes/deployment.yaml asks of the
// runtime for the hello container, in ctr's terms.
type podSecurity struct {
	flags []string // --cap-add/--cap-drop, --seccomp-profile, --env
	caps  uint64   // the capabilities the container must end up with
}

// manifestSecurity reads the example Deployment, so that the test runs
// exactly what the example asks and the two cannot drift: the capabilities
// (drop ALL, then add), the pod's Localhost seccomp profile (the file the
// example ships for the nodes) and the container's environment.
func manifestSecurity(t *testing.T) podSecurity {
	t.Helper()
	dirK8s := filepath.Join(repoRoot(t), "examples/kubernetes")
	b, err := os.ReadFile(filepath.Join(dirK8s, "deployment.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var dep *appsv1.Deployment
	for _, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(b), -1) {
		var d appsv1.Deployment
		if err := yaml.Unmarshal([]byte(doc), &d); err == nil && d.Kind == "Deployment" {
			dep = &d
		}
	}
	if dep == nil || len(dep.Spec.Template.Spec.Containers) != 1 {
		t.Fatal("examples/kubernetes/deployment.yaml: want a Deployment with one container")
	}
	pod := dep.Spec.Template.Spec
	ctr := pod.Containers[0]
	sc := ctr.SecurityContext
	if sc == nil || sc.Capabilities == nil {
		t.Fatal("the example's container has no capabilities")
	}
	var ps podSecurity
	var added []string
	dropAll := false
	for _, d := range sc.Capabilities.Drop {
		dropAll = dropAll || d == "ALL"
	}
	if !dropAll {
		t.Fatal("the example does not drop ALL capabilities: the test would not know the runtime's defaults")
	}
	for _, a := range sc.Capabilities.Add {
		added = append(added, "CAP_"+string(a))
		ps.flags = append(ps.flags, "--cap-add", "CAP_"+string(a))
	}
	ps.caps, err = host.CapMask(added)
	if err != nil {
		t.Fatal(err)
	}
	// ctr knows no "ALL": drop every capability the example does not add.
	for _, name := range host.CapNames(^ps.caps & (1<<41 - 1)) {
		ps.flags = append(ps.flags, "--cap-drop", name)
	}
	prof := pod.SecurityContext.SeccompProfile
	if ctr.SecurityContext.SeccompProfile != nil {
		prof = ctr.SecurityContext.SeccompProfile
	}
	if prof == nil || prof.Type != corev1.SeccompProfileTypeLocalhost || prof.LocalhostProfile == nil {
		t.Fatalf("the example's seccomp profile is %+v, want Localhost", prof)
	}
	// What a node holds at /var/lib/kubelet/seccomp/<localhostProfile>:
	// the profile the example ships for it.
	ps.flags = append(ps.flags, "--seccomp", "--seccomp-profile", filepath.Join(dirK8s, "crac-restore-seccomp.json"))
	for _, e := range ctr.Env {
		ps.flags = append(ps.flags, "--env", e.Name+"="+e.Value)
	}
	return ps
}

// start runs image as container id with the flags, detached, its output
// in a log file; it returns the log's path.
func (c *ctrd) start(image, id string, flags ...string) string {
	c.t.Helper()
	logf := filepath.Join(c.dir, id+".log")
	args := append([]string{"run", "--detach", "--log-uri", "file://" + logf}, flags...)
	c.run(append(args, image, id)...)
	c.t.Cleanup(func() { c.remove(id) })
	return logf
}

// launchLine waits for the launcher's line in a container's log.
func (c *ctrd) launchLine(logf string) string {
	c.t.Helper()
	for i := 0; i < 600; i++ {
		b, _ := os.ReadFile(logf)
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "crac-launch: restored in") || strings.HasPrefix(l, "crac-launch: cold start") {
				return l
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	b, _ := os.ReadFile(logf)
	c.t.Fatalf("no launcher line within 60 s:\n%s", b)
	return ""
}

// get GETs / inside the container's network namespace (ctr gives a
// container only loopback), until the hello app answers.
func (c *ctrd) get(id string) string {
	c.t.Helper()
	pid := c.taskPID(id)
	if pid == 0 {
		c.t.Fatalf("%s: no task", id)
	}
	for i := 0; i < 300; i++ {
		out, err := exec.Command("nsenter", "--target", strconv.Itoa(pid), "--net",
			"curl", "--silent", "--max-time", "5", "http://127.0.0.1:8080/").Output()
		if err == nil && strings.Contains(string(out), "hello from crac-build") {
			return string(out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.t.Fatalf("%s: GET / in the container's network: no hello greeting within 30 s", id)
	return ""
}

// The Kubernetes node path without a kubelet: containerd (Debian 12's 1.6)
// imports a warm image from a docker archive with zstd layers and runs it
// with exactly the capabilities, seccomp profile and environment of
// examples/kubernetes (restored, serving, the container holding just those
// capabilities); with the runtime's defaults it starts cold with the
// reason, and so it does under containerd's default seccomp profile.
func TestContainerd(t *testing.T) {
	if os.Getenv("CRAC_CONTAINERD_REPORT") != "" {
		_ = os.Remove(os.Getenv("CRAC_CONTAINERD_REPORT"))
	}
	requireTools(t, "curl")
	ref := helloImage(t)
	c := newContainerd(t)
	ctx := context.Background()
	img, err := registry.Load(ctx, ref, registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "hello.tar")
	// containerd reads zstd layers (since 1.5): the archive keeps them.
	if err := registry.Write(ctx, img, "docker-archive:"+archive+":crac-e2e/hello:warm", registry.Options{ArchiveCompression: registry.ArchiveZstd}); err != nil {
		t.Fatal(err)
	}
	c.run("images", "import", archive)
	const image = "docker.io/crac-e2e/hello:warm"
	sec := manifestSecurity(t)

	t.Run("the example's security context", func(t *testing.T) {
		c := &ctrd{t: t, dir: c.dir, ns: c.ns}
		logf := c.start(image, "hello-k8s", sec.flags...)
		line := c.launchLine(logf)
		if !strings.HasPrefix(line, "crac-launch: restored in") {
			t.Fatalf("with the example's security context: %s", line)
		}
		body := c.get("hello-k8s")
		if requestsServed(body) < 10 {
			t.Errorf("GET / = %q: want the warmup's requests carried over", body)
		}
		st, err := proc.Status(c.taskPID("hello-k8s"))
		if err != nil {
			t.Fatal(err)
		}
		if eff, _ := host.ParseCapMask(st["CapEff"]); eff != sec.caps {
			t.Errorf("the container holds %v, want exactly the example's %v", host.CapNames(eff), host.CapNames(sec.caps))
		}
		t.Logf("containerd with examples/kubernetes' security context: %s", line)
		_, _ = c.try("task", "kill", "--signal", "SIGTERM", "hello-k8s")
		for i := 0; i < 100 && c.running("hello-k8s"); i++ {
			time.Sleep(100 * time.Millisecond)
		}
		if out, _ := c.try("task", "delete", "hello-k8s"); strings.Contains(out, "exit code") && !strings.Contains(out, "exit code 143") {
			t.Errorf("after SIGTERM: %s, want exit code 143 (the JVM's)", strings.TrimSpace(out))
		}
	})
	t.Run("doctor", func(t *testing.T) {
		env := append(os.Environ(), "CONTAINERD_ADDRESS="+filepath.Join(c.dir, "c.sock"), "CONTAINERD_NAMESPACE="+c.ns)
		doctorSays(t, env, "containerd", image, "ok   image          "+image+": restored in")
	})
	t.Run("runtime defaults start cold", func(t *testing.T) {
		c := &ctrd{t: t, dir: c.dir, ns: c.ns}
		line := c.launchLine(c.start(image, "hello-defaults"))
		if !strings.Contains(line, "cold start: missing capabilities CAP_CHECKPOINT_RESTORE") {
			t.Errorf("with containerd's defaults: %q, want a cold start naming the capability", line)
		}
		c.get("hello-defaults")
	})
	t.Run("RuntimeDefault seccomp starts cold", func(t *testing.T) {
		c := &ctrd{t: t, dir: c.dir, ns: c.ns}
		var flags []string
		for i := 0; i < len(sec.flags); i++ {
			if sec.flags[i] == "--seccomp-profile" {
				i++ // containerd's own default profile instead
				continue
			}
			flags = append(flags, sec.flags[i])
		}
		line := c.launchLine(c.start(image, "hello-runtimedefault", flags...))
		if !strings.Contains(line, "cold start: the seccomp profile blocks clone3") {
			t.Errorf("under containerd's default seccomp profile: %q, want a cold start naming clone3", line)
		}
		c.get("hello-runtimedefault")
	})
	engineSummary(t, "CRAC_CONTAINERD_REPORT", "containerd: restored")
}
