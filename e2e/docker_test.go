package e2e

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/crac-build/crac-build/internal/registry"
)

// dockerClient is Debian's docker.io client when it is there: the one that
// comes with the engine the tests start (the machine may have a newer
// client first on PATH).
func dockerClient() string {
	if fileExists("/usr/bin/docker") {
		return "/usr/bin/docker"
	}
	return "docker"
}

// newDocker starts a dockerd of the test's own: its data, exec root,
// socket and managed containerd under a temp dir, its containers on a
// bridge the test makes (not docker0: another Docker on the host keeps
// its own), no iptables rules (published ports go through docker-proxy, on
// 127.0.0.1 only). Everything goes when the test ends, also on failure:
// containers, the daemon (by its PID), mounts left under the dir, the
// bridge, the dir.
func newDocker(t *testing.T) *engine {
	t.Helper()
	requireTools(t, "dockerd", "containerd", "ip")
	dir, err := os.MkdirTemp("", "crac-dk-") // short: socket paths under it
	if err != nil {
		t.Fatal(err)
	}
	bridge := fmt.Sprintf("cracdk%d", os.Getpid()%100000)
	subnet := fmt.Sprintf("172.29.%d", 1+os.Getpid()%250)
	sh := func(args ...string) {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	cleanupDir := func() {
		for _, mp := range mountsUnder(dir) {
			if err := unix.Unmount(mp, unix.MNT_DETACH); err != nil {
				t.Errorf("unmounting %s: %v", mp, err)
			}
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("removing dockerd's state: %v", err)
		}
	}
	_ = exec.Command("ip", "link", "delete", bridge).Run() // left by a killed run
	sh("ip", "link", "add", "name", bridge, "type", "bridge")
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "link", "delete", bridge).CombinedOutput(); err != nil {
			t.Errorf("deleting bridge %s: %v %s", bridge, err, out)
		}
	})
	sh("ip", "addr", "add", subnet+".1/24", "dev", bridge)
	sh("ip", "link", "set", bridge, "up")

	sock := filepath.Join(dir, "docker.sock")
	args := []string{
		"--data-root", filepath.Join(dir, "data"), "--exec-root", filepath.Join(dir, "exec"),
		"--host", "unix://" + sock, "--pidfile", filepath.Join(dir, "docker.pid"),
		"--bridge", bridge, "--iptables=false", "--ip-masq=false",
		"--default-ulimit", "nofile=20000:20000",
	}
	if p, err := exec.LookPath("docker-proxy"); err == nil {
		args = append(args, "--userland-proxy-path", p)
	} else if fileExists("/usr/sbin/docker-proxy") {
		args = append(args, "--userland-proxy-path", "/usr/sbin/docker-proxy")
	}
	dm, err := startDaemon(dir, "dockerd", args...)
	if err != nil {
		cleanupDir()
		t.Fatal(err)
	}
	d := &engine{
		t:   t,
		bin: dockerClient(),
		dir: dir,
		env: append(os.Environ(), "DOCKER_HOST=unix://"+sock, "DOCKER_CONFIG="+filepath.Join(dir, "client")),
	}
	t.Cleanup(func() {
		if ids, err := d.try("ps", "--all", "--quiet"); err == nil && strings.TrimSpace(ids) != "" {
			if out, err := d.try(append([]string{"rm", "--force"}, strings.Fields(ids)...)...); err != nil {
				t.Errorf("%v\n%s", err, out)
			}
		}
		// dockerd stops its containerd and its shims on SIGTERM.
		dm.stop(t)
		cleanupDir()
	})
	dm.waitReady(t, 60*time.Second, func() bool { _, err := d.try("version"); return err == nil })
	// The flags docs/running.md gives for Docker: the capability (Docker
	// before 23 knows CAP_CHECKPOINT_RESTORE not, and the kernel takes
	// CAP_SYS_ADMIN in its place) and the project's seccomp profile.
	v, major := dockerVersion(t, d)
	capability := "CHECKPOINT_RESTORE"
	if major < 23 {
		capability = "SYS_ADMIN"
	}
	d.warm = []string{"--cap-add", capability, "--security-opt", "seccomp=" + filepath.Join(repoRoot(t), "seccomp/crac-restore.json")}
	t.Logf("Docker Engine %s; warm flags %v", v, d.warm)
	return d
}

// daemon is a daemon a test started (dockerd, containerd), in its own
// process group, its output in DIR/NAME.log.
type daemon struct {
	name   string
	cmd    *exec.Cmd
	exited chan struct{}
	log    *os.File
}

func startDaemon(dir, name string, args ...string) (*daemon, error) {
	log, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, err
	}
	d := &daemon{name: name, cmd: exec.Command(name, args...), exited: make(chan struct{}), log: log}
	d.cmd.Stdout, d.cmd.Stderr = log, log
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := d.cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	go func() { _ = d.cmd.Wait(); close(d.exited) }()
	return d, nil
}

