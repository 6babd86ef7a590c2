package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/crac-build/crac-build/internal/contract"
	"github.com/crac-build/crac-build/internal/host"
	"github.com/crac-build/crac-build/internal/layers"
	"github.com/crac-build/crac-build/internal/registry"
	"github.com/crac-build/crac-build/internal/runner"
	"github.com/crac-build/crac-build/internal/seccomp"
	"github.com/crac-build/crac-build/internal/testutil"
)

// coldBound is how soon a container whose restore fails must answer: the
// slowest fault (a hung criu, killed at its 3 s deadline) plus a cold
// start (2-4 s here), with room for a slow shared machine.
const coldBound = 45 * time.Second

// hangTimeout is CRAC_RESTORE_TIMEOUT for the hung-criu fault: long
// enough for criu to reach the hang on a loaded machine (0.2-0.3 s idle;
// more than 5 s with every package's tests running at once).
const hangTimeout = 15 * time.Second

// A fault is one way a restore can fail. Each ends in a cold start that
// serves, after exactly one launcher line on stderr naming the cause.
type fault struct {
	name string
	// detect says how the launcher finds the fault (docs/troubleshooting.md's table).
	detect string
	// setup returns the run: the image (often hello with a layer on top
	// that damages something) and the runtime's settings.
	setup func(t *testing.T) runner.Options
	// cause must match the reason after "crac-launch: cold start: ".
	cause string
	// during runs once the container has started, before it answers.
	during func(t *testing.T, r *runner.Run)
	// minCold is the least time to the first answer (a hang must last
	// until its deadline).
	minCold time.Duration
}

