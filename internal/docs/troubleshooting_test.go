package docs

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/crac-build/crac-build/internal/launcher"
)

// reasonsSection is the heading of docs/troubleshooting.md under which
// every cold-start reason has a heading of its own.
const reasonsSection = "## Cold-start reasons"

// reasonHeading is one reason's heading: its ID as code, alone.
var reasonHeading = regexp.MustCompile("^### `([^`]+)`$")

// Every reason of the launcher's catalogue has its heading in the
// troubleshooting page, and every heading there is a reason of the
// catalogue: a reason added, renamed or dropped in the launcher fails
// this test until the page follows.
func TestTroubleshootingListsEveryReason(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "docs", "troubleshooting.md"))
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	var order []string
	in := false
	for _, l := range strings.Split(string(b), "\n") {
		switch {
		case l == reasonsSection:
			in = true
		case in && strings.HasPrefix(l, "## "):
			in = false
		case in && strings.HasPrefix(l, "### "):
			m := reasonHeading.FindStringSubmatch(l)
			if m == nil {
				t.Errorf("troubleshooting.md: heading %q under %q is not a reason's ID in backquotes", l, reasonsSection)
				continue
			}
			if documented[m[1]] {
				t.Errorf("troubleshooting.md: reason %q has two headings", m[1])
			}
			documented[m[1]] = true
			order = append(order, m[1])
		}
	}
	if len(documented) == 0 {
		t.Fatalf("troubleshooting.md has no section %q with a heading per reason", reasonsSection)
	}
	var catalogue []string
	for _, r := range launcher.Reasons() {
		id := string(r.ID)
		catalogue = append(catalogue, id)
		if !documented[id] {
			t.Errorf("reason %q (%s) has no heading \"### `%s`\" in docs/troubleshooting.md", id, r.Summary, id)
		}
		delete(documented, id)
	}
	for id := range documented {
		t.Errorf("docs/troubleshooting.md has a heading for %q, which is no reason in launcher.Reasons()", id)
	}
	if !t.Failed() && strings.Join(order, " ") != strings.Join(catalogue, " ") {
		t.Errorf("troubleshooting.md lists the reasons in the order\n  %s\nwant the launcher's:\n  %s", strings.Join(order, " "), strings.Join(catalogue, " "))
	}
}
