package launcher

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/crac-build/crac-build/internal/contract"
	"github.com/crac-build/crac-build/internal/cpubaseline"
	"github.com/crac-build/crac-build/internal/host"
	"github.com/crac-build/crac-build/internal/proc"
)

// imageFile writes a checkpoint image file and returns its sum.
func imageFile(t *testing.T, dir, name, content string) contract.FileSum {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return contract.FileSum{Name: name, Size: int64(len(content)), CRC32C: crc32.Checksum([]byte(content), crc32.MakeTable(crc32.Castagnoli))}
}

// checkpointDir writes metadata (changed by change) and its image files, and
// returns the options that point at them.
func checkpointDir(t *testing.T, change func(*contract.Metadata)) Options {
	t.Helper()
	dir := t.TempDir()
	images := filepath.Join(dir, "images")
	if err := os.Mkdir(images, 0o700); err != nil {
		t.Fatal(err)
	}
	pid := freePID(t)
	m := &contract.Metadata{
		FormatVersion: contract.FormatVersion,
		Builder:       "crac-build test",
		Cold:          contract.Command{Args: []string{"java", "-jar", "/app/app.jar"}, WorkDir: "/app"},
		Process:       contract.Process{PID: pid},
		Host:          contract.Host{Arch: host.Arch()},
		Images: []contract.FileSum{
			imageFile(t, images, fmt.Sprintf("core-%d.img", pid), "core"),
			imageFile(t, images, "pages-1.img", strings.Repeat("p", 10000)),
		},
	}
	if change != nil {
		change(m)
	}
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	meta := filepath.Join(dir, "metadata.json")
	if err := os.WriteFile(meta, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return Options{MetadataPath: meta, ImagesDir: images, CriuPath: filepath.Join(dir, "criu")}
}

// freePID returns a PID no process has now.
func freePID(t *testing.T) int {
	t.Helper()
	max := 32768
	if b, err := os.ReadFile("/proc/sys/kernel/pid_max"); err == nil {
		if v, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			max = v
		}
	}
	for pid := max - 1; pid > 300; pid-- {
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); os.IsNotExist(err) {
			return pid
		}
	}
	t.Fatal("no free PID")
	return 0
}

func TestCheckRestoreOff(t *testing.T) {
	opts := checkpointDir(t, nil)
	for _, v := range []string{"off", "OFF", "0", "false", "False"} {
		o := opts
		o.Env = []string{"PATH=/usr/bin", "CRAC_RESTORE=" + v}
		p := Check(o)
		if p.Reason == nil || !strings.Contains(p.Reason.Error(), "CRAC_RESTORE="+v) {
			t.Errorf("CRAC_RESTORE=%s: reason %v, want one naming the variable", v, p.Reason)
		}
		if diff := cmp.Diff(p.Cold, []string{"java", "-jar", "/app/app.jar"}); diff != "" {
			t.Errorf("CRAC_RESTORE=%s: cold command (-got +want):\n%s", v, diff)
		}
		if p.WorkDir != "/app" || p.Meta == nil {
			t.Errorf("CRAC_RESTORE=%s: workdir %q, metadata %v", v, p.WorkDir, p.Meta != nil)
		}
	}
	// Values that do not turn it off reach the other checks.
	for _, v := range []string{"on", "1", ""} {
		o := opts
		o.Env = []string{"CRAC_RESTORE=" + v}
		if p := Check(o); p.Reason != nil && strings.Contains(p.Reason.Error(), "CRAC_RESTORE") {
			t.Errorf("CRAC_RESTORE=%q: reason %v", v, p.Reason)
		}
	}
}

func TestCheckArgsReplaceCommand(t *testing.T) {
	args := []string{"sh", "-c", "echo debug"}
	for name, opts := range map[string]Options{
		"with checkpoint":    checkpointDir(t, nil),
		"without checkpoint": {MetadataPath: filepath.Join(t.TempDir(), "missing.json")},
	} {
		t.Run(name, func(t *testing.T) {
			opts.Args = args
			p := Check(opts)
			if p.Reason == nil || !strings.Contains(p.Reason.Error(), "arguments") {
				t.Errorf("reason %v, want one about the arguments", p.Reason)
			}
			if diff := cmp.Diff(p.Cold, args); diff != "" {
				t.Errorf("cold command (-got +want):\n%s", diff)
			}
		})
	}
}