func faults() []fault {
	return []fault{
		{
			name:   "no CAP_CHECKPOINT_RESTORE",
			detect: "capabilities in /proc/self/status before criu runs",
			setup: func(t *testing.T) runner.Options {
				return runner.Options{Image: helloImage(t), Caps: caps(t, nil, "CHECKPOINT_RESTORE")}
			},
			cause: `^missing capabilities CAP_CHECKPOINT_RESTORE \(--cap-add CHECKPOINT_RESTORE, or SYS_ADMIN on Docker before 23\)$`,
		},
		{
			name:   "a capability the JVM had is missing",
			detect: "the JVM's capabilities at dump against the container's (CRIU would hang)",
			setup: func(t *testing.T) runner.Options {
				return runner.Options{Image: helloImage(t), Caps: caps(t, nil, "SYS_CHROOT")}
			},
			cause: `^missing capabilities CAP_SYS_CHROOT$`,
		},
		{
			name:   "seccomp makes clone3 fail (Docker's default profile)",
			detect: "clone3 probed in a child when a seccomp filter is on; ns_last_pid not writable",
			setup: func(t *testing.T) runner.Options {
				c := caps(t, nil)
				f, err := seccomp.Compile(seccomp.DockerDefault(), c)
				if err != nil {
					t.Fatal(err)
				}
				return runner.Options{Image: helloImage(t), Caps: c, Seccomp: f}
			},
			cause: `^the seccomp profile blocks clone3 \(clone3 returns ENOSYS\)`,
		},
		{
			name:   "CRIU bundle missing",
			detect: "stat of the bundle's criu",
			setup: func(t *testing.T) runner.Options {
				return runner.Options{Image: derive(t, "no-criu", func(_ string, tr *layers.Tar, _ *contract.Metadata) bool {
					add(t, tr.AddBytes(filepath.Dir(contract.CriuDir)+"/.wh."+filepath.Base(contract.CriuDir), nil, 0o644))
					return false
				})}
			},
			cause: `^criu bundle: stat /opt/crac-build/criu/criu: no such file or directory$`,
		},
		{
			name:   "CRIU bundle broken",
			detect: "criu --version over RPC; criu's own error on failure",
			setup: func(t *testing.T) runner.Options {
				return runner.Options{Image: derive(t, "broken-criu", func(_ string, tr *layers.Tar, _ *contract.Metadata) bool {
					add(t, tr.AddBytes(contract.CriuDir+"/lib/libc.so.6", []byte("not a library"), 0o755))
					return false
				})}
			},
			cause: `^criu bundle does not run: .*libc\.so\.6`,
		},
		{
			name:   "CPU lacks a build-time feature",
			detect: "instruction-set flags of /proc/cpuinfo against the build host's",
			setup: func(t *testing.T) runner.Options {
				flag := missingCPUFlag(t)
				return runner.Options{Image: derive(t, "other-cpu", func(_ string, _ *layers.Tar, m *contract.Metadata) bool {
					// A native image (no baseline) of a CPU that had it.
					m.Host.CPUFeatures = append(m.Host.CPUFeatures, flag)
					m.CPUBaseline = nil
					return true
				})}
			},
			cause: `^CPU lacks features the checkpoint was made with: (amx_tile|avx512_fp16|avx_vnni_int16|avx10)$`,
		},
		{
			name:   "checkpoint file truncated",
			detect: "size of each CRIU image file against the metadata",
			setup: func(t *testing.T) runner.Options {
				return runner.Options{Image: derive(t, "truncated", func(root string, tr *layers.Tar, m *contract.Metadata) bool {
					name := fmt.Sprintf("core-%d.img", m.Process.PID)
					b := readFile(t, filepath.Join(root, contract.ImagesDir, name))
					add(t, tr.AddBytes(contract.ImagesDir+"/"+name, b[:len(b)/2], 0o644))
					return false
				})}
			},
			cause: `^checkpoint file core-\d+\.img has \d+ bytes, expected \d+ \(truncated or damaged\)$`,
		},
		{
			name:   "checkpoint file corrupted (same size)",
			detect: "CRC-32C of each CRIU image file against the metadata",
			setup: func(t *testing.T) runner.Options {
				return runner.Options{Image: derive(t, "corrupted", func(root string, tr *layers.Tar, _ *contract.Metadata) bool {
					b := readFile(t, filepath.Join(root, contract.ImagesDir, "pages-1.img"))
					for i := len(b) / 2; i < len(b)/2+16; i++ {
						b[i] ^= 0x5a // a few flipped bits, as bad storage would
					}
					add(t, tr.AddBytes(contract.ImagesDir+"/pages-1.img", b, 0o644))
					return false
				})}
			},
			cause: `^checkpoint file pages-1\.img fails its checksum \(damaged\)$`,
		},
		{
			name:   "open file has another size",
			detect: "size and mode of every file the JVM held open (CRIU's own check, made beside the restore; its reason wins over CRIU's)",
			setup: func(t *testing.T) runner.Options {
				// Another valid jar: the same with a zip comment.
				return runner.Options{Image: derive(t, "jar-size", func(root string, tr *layers.Tar, _ *contract.Metadata) bool {
					b := jarWithComment(t, readFile(t, filepath.Join(root, "app/hello.jar")), "rebuilt")
					add(t, tr.AddBytes("app/hello.jar", b, 0o644))
					return false
				})}
			},
			cause: `^file /app/hello\.jar held open at checkpoint has size \d+, was \d+$`,
		},
		{
			name:   "open file has other content, same size (small file: read whole)",
			detect: "CRC-32C fingerprint of the whole file, up to 1 MiB",
			setup: func(t *testing.T) runner.Options {
				// Another valid jar of the same size: the same classes,
				// packed two seconds later (one entry's timestamp).
				return runner.Options{Image: derive(t, "jar-content", func(root string, tr *layers.Tar, _ *contract.Metadata) bool {
					b := jarRestamped(t, readFile(t, filepath.Join(root, "app/hello.jar")), "Hello.class")
					add(t, tr.AddBytes("app/hello.jar", b, 0o644))
					return false
				})}
			},
			cause: `^file /app/hello\.jar held open at checkpoint has other content than at build \(same size\)$`,
		},
		{
			name:   "open file rebuilt, same size and mtime (large file: sampled)",
			detect: "CRC-32C fingerprint of 64 KiB at each end and 32 blocks of 4 KiB between, for larger files",
			setup: func(t *testing.T) runner.Options {
				const lib = "usr/lib/jvm/java-17-openjdk-amd64/lib/server/libjvm.so"
				return runner.Options{Image: derive(t, "libjvm-rebuilt", func(root string, tr *layers.Tar, _ *contract.Metadata) bool {
					p := filepath.Join(root, lib)
					fi, err := os.Stat(p)
					if err != nil {
						t.Fatal(err)
					}
					// Another build of the library, of the same size, mtime
					// (a reproducible build) and mode: it has another GNU
					// build ID, which every rebuilt ELF file carries in its
					// first pages. (A real rebuild differs nearly everywhere;
					// this one still runs, so the cold start serves.)
					rebuilt := elfNewBuildID(t, readFile(t, p))
					h := tar.Header{Name: lib, Typeflag: tar.TypeReg, Mode: int64(fi.Mode().Perm()), Size: int64(len(rebuilt)),
						ModTime: fi.ModTime(), Format: tar.FormatPAX}
					add(t, tr.AddEntry(layers.Entry{Header: h, Data: rebuilt}))
					return false
				})}
			},
			cause: `^file /usr/lib/jvm/java-17-openjdk-amd64/lib/server/libjvm\.so held open at checkpoint has other content than at build \(same size, sampled blocks differ\)$`,
		},
		{
			name:   "PID taken",
			detect: "/proc/PID for the JVM's PID",
			setup: func(t *testing.T) runner.Options {
				return holdPID(t, meta(t).Process.PID)
			},
			cause: `^PID \d+, which the checkpoint needs, is taken by sleep$`,
		},
		{
			name:   "thread ID taken",
			detect: "/proc/TID for every core-TID.img of the checkpoint",
			setup: func(t *testing.T) runner.Options {
				return holdPID(t, maxTID(t))
			},
			cause: `^thread ID \d+, which the checkpoint needs, is taken by sleep$`,
		},
		{
			name:   "host clock behind the checkpoint's, least privilege",
			detect: "CLOCK_MONOTONIC against timens-0.img; no CAP_SYS_ADMIN+SYS_TIME for a time namespace",
			setup: func(t *testing.T) runner.Options {
				return runner.Options{Image: helloImage(t), Uptime: 2 * time.Second}
			},
			cause: `^this host's monotonic clock \(\S+\) is behind the checkpoint's \(\S+\): without a time namespace`,
		},
		{
			name:   "criu hangs (capability missing, pre-check bypassed)",
			detect: "CRAC_RESTORE_TIMEOUT: criu SIGKILLed at the deadline (it ignores SIGTERM)",
			setup: func(t *testing.T) runner.Options {
				// The metadata says the JVM had no CAP_SYS_CHROOT, so the
				// launcher's capability check passes in a container
				// without it; CRIU restores the capability sets from its
				// images, fails to, and hangs.
				ref := derive(t, "hang", func(_ string, _ *layers.Tar, m *contract.Metadata) bool {
					chroot, _ := host.CapMask([]string{"CAP_SYS_CHROOT"})
					for _, p := range []*string{&m.Process.CapEff, &m.Process.CapBnd} {
						v, err := host.ParseCapMask(*p)
						if err != nil {
							t.Fatal(err)
						}
						*p = fmt.Sprintf("%016x", v&^chroot)
					}
					m.RequiredCaps = without(m.RequiredCaps, "CAP_SYS_CHROOT")
					return true
				})
				return runner.Options{Image: ref, Caps: caps(t, nil, "SYS_CHROOT"),
					Env: []string{contract.EnvRestoreTimeout + "=" + hangTimeout.String()}}
			},
			during:  criuIgnoresSIGTERM,
			minCold: hangTimeout,
			cause:   `^criu restore: restore timed out after 15s \(criu killed\)`,
		},
	}
}

