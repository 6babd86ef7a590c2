package runner

import (
	"slices"
	"testing"

	"github.com/crac-build/crac-build/internal/sandbox"
)

func TestCaps(t *testing.T) {
	def, err := Caps(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(def) != len(sandbox.DockerCaps())+1 || !slices.Contains(def, "CAP_CHECKPOINT_RESTORE") || !slices.IsSorted(def) {
		t.Errorf("default caps %v, want Docker's plus CAP_CHECKPOINT_RESTORE, sorted", def)
	}
	c, err := Caps([]string{"sys_admin", "CAP_SYS_TIME"}, []string{"CHECKPOINT_RESTORE", "cap_net_raw"})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"CAP_SYS_ADMIN", "CAP_SYS_TIME", "CAP_CHOWN"} {
		if !slices.Contains(c, want) {
			t.Errorf("caps %v lack %s", c, want)
		}
	}
	for _, gone := range []string{"CAP_CHECKPOINT_RESTORE", "CAP_NET_RAW"} {
		if slices.Contains(c, gone) {
			t.Errorf("caps %v still have %s", c, gone)
		}
	}
	if _, err := Caps([]string{"CAP_TELEPORT"}, nil); err == nil {
		t.Error("an unknown capability was accepted")
	}
}
