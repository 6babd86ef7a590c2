package builder

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/crac-build/crac-build/internal/contract"
	"github.com/crac-build/crac-build/internal/secrets"
)

func TestCheckBuildStep(t *testing.T) {
	const all = "000001ffffffffff" // every capability up to CHECKPOINT_RESTORE
	for _, tc := range []struct {
		name   string
		euid   int
		status map[string]string
		want   []string // substrings of the error; none: no error
	}{
		{"ok", 0, map[string]string{"Seccomp": "0", "CapEff": all}, nil},
		{"seccomp", 0, map[string]string{"Seccomp": "2", "CapEff": all}, []string{"seccomp filter (Seccomp: 2", "--security-opt seccomp=unconfined", "RUN --security=insecure", "--allow security.insecure"}},
		// podman's default capabilities: no SYS_ADMIN, NET_ADMIN, CHECKPOINT_RESTORE.
		{"default caps", 0, map[string]string{"Seccomp": "0", "CapEff": "00000000800405fb"}, []string{"lacks CAP_CHECKPOINT_RESTORE and CAP_NET_ADMIN and CAP_SYS_ADMIN", "--cap-add CAP_SYS_ADMIN,CAP_NET_ADMIN,CAP_CHECKPOINT_RESTORE"}},
		{"not root", 1000, map[string]string{"Seccomp": "0", "CapEff": all}, []string{"user 1000, not root"}},
		{"everything", 1000, map[string]string{"Seccomp": "2", "CapEff": "0"}, []string{"not root", "seccomp", "lacks"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkBuildStep(tc.euid, tc.status)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestWarmupDefaults(t *testing.T) {
	o := Options{Port: 9000}
	if err := o.warmupDefaults(); err != nil {
		t.Fatal(err)
	}
	want := Options{Port: 9000, ReadyURL: "http://127.0.0.1:9000/", ReadyTimeout: DefaultReadyTimeout, WarmupTimeout: DefaultWarmupTimeout}
	if diff := cmp.Diff(o, want); diff != "" {
		t.Errorf("defaults (-got +want):\n%s", diff)
	}
	for _, bad := range []Options{{}, {Port: 1, WarmupPath: "work"}, {ReadyURL: "http://x/", WarmupRequests: 3}} {
		if err := bad.warmupDefaults(); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

// checkpointOptions are the least a Checkpoint needs.
func checkpointOptions() Options {
	return Options{Cmd: []string{"java", "-jar", "/app/app.jar"}, Port: 8080, CriuBundle: "/bundle", Launcher: "/crac-launch", NoAgent: true}
}

// Checkpoint takes Build's options: the policies get the same defaults
// and checks (the environment policy was build's alone).
func TestCheckpointDefaults(t *testing.T) {
	o := checkpointOptions()
	if err := o.checkpointDefaults(); err != nil {
		t.Fatal(err)
	}
	if o.OnEnvChange != contract.EnvChangeWarn || o.OnLimitsChange != contract.LimitsChangeWarn || o.OnRestoreError != contract.OnRestoreErrorCold {
		t.Errorf("policies %q %q %q, want the defaults", o.OnEnvChange, o.OnLimitsChange, o.OnRestoreError)
	}
	if o.ReadyURL != "http://127.0.0.1:8080/" || o.Logf == nil {
		t.Errorf("ReadyURL %q, Logf set %v", o.ReadyURL, o.Logf != nil)
	}
	for _, tc := range []struct {
		name   string
		change func(*Options)
		want   string
	}{
		{"no command", func(o *Options) { o.Cmd = nil }, "no command"},
		{"env policy", func(o *Options) { o.OnEnvChange = "maybe" }, "--on-env-change"},
		{"limits policy", func(o *Options) { o.OnLimitsChange = "maybe" }, "--on-limits-change"},
		{"restore policy", func(o *Options) { o.OnRestoreError = "ignore" }, "--on-restore-error"},
		{"restore signal", func(o *Options) { o.RestoreSignal = "SIGKILL" }, "SIGKILL"},
		{"secret twice", func(o *Options) { o.Secrets = []secrets.Secret{{ID: "a", File: "/x"}, {ID: "a", File: "/y"}} }, "given twice"},
		{"cpus", func(o *Options) { o.CPUs = 2 }, "--cpus: only for crac-build build"},
		{"memory", func(o *Options) { o.MemoryBytes = 1 << 30 }, "--memory: only for"},
		{"user", func(o *Options) { o.User = "app" }, "--user: only for"},
		{"network", func(o *Options) { o.Network = "host" }, "--network: only for"},
		{"combined output", func(o *Options) { o.CombinedOutput = true }, "--combined-output: only for"},
		{"image flags", func(o *Options) {
			o.Base, o.Outputs, o.Push, o.Adds = "b", []string{"o"}, []string{"p"}, []Add{{"a", "/a"}}
		}, "--base, --add, --output, --push: only for"},
		{"no bundle", func(o *Options) { o.CriuBundle = "" }, "CRIU bundle"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := checkpointOptions()
			tc.change(&o)
			if err := o.checkpointDefaults(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("checkpointDefaults: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// A RUN step's shell exports PWD, SHLVL, _ and OLDPWD: not the image's,
// they must not be recorded as the build's environment.
func TestStepEnv(t *testing.T) {
	got := stepEnv([]string{"PATH=/usr/bin", "PWD=/app", "SHLVL=1", "_=/opt/crac-build/bin/crac-build", "OLDPWD=/", "JAVA_HOME=/opt/java", "HOME=/root", "PWDX=1"})
	want := []string{"PATH=/usr/bin", "JAVA_HOME=/opt/java", "HOME=/root", "PWDX=1"}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("stepEnv (-got +want):\n%s", diff)
	}
}

func TestStepSecrets(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "secrets")
	write := func(p, v string) string {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(v), 0o400); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if got, err := stepSecrets(dir, nil); err != nil || len(got) != 0 {
		t.Fatalf("no secrets dir: %v, %v", got, err)
	}
	token := write(filepath.Join(dir, "token"), "s3cr3t-token-value")
	write(filepath.Join(dir, "db", "password"), "hunter2-hunter2")
	other := write(filepath.Join(t.TempDir(), "key"), "another-secret-value")
	got, err := stepSecrets(dir, []secrets.Secret{{ID: "key", File: other}, {ID: "token", File: token}})
	if err != nil {
		t.Fatal(err)
	}
	want := []secrets.Secret{{ID: "key", File: other}, {ID: "token", File: token}, {ID: "db/password", File: filepath.Join(dir, "db", "password")}}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("stepSecrets (-got +want):\n%s", diff)
	}
	if _, err := stepSecrets(dir, []secrets.Secret{{ID: "token", File: other}}); err == nil || !strings.Contains(err.Error(), "another secret of that ID") {
		t.Errorf("an ID given for another file than /run/secrets/ID: %v", err)
	}
}