// TestFaults runs the fault matrix. `make test-faults` runs it alone and
// prints its last line. Each fault's image is made in turn (the derived
// images share one OCI layout); the containers then run two at a time
// (-test.parallel, GOMAXPROCS by default): most of a fault's time is a
// cold JVM starting, or a hung criu waiting for its deadline.
func TestFaults(t *testing.T) {
	helloImage(t)
	runFaultMatrix(t, faults())
}

// faultResult is what became of one fault of the matrix.
type faultResult struct {
	// selected: its subtest ran (-run may leave it out).
	selected, skipped, ok bool
	took                  time.Duration
}

// runFaultMatrix runs each fault as a parallel subtest and reports the
// matrix. Under CRAC_E2E=1 (make test, CI) a fault that skips fails: the
// matrix must not shrink silently on a machine that cannot show a fault.
func runFaultMatrix(t *testing.T, all []fault) {
	results := make([]faultResult, len(all))
	// Runs when every subtest, parallel ones included, is done.
	t.Cleanup(func() {
		names := make([]string, len(all))
		for i, f := range all {
			names[i] = f.name
		}
		table, summary := faultSummary(names, results)
		t.Logf("fault matrix:\n%s", table)
		t.Log(summary)
		if p := os.Getenv("CRAC_FAULTS_SUMMARY"); p != "" {
			if err := os.WriteFile(p, []byte(summary+"\n"), 0o644); err != nil {
				t.Error(err)
			}
		}
	})
	strict := os.Getenv("CRAC_E2E") == "1"
	for i, f := range all {
		t.Run(f.name, func(t *testing.T) {
			results[i].selected = true
			t.Cleanup(func() {
				results[i].skipped, results[i].ok = t.Skipped(), !t.Failed() && !t.Skipped()
				if t.Skipped() && strict {
					t.Errorf("fault %q skipped under CRAC_E2E=1: the matrix must run every fault", f.name)
				}
			})
			o := f.setup(t)
			t.Parallel()
			results[i].took = runFault(t, f, o)
		})
	}
}

