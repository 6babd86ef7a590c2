// Package agent is the crac-build Java agent: its Java sources (java/,
// built into crac-agent.jar by build.sh) and the Go side of its control
// protocol, which the builder speaks before the dump and the launcher
// after the restore. The agent gives unmodified applications that use the
// org.crac API real beforeCheckpoint and afterRestore notifications on a
// stock JDK. The package prints nothing.
package agent
