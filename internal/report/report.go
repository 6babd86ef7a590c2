package report

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Page is one report.
type Page struct {
	Title string
	// Lead is a short paragraph under the title (the headline).
	Lead     string
	Sections []Section
	// Footer is small print: host, versions, the command that made it.
	Footer []string
}

// Section is a heading with text, tables and charts, in that order.
type Section struct {
	Heading string
	Text    []string
	Tables  []Table
	Charts  []Chart
}

// Table is a plain table; the first column is a row label.
type Table struct {
	Caption string
	Header  []string
	Rows    [][]string
	// Highlight marks rows (by index) drawn in bold, e.g. the default.
	Highlight map[int]bool
	// Wrap marks columns (by index) of prose that may wrap.
	Wrap map[int]bool
}

// Chart is a line chart (Series) or a horizontal bar chart (Bars).
type Chart struct {
	Title          string
	XLabel, YLabel string
	// LogX and LogY use base-10 axes (line charts); values <= 0 are left out.
	LogX, LogY bool
	// Smooth draws each series faintly as it is and, over it, its rolling
	// median (window ~1/8 of the request number, so early points stay
	// sharp): many noisy points stay readable without being hidden.
	Smooth bool
	Series []Series
	Bars   []Bar
	// Unit follows bar values, e.g. "ms".
	Unit string
	// Small draws a line chart at about half the size, for a few points.
	Small bool
}

// Series is one line: Y[i] is drawn at X[i], or at i+1 when X is nil.
type Series struct {
	Name string
	X, Y []float64
}

// Bar is one bar of a bar chart; bars of the same Group share a colour.
type Bar struct {
	Label string
	Value float64
	Group int
	// Note is printed after the value, e.g. "17.3x faster".
	Note string
}