// faultSummary is the matrix's table and its last line: passed out of
// every fault that was selected, skipped ones included (named), so that
// a skip never reads as K/K.
func faultSummary(names []string, results []faultResult) (table, summary string) {
	selected, passed := 0, 0
	var rows, skipped []string
	for i, r := range results {
		if !r.selected {
			continue // not selected by -run
		}
		selected++
		outcome := "FAILED"
		switch {
		case r.skipped:
			outcome = "SKIPPED"
			skipped = append(skipped, names[i])
		case r.ok:
			passed++
			outcome = fmt.Sprintf("cold, serving after %.1f s", r.took.Seconds())
		}
		rows = append(rows, fmt.Sprintf("%-72s %s", names[i], outcome))
	}
	summary = fmt.Sprintf("faults: %d/%d started cold and served", passed, selected)
	if len(skipped) > 0 {
		summary += fmt.Sprintf(" (%d skipped: %s)", len(skipped), strings.Join(skipped, "; "))
	}
	return strings.Join(rows, "\n"), summary
}

// runFault starts the fault's container and checks the promise: one
// stderr line naming the cause, then a cold JVM that serves, within
// coldBound. It returns the time from start to the first answer.
func runFault(t *testing.T, f fault, o runner.Options) time.Duration {
	stdout, stderr := &testutil.SyncBuffer{}, &testutil.SyncBuffer{}
	o.HostAddr, o.CacheDir, o.Stdout, o.Stderr = "127.0.0.1:0", cacheDir, stdout, stderr
	r, err := runner.Start(context.Background(), o)
	if err != nil {
		t.Fatalf("starting %s: %v", o.Image, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("container stdout:\n%s\ncontainer stderr:\n%s", tail(stdout.String(), 30), tail(stderr.String(), 30))
		}
		if _, err := r.Stop(5 * time.Second); err != nil {
			t.Errorf("removing container: %v", err)
		}
	})
	if f.during != nil {
		f.during(t, r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), coldBound)
	defer cancel()
	took, err := r.Probe(ctx, "http://"+r.Addr+"/health")
	if err != nil {
		t.Fatalf("no answer within %s: %v", coldBound, err)
	}
	if took < f.minCold {
		t.Errorf("answered after %s, before the %s the fault must last", took, f.minCold)
	}
	mode, reason := r.WaitMode(5 * time.Second)
	if mode != "cold" {
		t.Fatalf("launcher mode %q, want cold", mode)
	}
	if !regexp.MustCompile(f.cause).MatchString(reason) {
		t.Errorf("cold start reason %q, want %s", reason, f.cause)
	}
	var said []string
	for _, l := range strings.Split(stderr.String(), "\n") {
		// A fault that changes a jar also makes the class cache's own
		// line (docs/class-cache.md): a second fact, not a second reason.
		if strings.HasPrefix(l, "crac-launch:") && !strings.HasPrefix(l, "crac-launch: class cache not used: ") {
			said = append(said, l)
		}
	}
	if len(said) != 1 || !strings.HasPrefix(said[0], "crac-launch: cold start: ") {
		t.Errorf("launcher lines on stderr: %q, want exactly one cold start line (and maybe the class cache's)", said)
	}
	// A fresh JVM: its request counter starts at 1 (the restored one
	// carries the warmup's count).
	if body := get(t, "http://"+r.Addr+"/"); !strings.Contains(body, "hello from crac-build") || !strings.Contains(body, "requests served: 1,") {
		t.Errorf("GET / = %q, want a fresh JVM's greeting", body)
	}
	if err := r.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-r.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("cold JVM did not stop within 20 s of SIGTERM")
	}
	if st := r.Wait(); st != 143 {
		t.Errorf("exit status after SIGTERM %d, want 143", st)
	}
	t.Logf("cold start: %s; serving after %s", reason, took.Round(time.Millisecond))
	return took
}

