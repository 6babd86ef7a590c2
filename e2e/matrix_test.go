package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crac-build/crac-build/internal/builder"
	"github.com/crac-build/crac-build/internal/contract"
	"github.com/crac-build/crac-build/internal/registry"
	"github.com/crac-build/crac-build/internal/runner"
	"github.com/crac-build/crac-build/internal/testutil"
)

// The support matrix: every JDK base x every collector builds, restores and
// serves. `make test-matrix` runs it alone and prints its table.
//
// Knobs (environment):
//
//	CRAC_MATRIX_REPORT=FILE        write the table (Markdown) and the summary line there
//	CRAC_MATRIX_JDKS=17,21         a subset of the JDKs (default all)
//	CRAC_MATRIX_GCS=G1,ZGC         a subset of the collectors (default all)
//	CRAC_MATRIX_RESTORES=N         restores at a time (default 3; 1 for quiet timings)
//	CRAC_MATRIX_UNTUNED=1          build without crac-build's memory settings and
//	                               pre-dump GC, to measure what they save

// matrixJDKs are the bases of `make bases`, by tag.
var matrixJDKs = []string{"17", "21", "25"}

// matrixGC is one collector of the matrix and how its MXBeans name it in
// the running JVM (the proof that it is the one in use).
type matrixGC struct {
	name  string   // the row's name
	flags []string // the java flags that select it
	gc    string   // contract.JVMInfo.GC
	mx    string   // a substring of its MXBean names
	jdks  []string // only these JDKs (nil: all)
}

var matrixGCs = []matrixGC{
	{"G1", []string{"-XX:+UseG1GC"}, contract.GCG1, "G1_Young_Generation", nil},
	{"Serial", []string{"-XX:+UseSerialGC"}, contract.GCSerial, "MarkSweepCompact", nil},
	{"Parallel", []string{"-XX:+UseParallelGC"}, contract.GCParallel, "PS_Scavenge", nil},
	{"ZGC", []string{"-XX:+UseZGC"}, contract.GCZ, "ZGC", nil},
	// JDK 21's ZGC is single-generation unless asked; 23 made generational
	// the default and 24 the only mode (25 above is generational).
	{"ZGC generational", []string{"-XX:+UseZGC", "-XX:+ZGenerational"}, contract.GCZ, "ZGC_Minor", []string{"21"}},
	{"Shenandoah", []string{"-XX:+UseShenandoahGC"}, contract.GCShenandoah, "Shenandoah", nil},
}

// untunedFlags restore HotSpot's defaults over crac-build's memory
// settings (the command's flags follow the builder's and win): the free
// ratios, an initial heap of 1/64 of the RAM, Serial's stepwise shrinking,
// Parallel's ignoring System.gc() for sizing, ZGC's 5 min uncommit delay.
var untunedFlags = []string{
	"-XX:MaxHeapFreeRatio=70", "-XX:MinHeapFreeRatio=40", "-XX:InitialRAMPercentage=1.5625",
	"-XX:+ShrinkHeapInSteps", "-XX:-UseAdaptiveSizePolicyWithSystemGC", "-XX:ZUncommitDelay=300",
}

// matrixWarmup is the number of requests of the built-in warmup; a
// restored JVM's next answer counts on from it.
const matrixWarmup = 200

type matrixCell struct {
	jdk string
	gc  matrixGC
	ref string

	buildErr   error
	buildTime  time.Duration
	raw, zst   int64
	meta       *contract.Metadata
	restoreErr error
	restoreMs  int64   // the launcher's "restored in N ms"
	readyMs    float64 // container start to the first answer
	body       string
}

func (c *matrixCell) name() string { return "JDK " + c.jdk + " " + c.gc.name }

func envList(name string, def []string) []string {
	v := strings.TrimSpace(os.Getenv(name))
	if v == "" {
		return def
	}
	return strings.Split(v, ",")
}

