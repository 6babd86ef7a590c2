package seccomp

import (
	"os"
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestShippedProfileIsCurrent keeps the shipped files equal to what
// RestoreProfile makes from the moby version in go.mod.
func TestShippedProfileIsCurrent(t *testing.T) {
	want, err := Marshal(RestoreProfile())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{ShippedProfileFile, KubernetesProfileFile} {
		got, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("%s is out of date: run `go generate ./internal/seccomp`", f)
		}
	}
}

var dockerCaps = []string{
	"CAP_AUDIT_WRITE", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER",
	"CAP_FSETID", "CAP_KILL", "CAP_MKNOD", "CAP_NET_BIND_SERVICE",
	"CAP_NET_RAW", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID",
	"CAP_SYS_CHROOT", "CAP_CHECKPOINT_RESTORE",
}

// clone3Action returns what a compiled profile does with clone3.
func clone3Action(s *specs.LinuxSeccomp) (specs.LinuxSeccompAction, *uint) {
	for _, r := range s.Syscalls {
		if slices.Contains(r.Names, "clone3") {
			return r.Action, r.ErrnoRet
		}
	}
	return s.DefaultAction, s.DefaultErrnoRet
}

func TestClone3(t *testing.T) {
	d, err := Compile(DockerDefault(), dockerCaps)
	if err != nil {
		t.Fatal(err)
	}
	if a, errno := clone3Action(d); a != specs.ActErrno || errno == nil || *errno != 38 {
		t.Errorf("Docker's default: clone3 action %s errno %v, want ENOSYS (38)", a, errno)
	}
	r, err := Compile(RestoreProfile(), dockerCaps)
	if err != nil {
		t.Fatal(err)
	}
	if a, _ := clone3Action(r); a != specs.ActAllow {
		t.Errorf("restore profile: clone3 action %s, want allowed", a)
	}
	n := 0
	for _, rule := range r.Syscalls {
		if slices.Contains(rule.Names, "clone3") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("restore profile has %d rules for clone3, want exactly 1", n)
	}
	// Everything but clone3 stays as Docker has it.
	strip := func(s *specs.LinuxSeccomp) []specs.LinuxSyscall {
		var out []specs.LinuxSyscall
		for _, rule := range s.Syscalls {
			rule.Names = slices.DeleteFunc(slices.Clone(rule.Names), func(n string) bool { return n == "clone3" })
			if len(rule.Names) > 0 {
				out = append(out, rule)
			}
		}
		return out
	}
	if a, b := strip(d), strip(r); len(a) != len(b) {
		t.Errorf("restore profile has %d rules besides clone3, Docker's %d", len(b), len(a))
	}
}

func TestLoadFile(t *testing.T) {
	s, err := LoadFile(ShippedProfileFile, dockerCaps)
	if err != nil {
		t.Fatal(err)
	}
	if s.DefaultAction != specs.ActErrno || len(s.Architectures) == 0 {
		t.Errorf("compiled profile: default %s, architectures %v", s.DefaultAction, s.Architectures)
	}
	if _, err := LoadFile("nonexistent.json", nil); err == nil {
		t.Error("LoadFile of a missing file succeeded")
	}
	if _, err := Load([]byte("{"), nil); err == nil {
		t.Error("Load of broken JSON succeeded")
	}
}
