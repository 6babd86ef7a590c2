// Command bench runs the crac-build startup benchmark (`make bench`):
// warm images of examples/hello and of Debian's Tomcat 10 with its examples
// webapp, and variants of their build and restore, each row started
// -rounds times, interleaved; writes results.json and report.html to -out,
// prints the table, and ends with "tomcat: cold N ms -> warm M ms (Rx)".
//
//	go run ./internal/tools/bench -out build/bench
package main

import (
	"archive/tar"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"golang.org/x/sys/unix"

	"github.com/crac-build/crac-build/internal/bench"
	"github.com/crac-build/crac-build/internal/builder"
	"github.com/crac-build/crac-build/internal/registry"
	"github.com/crac-build/crac-build/internal/report"
)

func main() {
	out := flag.String("out", "build/bench", "directory for results.json, report.html and the benchmark's images")
	rounds := flag.Int("rounds", bench.DefaultRounds, "starts per row (the median is reported)")
	coldCache := flag.Int("cold-cache-rounds", 5, "starts per row that drops the page cache (at most -rounds; each drop slows the whole machine)")
	requests := flag.Int("requests", bench.DefaultRequests, "requests per start")
	steady := flag.Int("steady-from", bench.DefaultSteadyFrom, "requests after this one are the steady state")
	apps := flag.String("apps", "hello,tomcat,tomcat-jdk25", "applications to run (comma-separated)")
	only := flag.String("rows", "", "measure only these rows (comma-separated names; the cold and default rows are always kept), e.g. x86-64-v3")
	helloBase := flag.String("hello-base", "oci-layout:build/base:jre17", "base image of examples/hello")
	tomcatBase := flag.String("tomcat-base", "oci-layout:build/base-tomcat10:tomcat10", "base image with Tomcat 10 (make base-tomcat)")
	tomcat25Base := flag.String("tomcat25-base", "oci-layout:build/base-tomcat10:tomcat10-jre25", "base image with Tomcat 10 on JDK 25 (make base-tomcat-jre25)")
	helloJar := flag.String("hello-jar", "examples/hello/build/hello.jar", "examples/hello's jar")
	criu := flag.String("criu-bundle", "build/criu", "CRIU bundle")
	criuFull := flag.String("criu-bundle-full", "", "a CRIU bundle built with every optional library (CRIU_LEAN=0 make criu), for the row that compares it with the default lean one; empty: no such row")
	launcher := flag.String("launcher", "bin/crac-launch", "crac-launch binary")
	variants := flag.Bool("variants", true, "also measure the variants (build flags, launcher knobs, page cache, lazy pages)")
	noDrop := flag.Bool("no-drop-caches", false, "skip the rows that drop the page cache")
	verbose := flag.Bool("v", false, "show the applications' output during builds")
	replicas := flag.Int("replicas", 4, "Tomcat containers side by side per start mode for the memory figure (0: skip)")
	from := flag.String("from", "", "measure nothing: read this results.json, recompute and print the table and the headlines, write report.html and results.md next to it")
	record := flag.String("record", "", "with -from: also write the results without their per-request series to this file (the docs' recorded run, internal/bench/testdata/results.json)")
	docs := flag.String("docs", "", "with -from: also replace the table between the make-bench markers of this Markdown page with results.md")
	flag.Parse()
	if *from != "" {
		rerender(*from, *record, *docs)
		return
	}

	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			fatal(err)
		}
		return a
	}
	cfg := bench.Config{
		Rounds: *rounds, ColdCacheRounds: *coldCache, Requests: *requests, SteadyFrom: *steady,
		WorkDir:    abs(*out),
		CriuBundle: abs(*criu), Launcher: abs(*launcher),
		Version: "bench",
		Logf: func(f string, a ...any) {
			fmt.Fprintf(os.Stderr, "bench: %s "+f+"\n", append([]any{time.Now().Format("15:04:05")}, a...)...)
		},
	}
	if *verbose {
		cfg.AppOutput = os.Stderr
	}
	if !*noDrop {
		cfg.DropCaches = dropCaches
	}
	for _, name := range strings.Split(*apps, ",") {
		switch strings.TrimSpace(name) {
		case "hello":
			cfg.Apps = append(cfg.Apps, helloApp(*helloBase, abs(*helloJar), abs(*out), *variants))
		case "tomcat":
			cfg.Apps = append(cfg.Apps, tomcatApp(context.Background(), *tomcatBase, abs(*out), *variants, *replicas))
		case "tomcat-jdk25":
			cfg.Apps = append(cfg.Apps, tomcat25App(*tomcat25Base))
		default:
			fatal(fmt.Errorf("unknown app %q (want hello, tomcat, tomcat-jdk25)", name))
		}
	}
	if *only != "" {
		keep := map[string]bool{bench.ColdVariant: true, bench.DefaultVariant: true, bench.ColdCacheVariant: true, bench.RestoredCacheVariant: true}
		for _, n := range strings.Split(*only, ",") {
			keep[strings.TrimSpace(n)] = true
		}
		for i := range cfg.Apps {
			var vs []bench.Variant
			for _, v := range cfg.Apps[i].Variants {
				if keep[v.Name] {
					vs = append(vs, v)
				}
			}
			cfg.Apps[i].Variants = vs
		}
	}
	if *criuFull != "" {
		// Both applications: the lean bundle (the default) against one
		// with every optional library, whose loading is criu's start-up.
		for i := range cfg.Apps {
			cfg.Apps[i].Variants = append(cfg.Apps[i].Variants, bench.Variant{
				Name: "criu with all libraries", CriuBundle: abs(*criuFull),
				Note: "CRIU_LEAN=0: criu built with gnutls and nftables (22 shared objects to load instead of 7)",
			})
		}
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fatal(err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, runErr := bench.Run(ctx, cfg)
	if res == nil {
		fatal(runErr)
	}
	if err := writeJSON(filepath.Join(*out, "results.json"), res); err != nil {
		fatal(err)
	}
	if err := writeReport(filepath.Join(*out, "report.html"), res); err != nil {
		fatal(err)
	}
	if err := writeAtomic(filepath.Join(*out, "results.md"), []byte(bench.Markdown(res))); err != nil {
		fatal(err)
	}
	fmt.Print(bench.Table(res))
	fmt.Printf("\nwrote %s, %s and %s\n", filepath.Join(*out, "results.json"), filepath.Join(*out, "report.html"), filepath.Join(*out, "results.md"))
	if runErr != nil {
		fatal(runErr)
	}
	headlines(res)
}

func rerender(file, record, docs string) {
	b, err := os.ReadFile(file)
	if err != nil {
		fatal(err)
	}
	var res bench.Results
	if err := json.Unmarshal(b, &res); err != nil {
		fatal(fmt.Errorf("%s: %w", file, err))
	}
	res.Recompute()
	out := filepath.Join(filepath.Dir(file), "report.html")
	if err := writeReport(out, &res); err != nil {
		fatal(err)
	}
	md := bench.Markdown(&res)
	if err := writeAtomic(filepath.Join(filepath.Dir(file), "results.md"), []byte(md)); err != nil {
		fatal(err)
	}
	if record != "" {
		if err := writeRecord(record, &res); err != nil {
			fatal(err)
		}
	}
	if docs != "" {
		page, err := os.ReadFile(docs)
		if err != nil {
			fatal(err)
		}
		s, err := bench.ReplaceMarkdown(string(page), md)
		if err != nil {
			fatal(fmt.Errorf("%s: %w", docs, err))
		}
		if err := writeAtomic(docs, []byte(s)); err != nil {
			fatal(err)
		}
	}
	fmt.Print(bench.Table(&res))
	fmt.Printf("\nwrote %s and results.md\n", out)
	headlines(&res)
}

// writeRecord writes the results without what only the report's charts
// use (each row's per-request series, each start's breakdown), compact:
// a run is 1.2 MB with them, under 100 KB without. Markdown renders the
// record as it renders the whole.
func writeRecord(path string, r *bench.Results) error {
	c := *r
	c.Apps = append([]bench.AppResult(nil), r.Apps...)
	for i := range c.Apps {
		a := &c.Apps[i]
		a.Rows = append([]bench.Row(nil), a.Rows...)
		for j := range a.Rows {
			row := &a.Rows[j]
			row.SeriesMs = nil
			row.Starts = append([]bench.Start(nil), row.Starts...)
			for k := range row.Starts {
				row.Starts[k].Breakdown = nil
			}
		}
	}
	b, err := json.Marshal(&c)
	if err != nil {
		return err
	}
	return writeAtomic(path, append(b, '\n'))
}

// headlines prints each app's "cold -> warm" line, the line of the class
// cache rows (tomcat-jdk25's is the last but one), and Tomcat's line last.
func headlines(res *bench.Results) {
	var heads, last []string
	for i := range res.Apps {
		a := &res.Apps[i]
		switch line := bench.CacheLine(a, strings.ReplaceAll(a.Name, "-", " ")); {
		case a.Name == "tomcat-jdk25" && line != "":
			last = append([]string{line}, last...)
		case a.Ratio > 0 && a.Name == "tomcat":
			last = append(last, bench.Headline(a))
		case a.Ratio > 0:
			heads = append(heads, bench.Headline(a))
			if line != "" {
				heads = append(heads, line)
			}
		}
	}
	heads = append(heads, last...)
	if len(heads) == 0 {
		fatal(fmt.Errorf("no application has both a cold and a restored median"))
	}
	fmt.Println(strings.Join(heads, "\n"))
}

// stockRead is CRIU's own restore of the pages (read into fresh anonymous
// memory), the default before direct-mapped restores.
var stockRead = bench.Variant{Name: "stock read", Note: "CRAC_PAGES=read: CRIU reads the pages image into fresh memory (upstream CRIU's way)", RunEnv: []string{"CRAC_PAGES=read"}}

// mapLazy maps the pages without filling the page tables (the first way).
var mapLazy = bench.Variant{Name: "map without populate", Note: "CRAC_PAGES=map-lazy: the pages image mapped, page tables filled as the JVM touches pages (no MAP_POPULATE)", RunEnv: []string{"CRAC_PAGES=map-lazy"}}

// share maps the pages and copies each only when written (page tables
// filled read-only): replicas share the rest.
var share = bench.Variant{Name: "share", Note: "CRAC_PAGES=share: the pages image mapped, page tables filled read-only (MADV_POPULATE_READ); a page is copied when written, the rest stays shared between containers", RunEnv: []string{"CRAC_PAGES=share"}}

// noBreakdown measures what the breakdown costs: criu logs at level 2 and
// the launcher prints no breakdown.
// The CPU baselines side by side (issue: choose the default from
// measurement): the same build limited to x86-64-v3 and x86-64-v2, against
// the default row's native build; the per-request latency columns are the
// steady state.
var baselineV3 = bench.Variant{Name: "x86-64-v3", Note: "--cpu-baseline x86-64-v3: JVM and glibc limited to AVX2 (no AVX-512), restores on any x86 server CPU since 2015", CPUBaseline: "x86-64-v3"}
var baselineV2 = bench.Variant{Name: "x86-64-v2", Note: "--cpu-baseline x86-64-v2: JVM and glibc without AVX, BMI, FMA, restores on any x86-64 server CPU since 2010", CPUBaseline: "x86-64-v2"}

// The first request after a restore (docs/restore-speed.md): request 1
// after a pause (what is left once the JVM is done with its start), in a
// time namespace (the clocks continue: no jump for timers, caches and the
// collector's clock), and with the launcher's post-restore pass over the
// benchmark's own paths (which the bench's warmup scripts do not record).
var pause1s = bench.Variant{Name: "request 1 after 1 s", Note: "the default, request 1 sent 1 s after the first response instead of at once", PauseBefore: time.Second}
var timeNamespace = bench.Variant{Name: "time namespace", Note: "the default, with SYS_ADMIN and SYS_TIME: the launcher restores in a time namespace, the JVM's monotonic clock continues from the checkpoint's instead of jumping", CapAdd: []string{"SYS_ADMIN", "SYS_TIME"}}

func firstPass(paths []string) bench.Variant {
	return bench.Variant{Name: "post-restore pass", Note: "CRAC_FIRST_REQUESTS=the benchmark's paths: the launcher requests each once after the restore, before it reports it", RunEnv: []string{"CRAC_FIRST_REQUESTS=" + strings.Join(paths, ",")}}
}

var noBreakdown = bench.Variant{Name: "no breakdown", Note: "CRAC_BREAKDOWN=0: no breakdown line (its markers are in criu's default log level: it should cost nothing)", RunEnv: []string{"CRAC_BREAKDOWN=0"}}

// The class cache side by side (issue 16): the app's rows are built
// without it, these two with it.
var (
	classCacheCold     = bench.Variant{Name: bench.ColdCacheVariant, Note: "CRAC_RESTORE=off on the image with the JDK's class cache (what a Leyden or AppCDS user gets)", Cold: true, ClassCache: true}
	classCacheRestored = bench.Variant{Name: bench.RestoredCacheVariant, Note: "the image with the JDK's class cache in its application layer: the checkpointed JVM mapped it", ClassCache: true}
)

func helloApp(base, jar, workDir string, variants bool) bench.App {
	a := bench.App{
		Name: "hello",
		Build: builder.Options{
			Base: base,
			Adds: []builder.Add{{Src: jar, Dest: "/app/hello.jar"}},
			// The JDK's HttpServer leaves Nagle on: on a keep-alive
			// connection every answer then waits ~40 ms for the client's
			// delayed ACK (measured: 44 ms vs 1.7 ms per request).
			Cmd:          []string{"java", "-Dsun.net.httpserver.nodelay=true", "-jar", "/app/hello.jar"},
			Port:         8080,
			ReadyURL:     "http://127.0.0.1:8080/health",
			WarmupScript: "examples/hello/warmup.sh",
			// One run of the script, as in the recorded runs: the rows measure
			// restores, and a script repeated until steady takes minutes.
			WarmupRounds: "1",

			// Every row as before the class cache, but its two.
			NoClassCache: true,
		},
		Probe: "/health",
		Paths: []string{"/work?n=32", "/"},
		Variants: []bench.Variant{
			{Name: bench.ColdVariant, Note: "CRAC_RESTORE=off: the JVM starts from scratch", Cold: true},
			{Name: bench.DefaultVariant, Note: "the default build and launcher: the pages image mapped, every page copied at once in the kernel (MAP_POPULATE)"},
			classCacheCold,
			classCacheRestored,
			stockRead,
			share,
			mapLazy,
			baselineV3,
			baselineV2,
			pause1s,
			timeNamespace,
			firstPass([]string{"/work?n=32", "/"}),
		},
	}
	a.Variants = append(a.Variants, warmupRows(a.Paths, workDir, "hello")...)
	if variants {
		a.Variants = append(a.Variants,
			bench.Variant{Name: "checks before restore", Note: "CRAC_VERIFY=before: checksum the images and probe criu before restoring (the launcher's former default)", RunEnv: []string{"CRAC_VERIFY=before"}},
			noBreakdown,
			bench.Variant{Name: "no GC before dump", Note: "--no-gc: no GC.run, no trim_native_heap, no settle before the dump", NoGC: true},
			bench.Variant{Name: "settle 1.5 s", Note: "--settle 1.5s: the former pause between the pre-dump GC and the dump", Settle: 1500 * time.Millisecond},
		)
	}
	return a
}

func tomcatApp(ctx context.Context, base, workDir string, variants bool, replicas int) bench.App {
	pages, err := readPages("examples/tomcat/pages.txt")
	if err != nil {
		fatal(err)
	}
	a := bench.App{
		Name: "tomcat",
		Build: builder.Options{
			Base:         base,
			Port:         8080,
			ReadyURL:     "http://127.0.0.1:8080/examples/",
			WarmupScript: "examples/tomcat/warmup.sh",
			WarmupRounds: "1", // one run of the script, as in helloApp

			// The rows and the headline as before the class cache
			// (measured on JDK 17 by hello, on JDK 25 by tomcat-jdk25).
			NoClassCache: true,
		},
		Probe: "/examples/",
		Paths: pages,
		Variants: []bench.Variant{
			{Name: bench.ColdVariant, Note: "CRAC_RESTORE=off: Tomcat starts from scratch", Cold: true},
			{Name: bench.DefaultVariant, Note: "the default build and launcher: the pages image mapped, every page copied at once in the kernel (MAP_POPULATE)"},
			stockRead,
			share,
			mapLazy,
			baselineV3,
			baselineV2,
			pause1s,
			timeNamespace,
			firstPass(pages),
		},
		Lazy:            variants,
		Replicas:        replicas,
		ReplicaRequests: 1000,
	}
	a.Variants = append(a.Variants, warmupRows(pages, workDir, "tomcat")...)
	if variants {
		a.Variants = append(a.Variants,
			bench.Variant{Name: "checks before restore", Note: "CRAC_VERIFY=before: checksum the images and probe criu before restoring (the launcher's former default)", RunEnv: []string{"CRAC_VERIFY=before"}},
			bench.Variant{Name: "criu debug log", Note: "CRAC_DEBUG=1: criu logs at level 4 instead of 2", RunEnv: []string{"CRAC_DEBUG=1"}},
			noBreakdown,
			bench.Variant{Name: "no GC before dump", Note: "--no-gc: no GC.run, no trim_native_heap, no settle before the dump", NoGC: true},
			bench.Variant{Name: "settle 1.5 s", Note: "--settle 1.5s: the former pause between the pre-dump GC and the dump", Settle: 1500 * time.Millisecond},
			bench.Variant{Name: "SerialGC", Note: "-XX:+UseSerialGC instead of G1 (no G1 remembered sets, fewer GC threads)", BuildEnv: []string{"JAVA_TOOL_OPTIONS=-XX:+UseSerialGC"}},
			bench.Variant{Name: "C1 only", Note: "-XX:TieredStopAtLevel=1: no C2 (smaller code cache and compiler arenas, slower peak code)", BuildEnv: []string{"JAVA_TOOL_OPTIONS=-XX:TieredStopAtLevel=1"}},
			bench.Variant{Name: "transparent huge pages", Note: "-XX:+UseTransparentHugePages: the heap in 2 MB pages (fewer page faults while CRIU fills it)", BuildEnv: []string{"JAVA_TOOL_OPTIONS=-XX:+UseTransparentHugePages"}},
			bench.Variant{Name: "restored", Note: "the default, after dropping the page cache (a node that has the image on disk but not in memory)", ColdCache: true},
			bench.Variant{Name: "prefetch on", Note: "CRAC_PREFETCH=on: read the CRIU bundle and the JVM's mapped files into the page cache during the restore, after dropping the page cache", RunEnv: []string{"CRAC_PREFETCH=on"}, ColdCache: true},
			bench.Variant{Name: "checks before restore", Note: "CRAC_VERIFY=before, after dropping the page cache", RunEnv: []string{"CRAC_VERIFY=before"}, ColdCache: true},
			bench.Variant{Name: stockRead.Name, Note: stockRead.Note + ", after dropping the page cache", RunEnv: stockRead.RunEnv, ColdCache: true},
		)
		web, err := productionWebXML(ctx, base, workDir)
		if err != nil {
			fatal(err)
		}
		a.Variants = append(a.Variants, bench.Variant{Name: "JSP development=false",
			Note: "Jasper's production setting (conf/web.xml): no per-page modification checks, which the wall-clock jump at restore sets off on every page's first request",
			Adds: []builder.Add{{Src: web, Dest: "/etc/tomcat10/web.xml"}}})
	}
	return a
}

// tomcat25App is Tomcat on JDK 25 without and with the class cache (an
// AOT cache with the warmup's profiles): the four rows of CacheLine.
func tomcat25App(base string) bench.App {
	pages, err := readPages("examples/tomcat/pages.txt")
	if err != nil {
		fatal(err)
	}
	return bench.App{
		Name: "tomcat-jdk25",
		Build: builder.Options{
			Base:         base,
			NoClassCache: true,
			Port:         8080,
			ReadyURL:     "http://127.0.0.1:8080/examples/",
			WarmupScript: "examples/tomcat/warmup.sh",
			WarmupRounds: "1", // one run of the script, as in helloApp
		},
		Probe: "/examples/",
		Paths: pages,
		Variants: []bench.Variant{
			{Name: bench.ColdVariant, Note: "CRAC_RESTORE=off: Tomcat on JDK 25 starts from scratch", Cold: true},
			classCacheCold,
			{Name: bench.DefaultVariant, Note: "the image without the class cache"},
			classCacheRestored,
		},
	}
}

// fixedWarmup is the fixed warmup that the warmup until steady is
// measured against (the target: within 10% of its steady latency
// in at most half its time).
const fixedWarmup = 10000

// warmupRows are the rows of a fixed warmup against one until steady,
// with the same requests (GET of each of the row's paths, in a requests
// file written to dir): restored request 1, steady state, and the
// warmup's time in the build table.
func warmupRows(paths []string, dir, app string) []bench.Variant {
	file := filepath.Join(dir, app+"-requests.txt")
	var b strings.Builder
	b.WriteString("# The benchmark's requests, for the warmup rows (written by internal/tools/bench)\n")
	for _, p := range paths {
		b.WriteString("GET " + p + "\n")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fatal(err)
	}
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		fatal(err)
	}
	return []bench.Variant{
		{Name: fmt.Sprintf("warmup %d requests", fixedWarmup), Note: fmt.Sprintf("--warmup-requests-file (GET of the measured paths) --warmup-requests %d: a fixed warmup instead of the default script", fixedWarmup),
			Warmup: &bench.Warmup{RequestsFile: file, Requests: fixedWarmup}},
		{Name: "warmup until steady", Note: "--warmup-requests-file (the same requests), rounds of >= 100 until the JIT is quiet and the round latency flat (--warmup-rounds steady, the default)",
			Warmup: &bench.Warmup{RequestsFile: file}},
	}
}

