package host_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/crac-build/crac-build/internal/host"
	"github.com/crac-build/crac-build/internal/proc"
)

// TestRawClocksInTimeNamespace runs this test again in a time namespace
// whose clocks are 1000 s ahead: proc.TimeOffsets must say so, and RawClocks
// must still give the host's clocks.
func TestRawClocksInTimeNamespace(t *testing.T) {
	if os.Getenv("CRAC_TEST_IN_TIMENS") != "" {
		mono, boot, err := proc.TimeOffsets(proc.Self)
		if err != nil || mono != 1000*time.Second || boot != 1000*time.Second {
			t.Fatalf("TimeOffsets = %s, %s, %v; want 1000 s each", mono, boot, err)
		}
		raw, _, err := host.RawClocks()
		if err != nil {
			t.Fatal(err)
		}
		now, _ := host.Clock(unix.CLOCK_MONOTONIC)
		if d := now - raw; d < 999*time.Second || d > 1001*time.Second {
			t.Errorf("clock %s, raw %s: want 1000 s apart", now, raw)
		}
		return
	}
	if _, err := os.Stat("/proc/self/timens_offsets"); err != nil {
		t.Skip("no time namespaces here")
	}
	if os.Geteuid() != 0 {
		t.Skip("creating a time namespace needs root")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("no unshare (util-linux)")
	}
	cmd := exec.Command(unshare, "--time", "--monotonic=1000", "--boottime=1000", "--",
		os.Args[0], "-test.run=^TestRawClocksInTimeNamespace$", "-test.count=1")
	cmd.Env = append(os.Environ(), "CRAC_TEST_IN_TIMENS=1")
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "PASS") {
		t.Errorf("in a time namespace: %v\n%s", err, out)
	}
}

func TestClocksOutsideTimeNamespace(t *testing.T) {
	mono, boot, err := proc.TimeOffsets(proc.Self)
	if err != nil {
		t.Fatal(err)
	}
	raw, rawBoot, err := host.RawClocks()
	if err != nil {
		t.Fatal(err)
	}
	now, _ := host.Clock(unix.CLOCK_MONOTONIC)
	nowBoot, _ := host.Clock(unix.CLOCK_BOOTTIME)
	if d := now - mono - raw; d < 0 || d > time.Second {
		t.Errorf("raw monotonic %s, clock %s, offset %s", raw, now, mono)
	}
	if d := nowBoot - boot - rawBoot; d < 0 || d > time.Second {
		t.Errorf("raw boot time %s, clock %s, offset %s", rawBoot, nowBoot, boot)
	}
}
