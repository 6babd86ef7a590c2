package proc_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/crac-build/crac-build/internal/proc"
)

func TestParseAddr(t *testing.T) {
	for in, want := range map[string]string{
		"0100007F:1F90":                         "127.0.0.1:8080",
		"00000000:0000":                         "0.0.0.0:0",
		"0000000000000000FFFF00000100007F:0050": "[::ffff:127.0.0.1]:80",
		"00000000000000000000000001000000:01BB": "[::1]:443",
	} {
		got, err := proc.ParseAddr(in)
		if err != nil || got.String() != want {
			t.Errorf("ParseAddr(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	if _, err := proc.ParseAddr("zz:1"); err == nil {
		t.Error("ParseAddr accepted garbage")
	}
}

// cpuinfo is /proc/cpuinfo of a two-CPU x86 guest, shortened; the second
// CPU's flags differ so that a parser reading past the first shows.
const cpuinfo = `processor	: 0
model name	: Intel(R) Xeon(R) CPU @ 2.20GHz
flags		: fpu sse2 avx2 avx512f adx

processor	: 1
model name	: Intel(R) Xeon(R) CPU @ 2.20GHz
flags		: fpu sse2
`

func TestParseCPUInfo(t *testing.T) {
	flags, model, err := proc.ParseCPUInfo(cpuinfo)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(flags, []string{"adx", "avx2", "avx512f", "fpu", "sse2"}); diff != "" {
		t.Errorf("flags (-got +want):\n%s", diff)
	}
	if model != "Intel(R) Xeon(R) CPU @ 2.20GHz" {
		t.Errorf("model = %q", model)
	}
	if _, _, err := proc.ParseCPUInfo("processor\t: 0\nFeatures\t: fp asimd\n"); err == nil {
		t.Error("cpuinfo without flags parsed")
	}
}

func TestStatusAndTree(t *testing.T) {
	st, err := proc.Status(proc.Self)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := proc.NSpid(st); err != nil || n != os.Getpid() {
		t.Errorf("NSpid of self = %d, %v; want %d", n, err, os.Getpid())
	}
	if proc.KiB(st["VmRSS"]) <= 0 {
		t.Errorf("VmRSS %q", st["VmRSS"])
	}
	if _, err := proc.Status(-5); err == nil {
		t.Error("Status of PID -5 succeeded")
	}
	tree, err := proc.Tree(os.Getppid())
	if err != nil || !slices.Contains(tree, os.Getpid()) {
		t.Errorf("Tree of the parent = %v, %v; lacks this process", tree, err)
	}
	if c := proc.Comm(proc.Self); c == "" {
		t.Error("no comm for self")
	}
}

func TestFDsAndMaps(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "x")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fds, err := proc.FDs(proc.Self)
	if err != nil {
		t.Fatal(err)
	}
	if fds[int(f.Fd())] != f.Name() {
		t.Errorf("fd %d -> %q, want %q", f.Fd(), fds[int(f.Fd())], f.Name())
	}
	if fl := proc.FDFlags(proc.Self, int(f.Fd())); fl&os.O_RDWR == 0 {
		t.Errorf("flags of an O_RDWR file: %o", fl)
	}
	exe, _ := os.Executable()
	mapped, err := proc.MappedFiles(proc.Self)
	if err != nil || !slices.Contains(mapped, exe) {
		t.Errorf("mapped files %v, %v: lack the test binary %s", mapped, err, exe)
	}
	if _, rss, err := proc.SmapsRollup(os.Getpid()); err != nil || rss <= 0 {
		t.Errorf("SmapsRollup: rss %d, %v", rss, err)
	}
}

func TestMountsAndCgroups(t *testing.T) {
	root := t.TempDir()
	write := func(name, s string) {
		p := filepath.Join(root, "proc/self", name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("mountinfo", "22 1 0:21 / /with\\040space rw - tmpfs tmpfs rw\n30 29 0:26 / /sys/fs/cgroup ro - cgroup2 cgroup2 rw\n")
	write("cgroup", "4:memory,cpu:/c\n0::/k/p\n")
	ms, err := proc.Mounts(root)
	if err != nil || len(ms) != 2 || ms[0].Mountpoint != "/with space" || ms[1].FSType != "cgroup2" {
		t.Errorf("Mounts = %v, %v", ms, err)
	}
	cg, err := proc.Cgroups(root)
	if diff := cmp.Diff(cg, map[string]string{"memory": "/c", "cpu": "/c", "": "/k/p"}); err != nil || diff != "" {
		t.Errorf("Cgroups (-got +want), %v:\n%s", err, diff)
	}
	if real, err := proc.Mounts("/"); err != nil || len(real) == 0 {
		t.Errorf("this process's mounts: %d, %v", len(real), err)
	}
	if !proc.Filesystem("proc") {
		t.Error("/proc/filesystems lacks proc")
	}
	if n, err := proc.Sysctl("kernel/pid_max"); err != nil || n <= 0 {
		t.Errorf("kernel/pid_max = %d, %v", n, err)
	}
	if l, err := proc.LoadAvg(); err != nil || l[2] < 0 {
		t.Error(err)
	}
	if b, err := proc.MemTotal("/"); err != nil || b < 1<<20 {
		t.Errorf("MemTotal = %d, %v", b, err)
	}
}