// criuIgnoresSIGTERM waits for the hung criu inside the container, shows
// that SIGTERM does not end it, and leaves the rest to the launcher's
// deadline (SIGKILL).
func criuIgnoresSIGTERM(t *testing.T, r *runner.Run) {
	var pid int
	deadline := time.Now().Add(hangTimeout)
	for pid == 0 && time.Now().Before(deadline) {
		for _, p := range children(r.Container().InitPID()) {
			// With RstSibling the task criu forks to become the JVM is
			// the launcher's child too, and looks like criu (same
			// command line, the log open) until it turns into the JVM:
			// criu itself is the older, lower PID.
			if isCriu(p) && (pid == 0 || p < pid) {
				pid = p
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if pid == 0 {
		t.Fatal("no criu process in the container before the restore deadline")
	}
	// Wait for the hang: criu's log stands still for a second (it stops at
	// the restorer's error, or at another task's step of that restore).
	last, since := -1, time.Now()
	for time.Since(since) < time.Second {
		if time.Now().After(deadline) || !isCriu(pid) {
			t.Fatalf("criu (host PID %d) was still making progress at the deadline; its log ends:\n%s", pid, tail(restoreLog(pid), 5))
		}
		if n := len(restoreLog(pid)); n != last {
			last, since = n, time.Now()
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("criu's log stands still at:\n%s", tail(restoreLog(pid), 3))
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM to criu (host PID %d): %v", pid, err)
	}
	time.Sleep(300 * time.Millisecond)
	if !isCriu(pid) || state(pid) == "Z" {
		t.Fatalf("criu (host PID %d) ended on SIGTERM: not the hang this fault is about", pid)
	}
	t.Logf("criu (host PID %d, state %s) still runs 300 ms after SIGTERM", pid, state(pid))
}

// isCriu says whether pid is criu restoring: serving go-criu (the bundle
// runs it as "ld-linux... bin/criu swrk FD") and writing restore.log (the
// launcher's version check runs criu swrk too, briefly).
func isCriu(pid int) bool {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	args := strings.Split(string(b), "\x00")
	swrk := false
	for i, a := range args {
		if strings.HasSuffix(a, "/criu") && i+1 < len(args) && args[i+1] == "swrk" {
			swrk = true
		}
	}
	if !swrk {
		return false
	}
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	for _, fd := range fds {
		if l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); err == nil && strings.HasSuffix(l, "/restore.log") {
			return true
		}
	}
	return false
}

// restoreLog reads the restore.log that criu pid writes, through its fd.
func restoreLog(pid int) string {
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	for _, fd := range fds {
		p := fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())
		if l, err := os.Readlink(p); err == nil && strings.HasSuffix(l, "/restore.log") {
			b, _ := os.ReadFile(p)
			return string(b)
		}
	}
	return ""
}

// state is the one-letter process state of /proc/PID/stat ("" if gone).
func state(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2 : i+3]
	}
	return ""
}

// children lists the host PIDs of pid's children.
func children(pid int) []int {
	var out []int
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, task := range tasks {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, task.Name()))
		for _, f := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(f); err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}

// comm is the process's name ("" if gone).
func comm(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return strings.TrimSpace(string(b))
}

