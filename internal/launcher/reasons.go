package launcher

import (
	"errors"
	"slices"
)

// ReasonID names, stably, one kind of reason for a cold start. The line the
// launcher prints stays the reason's own message; the ID is what
// docs/troubleshooting.md files it under (one heading per ID, kept in step
// by internal/docs).
type ReasonID string

// The reasons, in the order the launcher meets them.
const (
	ReasonArguments      ReasonID = "arguments"
	ReasonMetadata       ReasonID = "metadata"
	ReasonRestoreOff     ReasonID = "restore-off"
	ReasonTimeoutValue   ReasonID = "restore-timeout-value"
	ReasonEnvironment    ReasonID = "environment"
	ReasonLimits         ReasonID = "limits"
	ReasonArchitecture   ReasonID = "architecture"
	ReasonCapabilities   ReasonID = "capabilities"
	ReasonSeccomp        ReasonID = "seccomp"
	ReasonCPUFeatures    ReasonID = "cpu-features"
	ReasonPIDs           ReasonID = "pids"
	ReasonCriuBundle     ReasonID = "criu-bundle"
	ReasonCheckpoint     ReasonID = "checkpoint-files"
	ReasonOpenFiles      ReasonID = "open-files"
	ReasonClock          ReasonID = "clock"
	ReasonRestoreTimeout ReasonID = "restore-timeout"
	ReasonRestoreFailed  ReasonID = "restore-failed"
	ReasonAfterRestore   ReasonID = "after-restore"
)

// Reason is one entry of the catalogue of cold-start reasons.
type Reason struct {
	ID ReasonID
	// Summary says in a few words what went wrong.
	Summary string
}

var reasons = []Reason{
	{ReasonArguments, "arguments given to the container replace the checkpointed command"},
	{ReasonMetadata, "the checkpoint metadata is missing, unreadable or of an unknown format"},
	{ReasonRestoreOff, "CRAC_RESTORE turns restores off"},
	{ReasonTimeoutValue, "CRAC_RESTORE_TIMEOUT is not a duration"},
	{ReasonEnvironment, "the environment differs from the build's under the cold policy"},
	{ReasonLimits, "the container's CPU or memory limits differ from the build's under the cold policy"},
	{ReasonArchitecture, "the checkpoint was made on another architecture"},
	{ReasonCapabilities, "the container lacks a capability the restore or the JVM needs"},
	{ReasonSeccomp, "the seccomp profile blocks clone3 and ns_last_pid is read-only"},
	{ReasonCPUFeatures, "the CPU lacks instruction-set features the build host had"},
	{ReasonPIDs, "a PID or thread ID of the checkpoint is taken"},
	{ReasonCriuBundle, "the CRIU bundle is missing, does not run or is too old"},
	{ReasonCheckpoint, "a CRIU image file is missing, truncated or damaged"},
	{ReasonOpenFiles, "a file the JVM held open is missing or changed since the build"},
	{ReasonClock, "this host's monotonic clock is behind the checkpoint's and no time namespace can be made"},
	{ReasonRestoreTimeout, "the restore did not finish within CRAC_RESTORE_TIMEOUT and criu was killed"},
	{ReasonRestoreFailed, "CRIU failed to restore, or the launcher could not set the restore up"},
	{ReasonAfterRestore, "an org.crac Resource's afterRestore failed under the cold policy"},
}

// Reasons returns the catalogue of cold-start reasons, in the order the
// launcher meets them.
func Reasons() []Reason { return slices.Clone(reasons) }

// ColdStart is a reason for a cold start, filed under its ID. Its message
// is the wrapped error's: the launcher's line does not change.
type ColdStart struct {
	ID  ReasonID
	Err error
}

func (c *ColdStart) Error() string { return c.Err.Error() }
func (c *ColdStart) Unwrap() error { return c.Err }

// ReasonOf returns the ID a cold-start reason is filed under, "" for an
// error that is not one.
func ReasonOf(err error) ReasonID {
	var c *ColdStart
	if errors.As(err, &c) {
		return c.ID
	}
	return ""
}

// because files err under id; an error already filed keeps its ID, and nil
// stays nil.
func because(id ReasonID, err error) error {
	if err == nil || ReasonOf(err) != "" {
		return err
	}
	return &ColdStart{ID: id, Err: err}
}
