package sandbox

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crac-build/crac-build/internal/host"
)

func TestUptimeArgs(t *testing.T) {
	if !TimeNamespaces() {
		t.Skip("no time namespaces here")
	}
	args, err := uptimeArgs(90 * time.Second)
	if err != nil {
		t.Skipf("no unshare: %v", err)
	}
	if !strings.HasSuffix(args[0], "unshare") || args[1] != "--time" || args[len(args)-1] != "--" {
		t.Fatalf("args %q", args)
	}
	mono, _, err := host.RawClocks()
	if err != nil {
		t.Fatal(err)
	}
	// Only the monotonic clock moves (see clock.go: runc and boot time).
	if len(args) != 4 {
		t.Fatalf("args %q, want unshare --time --monotonic=N --", args)
	}
	v, ok := strings.CutPrefix(args[2], "--monotonic=")
	if !ok {
		t.Fatalf("args %q", args)
	}
	off, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	// The clock in the namespace reads at least 90 s, at most 91 s.
	if got := mono + time.Duration(off)*time.Second; got < 89*time.Second || got > 92*time.Second {
		t.Errorf("%s: the namespace's clock would read %s, want 90-91 s", args[2], got)
	}
}
