package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/crac-build/crac-build/internal/builder"
	"github.com/crac-build/crac-build/internal/contract"
	"github.com/crac-build/crac-build/internal/inspect"
	"github.com/crac-build/crac-build/internal/layers"
	"github.com/crac-build/crac-build/internal/proc"
	"github.com/crac-build/crac-build/internal/registry"
	"github.com/crac-build/crac-build/internal/runner"
	"github.com/crac-build/crac-build/internal/testutil"
)

// userBase is build/base:jre17 with a user app (uid 1000, group app 1000,
// also in group crac 1500) added to /etc/passwd and /etc/group by one more
// layer, and USER set to user, as a production image's Dockerfile would
// (RUN useradd ...; USER app).
func userBase(t *testing.T, user string) string {
	t.Helper()
	requireE2E(t)
	if err := ensureWorkDir(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	base, err := registry.Load(ctx, "oci-layout:"+filepath.Join(repoRoot(t), "build/base")+":jre17", registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rootfs, err := layers.CachedRootFS(base, cacheDir)
	if err != nil {
		t.Fatal(err)
	}
	tr := layers.NewTar()
	for name, add := range map[string]string{
		"/etc/passwd": "app:x:1000:1000:App:/home/app:/bin/sh\n",
		"/etc/group":  "app:x:1000:\ncrac:x:1500:app\n",
	} {
		b, err := os.ReadFile(filepath.Join(rootfs, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := tr.AddBytes(name, append(b, add...), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.AddDir("/home/app", 0o755); err != nil {
		t.Fatal(err)
	}
	cf, err := base.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg := cf.Config.DeepCopy()
	cfg.User = user
	if base, err = mutate.Config(base, *cfg); err != nil {
		t.Fatal(err)
	}
	ref := "oci-layout:" + filepath.Join(workDir, "user-base") + ":" + strings.ReplaceAll(user, ":", "-")
	appendLayer(t, base, tr, ref)
	return ref
}

// buildHelloOn builds examples/hello on base, as helloImage does, with
// --user user ("" for the base's USER).
func buildHelloOn(t *testing.T, base, user, tag string) string {
	t.Helper()
	root := repoRoot(t)
	ref := "oci-layout:" + filepath.Join(workDir, "images") + ":" + tag
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var log testutil.SyncBuffer
	o := helloBuild(root, ref, &log)
	o.Base, o.User = base, user
	_, err := builder.Build(ctx, o)
	if err != nil {
		t.Fatalf("building examples/hello on %s as %q: %v\napp output:\n%s", base, user, err, log.String())
	}
	return ref
}

// procIDs returns the Uid, Gid and Groups lines of a process's status.
func procIDs(t *testing.T, pid int) (uid, gid, groups string) {
	t.Helper()
	st, err := proc.Status(pid)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(strings.Fields(st["Uid"]), " "), strings.Join(strings.Fields(st["Gid"]), " "), st["Groups"]
}

// javaPID is the host PID of the container's JVM: PID 1 after a cold
// start (the launcher execs it), the launcher's child after a restore.
func javaPID(t *testing.T, s *started) int {
	t.Helper()
	pid1 := s.r.Container().InitPID()
	if comm(pid1) == "java" {
		return pid1
	}
	for _, c := range children(pid1) {
		if comm(c) == "java" {
			return c
		}
	}
	t.Fatalf("no java process in the container (PID 1 is %s, children %v)", comm(pid1), children(pid1))
	return 0
}

// environ returns a variable of a process's environment.
func environ(t *testing.T, pid int, name string) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range bytes.Split(b, []byte{0}) {
		if v, ok := strings.CutPrefix(string(kv), name+"="); ok {
			return v
		}
	}
	return ""
}

// A base whose USER is a name: the JVM runs as that user in the build
// sandbox, is restored as it (uid, gid, supplementary groups) and started
// cold as it; the launcher stays root and the image's own User is root.
func TestBaseUserRestoredAndCold(t *testing.T) {
	ref := buildHelloOn(t, userBase(t, "app"), "", "hello-user-app")

	info, err := inspect.Image(context.Background(), ref, registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := &contract.User{Spec: "app", Name: "app", UID: 1000, GID: 1000, Groups: []uint32{1500}, Home: "/home/app"}
	if u := info.User; u == nil || u.String() != want.String() || u.Home != want.Home || u.Spec != "app" {
		t.Errorf("inspect: user %+v, want %+v", u, want)
	}
	if got := info.Labels[contract.LabelUser]; got != "1000:1000" {
		t.Errorf("label %s = %q, want 1000:1000", contract.LabelUser, got)
	}
	for _, c := range []string{"CAP_SETUID", "CAP_SETGID", "CAP_DAC_OVERRIDE"} {
		if !strings.Contains(info.Labels[contract.LabelCaps], c) {
			t.Errorf("required capabilities %q lack %s (CRIU sets the user's ids)", info.Labels[contract.LabelCaps], c)
		}
	}
	img, err := registry.Load(context.Background(), ref, registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.Config.User != "" {
		t.Errorf("image config User = %q, want empty: the launcher must run as root", cf.Config.User)
	}

	t.Run("restored", func(t *testing.T) {
		s := startRef(t, ref)
		if mode, reason := s.r.WaitMode(5 * time.Second); mode != "restored" {
			t.Fatalf("launcher mode %q (%s), want restored", mode, reason)
		}
		body := get(t, s.url+"/")
		if served := requestsServed(body); served < 10 {
			t.Errorf("GET / = %q: %d requests served, want the warmup's count carried over", body, served)
		}
		pid := javaPID(t, s)
		if uid, gid, groups := procIDs(t, pid); uid != "1000 1000 1000 1000" || gid != "1000 1000 1000 1000" || groups != "1500" {
			t.Errorf("restored JVM: Uid %q Gid %q Groups %q, want 1000 and group 1500", uid, gid, groups)
		}
		if uid, _, _ := procIDs(t, s.r.Container().InitPID()); uid != "0 0 0 0" {
			t.Errorf("launcher: Uid %q, want root", uid)
		}
		// The restored agent removed its socket from the dir the launcher
		// made for it: the dir is the user's, as at build.
		agentDir := fmt.Sprintf("/proc/%d/root%s", s.r.Container().InitPID(), contract.AgentDir)
		if fi, err := os.Stat(agentDir); err != nil {
			t.Error(err)
		} else if st := fi.Sys().(*syscall.Stat_t); st.Uid != 1000 || st.Gid != 1000 {
			t.Errorf("%s owned by %d:%d, want 1000:1000", contract.AgentDir, st.Uid, st.Gid)
		}
		if !waitFor(func() bool { ents, _ := os.ReadDir(agentDir); return len(ents) == 0 }) {
			ents, _ := os.ReadDir(agentDir)
			t.Errorf("the agent left files in %s after the restore: %v", contract.AgentDir, ents)
		}
	})

	// Least privilege: the container has the capabilities the label
	// names and no others, as the Kubernetes example grants them.
	t.Run("least privilege", func(t *testing.T) {
		s := startRefWith(t, runner.Options{Image: ref, Caps: strings.Split(info.Labels[contract.LabelCaps], ",")})
		if mode, reason := s.r.WaitMode(5 * time.Second); mode != "restored" {
			t.Fatalf("launcher mode %q (%s), want restored with %s", mode, reason, info.Labels[contract.LabelCaps])
		}
		if body := get(t, s.url+"/"); requestsServed(body) < 10 {
			t.Errorf("GET / = %q, want the warmup's count carried over", body)
		}
	})

	t.Run("cold", func(t *testing.T) {
		s := startRef(t, ref, "CRAC_RESTORE=off")
		if mode, reason := s.r.WaitMode(5 * time.Second); mode != "cold" {
			t.Fatalf("launcher mode %q (%s), want cold", mode, reason)
		}
		if body := get(t, s.url+"/"); requestsServed(body) != 1 {
			t.Errorf("cold GET / = %q, want a fresh JVM's first request", body)
		}
		pid := javaPID(t, s)
		if uid, gid, groups := procIDs(t, pid); uid != "1000 1000 1000 1000" || gid != "1000 1000 1000 1000" || groups != "1500" {
			t.Errorf("cold JVM: Uid %q Gid %q Groups %q, want 1000 and group 1500", uid, gid, groups)
		}
		if home := environ(t, pid, "HOME"); home != "/home/app" {
			t.Errorf("cold JVM: HOME=%q, want the user's /home/app (as at build)", home)
		}
	})
}

// --user with numeric ids needs no passwd entry, and overrides the base's
// USER; here on the plain base (USER unset, i.e. root).
func TestUserFlagNumeric(t *testing.T) {
	requireE2E(t)
	if err := ensureWorkDir(); err != nil {
		t.Fatal(err)
	}
	ref := buildHelloOn(t, "oci-layout:"+filepath.Join(repoRoot(t), "build/base")+":jre17", "4242:4343", "hello-user-numeric")
	for _, tc := range []struct {
		name string
		env  []string
		mode string
	}{{"restored", nil, "restored"}, {"cold", []string{"CRAC_RESTORE=off"}, "cold"}} {
		t.Run(tc.name, func(t *testing.T) {
			s := startRef(t, ref, tc.env...)
			if mode, reason := s.r.WaitMode(5 * time.Second); mode != tc.mode {
				t.Fatalf("launcher mode %q (%s), want %s", mode, reason, tc.mode)
			}
			get(t, s.url+"/")
			pid := javaPID(t, s)
			if uid, gid, groups := procIDs(t, pid); uid != "4242 4242 4242 4242" || gid != "4343 4343 4343 4343" || groups != "" {
				t.Errorf("JVM: Uid %q Gid %q Groups %q, want 4242:4343 and no groups", uid, gid, groups)
			}
			if home := environ(t, pid, "HOME"); home != "/" {
				t.Errorf("JVM: HOME=%q, want / (no passwd entry, as Docker)", home)
			}
		})
	}
}

// A USER that the image does not define fails the build, naming both.
func TestUnknownUserFailsBuild(t *testing.T) {
	requireE2E(t)
	root := repoRoot(t)
	dir := t.TempDir()
	base := "oci-layout:" + filepath.Join(root, "build/base") + ":jre17"
	_, err := builder.Build(context.Background(), builder.Options{
		Base:       base,
		User:       "ghost",
		Cmd:        []string{"java", "-version"},
		Port:       8080,
		Outputs:    []string{"oci-layout:" + filepath.Join(dir, "out") + ":x"},
		CriuBundle: filepath.Join(root, "build/criu"),
		Launcher:   filepath.Join(root, "bin/crac-launch"),
		CacheDir:   filepath.Join(dir, "cache"),
		TempDir:    dir,
	})
	want := fmt.Sprintf(`--user "ghost" (base image %s): no user ghost in /etc/passwd`, base)
	if err == nil || err.Error() != want {
		t.Fatalf("build as an unknown user: %v, want %q", err, want)
	}
}
