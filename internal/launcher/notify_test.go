package launcher

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/crac-build/crac-build/internal/contract"
)

func TestMarkRestored(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run", "crac-build", "restored")
	m := &contract.Metadata{Created: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	now := time.Date(2026, 2, 3, 4, 5, 6, 7000, time.UTC)
	id, err := MarkRestored(path, m, now)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	props := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok && !strings.HasPrefix(l, "#") {
			props[k] = v
		}
	}
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(id) || props["id"] != id {
		t.Errorf("id %q, file says %q", id, props["id"])
	}
	if props["time"] != "2026-02-03T04:05:06.000007Z" || props["checkpoint"] != "2026-01-02T03:04:05Z" {
		t.Errorf("file = %q", b)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %o, want 0644 (any user of the container reads it)", fi.Mode().Perm())
	}
	// Every restore gets its own id; no temp files stay behind.
	id2, err := MarkRestored(path, m, now)
	if err != nil || id2 == id {
		t.Errorf("second id %q (%v), first %q", id2, err, id)
	}
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Errorf("dir holds %d entries, want only the file", len(ents))
	}
	if err := ClearRestored(path); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("file still there after ClearRestored: %v", err)
	}
	if err := ClearRestored(path); err != nil {
		t.Errorf("ClearRestored of a missing file: %v", err)
	}
	// A read-only place is an error the launcher can ignore.
	if _, err := MarkRestored("/proc/crac-build/restored", m, now); err == nil {
		t.Error("MarkRestored under /proc succeeded")
	}
}

func TestSignalRestored(t *testing.T) {
	// perl catches SIGUSR1 and says so: the signal reached it.
	cmd := exec.Command("perl", "-e", `$|=1; $SIG{USR1} = sub { print "usr1\n"; exit 0 }; print "ready\n"; sleep 30; exit 1`)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	r := bufio.NewReader(out)
	if l, _ := r.ReadString('\n'); l != "ready\n" {
		t.Fatalf("perl said %q", l)
	}
	if err := SignalRestored(cmd.Process.Pid, &contract.Metadata{}); err != nil {
		t.Errorf("no restore signal: %v", err)
	}
	if err := SignalRestored(cmd.Process.Pid, &contract.Metadata{RestoreSignal: "SIGUSR1"}); err != nil {
		t.Fatal(err)
	}
	if l, _ := r.ReadString('\n'); l != "usr1\n" {
		t.Errorf("after SignalRestored perl said %q, want usr1", l)
	}
	if err := SignalRestored(cmd.Process.Pid, &contract.Metadata{RestoreSignal: "SIGTERM"}); err == nil {
		t.Error("SignalRestored sent SIGTERM")
	}
}
