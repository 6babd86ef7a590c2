package doctor

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Engines that EngineChecks knows.
const (
	Docker     = "docker"
	Podman     = "podman"
	Containerd = "containerd"
)

// EngineOptions say which engine runs warm images on this host and,
// optionally, which image to try under it.
type EngineOptions struct {
	Engine string
	// Client is the engine's command (default: docker, podman, ctr).
	Client string
	// Image, if set, is started under the engine with the flags the
	// checks recommend, and the launcher's line reported: the real answer.
	Image string
	// SeccompProfile is the path of crac-restore.json given in the
	// recommended flags (default: crac-restore.json, as `crac-build
	// seccomp-profile > crac-restore.json` writes it).
	SeccompProfile string
	// Timeout bounds the image's start (default 2 minutes).
	Timeout time.Duration
}

// Advice is what an engine of a version needs for warm images to restore.
type Advice struct {
	// Flags are the run flags a warm image needs.
	Flags []string
	// Notes are facts of that version a user must act on.
	Notes []string
}

// EngineAdvice is the advice for an engine at a version ("20.10.24",
// "4.3.1", "1.6.20"); an unknown version gets the current engines' advice.
func EngineAdvice(engine, version, seccompProfile string) (Advice, error) {
	if seccompProfile == "" {
		seccompProfile = "crac-restore.json"
	}
	major, minor := versionOf(version)
	switch engine {
	case Docker:
		if major > 0 && major < 23 {
			return Advice{
				Flags: []string{"--cap-add", "SYS_ADMIN", "--security-opt", "seccomp=" + seccompProfile},
				Notes: []string{
					"Docker " + version + " knows no CAP_CHECKPOINT_RESTORE (`unknown capability`): grant CAP_SYS_ADMIN, which the kernel accepts in its place (Docker 23+ takes --cap-add CHECKPOINT_RESTORE, the narrower one)",
					"Docker " + version + " reads no zstd layers (docker load and docker pull: `archive/tar: invalid tar header`): docker-archive outputs are gzip by default; build images that Docker pulls from a registry with --compression gzip",
					"Docker " + version + " builds no checkpoint in a Dockerfile RUN step (no --security=insecure without buildx): build the application image with docker build, then `crac-build build --base docker-archive:app.tar` (docs/containerfile.md)",
				},
			}, nil
		}
		return Advice{
			Flags: []string{"--cap-add", "CHECKPOINT_RESTORE", "--security-opt", "seccomp=" + seccompProfile},
			Notes: []string{"Docker's default seccomp profile answers clone3 with ENOSYS without CAP_SYS_ADMIN: the image then starts cold; the project's profile allows clone3"},
		}, nil
	case Podman:
		return Advice{
			Flags: []string{"--cap-add", "CHECKPOINT_RESTORE"},
			Notes: []string{"podman's default seccomp profile (containers-common) allows clone3: no profile needed"},
		}, nil
	case Containerd:
		a := Advice{
			Flags: []string{"--cap-add", "CAP_CHECKPOINT_RESTORE", "--seccomp", "--seccomp-profile", seccompProfile},
			Notes: []string{
				"containerd's default seccomp profile (Kubernetes' RuntimeDefault) answers clone3 with ENOSYS: pods need the Localhost profile of examples/kubernetes on every node, or Unconfined",
				"Kubernetes: CHECKPOINT_RESTORE is outside Pod Security Standards' Baseline list; the namespace needs pod-security.kubernetes.io/enforce: privileged (or an exemption), else the pod is rejected at admission",
			},
		}
		if major == 1 && minor < 5 {
			a.Notes = append(a.Notes, "containerd "+version+" reads no zstd layers (1.5+ does): build with --compression gzip")
		}
		return a, nil
	}
	return Advice{}, fmt.Errorf("unknown engine %q: docker, podman or containerd", engine)
}

func versionOf(v string) (major, minor int) {
	m := regexp.MustCompile(`^v?(\d+)\.(\d+)`).FindStringSubmatch(strings.TrimSpace(v))
	if m == nil {
		return 0, 0
	}
	major, _ = strconv.Atoi(m[1])
	minor, _ = strconv.Atoi(m[2])
	return major, minor
}

// EngineChecks tell whether warm images restore under the engine on this
// host: the kernel, the engine and its version, the flags to run with and
// what that version needs, and with o.Image, the launcher's own answer.
func EngineChecks(ctx context.Context, o EngineOptions) []Result {
	if o.Client == "" {
		o.Client = map[string]string{Docker: "docker", Podman: "podman", Containerd: "ctr"}[o.Engine]
	}
	if o.Timeout == 0 {
		o.Timeout = 2 * time.Minute
	}
	rs := []Result{checkKernel()}
	version, r := engineVersion(ctx, o)
	rs = append(rs, r)
	if !r.OK {
		return rs
	}
	adv, err := EngineAdvice(o.Engine, version, o.SeccompProfile)
	if err != nil {
		return append(rs, Result{Name: "engine", Detail: err.Error()})
	}
	run := Result{Name: "run with", OK: true, Detail: strings.Join(adv.Flags, " ")}
	if o.SeccompProfile == "" && strings.Contains(run.Detail, "crac-restore.json") {
		run.Detail += "   (crac-build seccomp-profile > crac-restore.json)"
	}
	rs = append(rs, run)
	for _, n := range adv.Notes {
		rs = append(rs, Result{Name: "note", OK: true, Detail: n})
	}
	if o.Image != "" {
		rs = append(rs, tryImage(ctx, o, adv))
	}
	return rs
}