// waitReady polls ready until it holds; it fails the test if the daemon
// exits or does not get ready in time.
func (d *daemon) waitReady(t *testing.T, within time.Duration, ready func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ready() {
		select {
		case <-d.exited:
			b, _ := os.ReadFile(d.log.Name())
			t.Fatalf("%s exited at start:\n%s", d.name, tail(string(b), 40))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer within %s", d.name, within)
		}
	}
}

// stop stops the daemon by its PID: SIGTERM, then after 30 s SIGKILL to its
// process group. It closes the log and shows its end if the test failed.
func (d *daemon) stop(t *testing.T) {
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(30 * time.Second):
		t.Errorf("%s (PID %d) did not stop within 30 s of SIGTERM: killing its process group", d.name, d.cmd.Process.Pid)
		_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
		<-d.exited
	}
	d.log.Close()
	if t.Failed() {
		if b, err := os.ReadFile(d.log.Name()); err == nil {
			t.Logf("%s log (last 40 lines):\n%s", d.name, tail(string(b), 40))
		}
	}
}

func dockerVersion(t *testing.T, d *engine) (string, int) {
	t.Helper()
	v := strings.TrimSpace(d.run("version", "--format", "{{.Server.Version}}"))
	major, err := strconv.Atoi(strings.SplitN(v, ".", 2)[0])
	if err != nil {
		t.Fatalf("docker server version %q: %v", v, err)
	}
	return v, major
}

// writeContext writes a build context: file name -> content.
func writeContext(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// doctorSays runs `crac-build doctor --engine ENGINE --image IMAGE` with
// the project's seccomp profile and wants its output to hold the line.
func doctorSays(t *testing.T, env []string, engineName, image, want string) {
	t.Helper()
	root := repoRoot(t)
	cmd := exec.Command(filepath.Join(root, "bin/crac-build"), "doctor", "--engine", engineName, "--image", image,
		"--seccomp-profile", filepath.Join(root, "seccomp/crac-restore.json"))
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), want) {
		t.Errorf("crac-build doctor --engine %s --image %s: %v\n%s\nwant a line %q", engineName, image, err, out, want)
	}
	t.Logf("crac-build doctor --engine %s:\n%s", engineName, out)
}

