package docs

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

// root is the repository, seen from this package's directory.
const root = "../.."

// maxReadmeLines keeps README.md a front page (issue 19): the rest lives
// in docs/.
const maxReadmeLines = 300

// pages are the Markdown files whose links must resolve: README.md and
// every page of docs/.
func pages(t *testing.T) []string {
	t.Helper()
	ps, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) == 0 {
		t.Fatal("no pages in docs/")
	}
	return append([]string{filepath.Join(root, "README.md")}, ps...)
}

func TestReadmeIsAFrontPage(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "\n"); n > maxReadmeLines {
		t.Errorf("README.md has %d lines, at most %d: move the rest into docs/", n, maxReadmeLines)
	}
}

func TestRelativeLinksResolve(t *testing.T) {
	anchors := map[string]map[string]bool{} // Markdown file -> its headings' anchors
	anchorsOf := func(path string) (map[string]bool, error) {
		if a, ok := anchors[path]; ok {
			return a, nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		a := headingAnchors(string(b))
		anchors[path] = a
		return a, nil
	}
	for _, page := range pages(t) {
		b, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		name, _ := filepath.Rel(root, page)
		for _, l := range links(string(b)) {
			target, anchor, _ := strings.Cut(l.target, "#")
			path := page
			if target != "" {
				path = filepath.Join(filepath.Dir(page), filepath.FromSlash(target))
				if _, err := os.Stat(path); err != nil {
					t.Errorf("%s:%d: link %q: %v", name, l.line, l.target, err)
					continue
				}
			}
			if anchor == "" || !strings.HasSuffix(path, ".md") {
				continue
			}
			a, err := anchorsOf(path)
			if err != nil {
				t.Errorf("%s:%d: link %q: %v", name, l.line, l.target, err)
				continue
			}
			if !a[anchor] {
				t.Errorf("%s:%d: link %q: no heading with anchor #%s in %s", name, l.line, l.target, anchor, filepath.Base(path))
			}
		}
	}
}

// link is one inline link of a Markdown page.
type link struct {
	line   int
	target string
}

var (
	inlineLink = regexp.MustCompile(`\]\(([^()\s]+)(?:\s+"[^"]*")?\)`)
	codeSpan   = regexp.MustCompile("`[^`]*`")
	scheme     = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`)
)

// links returns the relative links of a page: inline links outside code
// blocks and code spans, without URLs that name a scheme (https:, mailto:).
func links(md string) []link {
	var out []link
	fence := false
	for i, l := range strings.Split(md, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			fence = !fence
			continue
		}
		if fence {
			continue
		}
		for _, m := range inlineLink.FindAllStringSubmatch(codeSpan.ReplaceAllString(l, ""), -1) {
			if !scheme.MatchString(m[1]) {
				out = append(out, link{i + 1, m[1]})
			}
		}
	}
	return out
}

var (
	heading     = regexp.MustCompile(`^#{1,6}\s+(.*?)\s*#*\s*$`)
	linkInText  = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`)
	emphasisRun = regexp.MustCompile(`\*+`)
)

// headingAnchors returns the anchors GitHub gives a page's headings: the
// heading's text in lower case, without punctuation but for '-' and '_',
// spaces turned into '-', and "-1", "-2", ... after repeats.
func headingAnchors(md string) map[string]bool {
	a := map[string]bool{}
	seen := map[string]int{}
	fence := false
	for _, l := range strings.Split(md, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			fence = !fence
			continue
		}
		m := heading.FindStringSubmatch(l)
		if fence || m == nil {
			continue
		}
		s := slug(m[1])
		if n := seen[s]; n > 0 {
			a[s+"-"+itoa(n)] = true
		} else {
			a[s] = true
		}
		seen[s]++
	}
	return a
}

func slug(text string) string {
	text = linkInText.ReplaceAllString(text, "$1")
	text = emphasisRun.ReplaceAllString(text, "")
	var b strings.Builder
	for _, r := range strings.ToLower(text) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

func itoa(n int) string {
	const digits = "0123456789"
	if n < 10 {
		return digits[n : n+1]
	}
	return itoa(n/10) + digits[n%10:n%10+1]
}

func TestHeadingAnchors(t *testing.T) {
	md := "# crac-build\n" +
		"## The application's user (`USER`)\n" +
		"## Coordinated checkpoints (org.crac)\n" +
		"```sh\n# a comment, not a heading\n```\n" +
		"### `crac-build run IMAGE`\n" +
		"## Results (2026-12-05)\n" +
		"## CRAC_PAGES and [restore speed](restore-speed.md)\n" +
		"## Results (2026-12-05)\n"
	want := []string{"crac-build", "the-applications-user-user", "coordinated-checkpoints-orgcrac",
		"crac-build-run-image", "results-2026-12-05", "crac_pages-and-restore-speed", "results-2026-12-05-1"}
	got := headingAnchors(md)
	for _, a := range want {
		if !got[a] {
			t.Errorf("no anchor %q in %v", a, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("anchors %v, want %v", got, want)
	}
}

// Every page of docs/ is in the index (docs/README.md), and the front page
// links the index: no page is out of a reader's reach.
func TestEveryPageIsIndexed(t *testing.T) {
	linked := func(page string) map[string]bool {
		b, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]bool{}
		for _, l := range links(string(b)) {
			target, _, _ := strings.Cut(l.target, "#")
			m[filepath.Clean(filepath.Join(filepath.Dir(page), target))] = true
		}
		return m
	}
	index := filepath.Join(root, "docs", "README.md")
	if !linked(filepath.Join(root, "README.md"))[filepath.Clean(index)] {
		t.Error("README.md does not link docs/README.md, the index")
	}
	inIndex := linked(index)
	for _, p := range pages(t)[1:] {
		if p != index && !inIndex[filepath.Clean(p)] {
			t.Errorf("docs/README.md does not link %s", filepath.Base(p))
		}
	}
}
