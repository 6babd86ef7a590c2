// Package proc is the one reader of /proc: process status, children, file
// descriptors, mappings, socket tables, mounts, cgroups, time namespace
// offsets, CPU and memory facts. It uses prometheus/procfs and
// moby/sys/mountinfo where they parse a file as this project needs, and its
// own few lines where they do not (docs/dependencies.md).
package proc
