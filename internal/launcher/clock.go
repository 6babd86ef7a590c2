package launcher

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/crac-build/crac-build/internal/checkpoint"
	"github.com/crac-build/crac-build/internal/host"
	"github.com/crac-build/crac-build/internal/proc"
)

// The JVM's System.nanoTime() reads CLOCK_MONOTONIC, whose zero is the
// host's boot. CRIU's privileged restore creates a time namespace whose
// offsets make the clock continue from the dump's reading; its
// unprivileged restore does not, and the restored JVM reads the restoring
// host's clock: a jump forward by (uptime here - clock at dump), as if the
// JVM had been stopped that long, or backward on a host up for less time.
// The builder starts the sandbox's clocks near zero so that the clock at
// dump is the build's duration (seconds); backward is then rare.
//
// With CAP_SYS_ADMIN (to create the namespace) and CAP_SYS_TIME (to set
// its offsets) the launcher does what a privileged CRIU restore would:
// criu starts in a new time namespace where the clocks continue from the
// dump's. Without them, a clock behind the dump's means a cold start.

// EnvTimensExec, in the launcher's environment, makes a launcher started
// as "crac-launch swrk FD" enter a new time namespace and exec criu
// (TimensExec). go-criu starts criu as "<path> swrk <fd>", with no way
// to add arguments.
const EnvTimensExec = "CRAC_LAUNCH_TIMENS"

// timensCaps are what creating and setting up a time namespace needs.
var timensCaps = []string{"CAP_SYS_ADMIN", "CAP_SYS_TIME"}

func (p *Plan) checkClocks() error {
	c, err := checkpoint.ReadClocks(p.Opts.ImagesDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil // a kernel without time namespaces at build: nothing to compare
	}
	if err != nil {
		return err
	}
	now, err := host.Clock(unix.CLOCK_MONOTONIC)
	if err != nil {
		return err
	}
	p.TimeNS, err = clockPlan(c, now, canTimens())
	return err
}

// clockPlan decides how the restored JVM's clocks go on from the dump's
// (c), given this host's monotonic clock and whether a time namespace can
// be made: in one, they continue (TimeNS); without, they must not be
// behind the dump's.
func clockPlan(c checkpoint.Clocks, now time.Duration, timens bool) (*checkpoint.Clocks, error) {
	if timens {
		return &c, nil
	}
	if now < c.Monotonic {
		return nil, fmt.Errorf("this host's monotonic clock (%s) is behind the checkpoint's (%s): without a time namespace (needs CAP_SYS_ADMIN and CAP_SYS_TIME) the restored JVM's System.nanoTime() would go backwards",
			now.Round(time.Millisecond), c.Monotonic.Round(time.Millisecond))
	}
	return nil, nil
}

// canTimens says whether this process can create a time namespace and
// set its offsets.
func canTimens() bool {
	if _, err := os.Stat("/proc/self/timens_offsets"); err != nil {
		return false
	}
	st, err := proc.Status(proc.Self)
	if err != nil {
		return false
	}
	eff, _ := host.ParseCapMask(st["CapEff"])
	need, _ := host.CapMask(timensCaps)
	return eff&need == need
}

// timensSpec encodes the clocks to continue from and criu's path for
// TimensExec.
func timensSpec(c checkpoint.Clocks, criu string) string {
	return fmt.Sprintf("%d %d %s", int64(c.Monotonic), int64(c.Boottime), criu)
}

// TimensExec is the launcher started by go-criu in place of criu with
// EnvTimensExec set: it creates a time namespace whose clocks continue
// from the dump's, and execs criu with args in it (exec moves the process
// into the namespace its children would get). It must run on the main
// thread (crac-launch locks it in init): /proc/self/timens_offsets is the
// thread group leader's, and unshare(CLONE_NEWTIME) changes only the
// calling thread. It returns only on failure.
func TimensExec(spec string, args []string) int {
	fail := func(err error) int {
		fmt.Fprintf(os.Stderr, "crac-launch: time namespace for criu: %v\n", err)
		return 1
	}
	f := strings.SplitN(spec, " ", 3)
	if len(f) != 3 {
		return fail(fmt.Errorf("bad %s=%q", EnvTimensExec, spec))
	}
	mono, err1 := strconv.ParseInt(f[0], 10, 64)
	boot, err2 := strconv.ParseInt(f[1], 10, 64)
	if err1 != nil || err2 != nil {
		return fail(fmt.Errorf("bad %s=%q", EnvTimensExec, spec))
	}
	if err := enterTimens(checkpoint.Clocks{Monotonic: time.Duration(mono), Boottime: time.Duration(boot)}); err != nil {
		return fail(err)
	}
	os.Unsetenv(EnvTimensExec)
	criu := f[2]
	err := unix.Exec(criu, append([]string{criu}, args...), os.Environ())
	return fail(fmt.Errorf("starting %s: %w", criu, err))
}

// enterTimens creates a time namespace for this process's children (and
// its next exec) whose clocks read c now, as CRIU's prepare_timens does.
func enterTimens(c checkpoint.Clocks) error {
	if unix.Gettid() != unix.Getpid() {
		return errors.New("not on the main thread")
	}
	if err := unix.Unshare(unix.CLONE_NEWTIME); err != nil {
		return fmt.Errorf("unshare(CLONE_NEWTIME): %w", err)
	}
	// Offsets are relative to the host's clocks: raw = reading - offset of
	// the namespace this process is in (inherited by the new one).
	mono, boot, err := host.RawClocks()
	if err != nil {
		return err
	}
	f, err := os.OpenFile("/proc/self/timens_offsets", os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, o := range []struct {
		id  int
		off time.Duration
	}{{unix.CLOCK_MONOTONIC, c.Monotonic - mono}, {unix.CLOCK_BOOTTIME, c.Boottime - boot}} {
		sec, nsec := int64(o.off/time.Second), int64(o.off%time.Second)
		if nsec < 0 {
			sec, nsec = sec-1, nsec+int64(time.Second)
		}
		if _, err := fmt.Fprintf(f, "%d %d %d\n", o.id, sec, nsec); err != nil {
			return fmt.Errorf("setting clock %d offset to %s: %w", o.id, o.off, err)
		}
	}
	return nil
}
