package report

import (
	"encoding/xml"
	"io"
	"math"
	"regexp"
	"strings"
	"testing"
)

func testPage() *Page {
	cold := make([]float64, 300)
	warm := make([]float64, 300)
	for i := range cold {
		cold[i] = 400/float64(i+1) + 1
		warm[i] = 1.2
	}
	cold[7] = math.NaN() // gaps are skipped, not drawn at 0
	return &Page{
		Title: "crac-build: cold vs restored <start>",
		Lead:  "tomcat answers in 150 ms restored & 3000 ms cold",
		Sections: []Section{{
			Heading: "tomcat",
			Text:    []string{"First response: GET /examples/"},
			Tables: []Table{{
				Caption: "Cold vs restored", Header: []string{"", "cold", "restored"},
				Rows: [][]string{{"first response", "3000 ms", "150 ms"}}, Highlight: map[int]bool{0: true},
			}},
			Charts: []Chart{
				{Title: "latency", XLabel: "request", YLabel: "ms", LogX: true, LogY: true,
					Series: []Series{{Name: "cold", Y: cold}, {Name: "restored", Y: warm}}},
				{Title: "first response", Unit: "ms", Bars: []Bar{{Label: "cold", Value: 3000}, {Label: "restored", Value: 150, Group: 1, Note: "20x"}}},
				{Title: "empty", Series: []Series{{Name: "none"}}},
				{Title: "linear", Series: []Series{{Name: "one", X: []float64{0, 5, 10}, Y: []float64{3, 7, 2}}}},
			},
		}},
		Footer: []string{"host: test"},
	}
}

func render(t *testing.T, p *Page) string {
	t.Helper()
	var b strings.Builder
	if err := Render(&b, p); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestRenderIsSelfContained(t *testing.T) {
	out := render(t, testPage())
	for _, bad := range []string{"<script", "<link", "src=", "url(", "@import"} {
		if strings.Contains(out, bad) {
			t.Errorf("report contains %q: it must not load anything", bad)
		}
	}
	// The only URL is the SVG namespace, which browsers do not fetch.
	for _, u := range regexp.MustCompile(`https?://[^"' <>]+`).FindAllString(out, -1) {
		if u != "http://www.w3.org/2000/svg" {
			t.Errorf("report references %s", u)
		}
	}
	for _, want := range []string{"<!DOCTYPE html>", "&lt;start&gt;", "restored &amp; 3000", `<tr class="hl">`, "host: test", "no data"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

func TestChartsAreWellFormedSVG(t *testing.T) {
	out := render(t, testPage())
	svgs := regexp.MustCompile(`(?s)<svg .*?</svg>`).FindAllString(out, -1)
	if len(svgs) != 4 {
		t.Fatalf("found %d <svg> elements, want 4", len(svgs))
	}
	for i, s := range svgs {
		d := xml.NewDecoder(strings.NewReader(s))
		for {
			_, err := d.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("chart %d is not well-formed XML: %v\n%s", i, err, s)
			}
		}
	}
	line := svgs[0]
	if n := strings.Count(line, "<polyline"); n != 2 {
		t.Errorf("line chart has %d polylines, want 2 (cold, restored)", n)
	}
	if strings.Contains(line, "NaN") || strings.Contains(line, "Inf") {
		t.Errorf("line chart contains NaN/Inf coordinates")
	}
	// Log axes: whole decades from 1 to 1000 requests, 1 to 1000 ms.
	for _, tick := range []string{">1<", ">10<", ">100<", ">1000<"} {
		if !strings.Contains(line, tick) {
			t.Errorf("line chart lacks tick %s", tick)
		}
	}
	if !strings.Contains(svgs[1], "150 ms  20x") {
		t.Errorf("bar chart lacks the value and note of a bar")
	}
}

func TestNum(t *testing.T) {
	for v, want := range map[float64]string{3144.4: "3144", 12.34: "12.3", 1.234: "1.23", math.NaN(): "-"} {
		if got := Num(v); got != want {
			t.Errorf("Num(%v) = %q, want %q", v, got, want)
		}
	}
}

func TestRollingMedian(t *testing.T) {
	y := make([]float64, 64)
	for i := range y {
		y[i] = 1
	}
	y[40] = 100 // a lone spike is smoothed away once the window is wide
	y[0] = 50   // the first point keeps its own value (window 0)
	got := RollingMedian(y)
	if got[0] != 50 || got[40] != 1 || len(got) != len(y) {
		t.Errorf("RollingMedian: got[0]=%v got[40]=%v len=%d", got[0], got[40], len(got))
	}
}
