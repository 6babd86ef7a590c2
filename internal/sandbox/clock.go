package sandbox

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/crac-build/crac-build/internal/host"
)

// runc 1.1 cannot put a container into a time namespace (config.json has no
// "time" namespace there), so the sandbox starts runc through util-linux's
// unshare, which creates the namespace, writes its clock offset and execs
// runc inside it; runc, the container and everything they start inherit it.
// Processes added later with Exec join it through nsenter.
//
// Only CLOCK_MONOTONIC (the JVM's nanoTime) moves: CLOCK_BOOTTIME stays
// the host's. runc recognises a container's init by its start time in
// /proc/PID/stat, which the kernel counts in boot time as the reader's
// time namespace sees it: with a boot time offset, a runc outside the
// namespace (kill, delete) takes the running init for another process,
// leaves it running and deletes the container's state.

// TimeNamespaces says whether the kernel has time namespaces (Linux >= 5.6
// with CONFIG_TIME_NS).
func TimeNamespaces() bool {
	_, err := os.Stat("/proc/self/timens_offsets")
	return err == nil
}

// uptimeArgs returns the unshare command line that makes CLOCK_MONOTONIC
// read about uptime (whole seconds, rounded up) for what it starts: the
// clock of a host that booted uptime ago.
func uptimeArgs(uptime time.Duration) ([]string, error) {
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		return nil, fmt.Errorf("finding unshare (util-linux) for a time namespace: %w", err)
	}
	mono, _, err := host.RawClocks()
	if err != nil {
		return nil, err
	}
	// Offsets are relative to the host's clocks (not to a time namespace
	// this process may be in) and whole seconds for unshare; rounding up
	// makes the new clocks read at least uptime, never below zero.
	offset := func(raw time.Duration) string {
		return strconv.FormatInt(int64(math.Ceil((uptime - raw).Seconds())), 10)
	}
	return []string{unshare, "--time", "--monotonic=" + offset(mono), "--"}, nil
}

// nsenterTimeArgs returns the command line prefix that runs a program in
// the time namespace of the container's PID 1.
func (c *Container) nsenterTimeArgs() ([]string, error) {
	nsenter, err := exec.LookPath("nsenter")
	if err != nil {
		return nil, fmt.Errorf("finding nsenter (util-linux) to join the container's time namespace: %w", err)
	}
	return []string{nsenter, "--time", "--target", strconv.Itoa(c.initPID), "--"}, nil
}
