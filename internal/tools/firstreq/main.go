// Command firstreq measures where the first request after a restore spends
// its time (docs/restore-speed.md, "The first request after a restore"):
// it starts containers of a warm image one after another and, per start,
// sends request 1 on a new connection and reads, from /proc, the CPU time
// and page faults of each JVM thread during it; then requests 2-10, a
// steady state and new-connection requests. Options put something before
// request 1: a pause, a pass of other requests (-pre), a cache-evicting
// memory sweep (-thrash), jcmd commands, capabilities for a time namespace;
// -cold -warmup SCRIPT is the control without a checkpoint (a JVM warmed
// up the same way and left idle). -perf records request 1 with perf.
//
//	go run ./internal/tools/firstreq -image oci-layout:DIR:hello -n 5 -pre 1
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/crac-build/crac-build/internal/hotspot"
	"github.com/crac-build/crac-build/internal/proc"
	"github.com/crac-build/crac-build/internal/runner"
)

type tstat struct {
	comm          string
	minflt, major int64
	runNs         int64
}

func threads(pid int) map[int]tstat {
	out := map[int]tstat{}
	ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, e := range ents {
		tid, _ := strconv.Atoi(e.Name())
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/stat", pid, tid))
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		comm := s[strings.IndexByte(s, '(')+1 : i]
		f := strings.Fields(s[i+2:])
		mn, _ := strconv.ParseInt(f[7], 10, 64)
		mj, _ := strconv.ParseInt(f[9], 10, 64)
		sb, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/schedstat", pid, tid))
		rn, _ := strconv.ParseInt(strings.Fields(string(sb) + " 0")[0], 10, 64)
		out[tid] = tstat{comm, mn, mj, rn}
	}
	return out
}

func diff(a, b map[int]tstat) (string, int64, int64) {
	type d struct {
		comm     string
		tid      int
		flt, run int64
	}
	var ds []d
	var tf, tr int64
	for tid, y := range b {
		x := a[tid]
		df, dr := y.minflt-x.minflt, y.runNs-x.runNs
		tf += df
		tr += dr
		if df > 0 || dr > 200000 {
			ds = append(ds, d{y.comm, tid, df, dr})
		}
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i].run > ds[j].run })
	var parts []string
	for i, x := range ds {
		if i >= 6 {
			break
		}
		parts = append(parts, fmt.Sprintf("%s:%.2fms/%dflt", x.comm, float64(x.run)/1e6, x.flt))
	}
	return strings.Join(parts, " "), tf, tr
}