func TestCheckMetadata(t *testing.T) {
	p := Check(Options{MetadataPath: filepath.Join(t.TempDir(), "missing.json")})
	if p.Reason == nil || !strings.Contains(p.Reason.Error(), "reading checkpoint metadata") {
		t.Errorf("missing metadata: reason %v", p.Reason)
	}
	if len(p.Cold) != 0 || p.Meta != nil {
		t.Errorf("missing metadata: cold %q, meta %v", p.Cold, p.Meta)
	}

	opts := checkpointDir(t, func(m *contract.Metadata) { m.FormatVersion = 99 })
	p = Check(opts)
	if p.Reason == nil || !strings.Contains(p.Reason.Error(), "format 99") {
		t.Errorf("format 99: reason %v, want one naming the format", p.Reason)
	}

	// The defaults are the contract's paths.
	p = Check(Options{Env: []string{}})
	if p.Opts.MetadataPath != contract.MetadataPath || p.Opts.ImagesDir != contract.ImagesDir || p.Opts.CriuPath != contract.CriuPath {
		t.Errorf("default paths %+v", p.Opts)
	}
}

func TestCheckRestoreTimeout(t *testing.T) {
	for _, tc := range []struct {
		v       string
		want    time.Duration
		wantErr bool
	}{
		{"", DefaultRestoreTimeout, false},
		{"2500ms", 2500 * time.Millisecond, false},
		{"1m", time.Minute, false},
		{"10", 0, true},
		{"-1s", 0, true},
		{"0s", 0, true},
		{"soon", 0, true},
	} {
		opts := checkpointDir(t, nil)
		opts.Env = []string{"CRAC_RESTORE_TIMEOUT=" + tc.v}
		p := Check(opts)
		bad := p.Reason != nil && strings.Contains(p.Reason.Error(), "is not a duration")
		if bad != tc.wantErr {
			t.Errorf("CRAC_RESTORE_TIMEOUT=%q: reason %v, want a duration error: %v", tc.v, p.Reason, tc.wantErr)
		}
		if !tc.wantErr && p.Timeout != tc.want {
			t.Errorf("CRAC_RESTORE_TIMEOUT=%q: timeout %v, want %v", tc.v, p.Timeout, tc.want)
		}
	}
}

func TestCheckArch(t *testing.T) {
	opts := checkpointDir(t, func(m *contract.Metadata) { m.Host.Arch = "sparc64" })
	p := Check(opts)
	if p.Reason == nil || !strings.Contains(p.Reason.Error(), "sparc64") || !strings.Contains(p.Reason.Error(), host.Arch()) {
		t.Errorf("reason %v, want one naming both architectures", p.Reason)
	}
}

// Every check passes but the one of the CRIU binary, which is not there:
// the reason is about criu, so the earlier checks passed.
func TestCheckReachesCriu(t *testing.T) {
	st, err := proc.Status(proc.Self)
	if err != nil {
		t.Fatal(err)
	}
	eff, _ := host.ParseCapMask(st["CapEff"])
	need, _ := host.CapMask(unprivilegedCaps)
	if eff&need != need {
		t.Skipf("the test process lacks %v", host.CapNames(need&^eff))
	}
	p := Check(checkpointDir(t, nil))
	if p.Reason == nil || !strings.Contains(p.Reason.Error(), "criu bundle") {
		t.Errorf("reason %v, want the missing criu bundle", p.Reason)
	}
}