// requireBases fails (CRAC_E2E=1) or skips unless build/base holds tags.
func requireBases(t *testing.T, tags ...string) {
	t.Helper()
	root := repoRoot(t)
	var missing []string
	for _, tag := range tags {
		ref := "oci-layout:" + filepath.Join(root, "build/base") + ":" + tag
		if _, err := registry.Load(context.Background(), ref, registry.Options{}); err != nil {
			missing = append(missing, tag)
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := "the matrix needs the bases " + strings.Join(missing, ", ") + " in build/base (make bases)"
	if os.Getenv("CRAC_E2E") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// compileTiny compiles testdata/tiny for Java 17 (every JDK of the matrix
// runs it) into dir and returns the classes' dir.
func compileTiny(t *testing.T, dir string) string {
	t.Helper()
	out := filepath.Join(dir, "tiny")
	cmd := exec.Command("javac", "--release", "17", "-d", out, filepath.Join(repoRoot(t), "e2e/testdata/tiny/Tiny.java"))
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("javac testdata/tiny: %v: %s", err, b)
	}
	return out
}

func TestMatrix(t *testing.T) {
	requireE2E(t)
	jdks := envList("CRAC_MATRIX_JDKS", matrixJDKs)
	var tags []string
	for _, j := range jdks {
		tags = append(tags, "jre"+j)
	}
	requireBases(t, tags...)
	want := map[string]bool{}
	for _, g := range envList("CRAC_MATRIX_GCS", nil) {
		want[g] = true
	}
	untuned := os.Getenv("CRAC_MATRIX_UNTUNED") == "1"
	parallel := 3
	if v, err := strconv.Atoi(os.Getenv("CRAC_MATRIX_RESTORES")); err == nil && v > 0 {
		parallel = v
	}

	root := repoRoot(t)
	dir := t.TempDir()
	classes := compileTiny(t, dir)
	cache := filepath.Join(dir, "cache")

	var cells []*matrixCell
	lanes := map[string][]*matrixCell{}
	for _, jdk := range jdks {
		for _, gc := range matrixGCs {
			if len(want) > 0 && !want[gc.name] || gc.jdks != nil && !contains(gc.jdks, jdk) {
				continue
			}
			c := &matrixCell{jdk: jdk, gc: gc}
			// One OCI layout per JDK: its images share the base's blobs.
			c.ref = fmt.Sprintf("oci-layout:%s:%s", filepath.Join(dir, "images-jre"+jdk), strings.ReplaceAll(strings.ToLower(gc.name), " ", "-"))
			cells = append(cells, c)
			lanes[jdk] = append(lanes[jdk], c)
		}
	}

	// Builds: one lane per JDK, side by side; a lane's builds one after
	// the other (they write to the same layout).
	var wg sync.WaitGroup
	for jdk, lane := range lanes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, c := range lane {
				c.build(root, jdk, classes, cache, untuned)
			}
		}()
	}
	wg.Wait()

	// Restores: a few at a time (each its own container, PID and network
	// namespaces; CRIU restores side by side fine).
	sem := make(chan struct{}, parallel)
	for _, c := range cells {
		if c.buildErr != nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			c.restore(cache)
		}()
	}
	wg.Wait()

	ok := 0
	for _, c := range cells {
		switch {
		case c.buildErr != nil:
			t.Errorf("%s: build: %v", c.name(), c.buildErr)
		case c.restoreErr != nil:
			t.Errorf("%s: restore: %v", c.name(), c.restoreErr)
		default:
			ok++
		}
	}
	report := matrixTable(cells, untuned, parallel) +
		fmt.Sprintf("\nmatrix: %d/%d JDK x GC combinations restored\n", ok, len(cells))
	t.Log("\n" + report)
	if f := os.Getenv("CRAC_MATRIX_REPORT"); f != "" {
		if err := os.WriteFile(f, []byte(report), 0o644); err != nil {
			t.Errorf("writing the matrix report: %v", err)
		}
	}
}

func contains(s []string, x string) bool {
	for _, e := range s {
		if e == x {
			return true
		}
	}
	return false
}

// build makes the cell's warm image of the tiny app.
func (c *matrixCell) build(root, jdk, classes, cache string, untuned bool) {
	cmd := append([]string{"java"}, c.gc.flags...)
	if untuned {
		cmd = append(cmd, untunedFlags...)
	}
	cmd = append(cmd, "-cp", "/app", "Tiny")
	var log bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	t0 := time.Now()
	res, err := builder.Build(ctx, builder.Options{
		Base:           "oci-layout:" + filepath.Join(root, "build/base") + ":jre" + jdk,
		Adds:           []builder.Add{{Src: classes, Dest: "/app"}},
		Cmd:            cmd,
		Port:           8080,
		ReadyURL:       "http://127.0.0.1:8080/health",
		WarmupRequests: matrixWarmup,
		NoGC:           untuned,
		Outputs:        []string{c.ref},
		CriuBundle:     filepath.Join(root, "build/criu"),
		Launcher:       filepath.Join(root, "bin/crac-launch"),
		CacheDir:       cache,
		AppOutput:      &log,
		Version:        "e2e-matrix",
	})
	c.buildTime = time.Since(t0)
	if err != nil {
		c.buildErr = fmt.Errorf("%w\napp output:\n%s", err, log.String())
		return
	}
	c.raw, c.zst, c.meta = res.Checkpoint.RawBytes, res.Checkpoint.CompressedBytes, res.Metadata
	if j := c.meta.JVM; j == nil || j.GC != c.gc.gc {
		c.buildErr = fmt.Errorf("metadata names the collector %+v, want %s", j, c.gc.gc)
	}
}