func engineVersion(ctx context.Context, o EngineOptions) (string, Result) {
	r := Result{Name: o.Engine}
	var args []string
	switch o.Engine {
	case Docker:
		args = []string{"version", "--format", "{{.Server.Version}}"}
	case Podman:
		args = []string{"version", "--format", "{{.Client.Version}}"}
	case Containerd:
		args = []string{"version"}
	default:
		r.Detail = fmt.Sprintf("unknown engine %q", o.Engine)
		r.Fix = "--engine docker, podman or containerd"
		return "", r
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// Stdout only: podman warns on stderr about unrelated config.
	out, err := exec.CommandContext(ctx, o.Client, args...).Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = lastLine(string(ee.Stderr))
		}
		r.Detail = fmt.Sprintf("%s %s: %v: %s", o.Client, strings.Join(args, " "), err, stderr)
		r.Fix = map[string]string{
			Docker:     "start dockerd, or point DOCKER_HOST at it",
			Podman:     "install podman",
			Containerd: "start containerd, or point CONTAINERD_ADDRESS at its socket",
		}[o.Engine]
		return "", r
	}
	v := strings.TrimSpace(string(out))
	if o.Engine == Containerd {
		// The server's "Version:" is the second one ctr prints.
		vs := regexp.MustCompile(`(?m)^\s*Version:\s*(\S+)`).FindAllStringSubmatch(v, -1)
		if len(vs) == 0 {
			r.Detail = "ctr version printed no version: " + lastLine(v)
			return "", r
		}
		v = vs[len(vs)-1][1]
	}
	r.OK, r.Detail = true, "version "+v
	return v, r
}

// tryImage starts the image under the engine with the advised flags and
// reports the launcher's line; the container is removed afterwards.
func tryImage(ctx context.Context, o EngineOptions, adv Advice) Result {
	r := Result{Name: "image", Fix: "see docs/troubleshooting.md for the reason"}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	name := fmt.Sprintf("crac-doctor-%d", os.Getpid())
	cmd := func(args ...string) (string, error) {
		out, err := exec.CommandContext(ctx, o.Client, args...).CombinedOutput()
		if err != nil {
			err = fmt.Errorf("%s %s: %w: %s", o.Client, strings.Join(args, " "), err, lastLine(string(out)))
		}
		return string(out), err
	}
	var logs func() string
	var cleanup func()
	switch o.Engine {
	case Docker, Podman:
		args := append(append([]string{"run", "--detach", "--name", name}, adv.Flags...), o.Image)
		if _, err := cmd(args...); err != nil {
			r.Detail = err.Error()
			return r
		}
		logs = func() string { out, _ := cmd("logs", name); return out }
		cleanup = func() { _, _ = exec.Command(o.Client, "rm", "--force", name).CombinedOutput() }
	case Containerd:
		dir, err := os.MkdirTemp("", "crac-doctor-")
		if err != nil {
			r.Detail = err.Error()
			return r
		}
		logf := filepath.Join(dir, "out.log")
		args := append(append([]string{"run", "--detach", "--log-uri", "file://" + logf}, adv.Flags...), o.Image, name)
		if _, err := cmd(args...); err != nil {
			os.RemoveAll(dir)
			r.Detail = err.Error() + " (is the image imported or pulled in this namespace?)"
			return r
		}
		logs = func() string { b, _ := os.ReadFile(logf); return string(b) }
		cleanup = func() {
			_, _ = exec.Command(o.Client, "task", "kill", "--signal", "SIGKILL", name).CombinedOutput()
			for i := 0; i < 50; i++ {
				if _, err := exec.Command(o.Client, "task", "delete", name).CombinedOutput(); err == nil {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			_, _ = exec.Command(o.Client, "containers", "delete", name).CombinedOutput()
			os.RemoveAll(dir)
		}
	}
	defer cleanup()
	for {
		for _, l := range strings.Split(logs(), "\n") {
			switch {
			case strings.HasPrefix(l, "crac-launch: restored in"):
				r.OK, r.Detail, r.Fix = true, o.Image+": "+strings.TrimPrefix(l, "crac-launch: "), ""
				return r
			case strings.HasPrefix(l, "crac-launch: cold start"):
				r.Detail = o.Image + ": " + strings.TrimPrefix(l, "crac-launch: ")
				return r
			}
		}
		select {
		case <-ctx.Done():
			r.Detail = fmt.Sprintf("%s: no launcher line within %s (not a warm image?): %s", o.Image, o.Timeout, lastLine(logs()))
			return r
		case <-time.After(200 * time.Millisecond):
		}
	}
}