func TestCheckCaps(t *testing.T) {
	st, err := proc.Status(proc.Self)
	if err != nil {
		t.Fatal(err)
	}
	eff, _ := host.ParseCapMask(st["CapEff"])
	need, _ := host.CapMask(unprivilegedCaps)
	if eff&need != need {
		// Not root (or a container without them): the check must say so.
		err := checkCaps(&contract.Metadata{})
		if err == nil || !strings.Contains(err.Error(), "missing capabilities") {
			t.Errorf("checkCaps without %v: %v", host.CapNames(need&^eff), err)
		}
		return
	}
	for _, tc := range []struct {
		name string
		m    contract.Metadata
		want string // "" for no error
	}{
		{"nothing more", contract.Metadata{}, ""},
		{"own sets", contract.Metadata{Process: contract.Process{CapEff: st["CapEff"], CapBnd: st["CapBnd"]}}, ""},
		{"bit beyond the bounding set", contract.Metadata{Process: contract.Process{CapBnd: "8000000000000000"}}, "missing capabilities in the bounding set CAP_63"},
		// A task of another user had nothing in effect: CRIU only drops
		// from its bounding set.
		{"bounding set of a non-root task", contract.Metadata{User: &contract.User{UID: 1000, GID: 1000}, Process: contract.Process{CapBnd: "8000000000000000"}}, ""},
		{"bit beyond the effective set", contract.Metadata{Process: contract.Process{CapEff: "8000000000000000"}}, "missing capabilities CAP_63"},
		{"unknown required name", contract.Metadata{RequiredCaps: []string{"CAP_TIME_TRAVEL"}}, "unknown capability"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkCaps(&tc.m)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("checkCaps: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("checkCaps: %v, want %q", err, tc.want)
			}
		})
	}
}

func TestCheckCPU(t *testing.T) {
	have, _, err := host.CPUFeatures()
	if err != nil {
		t.Skipf("no CPU flags on this host: %v", err)
	}
	for _, tc := range []struct {
		name     string
		features []string
		want     string
	}{
		{"none recorded", nil, ""},
		{"this host's", have, ""},
		{"a flag that is not an instruction", append(append([]string{}, have...), "fakeflag9000"), ""},
		{"an instruction this CPU lacks", append(append([]string{}, have...), "avx9000"), "avx9000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkCPU(&contract.Metadata{Host: contract.Host{CPUFeatures: tc.features}})
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("checkCPU: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "CPU lacks")):
				t.Errorf("checkCPU: %v, want a reason naming %s", err, tc.want)
			}
		})
	}
}

func TestCheckPIDs(t *testing.T) {
	err := checkPIDs(&contract.Metadata{Process: contract.Process{PID: os.Getpid()}})
	if err == nil || !strings.Contains(err.Error(), strconv.Itoa(os.Getpid())) || !strings.Contains(err.Error(), "taken") {
		t.Errorf("own PID: %v, want it taken", err)
	}
	if err := checkPIDs(&contract.Metadata{}); err == nil {
		t.Error("no PID: no reason")
	}
	if err := checkPIDs(&contract.Metadata{Process: contract.Process{PID: freePID(t)}}); err != nil {
		t.Errorf("free PID: %v", err)
	}
}

