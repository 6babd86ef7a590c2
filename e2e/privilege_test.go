package e2e

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crac-build/crac-build/internal/registry"
	"github.com/crac-build/crac-build/internal/seccomp"
)

// TestPodmanLeastPrivilege checks docs/privileges.md's least-privilege table with
// a real container engine: podman reads Docker-format seccomp profiles, so
// it runs the project's profile and Docker's default as Docker would.
//   - --cap-add CHECKPOINT_RESTORE with seccomp/crac-restore.json: restored;
//   - with Docker's default profile (clone3 fails): cold, saying why;
//   - without CAP_CHECKPOINT_RESTORE: cold, saying why.
//
// Each serves.
func TestPodmanLeastPrivilege(t *testing.T) {
	requireTools(t, "podman")
	ref := helloImage(t)
	ctx := context.Background()
	img, err := registry.Load(ctx, ref, registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	const name = "localhost/crac-e2e/hello:privilege"
	archive := filepath.Join(t.TempDir(), "hello.tar")
	if err := registry.Write(ctx, img, "docker-archive:"+archive+":"+name, registry.Options{}); err != nil {
		t.Fatal(err)
	}
	docker, err := seccomp.Marshal(seccomp.DockerDefault())
	if err != nil {
		t.Fatal(err)
	}
	dockerProfile := filepath.Join(t.TempDir(), "docker-default.json")
	if err := os.WriteFile(dockerProfile, docker, 0o644); err != nil {
		t.Fatal(err)
	}
	restoreProfile := filepath.Join(repoRoot(t), "seccomp", seccomp.RestoreProfileFile)

	p := newPodman(t)
	p.run("load", "--quiet", "--input", archive)
	for _, tc := range []struct {
		name, want string
		args       []string
	}{
		{"restore profile", "crac-launch: restored in ",
			[]string{"--cap-add", "CHECKPOINT_RESTORE", "--security-opt", "seccomp=" + restoreProfile}},
		{"Docker's default profile", "crac-launch: cold start: the seccomp profile blocks clone3 (clone3 returns ENOSYS)",
			[]string{"--cap-add", "CHECKPOINT_RESTORE", "--security-opt", "seccomp=" + dockerProfile}},
		{"no CAP_CHECKPOINT_RESTORE", "crac-launch: cold start: missing capabilities CAP_CHECKPOINT_RESTORE",
			[]string{"--security-opt", "seccomp=" + restoreProfile}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parent := p.t
			p.t = t
			defer func() { p.t = parent }()
			cname := "crac-e2e-priv-" + strings.ReplaceAll(strings.ToLower(tc.name[:6]), " ", "-")
			port := freePort(t)
			args := append([]string{"run", "--detach", "--name", cname, "--publish", fmt.Sprintf("127.0.0.1:%d:8080", port)}, tc.args...)
			p.run(append(args, name)...)
			logs := func() string { out, _ := p.try("logs", cname); return out }
			defer func() {
				if t.Failed() {
					t.Logf("podman logs %s:\n%s", cname, logs())
				}
				_, _ = p.try("rm", "--force", "--time", "0", cname)
			}()
			// Bounds for a loaded machine: a cold start takes 1-4 s, a
			// restore 0.1-0.3 s when idle.
			var said string
			for i := 0; i < 600 && said == ""; i++ {
				said = firstLine(logs(), "crac-launch:")
				if said == "" {
					time.Sleep(100 * time.Millisecond)
				}
			}
			if !strings.HasPrefix(said, tc.want) {
				t.Fatalf("launcher said %q, want %q...", said, tc.want)
			}
			url := fmt.Sprintf("http://127.0.0.1:%d/", port)
			var body string
			for i := 0; i < 600 && body == ""; i++ {
				if resp, err := shortClient.Get(url); err == nil {
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode == 200 {
						body = string(b)
					}
				}
				if body == "" {
					time.Sleep(100 * time.Millisecond)
				}
			}
			if !strings.Contains(body, "hello from crac-build") {
				t.Fatalf("GET %s = %q, want the greeting", url, body)
			}
			// What podman adds to the environment (HOSTNAME, HOME,
			// container=podman) is no change of the operator's.
			if l := firstLine(logs(), "crac-launch: warning"); l != "" {
				t.Errorf("under podman: %s", l)
			}
			t.Logf("%s: %s", tc.name, said)
		})
	}
}
