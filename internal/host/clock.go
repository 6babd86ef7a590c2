package host

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Clock reads a clock (unix.CLOCK_MONOTONIC, ...) as the time since its zero.
func Clock(id int32) (time.Duration, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(id, &ts); err != nil {
		return 0, fmt.Errorf("reading clock %d: %w", id, err)
	}
	return time.Duration(ts.Nano()), nil
}

// TimeOffsets reads /proc/PID/timens_offsets: how far the monotonic and
// boot-time clocks of PID's time namespace (for a process that has just
// called unshare(CLONE_NEWTIME): of the namespace its children get) are
// ahead of the host's. A kernel without time namespaces has no such file:
// both are zero.
func TimeOffsets(pid string) (mono, boot time.Duration, err error) {
	f, err := os.Open("/proc/" + pid + "/timens_offsets")
	if os.IsNotExist(err) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("reading time namespace offsets: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) != 3 {
			continue
		}
		s, err1 := strconv.ParseInt(fs[1], 10, 64)
		ns, err2 := strconv.ParseInt(fs[2], 10, 64)
		if err1 != nil || err2 != nil {
			return 0, 0, fmt.Errorf("parsing time namespace offsets %q", sc.Text())
		}
		d := time.Duration(s)*time.Second + time.Duration(ns)
		switch fs[0] {
		case "monotonic", "1":
			mono = d
		case "boottime", "7":
			boot = d
		}
	}
	return mono, boot, sc.Err()
}

// RawClocks returns the host's CLOCK_MONOTONIC and CLOCK_BOOTTIME, i.e. the
// calling process's clocks minus the offsets of its time namespace.
func RawClocks() (mono, boot time.Duration, err error) {
	if mono, err = Clock(unix.CLOCK_MONOTONIC); err != nil {
		return 0, 0, err
	}
	if boot, err = Clock(unix.CLOCK_BOOTTIME); err != nil {
		return 0, 0, err
	}
	offMono, offBoot, err := TimeOffsets("self")
	if err != nil {
		return 0, 0, err
	}
	return mono - offMono, boot - offBoot, nil
}
