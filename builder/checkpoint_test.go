package builder

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
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

// Options keeps its flat fields; WarmupOptions is the view Build and
// Checkpoint share. Both directions must carry every field.
func TestOptionsWarmupRoundTrip(t *testing.T) {
	w := WarmupOptions{
		Port: 8080, ReadyURL: "http://127.0.0.1:8080/health", ReadyTimeout: time.Minute,
		Script: "/bin/true", ScriptTimeout: time.Hour, Requests: 7, Path: "/work", NoGC: true,
	}
	var o Options
	o.SetWarmup(w)
	if diff := cmp.Diff(o.warmup(), w); diff != "" {
		t.Errorf("round trip (-got +want):\n%s", diff)
	}
}

func TestWarmupDefaults(t *testing.T) {
	w := WarmupOptions{Port: 9000}
	if err := w.defaults(); err != nil {
		t.Fatal(err)
	}
	want := WarmupOptions{Port: 9000, ReadyURL: "http://127.0.0.1:9000/", ReadyTimeout: DefaultReadyTimeout, ScriptTimeout: DefaultWarmupTimeout, Path: "/"}
	if diff := cmp.Diff(w, want); diff != "" {
		t.Errorf("defaults (-got +want):\n%s", diff)
	}
	for _, bad := range []WarmupOptions{{}, {Port: 1, Path: "work"}, {ReadyURL: "http://x/", Requests: 3}} {
		if err := bad.defaults(); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}
