package launcher

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crac-build/crac-build/internal/checkpoint"
	"github.com/crac-build/crac-build/internal/host"
)

func TestClockPlan(t *testing.T) {
	dump := checkpoint.Clocks{Monotonic: 40 * time.Second, Boottime: 41 * time.Second}
	for _, tc := range []struct {
		name   string
		now    time.Duration
		timens bool
		want   *checkpoint.Clocks
		reason string
	}{
		{"ahead, least privilege: restore, clock jumps forward", time.Hour, false, nil, ""},
		{"behind, least privilege: cold", 10 * time.Second, false, nil, "this host's monotonic clock (10s) is behind the checkpoint's (40s)"},
		{"behind, time namespace: continue", 10 * time.Second, true, &dump, ""},
		{"ahead, time namespace: continue", time.Hour, true, &dump, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := clockPlan(dump, tc.now, tc.timens)
			if tc.reason == "" && err != nil || tc.reason != "" && (err == nil || !strings.Contains(err.Error(), tc.reason)) {
				t.Errorf("clockPlan: %v, want %q", err, tc.reason)
			}
			if (got == nil) != (tc.want == nil) || got != nil && *got != *tc.want {
				t.Errorf("clockPlan = %v, want %v", got, tc.want)
			}
		})
	}
}

// The timens_offsets helper: this test binary, started with the variable
// set, enters a time namespace and execs the command, as the launcher
// does for criu.
const envTestTimens = "CRAC_TEST_TIMENS_EXEC"

func init() {
	if os.Getenv(envTestTimens) != "" {
		runtime.LockOSThread() // TimensExec must run on the main thread
	}
}

func TestMain(m *testing.M) {
	if spec := os.Getenv(envTestTimens); spec != "" {
		os.Exit(TimensExec(spec, os.Args[1:]))
	}
	if creds := os.Getenv(envTestColdAs); creds != "" {
		os.Exit(execColdAs(creds, os.Args[1:]))
	}
	os.Exit(m.Run())
}

// TimensExec makes the clocks of what it execs continue from the dump's,
// whatever this host's clocks say: here /proc/uptime (boot time) and the
// namespace's offsets.
func TestTimensExec(t *testing.T) {
	if !canTimens() {
		t.Skip("no time namespaces here, or no CAP_SYS_ADMIN and CAP_SYS_TIME")
	}
	dump := checkpoint.Clocks{Monotonic: 5 * time.Second, Boottime: 7 * time.Second}
	cmd := exec.Command(os.Args[0], "/proc/uptime", "/proc/self/timens_offsets")
	cmd.Env = append(os.Environ(), envTestTimens+"="+timensSpec(dump, "/bin/cat"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	lines := strings.Split(string(out), "\n")
	up, err := strconv.ParseFloat(strings.Fields(lines[0])[0], 64)
	if err != nil {
		t.Fatalf("uptime %q", lines[0])
	}
	if up < 7 || up > 9 {
		t.Errorf("boot time in the namespace %.2f s, want about 7 s (the dump's)", up)
	}
	mono, boot, err := host.RawClocks()
	if err != nil {
		t.Fatal(err)
	}
	// The offsets are the dump's clocks minus the host's.
	for i, want := range []time.Duration{dump.Monotonic - mono, dump.Boottime - boot} {
		f := strings.Fields(lines[1+i])
		s, _ := strconv.ParseInt(f[1], 10, 64)
		if d := time.Duration(s)*time.Second - want; d < -2*time.Second || d > 2*time.Second {
			t.Errorf("offset line %q, want about %s", lines[1+i], want)
		}
	}
}

func TestTimensExecFailures(t *testing.T) {
	for _, spec := range []string{"garbage", "1 2", "x 2 /bin/true"} {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), envTestTimens+"="+spec)
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "time namespace for criu") {
			t.Errorf("spec %q: %v: %s", spec, err, out)
		}
	}
	if !canTimens() {
		return
	}
	cmd := exec.Command(os.Args[0], "swrk", "3")
	cmd.Env = append(os.Environ(), envTestTimens+"="+timensSpec(checkpoint.Clocks{Monotonic: time.Second}, filepath.Join(t.TempDir(), "no-criu")))
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "no-criu") {
		t.Errorf("missing criu: %v: %s", err, out)
	}
}

// A checkpoint whose clock is far ahead of this host's: without a time
// namespace the launcher starts cold; with one it plans to use it.
func TestCheckClocks(t *testing.T) {
	dir := t.TempDir()
	img := append([]byte{0x19, 0x43, 0x56, 0x54, 0x33, 0x44, 0x11, 0x43, 0x0c, 0, 0, 0},
		0x0a, 0x04, 0x08, 0xff, 0xff, 0x7f, // monotonic: 2097151 s, days ahead of any test host
		0x12, 0x04, 0x08, 0xff, 0xff, 0x7f)
	if err := os.WriteFile(filepath.Join(dir, checkpoint.TimensImage), img, 0o644); err != nil {
		t.Fatal(err)
	}
	p := &Plan{Opts: Options{ImagesDir: dir}}
	err := p.checkClocks()
	if canTimens() {
		if err != nil || p.TimeNS == nil || p.TimeNS.Monotonic != 2097151*time.Second {
			t.Errorf("with a time namespace possible: %v, %+v", err, p.TimeNS)
		}
	} else if err == nil || !strings.Contains(err.Error(), "behind the checkpoint's") {
		t.Errorf("without a time namespace: %v", err)
	}
	// No clocks in the images (a kernel without time namespaces at build).
	p = &Plan{Opts: Options{ImagesDir: t.TempDir()}}
	if err := p.checkClocks(); err != nil || p.TimeNS != nil {
		t.Errorf("no timens image: %v, %+v", err, p.TimeNS)
	}
}