// productionWebXML writes Tomcat's conf/web.xml from the base image with
// the JSP servlet's "development" init-param set to false, and returns its
// path.
func productionWebXML(ctx context.Context, base, dir string) (string, error) {
	img, err := registry.Load(ctx, base, registry.Options{})
	if err != nil {
		return "", err
	}
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err != nil {
			return "", fmt.Errorf("etc/tomcat10/web.xml not found in %s: %v", base, err)
		}
		if strings.TrimPrefix(h.Name, "./") != "etc/tomcat10/web.xml" {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return "", err
		}
		const anchor = "<servlet-class>org.apache.jasper.servlet.JspServlet</servlet-class>"
		if strings.Count(string(b), anchor) != 1 {
			return "", fmt.Errorf("web.xml of %s: want one JspServlet declaration", base)
		}
		s := strings.Replace(string(b), anchor, anchor+`
        <init-param>
            <param-name>development</param-name>
            <param-value>false</param-value>
        </init-param>`, 1)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", err
		}
		out := filepath.Join(dir, "tomcat-production-web.xml")
		return out, os.WriteFile(out, []byte(s), os.FileMode(h.Mode)&0o777)
	}
}

func readPages(file string) ([]string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out, nil
}

// dropCaches writes back dirty pages, then drops the clean page cache,
// dentries and inodes: the state of a node that has the image on disk but
// has not read it since boot.
func dropCaches() error {
	unix.Sync()
	return os.WriteFile("/proc/sys/vm/drop_caches", []byte("3\n"), 0o200)
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		return err
	}
	return writeAtomic(path, append(b, '\n'))
}

func writeReport(path string, r *bench.Results) error {
	var b strings.Builder
	if err := report.Render(&b, bench.Page(r)); err != nil {
		return err
	}
	return writeAtomic(path, []byte(b.String()))
}

func writeAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func fatal(err error) {
	fmt.Fprintf(os.Stderr, "bench: %v\n", err)
	os.Exit(1)
}
