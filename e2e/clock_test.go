package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/crac-build/crac-build/internal/checkpoint"
	"github.com/crac-build/crac-build/internal/contract"
	"github.com/crac-build/crac-build/internal/host"
	"github.com/crac-build/crac-build/internal/runner"
	"github.com/crac-build/crac-build/internal/testutil"
)

// clockReport is the witness's /clock: the restore seen from inside the JVM.
type clockReport struct {
	BackwardSteps, MaxBackward time.Duration
	// WallStep is the restore as currentTimeMillis saw it (the time spent
	// as an image), MonoStep the same moment for nanoTime.
	WallStep, MonoStep time.Duration
	// Runs of the fixed-rate timers at once after the restore, beyond
	// what the time since then explains: the catch-up burst.
	ScheduledBurst, TimerBurst int64
}

func readClock(t *testing.T, url string) clockReport {
	t.Helper()
	kv := map[string]int64{}
	for _, l := range strings.Split(get(t, url+"/clock"), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatalf("/clock line %q", l)
			}
			kv[k] = n
		}
	}
	period := kv["periodMillis"]
	if period == 0 {
		t.Fatalf("/clock has no period: %v", kv)
	}
	return clockReport{
		BackwardSteps:  time.Duration(kv["backwardSteps"]),
		MaxBackward:    time.Duration(kv["maxBackwardNanos"]),
		WallStep:       time.Duration(kv["wallStepMillis"]) * time.Millisecond,
		MonoStep:       time.Duration(kv["nanoStepAtWallStep"]),
		ScheduledBurst: kv["scheduled"] - kv["scheduledBeforeWallStep"] - (kv["nanos"]-kv["nanosAtWallStep"])/1e6/period,
		TimerBurst:     kv["timer"] - kv["timerBeforeWallStep"] - (kv["millis"]-kv["millisAtWallStep"])/period,
	}
}

func (c clockReport) String() string {
	return fmt.Sprintf("nanoTime step %+.1f s, currentTimeMillis step %+.1f s, fixed-rate catch-up: ScheduledExecutorService %d runs, java.util.Timer %d runs (100 ms period)",
		c.MonoStep.Seconds(), c.WallStep.Seconds(), c.ScheduledBurst, c.TimerBurst)
}