// holdPID runs the image with an entrypoint that starts short sleeps until
// one of them has PID id, then execs the launcher as PID 1 with that
// process still running.
func holdPID(t *testing.T, id int) runner.Options {
	t.Helper()
	script := `n=$1; while :; do sleep 600 & p=$!; [ "$p" -ge "$n" ] && break; kill "$p"; wait "$p" 2>/dev/null; done; ` +
		`[ "$p" -eq "$n" ] || { echo "holdpid: got $p, not $n" >&2; exit 1; }; exec "$0"`
	return runner.Options{Image: helloImage(t), Entrypoint: []string{"/bin/sh", "-c", script, contract.LauncherPath, strconv.Itoa(id)}}
}

// meta reads the metadata of the hello image.
func meta(t *testing.T) *contract.Metadata {
	t.Helper()
	root := rootFS(t, helloImage(t))
	m, err := contract.Read(filepath.Join(root, contract.MetadataPath))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// maxTID is the highest thread ID in the hello checkpoint.
func maxTID(t *testing.T) int {
	m := meta(t)
	max := 0
	for _, f := range m.Images {
		if n, ok := strings.CutPrefix(f.Name, "core-"); ok {
			if id, err := strconv.Atoi(strings.TrimSuffix(n, ".img")); err == nil && id > max {
				max = id
			}
		}
	}
	if max <= m.Process.PID {
		t.Fatalf("no thread IDs above the PID %d in %v", m.Process.PID, m.Images)
	}
	return max
}

func rootFS(t *testing.T, ref string) string {
	t.Helper()
	img, err := registry.Load(context.Background(), ref, registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	root, err := layers.CachedRootFS(img, cacheDir)
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// derive writes hello with one layer on top, made by edit from the
// unpacked hello root and its metadata; if edit returns true, the layer
// also holds the changed metadata. The images share one OCI layout.
func derive(t *testing.T, tag string, edit func(root string, tr *layers.Tar, m *contract.Metadata) bool) string {
	t.Helper()
	ref := helloImage(t)
	img, err := registry.Load(context.Background(), ref, registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	root := rootFS(t, ref)
	m := meta(t)
	tr := layers.NewTar()
	if edit(root, tr, m) {
		b, err := m.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		add(t, tr.AddBytes(contract.MetadataPath, b, 0o644))
	}
	dref := "oci-layout:" + filepath.Join(workDir, "derived") + ":" + tag
	derived := appendLayer(t, img, tr, dref)
	// Each derived image is unpacked once (~400 MB): drop it after use.
	if d, err := derived.Digest(); err == nil {
		t.Cleanup(func() { os.RemoveAll(filepath.Join(cacheDir, "rootfs", d.Hex)) })
	}
	return dref
}

// caps returns the run's default capabilities with some added or dropped
// (the first argument adds, the rest drop).
func caps(t *testing.T, add []string, drop ...string) []string {
	t.Helper()
	c, err := runner.Caps(add, drop)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// missingCPUFlag returns an instruction-set flag this CPU lacks.
func missingCPUFlag(t *testing.T) string {
	t.Helper()
	have, _, err := host.CPUFeatures()
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(have)
	for _, f := range []string{"amx_tile", "avx512_fp16", "avx_vnni_int16", "avx10"} {
		if i := sort.SearchStrings(have, f); i == len(have) || have[i] != f {
			return f
		}
	}
	t.Skip("this CPU has every flag the test would pretend the build host had")
	return ""
}

// jarWithComment returns the jar with a zip comment: a valid jar of
// another size.
func jarWithComment(t *testing.T, b []byte, comment string) []byte {
	t.Helper()
	eocd := bytes.LastIndex(b, []byte{'P', 'K', 5, 6})
	if eocd < 0 || eocd+22 != len(b) {
		t.Fatal("jar has no end of central directory record, or already a comment")
	}
	out := append(append([]byte{}, b...), comment...)
	binary.LittleEndian.PutUint16(out[eocd+20:], uint16(len(comment)))
	return out
}

// jarRestamped returns the jar with the entry name's modification time
// two seconds later (in its local header and its central directory entry):
// a valid jar of the same size and other content.
func jarRestamped(t *testing.T, b []byte, name string) []byte {
	t.Helper()
	out := append([]byte{}, b...)
	for i := 0; ; {
		j := bytes.Index(out[i:], []byte{'P', 'K', 1, 2})
		if j < 0 {
			t.Fatalf("no entry %s in the jar", name)
		}
		cen := i + j
		n := int(binary.LittleEndian.Uint16(out[cen+28:]))
		if string(out[cen+46:cen+46+n]) == name {
			loc := int(binary.LittleEndian.Uint32(out[cen+42:]))
			for _, at := range []int{cen + 12, loc + 10} {
				// DOS time: seconds/2 in the low 5 bits.
				tm := binary.LittleEndian.Uint16(out[at:])
				binary.LittleEndian.PutUint16(out[at:], tm&^0x1f|(tm+1)&0x1f)
			}
			return out
		}
		i = cen + 4
	}
}

// elfNewBuildID returns the ELF file with its GNU build ID changed.
func elfNewBuildID(t *testing.T, b []byte) []byte {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	sec := f.Section(".note.gnu.build-id")
	if sec == nil || sec.Size <= 16 {
		t.Fatal("no GNU build ID in the ELF file")
	}
	out := append([]byte{}, b...)
	for i := sec.Offset + 16; i < sec.Offset+sec.Size; i++ { // after the note header and "GNU\0"
		out[i] ^= 0xff
	}
	return out
}

func without(list []string, x string) []string {
	var out []string
	for _, v := range list {
		if v != x {
			out = append(out, v)
		}
	}
	return out
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func add(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// A skipped fault is not a passed one: the summary counts it out of the
// total and names it.
func TestFaultSummary(t *testing.T) {
	names := []string{"passes", "skips", "fails", "not selected"}
	results := []faultResult{
		{selected: true, ok: true, took: 3 * time.Second},
		{selected: true, skipped: true},
		{selected: true},
		{},
	}
	table, summary := faultSummary(names, results)
	if want := "faults: 1/3 started cold and served (1 skipped: skips)"; summary != want {
		t.Errorf("summary %q, want %q", summary, want)
	}
	for _, want := range []string{"passes", "cold, serving after 3.0 s", "skips", "SKIPPED", "fails", "FAILED"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	if strings.Contains(table, "not selected") {
		t.Errorf("table shows a fault -run left out:\n%s", table)
	}
}

// faultSelfTest is set in the copy of this test binary that
// TestFaultSkipFailsUnderE2E runs.
const faultSelfTest = "CRAC_E2E_FAULT_SELFTEST"

// TestFaultSkipFailsUnderE2E runs a matrix whose one fault skips, in a
// copy of this test binary with CRAC_E2E=1: the run must fail, and its
// summary must not read 0/0 or 1/1.
func TestFaultSkipFailsUnderE2E(t *testing.T) {
	summaryFile := filepath.Join(t.TempDir(), "summary")
	cmd := exec.Command(os.Args[0], "-test.run=^TestFaultMatrixSelfTest$", "-test.v")
	cmd.Env = append(os.Environ(), faultSelfTest+"=1", "CRAC_E2E=1", "CRAC_FAULTS_SUMMARY="+summaryFile)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Errorf("a matrix with a skipped fault passed under CRAC_E2E=1:\n%s", out)
	}
	b, rerr := os.ReadFile(summaryFile)
	if rerr != nil {
		t.Fatalf("no summary: %v\n%s", rerr, out)
	}
	if got, want := strings.TrimSpace(string(b)), "faults: 0/1 started cold and served (1 skipped: cannot be shown here)"; got != want {
		t.Errorf("summary %q, want %q", got, want)
	}
}

// TestFaultMatrixSelfTest is the matrix TestFaultSkipFailsUnderE2E runs.
func TestFaultMatrixSelfTest(t *testing.T) {
	if os.Getenv(faultSelfTest) != "1" {
		return // only as TestFaultSkipFailsUnderE2E's child (not a skip: CI fails on skips)
	}
	runFaultMatrix(t, []fault{{
		name: "cannot be shown here",
		setup: func(t *testing.T) runner.Options {
			t.Skip("this machine cannot show the fault")
			return runner.Options{}
		},
	}})
}
