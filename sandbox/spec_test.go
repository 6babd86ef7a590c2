package sandbox

import (
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func hasNetns(s *specs.Spec) bool {
	for _, n := range s.Linux.Namespaces {
		if n.Type == specs.NetworkNamespace {
			return true
		}
	}
	return false
}

func TestSpecNetwork(t *testing.T) {
	for network, want := range map[string]bool{"": true, NetworkNone: true, NetworkHost: false} {
		s := spec(&Config{Args: []string{"true"}, Network: network})
		if got := hasNetns(s); got != want {
			t.Errorf("network %q: own network namespace %v, want %v", network, got, want)
		}
		if len(s.Linux.Namespaces) != 4+btoi(want) {
			t.Errorf("network %q: namespaces %v, want PID, IPC, UTS, mount too", network, s.Linux.Namespaces)
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