// TestClocksAcrossRestore checks that System.nanoTime() never goes
// backwards across a restore, also on a host that has been up for less
// time than the build host, and measures what the restored JVM's clocks
// and timers do under least privilege and with a time namespace.
func TestClocksAcrossRestore(t *testing.T) {
	ref := witnessImage(t)
	dump, err := checkpoint.ReadClocks(filepath.Join(rootFS(t, ref), contract.ImagesDir))
	if err != nil {
		t.Fatal(err)
	}
	hostMono, err := host.Clock(unix.CLOCK_MONOTONIC)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the witness's monotonic clock at dump: %.1f s (the build sandbox's starts at 1 s); this host's: %.1f s", dump.Monotonic.Seconds(), hostMono.Seconds())
	privileged := caps(t, []string{"SYS_ADMIN", "SYS_TIME"})
	for _, tc := range []struct {
		name string
		o    runner.Options
		// timens: the clocks continue from the dump's (a time namespace).
		timens bool
	}{
		{name: "least privilege", o: runner.Options{}},
		{
			// The build host had been up for `hostMono`; this one for
			// less, but for longer than the checkpoint's clock (the
			// build's duration): the JVM's clock still moves forward.
			name: "least privilege, host up for less time than the build host",
			o:    runner.Options{Uptime: dump.Monotonic + 10*time.Second},
		},
		{
			name:   "CAP_SYS_ADMIN and CAP_SYS_TIME, host up for less time than the checkpoint's clock",
			o:      runner.Options{Uptime: 2 * time.Second, Caps: privileged},
			timens: true,
		},
		{name: "CAP_SYS_ADMIN and CAP_SYS_TIME", o: runner.Options{Caps: privileged}, timens: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.o.Uptime > 0 && tc.o.Uptime >= hostMono-30*time.Second {
				t.Skipf("this host has been up for %s only: no room for a younger one", hostMono)
			}
			s := startWitness(t, tc.o)
			s.mustRestore(t)
			time.Sleep(time.Second) // let the timers catch up and run on
			c := readClock(t, s.url)
			t.Logf("%s: %s", tc.name, c)
			for _, l := range strings.Split(s.stderr.String(), "\n") {
				if strings.HasPrefix(l, "crac-launch: restored") {
					t.Log(l)
				}
			}
			if c.BackwardSteps != 0 {
				t.Errorf("System.nanoTime() went backwards %d times, by up to %s", c.BackwardSteps, c.MaxBackward)
			}
			if c.WallStep < time.Second {
				t.Errorf("currentTimeMillis step %s: the restore was not the largest wall-clock step", c.WallStep)
			}
			if tc.timens {
				// The clock continues from the dump's: the step is the
				// restore's own duration, which its deadline bounds.
				if c.MonoStep < 0 || c.MonoStep > 10*time.Second {
					t.Errorf("in a time namespace, nanoTime stepped %s across the restore, want less than the restore deadline (10 s)", c.MonoStep)
				}
				if max := int64(c.MonoStep/(100*time.Millisecond)) + 10; c.ScheduledBurst > max {
					t.Errorf("the monotonic fixed-rate timer ran %d extra times after a %s step, want at most %d", c.ScheduledBurst, c.MonoStep, max)
				}
			} else {
				// The JVM reads this host's clock: a step forward by
				// (uptime here - clock at dump).
				now, _ := host.Clock(unix.CLOCK_MONOTONIC)
				if tc.o.Uptime > 0 {
					now = tc.o.Uptime + time.Since(s.r.Started)
				}
				want := now - dump.Monotonic
				if d := c.MonoStep - want; d < -30*time.Second || d > 30*time.Second {
					t.Errorf("nanoTime stepped %s, want about %s (this host's clock minus the dump's)", c.MonoStep, want)
				}
				if c.ScheduledBurst < int64(c.MonoStep/time.Second) {
					t.Errorf("the monotonic fixed-rate timer caught up with %d runs only, after a %s step", c.ScheduledBurst, c.MonoStep)
				}
			}
			// java.util.Timer follows the wall clock either way.
			if c.TimerBurst < int64(c.WallStep/(200*time.Millisecond)) {
				t.Errorf("java.util.Timer caught up with %d runs only, after a %s wall-clock step", c.TimerBurst, c.WallStep)
			}
		})
	}
}

// A container in a time namespace of its own (the build sandbox's, a
// runner's with Uptime) is killed and removed by Destroy like any other:
// runc, outside the namespace, must still recognise its init.
func TestTimeNamespaceContainerIsDestroyed(t *testing.T) {
	ref := helloImage(t)
	var stderr testutil.SyncBuffer
	r, err := runner.Start(context.Background(), runner.Options{
		Image: ref, CacheDir: cacheDir, HostAddr: "127.0.0.1:0", Uptime: 2 * time.Second, Stderr: &stderr,
	})
	if err != nil {
		t.Fatal(err)
	}
	c := r.Container()
	t.Cleanup(func() { _, _ = r.Stop(time.Second) })
	if mode, _ := r.WaitMode(30 * time.Second); mode == "" {
		t.Fatalf("the launcher said nothing: %s", stderr.String())
	}
	pid1 := c.InitPID()
	if err := c.Destroy(); err != nil {
		t.Fatal(err)
	}
	if !waitFor(func() bool {
		_, err := os.Stat(fmt.Sprintf("/proc/%d", pid1))
		return os.IsNotExist(err) || state(pid1) == "Z"
	}) {
		t.Errorf("the container's init (host PID %d, %s) survived Destroy", pid1, comm(pid1))
		_ = syscall.Kill(pid1, syscall.SIGKILL)
	}
}