// restore starts the cell's image, checks that it restored and serves on
// from the warmup with the expected collector, and stops it.
func (c *matrixCell) restore(cache string) {
	out, errOut := &testutil.SyncBuffer{}, &testutil.SyncBuffer{}
	r, err := runner.Start(context.Background(), runner.Options{
		Image: c.ref, HostAddr: "127.0.0.1:0", CacheDir: cache, Stdout: out, Stderr: errOut,
	})
	if err != nil {
		c.restoreErr = err
		return
	}
	defer func() {
		if _, err := r.Stop(10 * time.Second); err != nil && c.restoreErr == nil {
			c.restoreErr = fmt.Errorf("removing the container: %w", err)
		}
		if c.restoreErr != nil {
			c.restoreErr = fmt.Errorf("%w\ncontainer stderr:\n%s", c.restoreErr, errOut.String())
		}
		// The image's unpacked root filesystem is not needed again.
		if d, err := imageDigest(c.ref); err == nil {
			os.RemoveAll(filepath.Join(cache, "rootfs", d))
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ready, err := r.Probe(ctx, "http://"+r.Addr+"/health")
	if err != nil {
		c.restoreErr = err
		return
	}
	c.readyMs = float64(ready.Microseconds()) / 1000
	if mode, reason := r.WaitMode(5 * time.Second); mode != "restored" {
		c.restoreErr = fmt.Errorf("launcher mode %q (%s), want restored", mode, reason)
		return
	}
	// The runner sees the line before it reaches errOut.
	waitFor(func() bool {
		m := restoredIn.FindStringSubmatch(errOut.String())
		if m != nil {
			c.restoreMs, _ = strconv.ParseInt(m[1], 10, 64)
		}
		return m != nil
	})
	body, err := httpGet("http://" + r.Addr + "/")
	if err != nil {
		c.restoreErr = err
		return
	}
	c.body = body
	var n int
	if m := regexp.MustCompile(`requests=(\d+)`).FindStringSubmatch(body); m != nil {
		n, _ = strconv.Atoi(m[1])
	}
	if n <= matrixWarmup {
		c.restoreErr = fmt.Errorf("GET / = %q: request %d, want > %d (the warmup's count carried over)", body, n, matrixWarmup)
		return
	}
	if !strings.Contains(body, "gc="+c.gc.mx) && !strings.Contains(body, ","+c.gc.mx) {
		c.restoreErr = fmt.Errorf("GET / = %q: the restored JVM's collectors lack %s", body, c.gc.mx)
		return
	}
	if err := r.Signal(15); err != nil {
		c.restoreErr = err
		return
	}
	select {
	case <-r.Done():
	case <-time.After(20 * time.Second):
		c.restoreErr = fmt.Errorf("the restored JVM did not stop within 20 s of SIGTERM")
		return
	}
	if st := r.Wait(); st != 143 {
		c.restoreErr = fmt.Errorf("exit status after SIGTERM %d, want 143", st)
	}
}

func imageDigest(ref string) (string, error) {
	img, err := registry.Load(context.Background(), ref, registry.Options{})
	if err != nil {
		return "", err
	}
	d, err := img.Digest()
	return d.Hex, err
}

func httpGet(url string) (string, error) {
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return "", fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("GET %s: %s: %s", url, resp.Status, b)
	}
	return strings.TrimSpace(string(b)), nil
}

func mib(n int64) string { return fmt.Sprintf("%.1f", float64(n)/(1<<20)) }

// matrixTable is the table of the cells in docs/jdks-and-limits.md.
func matrixTable(cells []*matrixCell, untuned bool, parallel int) string {
	sorted := append([]*matrixCell(nil), cells...)
	sort.SliceStable(sorted, func(i, j int) bool {
		a, _ := strconv.Atoi(sorted[i].jdk)
		b, _ := strconv.Atoi(sorted[j].jdk)
		return a < b
	})
	var b strings.Builder
	mode := "crac-build's pre-dump settings"
	if untuned {
		mode = "untuned: HotSpot's defaults, no pre-dump GC"
	}
	fmt.Fprintf(&b, "checkpoints of e2e/testdata/tiny (%d warmup requests), %s; %d restores at a time\n\n", matrixWarmup, mode, parallel)
	b.WriteString("| JDK | GC | checkpoint raw MiB | zstd MiB | heap used / committed MiB | RSS before -> after pre-dump MiB | restore ms | first answer ms | result |\n")
	b.WriteString("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n")
	for _, c := range sorted {
		res := "restored, served"
		switch {
		case c.buildErr != nil:
			res = "build failed"
		case c.restoreErr != nil:
			res = "restore failed"
		}
		heap, rss := "", ""
		if c.meta != nil && c.meta.JVM != nil {
			j := c.meta.JVM
			rss = mib(j.RSSBeforeKiB<<10) + " -> " + mib(j.RSSAfterKiB<<10)
		}
		if c.meta != nil && c.meta.Hygiene != nil {
			m := c.meta.Hygiene.Memory
			heap = mib(m.HeapUsedKiB<<10) + " / " + mib(m.HeapCommittedKiB<<10)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %d | %.0f | %s |\n",
			c.jdk, c.gc.name, mib(c.raw), mib(c.zst), heap, rss, c.restoreMs, c.readyMs, res)
	}
	return b.String()
}
