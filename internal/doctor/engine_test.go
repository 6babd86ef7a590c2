package doctor

import (
	"strings"
	"testing"
)

func TestEngineAdvice(t *testing.T) {
	for _, tc := range []struct {
		engine, version string
		flags           string
		note            string // a substring of one note; "" for none expected
	}{
		{Docker, "20.10.24+dfsg1", "--cap-add SYS_ADMIN --security-opt seccomp=p.json", "reads no zstd"},
		{Docker, "23.0.1", "--cap-add CHECKPOINT_RESTORE --security-opt seccomp=p.json", "clone3"},
		{Docker, "28.2.2", "--cap-add CHECKPOINT_RESTORE --security-opt seccomp=p.json", ""},
		{Podman, "4.3.1", "--cap-add CHECKPOINT_RESTORE", ""},
		{Containerd, "1.6.20~ds1", "--cap-add CAP_CHECKPOINT_RESTORE --seccomp --seccomp-profile p.json", "privileged"},
		{Containerd, "1.4.13", "--cap-add CAP_CHECKPOINT_RESTORE --seccomp --seccomp-profile p.json", "reads no zstd"},
	} {
		a, err := EngineAdvice(tc.engine, tc.version, "p.json")
		if err != nil {
			t.Fatalf("%s %s: %v", tc.engine, tc.version, err)
		}
		if got := strings.Join(a.Flags, " "); got != tc.flags {
			t.Errorf("%s %s: flags %q, want %q", tc.engine, tc.version, got, tc.flags)
		}
		if tc.note != "" && !strings.Contains(strings.Join(a.Notes, "\n"), tc.note) {
			t.Errorf("%s %s: notes %q lack %q", tc.engine, tc.version, a.Notes, tc.note)
		}
	}
	if a, _ := EngineAdvice(Docker, "28.0.0", "p.json"); strings.Contains(strings.Join(a.Notes, "\n"), "zstd") {
		t.Errorf("Docker 28 reads zstd, but the advice says %q", a.Notes)
	}
	if _, err := EngineAdvice("lxc", "1.0", ""); err == nil || !strings.Contains(err.Error(), "lxc") {
		t.Errorf("unknown engine: %v, want an error naming it", err)
	}
}
