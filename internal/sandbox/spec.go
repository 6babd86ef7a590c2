package sandbox

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// DefaultCaps returns the capability set the application runs with: the
// defaults that Docker, containerd and podman share. A restored process
// gets back the capabilities it had at dump, and a container lacking one
// makes CRIU hang, so the build must not give it more than any common
// runtime does. (Docker also grants NET_RAW, MKNOD and AUDIT_WRITE; podman
// does not.) The slice is the caller's.
func DefaultCaps() []string {
	return []string{
		"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
		"CAP_NET_BIND_SERVICE", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP",
		"CAP_SETUID", "CAP_SYS_CHROOT",
	}
}

// DockerCaps returns Docker's default capability set, which `crac-build
// run` gives its containers (plus CAP_CHECKPOINT_RESTORE). The slice is the
// caller's.
func DockerCaps() []string {
	return []string{
		"CAP_AUDIT_WRITE", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER",
		"CAP_FSETID", "CAP_KILL", "CAP_MKNOD", "CAP_NET_BIND_SERVICE",
		"CAP_NET_RAW", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID",
		"CAP_SYS_CHROOT",
	}
}

// spec builds an OCI runtime config like the one Docker and podman make:
// the same mounts, masked and read-only paths, and namespaces.
func spec(cfg *Config) *specs.Spec {
	caps := cfg.Caps
	if caps == nil {
		caps = DefaultCaps()
	}
	env := cfg.Env
	if len(env) == 0 {
		env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	}
	cwd := cfg.Cwd
	if cwd == "" {
		cwd = "/"
	}
	hostname := cfg.Hostname
	if hostname == "" {
		hostname = "crac-build"
	}
	s := &specs.Spec{
		Version: specs.Version,
		Process: &specs.Process{
			Terminal: false,
			User:     specs.User{UID: 0, GID: 0},
			Args:     cfg.Args,
			Env:      env,
			Cwd:      cwd,
			Capabilities: &specs.LinuxCapabilities{
				Bounding: caps, Effective: caps, Permitted: caps,
			},
		},
		Root:     &specs.Root{Path: "rootfs"},
		Hostname: hostname,
		Mounts: append([]specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			// The container's own cgroups, read-only, as Docker and podman
			// mount them: the JVM (and the launcher) read their limits there.
			{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
		}, cfg.Mounts...),
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace},
				{Type: specs.IPCNamespace}, {Type: specs.UTSNamespace},
				{Type: specs.MountNamespace},
			},
			MaskedPaths: []string{
				"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
				"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
				"/proc/sched_debug", "/sys/firmware", "/proc/scsi",
			},
			ReadonlyPaths: []string{
				"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
			},
			Seccomp:   cfg.Seccomp,
			Resources: resources(cfg.CPUs, cfg.MemoryBytes),
		},
	}
	if cfg.Network == NetworkHost {
		// No network namespace of its own: the container shares the host's.
		ns := s.Linux.Namespaces[:0]
		for _, n := range s.Linux.Namespaces {
			if n.Type != specs.NetworkNamespace {
				ns = append(ns, n)
			}
		}
		s.Linux.Namespaces = ns
	}
	return s
}

// CPUPeriod is the CFS period of a CPU limit, in microseconds: Docker's
// and podman's (100 ms), so that --cpus N means the same quota everywhere.
const CPUPeriod = 100000

// resources are the cgroup limits of cpus CPUs and memory bytes (0: none).
func resources(cpus float64, memory int64) *specs.LinuxResources {
	if cpus <= 0 && memory <= 0 {
		return nil
	}
	r := &specs.LinuxResources{}
	if cpus > 0 {
		period := uint64(CPUPeriod)
		quota := int64(cpus * CPUPeriod)
		r.CPU = &specs.LinuxCPU{Period: &period, Quota: &quota}
	}
	if memory > 0 {
		r.Memory = &specs.LinuxMemory{Limit: &memory}
	}
	return r
}