func TestCheckOpenFiles(t *testing.T) {
	dir := t.TempDir()
	jar := filepath.Join(dir, "app.jar")
	content := []byte("classes")
	if err := os.WriteFile(jar, content, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(jar, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(content)
	good := contract.OpenFile{Path: jar, Size: int64(len(content)), Mode: 0o100644, SHA256: hex.EncodeToString(sum[:])}
	for _, tc := range []struct {
		name string
		f    func(contract.OpenFile) contract.OpenFile
		want string
	}{
		{"same", func(f contract.OpenFile) contract.OpenFile { return f }, ""},
		{"other size", func(f contract.OpenFile) contract.OpenFile { f.Size++; return f }, "has size 7, was 8"},
		{"other mode", func(f contract.OpenFile) contract.OpenFile { f.Mode = 0o100600; return f }, "has mode 644, was"},
		{"writable, other size", func(f contract.OpenFile) contract.OpenFile { f.Size, f.Writable = 1, true; return f }, ""},
		// CRIU's own mode check is off (podman's / differs): the launcher's
		// covers writable files too.
		{"writable, other mode", func(f contract.OpenFile) contract.OpenFile { f.Mode, f.Writable = 0o100600, true; return f }, "has mode 644, was"},
		{"missing", func(f contract.OpenFile) contract.OpenFile { f.Path += ".gone"; return f }, "app.jar.gone held open at checkpoint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkOpenFiles(&contract.Metadata{OpenFiles: []contract.OpenFile{tc.f(good)}})
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("checkOpenFiles: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("checkOpenFiles: %v, want %q", err, tc.want)
			}
		})
	}
}

func TestCheckImages(t *testing.T) {
	dir := t.TempDir()
	var sums []contract.FileSum
	// More files than cores: the workers must all finish.
	for i := 0; i < 3*runtime.NumCPU()+5; i++ {
		sums = append(sums, imageFile(t, dir, fmt.Sprintf("pages-%d.img", i), strings.Repeat(string(rune('a'+i%26)), 100+i)))
	}
	m := &contract.Metadata{Images: sums}
	if err := checkImages(m, dir); err != nil {
		t.Fatalf("intact images: %v", err)
	}

	// One damaged file among many is found and named.
	victim := sums[len(sums)/2]
	b, _ := os.ReadFile(filepath.Join(dir, victim.Name))
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(filepath.Join(dir, victim.Name), b, 0o600); err != nil {
		t.Fatal(err)
	}
	err := checkImages(m, dir)
	if err == nil || !strings.Contains(err.Error(), victim.Name) || !strings.Contains(err.Error(), "checksum") {
		t.Errorf("flipped byte in %s: %v", victim.Name, err)
	}

	if err := checkImages(&contract.Metadata{}, dir); err == nil || !strings.Contains(err.Error(), "no image files") {
		t.Errorf("no images listed: %v", err)
	}
}

func TestCheckImage(t *testing.T) {
	dir := t.TempDir()
	f := imageFile(t, dir, "pages-1.img", "0123456789")
	path := filepath.Join(dir, f.Name)
	if err := checkImage(path, f); err != nil {
		t.Fatalf("intact: %v", err)
	}
	for _, tc := range []struct {
		name   string
		damage func()
		want   string
	}{
		{"truncated", func() { os.Truncate(path, 4) }, "has 4 bytes, expected 10"},
		{"same size, other bytes", func() { os.WriteFile(path, []byte("0123456780"), 0o600) }, "fails its checksum"},
		{"missing", func() { os.Remove(path) }, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			imageFile(t, dir, f.Name, "0123456789")
			tc.damage()
			err := checkImage(path, f)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "pages-1.img") {
				t.Errorf("checkImage: %v, want an error naming pages-1.img and containing %q", err, tc.want)
			}
		})
	}
}