// palette: colour-blind safe (Okabe-Ito), cold first.
var palette = []string{"#D55E00", "#0072B2", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"}

// Palette is the colour ("#RRGGBB") of series i (and bar group i) in every
// chart.
func Palette(i int) string { return colour(i) }

func colour(i int) string { return palette[((i%len(palette))+len(palette))%len(palette)] }

// Render writes p as HTML.
func Render(w io.Writer, p *Page) error {
	return page.Execute(w, p)
}

var page = template.Must(template.New("page").Funcs(template.FuncMap{
	"chart": func(c Chart) template.HTML { return template.HTML(SVG(c)) },
	"hl":    func(t Table, i int) bool { return t.Highlight[i] },
	"wrap":  func(t Table, i int) bool { return t.Wrap[i] },
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: #222; margin: 0 auto; max-width: 1400px; padding: 24px 32px; background: #fff; }
h1 { font-size: 26px; margin: 0 0 6px; }
h2 { font-size: 19px; margin: 32px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
p.lead { font-size: 18px; margin: 4px 0 18px; }
table { border-collapse: collapse; margin: 10px 0 18px; font-size: 13px; }
caption { text-align: left; font-weight: 600; padding-bottom: 4px; }
th, td { padding: 4px 7px; border-bottom: 1px solid #e6e6e6; text-align: right; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
th { background: #f4f4f4; font-weight: 600; }
tr.hl td { font-weight: 700; }
td.wrap { white-space: normal; text-align: left; min-width: 180px; max-width: 260px; font-size: 12px; color: #444; }
figure { margin: 12px 0 22px; }
svg { max-width: 100%; height: auto; }
footer { margin-top: 36px; font-size: 12px; color: #666; }
footer p { margin: 2px 0; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
{{if .Lead}}<p class="lead">{{.Lead}}</p>{{end}}
{{range .Sections}}<section>
{{if .Heading}}<h2>{{.Heading}}</h2>{{end}}
{{range .Text}}<p>{{.}}</p>
{{end}}{{range $t := .Tables}}<table>
{{if $t.Caption}}<caption>{{$t.Caption}}</caption>{{end}}
<tr>{{range $t.Header}}<th>{{.}}</th>{{end}}</tr>
{{range $i, $r := $t.Rows}}<tr{{if hl $t $i}} class="hl"{{end}}>{{range $j, $c := $r}}<td{{if wrap $t $j}} class="wrap"{{end}}>{{$c}}</td>{{end}}</tr>
{{end}}</table>
{{end}}{{range .Charts}}<figure>{{chart .}}</figure>
{{end}}</section>
{{end}}{{if .Footer}}<footer>{{range .Footer}}<p>{{.}}</p>{{end}}</footer>{{end}}
</body>
</html>
`))

// SVG renders one chart as an inline <svg> element.
func SVG(c Chart) string {
	if len(c.Bars) > 0 {
		return barSVG(c)
	}
	return lineSVG(c)
}

// Geometry of a line chart, in SVG user units (≈ CSS px).
const (
	lineW, lineH           = 960, 420
	padL, padR, padT, padB = 70, 190, 40, 50
	smallW, smallH         = 600, 260
)

func lineSVG(c Chart) string {
	lineW, lineH := lineW, lineH
	if c.Small {
		lineW, lineH = smallW, smallH
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" role="img" font-family="sans-serif" font-size="12">`, lineW, lineH, lineW, lineH)
	fmt.Fprintf(&b, `<title>%s</title>`, esc(c.Title))
	fmt.Fprintf(&b, `<text x="%d" y="22" font-size="15" font-weight="bold">%s</text>`, padL, esc(c.Title))
	xs, ys := newAxis(c.LogX), newAxis(c.LogY)
	for _, s := range c.Series {
		for i, y := range s.Y {
			x := float64(i + 1)
			if s.X != nil {
				x = s.X[i]
			}
			if xs.ok(x) && ys.ok(y) {
				xs.add(x)
				ys.add(y)
			}
		}
	}
	if xs.empty() || ys.empty() {
		b.WriteString(`<text x="80" y="80">no data</text></svg>`)
		return b.String()
	}
	xs.finish()
	ys.finish()
	pw, ph := float64(lineW-padL-padR), float64(lineH-padT-padB)
	px := func(x float64) float64 { return padL + xs.frac(x)*pw }
	py := func(y float64) float64 { return padT + (1-ys.frac(y))*ph }
	// Grid and ticks.
	for _, t := range ys.ticks() {
		y := py(t)
		fmt.Fprintf(&b, `<line x1="%d" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#e5e5e5"/>`, padL, padL+pw, y, y)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle" fill="#444">%s</text>`, padL-6, y, tickLabel(t))
	}
	for _, t := range xs.ticks() {
		x := px(t)
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%.1f" stroke="#e5e5e5"/>`, x, x, padT, padT+ph)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="#444">%s</text>`, x, padT+ph+16, tickLabel(t))
	}
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.0f" height="%.0f" fill="none" stroke="#999"/>`, padL, padT, pw, ph)
	fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`, padL+pw/2, lineH-8, esc(c.XLabel))
	fmt.Fprintf(&b, `<text transform="translate(16 %.1f) rotate(-90)" text-anchor="middle">%s</text>`, padT+ph/2, esc(c.YLabel))
	// Lines, then the legend.
	points := func(s Series, y []float64) []string {
		var pts []string
		for j, v := range y {
			x := float64(j + 1)
			if s.X != nil {
				x = s.X[j]
			}
			if xs.ok(x) && ys.ok(v) {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(x), py(v)))
			}
		}
		return pts
	}
	for i, s := range c.Series {
		pts := points(s, s.Y)
		width, opacity := 1.6, 1.0
		if c.Smooth {
			width, opacity = 1, 0.3
		}
		if len(pts) == 1 {
			p := strings.Split(pts[0], ",")
			fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="3" fill="%s"/>`, p[0], p[1], colour(i))
		} else if len(pts) > 1 {
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="%.1f" stroke-opacity="%.2f" stroke-linejoin="round" points="%s"/>`, colour(i), width, opacity, strings.Join(pts, " "))
		}
		if c.Smooth && len(pts) > 1 {
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2.2" stroke-linejoin="round" points="%s"/>`, colour(i), strings.Join(points(s, RollingMedian(s.Y)), " "))
		}
		ly := padT + 10 + 20*i
		fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%d" y2="%d" stroke="%s" stroke-width="3"/>`, padL+pw+14, padL+pw+34, ly, ly, colour(i))
		fmt.Fprintf(&b, `<text x="%.0f" y="%d" dominant-baseline="middle">%s</text>`, padL+pw+40, ly, esc(s.Name))
	}
	b.WriteString(`</svg>`)
	return b.String()
}

func barSVG(c Chart) string {
	const rowH, labelW, valueW, w = 24, 300, 230, 960
	h := 40 + rowH*len(c.Bars) + 10
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" role="img" font-family="sans-serif" font-size="12">`, w, h, w, h)
	fmt.Fprintf(&b, `<title>%s</title>`, esc(c.Title))
	fmt.Fprintf(&b, `<text x="4" y="22" font-size="15" font-weight="bold">%s</text>`, esc(c.Title))
	max := 0.0
	for _, bar := range c.Bars {
		if bar.Value > max && !math.IsInf(bar.Value, 0) {
			max = bar.Value
		}
	}
	span := float64(w - labelW - valueW)
	for i, bar := range c.Bars {
		y := 36 + rowH*i
		bw := 0.0
		if max > 0 && bar.Value > 0 {
			bw = math.Max(1, bar.Value/max*span)
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end" dominant-baseline="middle">%s</text>`, labelW-8, y+rowH/2, esc(bar.Label))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>`, labelW, y+4, bw, rowH-8, colour(bar.Group))
		v := strings.TrimSpace(Num(bar.Value) + " " + c.Unit)
		if bar.Note != "" {
			v += "  " + bar.Note
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" dominant-baseline="middle" fill="#333">%s</text>`, float64(labelW)+bw+6, y+rowH/2, esc(v))
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// RollingMedian smooths a per-request series: point i (0-based) is the
// median of the points within i/16 on either side, so the window grows
// with the request number as the log axis squeezes the points together.
func RollingMedian(y []float64) []float64 {
	out := make([]float64, len(y))
	buf := make([]float64, 0, len(y))
	for i := range y {
		w := i / 16
		lo, hi := i-w, i+w
		if lo < 0 {
			lo = 0
		}
		if hi >= len(y) {
			hi = len(y) - 1
		}
		buf = buf[:0]
		for _, v := range y[lo : hi+1] {
			if !math.IsNaN(v) {
				buf = append(buf, v)
			}
		}
		if len(buf) == 0 {
			out[i] = math.NaN()
			continue
		}
		sort.Float64s(buf)
		if n := len(buf); n%2 == 1 {
			out[i] = buf[n/2]
		} else {
			out[i] = (buf[n/2-1] + buf[n/2]) / 2
		}
	}
	return out
}

// axis maps values to [0,1], linearly or in log10.
type axis struct {
	log      bool
	min, max float64
	n        int
}

func newAxis(log bool) *axis { return &axis{log: log, min: math.Inf(1), max: math.Inf(-1)} }

func (a *axis) ok(v float64) bool {
	return !math.IsNaN(v) && !math.IsInf(v, 0) && (!a.log || v > 0)
}

func (a *axis) add(v float64) {
	a.min, a.max = math.Min(a.min, v), math.Max(a.max, v)
	a.n++
}

func (a *axis) empty() bool { return a.n == 0 }

// finish widens the range to whole decades (log) or from 0 (linear).
func (a *axis) finish() {
	if a.log {
		a.min = math.Pow(10, math.Floor(math.Log10(a.min)))
		a.max = math.Pow(10, math.Ceil(math.Log10(a.max)))
		if a.max <= a.min {
			a.max = a.min * 10
		}
		return
	}
	if a.min > 0 {
		a.min = 0
	}
	if a.max <= a.min {
		a.max = a.min + 1
	}
	step := niceStep((a.max - a.min) / 5)
	a.max = math.Ceil(a.max/step) * step
}

func (a *axis) frac(v float64) float64 {
	if a.log {
		return (math.Log10(v) - math.Log10(a.min)) / (math.Log10(a.max) - math.Log10(a.min))
	}
	return (v - a.min) / (a.max - a.min)
}

func (a *axis) ticks() []float64 {
	var out []float64
	if a.log {
		for v := a.min; v <= a.max*1.0001; v *= 10 {
			out = append(out, v)
		}
		return out
	}
	step := niceStep((a.max - a.min) / 5)
	for v := a.min; v <= a.max+step/1000; v += step {
		out = append(out, v)
	}
	return out
}

// niceStep rounds x up to 1, 2 or 5 times a power of ten.
func niceStep(x float64) float64 {
	if x <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(x)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= x {
			return m * p
		}
	}
	return 10 * p
}

func tickLabel(v float64) string {
	if v >= 1000 && v == math.Trunc(v) {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

// Num formats a figure for a table: 3 significant digits, no exponent.
func Num(v float64) string {
	switch a := math.Abs(v); {
	case math.IsNaN(v):
		return "-"
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

func esc(s string) string { return template.HTMLEscapeString(s) }