func jvmPID(init int) int {
	if strings.Contains(proc.Comm(init), "java") {
		return init
	}
	for i := 0; i < 200; i++ {
		for _, c := range proc.Children(init) {
			if strings.Contains(proc.Comm(c), "java") {
				return c
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	return 0
}

func get(c *http.Client, url string) (float64, error) {
	t0 := time.Now()
	resp, err := c.Get(url)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		return 0, fmt.Errorf("%s: %s", url, resp.Status)
	}
	return float64(time.Since(t0).Microseconds()) / 1000, nil
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func main() {
	image := flag.String("image", "", "image")
	port := flag.Int("port", 8080, "port")
	probe := flag.String("probe", "/health", "probe path")
	paths := flag.String("paths", "/work?n=32,/", "paths")
	n := flag.Int("n", 3, "starts")
	env := flag.String("env", "", "env K=V,K=V")
	delay := flag.Duration("delay", 0, "pause after probe before request 1")
	waitL := flag.Bool("wait-launcher", false, "wait for the launcher's restored line before request 1")
	steadyN := flag.Int("steady", 1000, "requests for steady")
	cold := flag.Bool("cold", false, "cold")
	warm := flag.String("warmup", "", "run this warmup script after the probe (cold control)")
	settle := flag.Duration("settle", 6*time.Second, "pause after -warmup")
	perfOut := flag.String("perf", "", "perf record request 1 (and 20 steady requests) into FILE.1 and FILE.s")
	pre := flag.Int("pre", 0, "requests sent (own connection) after the probe, before request 1: a post-restore pass")
	prePause := flag.Duration("pre-pause", 0, "pause after the pass")
	jcmds := flag.String("jcmd", "", "jcmd commands (;-separated) run before request 1 (after the pass and delay)")
	jcmdPause := flag.Duration("jcmd-pause", time.Second, "pause after the jcmds")
	thrash := flag.Int("thrash", 0, "MiB to touch (on every CPU) after the pass, before request 1: evicts the caches")
	capAdd := flag.String("cap-add", "", "capabilities to add, comma-separated (SYS_ADMIN,SYS_TIME: a time namespace)")
	prePaths := flag.String("pre-paths", "", "paths of the pass (default -paths)")
	outFile := flag.String("stdout", "", "append the app's stdout and stderr here, with markers")
	flag.Parse()
	ps := strings.Split(*paths, ",")
	var envs []string
	if *env != "" {
		envs = strings.Split(*env, ",")
	}
	cache, _ := filepath.Abs("build/cache")
	var r1s, r2s, sts, fr []float64
	for i := 0; i < *n; i++ {
		ctx := context.Background()
		var out *os.File
		if *outFile != "" {
			out, _ = os.OpenFile(*outFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		}
		mark := func(s string) {
			if out != nil {
				fmt.Fprintf(out, "=== MARK %s\n", s)
			}
		}
		opts := runner.Options{Image: *image, Port: *port, Env: envs, CacheDir: cache, Cold: *cold, HostAddr: "127.0.0.1:0"}
		if *capAdd != "" {
			opts.Caps, _ = runner.Caps(strings.Split(*capAdd, ","), nil)
		}
		if out != nil {
			opts.Stdout, opts.Stderr = out, out
		}
		r, err := runner.Start(ctx, opts)
		if err != nil {
			fmt.Println("start:", err)
			os.Exit(1)
		}
		d, err := r.Probe(ctx, "http://"+r.Addr+*probe)
		if err != nil {
			fmt.Println("probe:", err)
			r.Stop(5 * time.Second)
			continue
		}
		if *warm != "" {
			cmd := exec.Command("sh", *warm)
			cmd.Env = append(os.Environ(), "CRAC_APP_URL=http://"+r.Addr)
			o, err := cmd.CombinedOutput()
			fmt.Printf("warmup: %s %v\n", strings.TrimSpace(string(o)), err)
			time.Sleep(*settle)
		}
		tProbe := time.Now()
		if *waitL {
			r.WaitMode(5 * time.Second)
		}
		if *delay > 0 {
			time.Sleep(*delay)
		}
		if *pre > 0 {
			pps := ps
			if *prePaths != "" {
				pps = strings.Split(*prePaths, ",")
			}
			pc := runner.SeriesClient(nil, 0)
			t0 := time.Now()
			for k := 0; k < *pre; k++ {
				get(pc, "http://"+r.Addr+pps[k%len(pps)])
			}
			pc.CloseIdleConnections()
			fmt.Printf("pass: %d requests in %.1f ms\n", *pre, float64(time.Since(t0).Microseconds())/1000)
			time.Sleep(*prePause)
		}
		if *thrash > 0 {
			t0 := time.Now()
			done := make(chan int)
			for c := 0; c < 2; c++ {
				go func() {
					buf := make([]byte, *thrash<<20)
					sum := 0
					for rep := 0; rep < 1; rep++ {
						for k := 0; k < len(buf); k += 64 {
							buf[k]++
							sum += int(buf[k])
						}
					}
					done <- sum
				}()
			}
			<-done
			<-done
			fmt.Printf("thrash: %d ms\n", time.Since(t0).Milliseconds())
		}
		jvm := jvmPID(r.Container().InitPID())
		if *jcmds != "" {
			for _, jc := range strings.Split(*jcmds, ";") {
				t0 := time.Now()
				o, err := hotspot.Jcmd(ctx, jvm, jc)
				fmt.Printf("jcmd %s: %v (%d ms) %.3000s\n", jc, err, time.Since(t0).Milliseconds(), o)
			}
			time.Sleep(*jcmdPause)
		}
		base := "http://" + r.Addr
		c := runner.SeriesClient(nil, 0)
		perfStart := func(file string) func() {
			if *perfOut == "" {
				return func() {}
			}
			cmd := exec.Command("perf", "record", "-q", "-e", "cpu-clock", "-F", "20000", "-p", strconv.Itoa(jvm), "-o", file)
			if os.Getenv("FIRSTREQ_PERF_STAT") != "" {
				cmd = exec.Command("perf", "stat", "-e", "page-faults,exceptions:page_fault_user,exceptions:page_fault_kernel,context-switches,cpu-migrations,task-clock", "-p", strconv.Itoa(jvm), "-o", file)
			}
			if err := cmd.Start(); err != nil {
				fmt.Println(err)
				return func() {}
			}
			time.Sleep(700 * time.Millisecond)
			return func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }
		}
		stopPerf := perfStart(fmt.Sprintf("%s.%d.1", *perfOut, i))
		mark(fmt.Sprintf("start %d before request 1", i))
		a := threads(jvm)
		gap := time.Since(tProbe)
		l1, err := get(c, base+ps[0])
		b := threads(jvm)
		mark("after request 1")
		stopPerf()
		top, tf, tr := diff(a, b)
		var rest []float64
		for k := 1; k < 10; k++ {
			l, _ := get(c, base+ps[k%len(ps)])
			rest = append(rest, l)
		}
		c3 := threads(jvm)
		mark("after request 10")
		_, tf2, _ := diff(b, c3)
		var st []float64
		for k := 0; k < *steadyN; k++ {
			l, _ := get(c, base+ps[k%len(ps)])
			st = append(st, l)
		}
		st = st[len(st)*9/10:]
		if *perfOut != "" {
			stop := perfStart(fmt.Sprintf("%s.%d.s", *perfOut, i))
			x := threads(jvm)
			for k := 0; k < 20; k++ {
				get(c, base+ps[k%len(ps)])
			}
			y := threads(jvm)
			stop()
			top, _, tr := diff(x, y)
			fmt.Printf("steady 20 requests: run %.2f ms [%s]\n", float64(tr)/1e6, top)
		}
		fc := runner.SeriesClient(nil, 0)
		fc.Transport.(*http.Transport).DisableKeepAlives = true
		var fresh []float64
		for k := 0; k < 20; k++ {
			l, _ := get(fc, base+ps[k%len(ps)])
			fresh = append(fresh, l)
		}
		if *perfOut != "" {
			_, err := hotspot.Jcmd(ctx, jvm, "Compiler.perfmap")
			st, _ := proc.Status(jvm)
			ns, _ := proc.NSpid(st)
			b, err2 := os.ReadFile(fmt.Sprintf("/proc/%d/root/tmp/perf-%d.map", jvm, ns))
			os.WriteFile(fmt.Sprintf("/tmp/perf-%d.map", jvm), b, 0o644)
			fmt.Printf("perfmap: %v %v %d bytes, pid %d\n", err, err2, len(b), jvm)
		}
		mode, _ := r.Mode()
		fmt.Printf("start %d %s ready %.0f ms launcher %.0f; gap %.0f ms; req1 %.2f ms (err %v) flt %d run %.2f ms [%s]; req2 %.2f req2-10 med %.2f (flt %d); steady %.3f fresh %.3f\n",
			i, mode, float64(d.Microseconds())/1000, r.LauncherMs(), float64(gap.Microseconds())/1000, l1, err, tf, float64(tr)/1e6, top, rest[0], median(rest), tf2, median(st), median(fresh))
		r1s = append(r1s, l1)
		r2s = append(r2s, rest[0])
		sts = append(sts, median(st))
		fr = append(fr, median(fresh))
		r.Stop(5 * time.Second)
		if out != nil {
			out.Close()
		}
	}
	fmt.Printf("MEDIAN req1 %.2f req2 %.2f steady %.3f fresh %.3f ratio %.1fx (fresh %.1fx)\n", median(r1s), median(r2s), median(sts), median(fr), median(r1s)/median(sts), median(r1s)/median(fr))
}
