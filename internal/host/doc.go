// Package host probes the machine and the process it runs in: CPU flags,
// kernel, capabilities, clocks and time namespaces, and the cgroup limits a
// JVM sizes itself from. What it finds is recorded in, or checked against,
// the image contract (package contract).
package host