func TestCheckCriu(t *testing.T) {
	err := checkCriu(filepath.Join(t.TempDir(), "criu"))
	if err == nil || !strings.Contains(err.Error(), "criu bundle") {
		t.Errorf("missing criu: %v", err)
	}
	p := filepath.Join(t.TempDir(), "criu")
	if err := os.WriteFile(p, []byte("#!/bin/sh\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := checkCriu(p); err == nil || !strings.Contains(err.Error(), "does not run") {
		t.Errorf("broken criu: %v", err)
	}
}

func TestLookPath(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	for _, f := range []struct {
		dir, name string
		mode      os.FileMode
	}{
		{a, "app", 0o755},
		{b, "app", 0o755},
		{a, "data", 0o644},
		{b, "tool", 0o700},
	} {
		p := filepath.Join(f.dir, f.name)
		if err := os.WriteFile(p, nil, f.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, f.mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(a, "adir"), 0o755); err != nil {
		t.Fatal(err)
	}
	path := a + ":" + b
	for name, want := range map[string]string{
		"app":  filepath.Join(a, "app"), // the first dir wins
		"tool": filepath.Join(b, "tool"),
	} {
		if got, err := lookPath(name, path); err != nil || got != want {
			t.Errorf("lookPath(%s) = %q, %v; want %q", name, got, err, want)
		}
	}
	for _, name := range []string{"data", "adir", "missing"} {
		if got, err := lookPath(name, path); err == nil || !strings.Contains(err.Error(), "not found") {
			t.Errorf("lookPath(%s) = %q, %v; want not found", name, got, err)
		}
	}
	// No PATH: the usual one.
	got, err := lookPath("sh", "")
	if err != nil || filepath.Base(got) != "sh" || !strings.HasPrefix(got, "/") {
		t.Errorf("lookPath(sh) without PATH = %q, %v", got, err)
	}
}

// ExecCold's failures return (its success replaces the test process, so
// only failures are tested).
func TestExecColdFailures(t *testing.T) {
	if err := ExecCold(&Plan{}, nil); err == nil || !strings.Contains(err.Error(), "no command") {
		t.Errorf("no command: %v", err)
	}
	if err := ExecCold(&Plan{Cold: []string{"crac-build-no-such-program"}}, []string{"PATH=" + t.TempDir()}); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("unknown program: %v", err)
	}
	if err := ExecCold(&Plan{Cold: []string{"/nonexistent/java"}}, nil); err == nil || !strings.Contains(err.Error(), "starting /nonexistent/java") {
		t.Errorf("missing path: %v", err)
	}
	wd, _ := os.Getwd()
	if err := ExecCold(&Plan{Cold: []string{"/nonexistent/java"}, WorkDir: "/nonexistent-dir"}, nil); err == nil || !strings.Contains(err.Error(), "/nonexistent-dir") {
		t.Errorf("missing workdir: %v", err)
	}
	if now, _ := os.Getwd(); now != wd {
		t.Errorf("working dir changed to %s", now)
	}
}

// A file on another filesystem than / (a volume) is compared by content.
func TestCheckOpenFilesOnVolume(t *testing.T) {
	dir, err := os.MkdirTemp("/dev/shm", "crac-launch-test-")
	if err != nil {
		t.Skipf("no /dev/shm: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	var root, shm unix.Stat_t
	if unix.Stat("/", &root) != nil || unix.Stat(dir, &shm) != nil || root.Dev == shm.Dev {
		t.Skip("/dev/shm is on the root filesystem here")
	}
	p := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(p, []byte("mode: a"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	built := sha256.Sum256([]byte("mode: b")) // same size, other content
	f := contract.OpenFile{Path: p, Size: 7, Mode: 0o644, SHA256: hex.EncodeToString(built[:])}
	err = checkOpenFiles(&contract.Metadata{OpenFiles: []contract.OpenFile{f}})
	if err == nil || !strings.Contains(err.Error(), "other content") {
		t.Errorf("changed file on a volume: %v, want a content mismatch", err)
	}
	now := sha256.Sum256([]byte("mode: a"))
	f.SHA256 = hex.EncodeToString(now[:])
	if err := checkOpenFiles(&contract.Metadata{OpenFiles: []contract.OpenFile{f}}); err != nil {
		t.Errorf("unchanged file on a volume: %v", err)
	}
}

func TestPagesMode(t *testing.T) {
	mapOK := &contract.Metadata{Pages: &contract.Pages{Map: true}}
	mapNo := &contract.Metadata{Pages: &contract.Pages{Reason: "jemalloc"}}
	old := &contract.Metadata{} // built before direct-mapped restores
	for _, c := range []struct {
		m    *contract.Metadata
		env  string
		want string
	}{
		{mapOK, "", "copy"}, {mapOK, contract.PagesAuto, "copy"}, {mapOK, contract.PagesShare, "populate"},
		{mapOK, contract.PagesRead, ""}, {mapOK, contract.PagesMapLazy, "1"},
		{mapNo, "", ""}, {mapNo, contract.PagesShare, ""}, {mapNo, contract.PagesMap, "copy"},
		{old, "", ""}, {old, contract.PagesMap, "copy"}, {nil, "", ""},
	} {
		var pages *contract.Pages
		if c.m != nil {
			pages = c.m.Pages
		}
		if got := pagesMode(c.m, c.env); got != c.want {
			t.Errorf("pagesMode(%+v, %q) = %q, want %q", pages, c.env, got, c.want)
		}
	}
}

// CAP_SYS_ADMIN stands in for CAP_CHECKPOINT_RESTORE (Docker before 23
// knows only the former), unless the checkpointed process held the latter.
func TestCapsMissingSysAdminStandsIn(t *testing.T) {
	mask := func(names ...string) uint64 {
		m, err := host.CapMask(names)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	all := ^uint64(0)
	meta := &contract.Metadata{RequiredCaps: []string{"CAP_CHECKPOINT_RESTORE", "CAP_SETPCAP", "CAP_CHOWN"}, Process: contract.Process{CapEff: fmt.Sprintf("%x", mask("CAP_CHOWN"))}}
	held := &contract.Metadata{RequiredCaps: meta.RequiredCaps, Process: contract.Process{CapEff: fmt.Sprintf("%x", mask("CAP_CHOWN", "CAP_CHECKPOINT_RESTORE"))}}
	for _, tc := range []struct {
		name string
		eff  uint64
		m    *contract.Metadata
		want string // "" for no error
	}{
		{"CHECKPOINT_RESTORE", mask("CAP_CHECKPOINT_RESTORE", "CAP_SETPCAP", "CAP_CHOWN"), meta, ""},
		{"SYS_ADMIN in its place", mask("CAP_SYS_ADMIN", "CAP_SETPCAP", "CAP_CHOWN"), meta, ""},
		{"neither", mask("CAP_SETPCAP", "CAP_CHOWN"), meta, "missing capabilities CAP_CHECKPOINT_RESTORE (--cap-add CHECKPOINT_RESTORE, or SYS_ADMIN on Docker before 23)"},
		{"SYS_ADMIN but SETPCAP missing too", mask("CAP_SYS_ADMIN", "CAP_CHOWN"), meta, "missing capabilities CAP_SETPCAP"},
		{"the process held CHECKPOINT_RESTORE", mask("CAP_SYS_ADMIN", "CAP_SETPCAP", "CAP_CHOWN"), held, "missing capabilities CAP_CHECKPOINT_RESTORE (--cap-add CHECKPOINT_RESTORE, or SYS_ADMIN on Docker before 23)"},
	} {
		err := capsMissing(tc.eff, all, tc.m)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// A CPU baseline's image restores on a CPU with the level's features and
// none of the build CPU's others; a native image does not; a CPU below the
// level is refused with the missing features named. The host view is this
// host's flags with AVX-512 (or AVX2 and BMI2) masked, as CRAC_CPU_MASK does.
func TestCPUBaselineCheck(t *testing.T) {
	build := []string{"cmov", "cx8", "fxsr", "mmx", "sse", "sse2", "cx16", "popcnt", "sse4_1", "sse4_2", "ssse3",
		"aes", "pclmulqdq", "avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "movbe", "xsave", "adx",
		"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl", "avx512vbmi", "sha_ni", "xsavec", "erms"}
	noAVX512 := maskFeatures(build, "avx512f,avx512bw,avx512cd,avx512dq,avx512vl,avx512vbmi")
	noAVX2 := maskFeatures(build, "avx2, bmi2")
	v3, err := cpubaseline.Lookup("x86-64-v3")
	if err != nil {
		t.Fatal(err)
	}
	baseline := &contract.Metadata{Host: contract.Host{CPUFeatures: build},
		CPUBaseline: &contract.CPUBaseline{Name: v3.Name, Needs: v3.Needed(build), CPUs: v3.CPUs}}
	native := &contract.Metadata{Host: contract.Host{CPUFeatures: build}}

	if err := cpuMissing(baseline, noAVX512); err != nil {
		t.Errorf("x86-64-v3 image on a CPU without AVX-512: %v, want a restore", err)
	}
	if err := cpuMissing(native, noAVX512); err == nil || !strings.Contains(err.Error(), "avx512f") {
		t.Errorf("native image on a CPU without AVX-512: %v, want a refusal naming avx512f", err)
	}
	err = cpuMissing(baseline, noAVX2)
	if err == nil || !strings.Contains(err.Error(), "CPU lacks features of x86-64-v3 that the checkpoint needs: avx2,bmi2") || !strings.Contains(err.Error(), "since 2015") {
		t.Errorf("x86-64-v3 image on a CPU without AVX2: %v, want a refusal naming the level and avx2,bmi2", err)
	}
}