// jarWithExtraEntry is the jar at path with one more entry.
func jarWithExtraEntry(t *testing.T, path string) []byte {
	t.Helper()
	r, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for _, f := range r.File {
		if strings.HasSuffix(f.Name, "/") {
			continue // a jar needs no directory entries
		}
		if err := w.Copy(f); err != nil {
			t.Fatal(err)
		}
	}
	extra, err := w.Create("extra.txt")
	if err == nil {
		_, err = extra.Write([]byte("changed after the checkpoint\n"))
	}
	if err == nil {
		err = w.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// engineSummary records the outcome line of `make e2e-docker` (and of
// e2e-containerd): "docker: restored" once a warm image restored and
// served under the engine with the documented flags.
func engineSummary(t *testing.T, env, line string) {
	t.Helper()
	if f := os.Getenv(env); f != "" && !t.Failed() {
		if err := os.WriteFile(f, []byte(line+"\n"), 0o644); err != nil {
			t.Error(err)
		}
	}
}

// Docker Engine (Debian 12's docker.io, 20.10) runs warm images: from a
// docker-archive output and from a registry, with the flags the docs give
// (restored), with Docker's defaults (cold, with the reason), through
// docker stop and docker restart; Dockerfiles that build on a warm image
// keep it warm unless they change a file the JVM held open; and an image
// that `docker build` made becomes a warm image with `crac-build build`.
func TestDocker(t *testing.T) {
	if os.Getenv("CRAC_DOCKER_REPORT") != "" {
		_ = os.Remove(os.Getenv("CRAC_DOCKER_REPORT"))
	}
	ref := helloImage(t)
	d := newDocker(t)
	ctx := context.Background()
	img, err := registry.Load(ctx, ref, registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "hello.tar")
	if err := registry.Write(ctx, img, "docker-archive:"+archive+":crac-e2e/hello:warm", registry.Options{}); err != nil {
		t.Fatal(err)
	}
	const warm = "crac-e2e/hello:warm"

	t.Run("load", func(t *testing.T) {
		d := d.in(t)
		if out := d.run("load", "--input", archive); !strings.Contains(out, warm) {
			t.Fatalf("docker load said %q, want the archive's tag", out)
		}
		line := d.runWarm(warm, "crac-e2e-docker-load")
		t.Logf("docker run %s: %s", strings.Join(d.warm, " "), line)
	})
	t.Run("doctor", func(t *testing.T) {
		doctorSays(t, d.env, "docker", warm, "ok   image          "+warm+": restored in")
	})
	t.Run("defaults start cold with the reason", func(t *testing.T) {
		line := d.in(t).runFlags(warm, "crac-e2e-docker-defaults", "cold", nil)
		if !strings.Contains(line, "missing capabilities CAP_CHECKPOINT_RESTORE") {
			t.Errorf("launcher line %q, want the missing capability named", line)
		}
	})
	t.Run("restart", func(t *testing.T) {
		d := d.in(t)
		port := freePort(t)
		name := "crac-e2e-docker-restart"
		d.run(append(append([]string{"run", "--detach", "--name", name, "--publish", fmt.Sprintf("127.0.0.1:%d:8080", port)}, d.warm...), warm)...)
		defer d.remove(name)
		if mode, l := d.waitStart(name, 1); mode != "restored" {
			t.Fatalf("first start: %s", l)
		}
		url := fmt.Sprintf("http://127.0.0.1:%d/", port)
		d.greeting(url)
		// Same container, same file system: what the first run wrote
		// is still there.
		d.run("restart", "--time", "10", name)
		_, second := d.waitStart(name, 2)
		body := d.greeting(url)
		switch {
		case strings.HasPrefix(second, "crac-launch: restored in"):
			if requestsServed(body) < 10 {
				t.Errorf("restored again, but GET / = %q: want the warmup's requests carried over", body)
			}
		case strings.HasPrefix(second, "crac-launch: cold start: ") && len(second) > len("crac-launch: cold start: "):
		default:
			t.Errorf("after docker restart: %q, want a restore or a cold start with its reason", second)
		}
		t.Logf("after docker restart: %s", second)
	})
	t.Run("pull", func(t *testing.T) {
		d := d.in(t)
		// The docker archive's image (gzip layers): Docker before 23
		// pulls no zstd layer either.
		gz, err := registry.Load(ctx, "docker-archive:"+archive, registry.Options{})
		if err != nil {
			t.Fatal(err)
		}
		reg := distRegistry(t)
		if err := registry.Write(ctx, gz, reg+"/crac/hello:gzip", registry.Options{Insecure: true}); err != nil {
			t.Fatal(err)
		}
		d.run("pull", "--quiet", reg+"/crac/hello:gzip")
		d.runWarm(reg+"/crac/hello:gzip", "crac-e2e-docker-pull")
	})
	t.Run("a layer on top", func(t *testing.T) {
		d := d.in(t)
		dir := writeContext(t, map[string]string{
			"Dockerfile": "FROM " + warm + "\nCOPY app.conf /etc/app.conf\n",
			"app.conf":   "greeting=hello\n",
		})
		d.run("build", "--quiet", "--tag", "crac-e2e/hello:config", dir)
		d.runWarm("crac-e2e/hello:config", "crac-e2e-docker-config")

		// Another valid jar in the place of the one the JVM held open:
		// the same entries and one more.
		dir = writeContext(t, map[string]string{
			"Dockerfile": "FROM " + warm + "\nCOPY hello.jar /app/hello.jar\n",
			"hello.jar":  string(jarWithExtraEntry(t, filepath.Join(repoRoot(t), "examples/hello/build/hello.jar"))),
		})
		d.run("build", "--quiet", "--tag", "crac-e2e/hello:jar", dir)
		line := d.runExpect("crac-e2e/hello:jar", "crac-e2e-docker-jar", "cold")
		if !strings.Contains(line, "/app/hello.jar") {
			t.Errorf("launcher line %q, want the changed jar named", line)
		}
	})
	t.Run("docker build then crac-build build", func(t *testing.T) {
		d := d.in(t)
		root := repoRoot(t)
		cli := filepath.Join(root, "bin/crac-build")
		base, err := registry.Load(ctx, "oci-layout:"+filepath.Join(root, "build/base")+":jre17", registry.Options{})
		if err != nil {
			t.Fatal(err)
		}
		tmp := t.TempDir()
		if err := registry.Write(ctx, base, "docker-archive:"+filepath.Join(tmp, "base.tar")+":crac-e2e/base:jre17", registry.Options{}); err != nil {
			t.Fatal(err)
		}
		d.run("load", "--quiet", "--input", filepath.Join(tmp, "base.tar"))
		jar, err := os.ReadFile(filepath.Join(root, "examples/hello/build/hello.jar"))
		if err != nil {
			t.Fatal(err)
		}
		dir := writeContext(t, map[string]string{
			"Dockerfile": "FROM crac-e2e/base:jre17\nCOPY hello.jar /app/hello.jar\nEXPOSE 8080\nCMD [\"java\", \"-jar\", \"/app/hello.jar\"]\n",
			"hello.jar":  string(jar),
		})
		d.run("build", "--quiet", "--tag", "crac-e2e/app:cold", dir)
		d.run("save", "--output", filepath.Join(tmp, "app.tar"), "crac-e2e/app:cold")
		build := exec.Command(cli, "build", "--base", "docker-archive:"+filepath.Join(tmp, "app.tar")+":crac-e2e/app:cold",
			"--port", "8080", "--ready-url", "http://127.0.0.1:8080/health", "--warmup-requests", "50",
			"--output", "docker-archive:"+filepath.Join(tmp, "warm.tar")+":crac-e2e/app:warm")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("crac-build build: %v\n%s", err, out)
		}
		d.run("load", "--quiet", "--input", filepath.Join(tmp, "warm.tar"))
		d.runWarm("crac-e2e/app:warm", "crac-e2e-docker-built")
	})
	engineSummary(t, "CRAC_DOCKER_REPORT", "docker: restored")
}
