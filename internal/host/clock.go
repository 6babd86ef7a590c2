package host

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/crac-build/crac-build/internal/proc"
)

// Clock reads a clock (unix.CLOCK_MONOTONIC, ...) as the time since its zero.
func Clock(id int32) (time.Duration, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(id, &ts); err != nil {
		return 0, fmt.Errorf("reading clock %d: %w", id, err)
	}
	return time.Duration(ts.Nano()), nil
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
	offMono, offBoot, err := proc.TimeOffsets(proc.Self)
	if err != nil {
		return 0, 0, err
	}
	return mono - offMono, boot - offBoot, nil
}
