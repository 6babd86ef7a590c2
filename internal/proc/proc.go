package proc

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/procfs"
)

// Self is the PID that names the calling process (/proc/self): PID 0 is
// never a process's, and /proc/self is right in any PID namespace, where
// os.Getpid() is not once the launcher remounted /proc.
const Self = 0

// Dir is the /proc directory of pid.
func Dir(pid int) string {
	if pid == Self {
		return "/proc/self"
	}
	return "/proc/" + strconv.Itoa(pid)
}

func newProc(pid int) (procfs.Proc, error) {
	if pid == Self {
		return procfs.Self()
	}
	return procfs.NewProc(pid)
}

// Status returns the "Key: value" lines of /proc/PID/status, values
// trimmed. A map, not procfs.ProcStatus: the callers read fields that type
// lacks (Seccomp, SigCgt, NoNewPrivs, Groups, PPid, Threads).
func Status(pid int) (map[string]string, error) {
	f, err := os.Open(Dir(pid) + "/status")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok {
			out[k] = strings.TrimSpace(v)
		}
	}
	return out, sc.Err()
}

// KiB parses a status size such as "12345 kB" (0 when absent).
func KiB(v string) int64 {
	f := strings.Fields(v)
	if len(f) == 0 {
		return 0
	}
	n, _ := strconv.ParseInt(f[0], 10, 64)
	return n
}

// NSpid returns the innermost PID of a status's NSpid line: the process's
// PID in its own PID namespace.
func NSpid(st map[string]string) (int, error) {
	ns := strings.Fields(st["NSpid"])
	if len(ns) == 0 {
		return 0, fmt.Errorf("no NSpid line in the status")
	}
	return strconv.Atoi(ns[len(ns)-1])
}

// Children lists pid's children over all its threads
// (/proc/PID/task/TID/children); a process that is gone has none.
func Children(pid int) []int {
	tasks, _ := os.ReadDir(Dir(pid) + "/task")
	var out []int
	for _, t := range tasks {
		b, err := os.ReadFile(Dir(pid) + "/task/" + t.Name() + "/children")
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// Tree returns pid and its descendants, parents before children.
func Tree(pid int) ([]int, error) {
	if _, err := os.Stat(Dir(pid)); err != nil {
		return nil, fmt.Errorf("process %d: %w", pid, err)
	}
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		out = append(out, Children(out[i])...)
	}
	return out, nil
}

// Exists says whether /proc has pid.
func Exists(pid int) bool {
	_, err := os.Stat(Dir(pid))
	return err == nil
}

// PIDs lists the processes /proc shows.
func PIDs() []int {
	ps, err := procfs.AllProcs()
	if err != nil {
		return nil
	}
	out := make([]int, len(ps))
	for i, p := range ps {
		out[i] = p.PID
	}
	return out
}

// Comm is pid's command name, "" when it is gone.
func Comm(pid int) string {
	p, err := newProc(pid)
	if err != nil {
		return ""
	}
	c, _ := p.Comm()
	return c
}

// ThreadComms are the names of pid's threads.
func ThreadComms(pid int) []string {
	tasks, _ := os.ReadDir(Dir(pid) + "/task")
	var out []string
	for _, t := range tasks {
		if b, err := os.ReadFile(Dir(pid) + "/task/" + t.Name() + "/comm"); err == nil {
			out = append(out, strings.TrimRight(string(b), "\n"))
		}
	}
	return out
}

// FDs maps pid's open file descriptors to what they point at ("/path",
// "socket:[123]", "pipe:[4]", "/path (deleted)").
func FDs(pid int) (map[int]string, error) {
	dir := Dir(pid) + "/fd"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := make(map[int]string, len(ents))
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if l, err := os.Readlink(dir + "/" + e.Name()); err == nil {
			out[fd] = l
		}
	}
	return out, nil
}

// FD is what one of pid's file descriptors points at.
func FD(pid, fd int) (string, error) {
	return os.Readlink(Dir(pid) + "/fd/" + strconv.Itoa(fd))
}

// SocketInode is the inode of an FDs target "socket:[N]".
func SocketInode(target string) (uint64, bool) {
	s, ok := strings.CutPrefix(target, "socket:[")
	if !ok {
		return 0, false
	}
	ino, err := strconv.ParseUint(strings.TrimSuffix(s, "]"), 10, 64)
	return ino, err == nil
}

// FDFlags are the open flags of one of pid's descriptors (O_WRONLY, ...),
// 0 when unknown.
func FDFlags(pid, fd int) int {
	p, err := newProc(pid)
	if err != nil {
		return 0
	}
	info, err := p.FDInfo(strconv.Itoa(fd))
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseInt(info.Flags, 8, 64)
	return int(n)
}

