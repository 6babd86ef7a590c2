package seccomp

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"

	moby "github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

//go:generate go run gen.go

// RestoreProfileFile is the name of the restore profile as shipped with
// the project (seccomp/ at the top of the repository, where users find it),
// for `docker run --security-opt seccomp=...` and Kubernetes' Localhost
// profiles; ShippedProfileFile is that file and KubernetesProfileFile the
// same beside the Kubernetes example, both relative to this package (go
// generate and the tests run here). A test keeps both equal to
// RestoreProfile().
const (
	RestoreProfileFile    = "crac-restore.json"
	ShippedProfileFile    = "../../seccomp/" + RestoreProfileFile
	KubernetesProfileFile = "../../examples/kubernetes/crac-restore-seccomp.json"
)

// DockerDefault returns Docker's default profile (moby's, as Docker
// itself builds it). Without CAP_SYS_ADMIN it makes clone3 return ENOSYS:
// libseccomp cannot look into clone3's argument struct, so Docker cannot
// filter its namespace flags and makes glibc fall back to clone, whose
// flags it does filter.
func DockerDefault() *moby.Seccomp {
	return moby.DefaultProfile()
}

// RestoreProfile returns Docker's default profile with clone3 allowed.
// An unprivileged CRIU restore recreates every PID and TID with
// clone3(set_tid); its only fallback, writing ns_last_pid, is read-only in
// a container. The price: clone3's flags are not filtered, so a process in
// the container can ask for new namespaces with it; the kernel still
// requires the capabilities each namespace needs (CAP_SYS_ADMIN for most)
// or, for a user namespace, that unprivileged user namespaces are enabled.
// Podman's default profile allows clone3 the same way.
func RestoreProfile() *moby.Seccomp {
	p := moby.DefaultProfile()
	var out []*moby.Syscall
	added := false
	for _, s := range p.Syscalls {
		names := slices.DeleteFunc(slices.Clone(s.Names), func(n string) bool { return n == "clone3" })
		// clone3 joins the first rule that allows without conditions:
		// Docker's long list of harmless calls.
		if !added && s.Action == specs.ActAllow && len(s.Args) == 0 && s.Includes == nil && s.Excludes == nil {
			names = append(names, "clone3")
			slices.Sort(names)
			added = true
		}
		if len(names) == 0 {
			continue // the ENOSYS rule was clone3's alone
		}
		c := *s
		c.Names = names
		out = append(out, &c)
	}
	if !added {
		out = append([]*moby.Syscall{{LinuxSyscall: specs.LinuxSyscall{Names: []string{"clone3"}, Action: specs.ActAllow}}}, out...)
	}
	p.Syscalls = out
	return p
}

// Marshal encodes a profile the way Docker reads it (indented JSON).
func Marshal(p *moby.Seccomp) ([]byte, error) {
	b, err := json.MarshalIndent(p, "", "\t")
	if err != nil {
		return nil, fmt.Errorf("encoding seccomp profile: %w", err)
	}
	return append(b, '\n'), nil
}

// Compile turns a Docker-format profile into the OCI seccomp config that
// runc applies, for a container with the given capabilities (rules that
// depend on capabilities, the architecture or the kernel are resolved as
// Docker resolves them).
func Compile(p *moby.Seccomp, caps []string) (*specs.LinuxSeccomp, error) {
	b, err := Marshal(p)
	if err != nil {
		return nil, err
	}
	return Load(b, caps)
}

// Load compiles a Docker-format profile given as JSON (see Compile).
func Load(body []byte, caps []string) (*specs.LinuxSeccomp, error) {
	spec := &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{
		Bounding: caps, Effective: caps, Permitted: caps,
	}}}
	s, err := moby.LoadProfile(string(body), spec)
	if err != nil {
		return nil, fmt.Errorf("compiling seccomp profile: %w", err)
	}
	return s, nil
}

// LoadFile compiles the Docker-format profile in a file (see Compile).
func LoadFile(path string, caps []string) (*specs.LinuxSeccomp, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading seccomp profile: %w", err)
	}
	s, err := Load(b, caps)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}
