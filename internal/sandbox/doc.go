// Package sandbox runs a root filesystem as a container under runc: an
// overlay over read-only lower dirs (whose upper dir is the container's
// filesystem diff), its own PID, mount, IPC, UTS and network namespaces
// (loopback only, or the host's network on request), and helpers that reach into its network namespace from
// the host (dialing, forwarding a port, starting a host program there).
package sandbox
