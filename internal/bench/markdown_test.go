package bench

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// recorded is the run the docs quote, as `go run ./internal/tools/bench
// -from results.json -record` wrote it.
func recorded(t *testing.T) *Results {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r Results
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

func readPage(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", path))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDocsTableIsTheRecordedRun: the table of docs/benchmarks.md is what
// Markdown renders of the recorded run, byte for byte.
func TestDocsTableIsTheRecordedRun(t *testing.T) {
	got, err := ExtractMarkdown(readPage(t, "docs/benchmarks.md"))
	if err != nil {
		t.Fatalf("docs/benchmarks.md: %v", err)
	}
	if diff := cmp.Diff(got, Markdown(recorded(t))); diff != "" {
		t.Errorf("docs/benchmarks.md's table is not the recorded run's; run go run ./internal/tools/bench -from RESULTS -record internal/bench/testdata/results.json -docs docs/benchmarks.md (-docs +recorded):\n%s", diff)
	}
}

// figure is a number with its unit as the pages write them: "222 ms",
// "14.2x", "342 MiB".
var figure = regexp.MustCompile(`\d+(?:\.\d+)?(?: ms| MiB|x)\b`)

// TestDocsFiguresAreTheRecordedRun: the figures that the front page's
// "The number" and the results table of docs/benchmarks.md quote from the
// run are in the recorded run's table.
func TestDocsFiguresAreTheRecordedRun(t *testing.T) {
	md := Markdown(recorded(t))
	check := func(where, text string) {
		t.Helper()
		figs := figure.FindAllString(text, -1)
		if len(figs) == 0 {
			t.Fatalf("%s: no figures found: the test no longer finds its text", where)
		}
		for _, f := range figs {
			if !strings.Contains(md, " "+f+" ") {
				t.Errorf("%s quotes %q, which is not in the recorded run's table", where, f)
			}
		}
	}
	readme := readPage(t, "README.md")
	_, number, _ := strings.Cut(readme, "## The number\n")
	number, _, _ = strings.Cut(number, "```") // the demo's output that follows is make demo's
	check("README.md, The number", number)

	docs := readPage(t, "docs/benchmarks.md")
	_, results, _ := strings.Cut(docs, "## Results")
	var table []string
	for _, l := range strings.Split(results, "\n") {
		if strings.HasPrefix(l, "| ") {
			table = append(table, l)
		} else if len(table) > 0 {
			break // the first table only: the breakdown table is not in Markdown
		}
	}
	check("docs/benchmarks.md, the results table", strings.Join(table, "\n"))
}

// TestMarkdown: a row per variant, skipped rows say why, the replicas
// table when the run had replicas.
func TestMarkdown(t *testing.T) {
	r := recorded(t)
	md := Markdown(r)
	for _, a := range r.Apps {
		for _, row := range a.Rows {
			if !strings.Contains(md, "| "+row.Name) {
				t.Errorf("no line for %s's row %q", a.Name, row.Name)
			}
		}
	}
	if !strings.Contains(md, "| 4 tomcat containers side by side |") {
		t.Errorf("no replicas table:\n%s", md)
	}
	a := r.Apps[0]
	a.Rows = append([]Row{{Variant: Variant{Name: "a | b"}, Skipped: "no CRIU\nhere"}}, a.Rows...)
	a.Replicas = nil
	md = appMarkdown(&a, r.Settings)
	if !strings.Contains(md, `| a \| b | skipped: no CRIU here |`) {
		t.Errorf("a skipped row with | and a newline:\n%s", md)
	}
	if strings.Contains(md, "side by side") {
		t.Errorf("a replicas table without replicas:\n%s", md)
	}
}
