package contract_test

import (
	"testing"

	"github.com/crac-build/crac-build/internal/contract"
)

func TestParseRestoreSignal(t *testing.T) {
	for in, want := range map[string]string{"USR1": "SIGUSR1", "sigusr1": "SIGUSR1", " SIGWINCH ": "SIGWINCH"} {
		got, sig, err := contract.ParseRestoreSignal(in)
		if err != nil || got != want || sig == 0 {
			t.Errorf("ParseRestoreSignal(%q) = %q, %d, %v; want %s", in, got, sig, err, want)
		}
	}
	for _, bad := range []string{"", "USR2", "SIGTERM", "HUP", "KILL", "9"} {
		if _, _, err := contract.ParseRestoreSignal(bad); err == nil {
			t.Errorf("ParseRestoreSignal(%q) accepted", bad)
		}
	}
}

func TestExternalConnections(t *testing.T) {
	h := &contract.Hygiene{Sockets: []contract.Socket{
		{Proto: "tcp", State: "LISTEN", Local: "0.0.0.0:8080"},
		{Proto: "tcp6", State: "ESTABLISHED", Peer: contract.PeerOutside, Inode: 1},
		{Proto: "tcp", State: "ESTABLISHED", Peer: contract.PeerTree, Inode: 2},
		{Proto: "tcp", State: "ESTABLISHED", Peer: contract.PeerSandbox, Inode: 3},
		{Proto: "tcp", State: "CLOSE_WAIT", Peer: contract.PeerOutside, Inode: 4},
		{Proto: "udp", State: "CONNECTED", Inode: 5},
	}}
	var got []uint64
	for _, s := range h.ExternalConnections() {
		got = append(got, s.Inode)
	}
	if len(got) != 2 || got[0] != 1 || got[1] != 3 {
		t.Errorf("ExternalConnections = inodes %v, want [1 3]", got)
	}
}
