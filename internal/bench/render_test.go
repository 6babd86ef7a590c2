package bench

import (
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/crac-build/crac-build/internal/report"
)

// The report must render in a real browser with networking off: Debian's
// headless Chromium paints it (scripts/screenshot.sh, what `make bench-png`
// runs), and the PNG must show both latency series, cold and restored, in
// their chart colours. A page whose SVG a browser refused would paint none.
func TestPageRendersInChromium(t *testing.T) {
	if _, err := exec.LookPath("chromium"); err != nil {
		if os.Getenv("CRAC_E2E") == "1" {
			t.Fatal("needs chromium (make deps installs it)")
		}
		t.Skip("needs chromium")
	}
	dir := t.TempDir()
	html := filepath.Join(dir, "report.html")
	var b strings.Builder
	if err := report.Render(&b, Page(testResults())); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(html, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "report.png")
	_, self, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(self), "..", "..", "scripts", "screenshot.sh")
	cmd := exec.Command("bash", script, html, out, "1450", "3000")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("screenshot.sh %s: %v\n%s", html, err, b)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("decoding %s: %v", out, err)
	}
	if got := img.Bounds().Dx(); got != 1450 {
		t.Errorf("screenshot is %d px wide, want 1450", got)
	}
	// palette[0] draws the cold series, palette[1] the restored one.
	for i, name := range []string{"cold", "restored"} {
		n := countNear(img, report.Palette(i), 48)
		t.Logf("%s series: %d pixels", name, n)
		if n < 300 {
			t.Errorf("the %s series (%s) painted %d pixels, want >= 300", name, report.Palette(i), n)
		}
	}
}

// countNear counts the pixels of img within dist (per channel) of the
// colour hex ("#RRGGBB").
func countNear(img image.Image, hex string, dist int) int {
	v, err := strconv.ParseUint(strings.TrimPrefix(hex, "#"), 16, 32)
	if err != nil {
		panic("countNear: colour " + hex + ": " + err.Error())
	}
	want := [3]int{int(v >> 16 & 0xff), int(v >> 8 & 0xff), int(v & 0xff)}
	abs := func(x int) int {
		if x < 0 {
			return -x
		}
		return x
	}
	n := 0
	bnd := img.Bounds()
	for y := bnd.Min.Y; y < bnd.Max.Y; y++ {
		for x := bnd.Min.X; x < bnd.Max.X; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			if abs(int(r>>8)-want[0]) <= dist && abs(int(g>>8)-want[1]) <= dist && abs(int(b>>8)-want[2]) <= dist {
				n++
			}
		}
	}
	return n
}
