// Package doctor checks that a host can build warm images: the CRIU bundle
// runs and passes `criu check`, the kernel and capabilities allow a dump,
// an OCI runtime is there, and no seccomp filter is in the way.
package doctor

import (
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/crac-build/crac-build/internal/checkpoint"
	"github.com/crac-build/crac-build/internal/host"
	"github.com/crac-build/crac-build/internal/proc"
)

// Result is one check.
type Result struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
	// Fix is the command or step that fixes a failed check.
	Fix string `json:"fix,omitempty"`
}

// Options name what to check.
type Options struct {
	CriuBundle string
	Launcher   string
	Runtime    string
}

// Run runs every check and returns the results in order.
func Run(o Options) []Result {
	if o.Runtime == "" {
		o.Runtime = "runc"
	}
	return []Result{
		checkRoot(),
		checkKernel(),
		checkCaps(),
		checkSeccomp(),
		checkOverlay(),
		checkBundle(o.CriuBundle),
		checkCriuCheck(o.CriuBundle),
		checkLauncher(o.Launcher),
		checkRuntime(o.Runtime),
	}
}

// OK reports whether every result passed.
func OK(rs []Result) bool {
	for _, r := range rs {
		if !r.OK {
			return false
		}
	}
	return true
}

func checkRoot() Result {
	r := Result{Name: "root", OK: os.Geteuid() == 0, Detail: "uid " + strconv.Itoa(os.Geteuid())}
	if !r.OK {
		r.Fix = "run crac-build as root (sudo): runc and overlay mounts need it"
	}
	return r
}

// CAP_CHECKPOINT_RESTORE, which unprivileged CRIU needs, came with Linux 5.9.
func checkKernel() Result {
	k := host.Kernel()
	r := Result{Name: "kernel", Detail: k}
	var maj, min int
	fmt.Sscanf(k, "%d.%d", &maj, &min)
	r.OK = maj > 5 || (maj == 5 && min >= 9)
	if !r.OK {
		r.Fix = "use Linux 5.9 or later (CAP_CHECKPOINT_RESTORE)"
	}
	return r
}

func checkCaps() Result {
	st, err := proc.Status(proc.Self)
	if err != nil {
		return Result{Name: "capabilities", Detail: err.Error(), Fix: "mount /proc"}
	}
	eff, _ := host.ParseCapMask(st["CapEff"])
	need, _ := host.CapMask([]string{"CAP_CHECKPOINT_RESTORE", "CAP_SYS_ADMIN", "CAP_SETPCAP"})
	miss := need &^ eff
	r := Result{Name: "capabilities", OK: miss == 0, Detail: "CAP_CHECKPOINT_RESTORE, CAP_SYS_ADMIN, CAP_SETPCAP present"}
	if !r.OK {
		r.Detail = "missing " + strings.Join(host.CapNames(miss), ",")
		r.Fix = "run as root with full capabilities (in a container: --privileged, or --cap-add " + strings.Join(host.CapNames(miss), " --cap-add ") + ")"
	}
	return r
}

func checkSeccomp() Result {
	st, err := proc.Status(proc.Self)
	if err != nil {
		return Result{Name: "seccomp", Detail: err.Error()}
	}
	r := Result{Name: "seccomp", OK: st["Seccomp"] == "0", Detail: "no filter"}
	if !r.OK {
		r.Detail = "a seccomp filter is active (mode " + st["Seccomp"] + "): CRIU cannot dump under one"
		r.Fix = "run without a seccomp profile (docker/podman: --security-opt seccomp=unconfined)"
	}
	return r
}

func checkOverlay() Result {
	r := Result{Name: "overlayfs", OK: proc.Filesystem("overlay"), Detail: "supported"}
	if !r.OK {
		_ = exec.Command("modprobe", "overlay").Run()
		r.OK = proc.Filesystem("overlay")
		if !r.OK {
			r.Detail, r.Fix = "not supported by this kernel", "modprobe overlay"
		}
	}
	return r
}

func checkBundle(dir string) Result {
	r := Result{Name: "criu bundle", Fix: "make criu (or --criu-bundle DIR / CRAC_CRIU_BUNDLE)"}
	if dir == "" {
		r.Detail = "not found"
		return r
	}
	v, err := checkpoint.Version(filepath.Join(dir, "criu"))
	if err != nil {
		r.Detail = fmt.Sprintf("%s: %v", dir, err)
		return r
	}
	r.Detail = fmt.Sprintf("criu %s at %s", checkpoint.VersionString(v), dir)
	r.OK = v >= 40200
	if !r.OK {
		r.Detail += " (4.2 or later needed)"
	}
	return r
}

func checkCriuCheck(dir string) Result {
	r := Result{Name: "criu check", Fix: "see the lines above; `" + filepath.Join(dir, "criu") + " check` tells more"}
	if dir == "" {
		r.Detail = "no bundle"
		return r
	}
	out, err := exec.Command(filepath.Join(dir, "criu"), "check").CombinedOutput()
	r.OK = err == nil
	r.Detail = strings.TrimSpace(lastLine(string(out)))
	if !r.OK {
		r.Detail = fmt.Sprintf("%v: %s", err, strings.TrimSpace(string(out)))
	}
	return r
}

func checkLauncher(path string) Result {
	r := Result{Name: "launcher", Fix: "make (builds bin/crac-launch), or --launcher PATH / CRAC_LAUNCHER"}
	if path == "" {
		r.Detail = "not found"
		return r
	}
	f, err := elf.Open(path)
	if err != nil {
		r.Detail = fmt.Sprintf("%s: %v", path, err)
		return r
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			r.Detail = path + " is dynamically linked: it must run on any base image"
			r.Fix = "build it with CGO_ENABLED=0 (make)"
			return r
		}
	}
	r.OK, r.Detail = true, path+" (static)"
	return r
}

func checkRuntime(name string) Result {
	r := Result{Name: "OCI runtime", Fix: "apt-get install runc"}
	p, err := exec.LookPath(name)
	if err != nil {
		r.Detail = name + " not in PATH"
		return r
	}
	out, err := exec.Command(p, "--version").CombinedOutput()
	if err != nil {
		r.Detail = fmt.Sprintf("%s --version: %v", p, err)
		return r
	}
	r.OK, r.Detail = true, p+": "+strings.SplitN(strings.TrimSpace(string(out)), "\n", 2)[0]
	return r
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