// MappedFiles lists the path of every file mapping of pid, in the order of
// /proc/PID/maps, with the kernel's " (deleted)" suffix where it has one.
func MappedFiles(pid int) ([]string, error) {
	p, err := newProc(pid)
	if err != nil {
		return nil, err
	}
	maps, err := p.ProcMaps()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range maps {
		if strings.HasPrefix(m.Pathname, "/") {
			out = append(out, m.Pathname)
		}
	}
	return out, nil
}

// SmapsRollup returns pid's proportional and resident set sizes in KiB.
func SmapsRollup(pid int) (pss, rss int64, err error) {
	p, err := newProc(pid)
	if err != nil {
		return 0, 0, err
	}
	r, err := p.ProcSMapsRollup()
	if err != nil {
		return 0, 0, err
	}
	return int64(r.Pss / 1024), int64(r.Rss / 1024), nil
}

// LoadAvg is the host's load average over the last 1, 5 and 15 minutes.
func LoadAvg() ([3]float64, error) {
	l, err := procfs.NewDefaultFS()
	if err != nil {
		return [3]float64{}, err
	}
	a, err := l.LoadAvg()
	if err != nil {
		return [3]float64{}, err
	}
	return [3]float64{a.Load1, a.Load5, a.Load15}, nil
}

// MemTotal is the RAM /proc/meminfo under root reports, in bytes (root is
// "/" but in tests).
func MemTotal(root string) (int64, error) {
	fs, err := procfs.NewFS(root + "/proc")
	if err != nil {
		return 0, err
	}
	mi, err := fs.Meminfo()
	if err != nil {
		return 0, err
	}
	if mi.MemTotal == nil {
		return 0, fmt.Errorf("no MemTotal in %s/proc/meminfo", root)
	}
	return int64(*mi.MemTotal) * 1024, nil
}

// Sysctl reads /proc/sys/NAME (e.g. kernel/ns_last_pid) as an integer.
func Sysctl(name string) (int, error) {
	b, err := os.ReadFile("/proc/sys/" + name)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// Filesystem says whether the kernel supports a filesystem type
// (/proc/filesystems).
func Filesystem(name string) bool {
	b, _ := os.ReadFile("/proc/filesystems")
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[len(f)-1] == name {
			return true
		}
	}
	return false
}

// CPUInfo returns the sorted flags of the first CPU in /proc/cpuinfo and
// the model name.
func CPUInfo() (flags []string, model string, err error) {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return nil, "", fmt.Errorf("reading CPU features: %w", err)
	}
	return ParseCPUInfo(string(b))
}

// ParseCPUInfo extracts the flags and model name of the first processor.
// Not procfs' CPUInfo: that one reads an ARM's "Features" as flags, which
// are not comparable with the x86 ones a checkpoint records.
func ParseCPUInfo(s string) (flags []string, model string, err error) {
	for _, line := range strings.Split(s, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		k = strings.TrimSpace(k)
		v = strings.TrimSpace(v)
		if k == "model name" && model == "" {
			model = v
		}
		if k == "flags" && flags == nil {
			flags = strings.Fields(v)
			sort.Strings(flags)
		}
		if flags != nil && model != "" {
			break
		}
	}
	if flags == nil {
		return nil, model, fmt.Errorf("no CPU flags in /proc/cpuinfo")
	}
	return flags, model, nil
}

// TimeOffsets reads /proc/PID/timens_offsets: how far the monotonic and
// boot-time clocks of PID's time namespace (for a process that has just
// called unshare(CLONE_NEWTIME): of the namespace its children get) are
// ahead of the host's. A kernel without time namespaces has no such file:
// both are zero.
func TimeOffsets(pid int) (mono, boot time.Duration, err error) {
	f, err := os.Open(Dir(pid) + "/timens_offsets")
	if errors.Is(err, fs.ErrNotExist) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("reading time namespace offsets: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) != 3 {
			continue
		}
		s, err1 := strconv.ParseInt(fs[1], 10, 64)
		ns, err2 := strconv.ParseInt(fs[2], 10, 64)
		if err1 != nil || err2 != nil {
			return 0, 0, fmt.Errorf("parsing time namespace offsets %q", sc.Text())
		}
		d := time.Duration(s)*time.Second + time.Duration(ns)
		switch fs[0] {
		case "monotonic", "1":
			mono = d
		case "boottime", "7":
			boot = d
		}
	}
	return mono, boot, sc.Err()
}
