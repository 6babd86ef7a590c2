package hotspot

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/crac-build/crac-build/internal/testutil"
)

const mainJava = `public class Main {
    public static void main(String[] args) throws Exception {
        System.out.println("ready");
        System.out.flush();
        Thread.sleep(300_000);
    }
}
`

// compileMain compiles the test program once per test binary run.
func compileMain(t *testing.T) string {
	t.Helper()
	for _, tool := range []string{"java", "javac"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found: these tests need a JDK", tool)
		}
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Main.java"), []byte(mainJava), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("javac", "-d", dir, filepath.Join(dir, "Main.java")).CombinedOutput()
	if err != nil {
		t.Fatalf("javac: %v\n%s", err, out)
	}
	return dir
}

type jvm struct {
	cmd  *exec.Cmd
	pid  int
	cwd  string
	out  testutil.SyncBuffer // stdout after "ready" (thread dumps would land here)
	done chan struct{}
}

// checkNoThreadDump fails the test if SIGQUIT made the JVM print a thread
// dump instead of starting its attach listener.
func (j *jvm) checkNoThreadDump(t *testing.T) {
	t.Helper()
	if out := j.out.String(); strings.Contains(out, "Full thread dump") {
		t.Errorf("SIGQUIT produced a thread dump:\n%s", out)
	}
}

// javaArgs is the command line running the test program.
func javaArgs(classes string) []string {
	return []string{"java", "-XX:-UsePerfData", "-Xmx64m", "-cp", classes, "Main"}
}

// startJVM starts the test program and waits until main runs. argv is
// javaArgs or a command that runs it (then the JVM is the first process named
// java at or below the one started). The JVM's working directory is a fresh
// temporary directory.
func startJVM(t *testing.T, argv []string, attr *syscall.SysProcAttr) *jvm {
	t.Helper()
	cwd := t.TempDir()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = cwd
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = attr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		if attr != nil {
			t.Skipf("cannot start java with %+v: %v", attr, err)
		}
		t.Fatal(err)
	}
	j := &jvm{cmd: cmd, pid: cmd.Process.Pid, cwd: cwd, done: make(chan struct{})}
	t.Cleanup(func() {
		// Remove the socket first: a killed JVM leaves it in /tmp.
		if err := RemoveAttachFiles(j.pid); err != nil && syscall.Kill(j.pid, 0) == nil {
			t.Errorf("cleanup: %v", err)
		}
		_ = syscall.Kill(j.pid, syscall.SIGKILL)
		if j.pid != cmd.Process.Pid {
			_ = cmd.Process.Kill()
		}
		<-j.done
		_ = cmd.Wait()
	})

	ready := make(chan error, 1)
	go func() {
		defer close(j.done)
		r := bufio.NewReader(stdout)
		line, err := r.ReadString('\n')
		if err == nil && strings.TrimSpace(line) != "ready" {
			err = errors.New("unexpected first line " + line)
		}
		ready <- err
		_, _ = io.Copy(&j.out, r)
	}()
	select {
	case err := <-ready:
		if err != nil {
			t.Fatalf("java did not start: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("java did not print ready in 30s")
	}
	if argv[0] != "java" {
		pid, ok := findJava(cmd.Process.Pid)
		if !ok {
			t.Fatalf("no java process at or below %d (%v)", cmd.Process.Pid, argv)
		}
		j.pid = pid
	}
	return j
}

// findJava returns the PID of the first process named java at or below pid.
func findJava(pid int) (int, bool) {
	if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err == nil && strings.TrimSpace(string(comm)) == "java" {
		return pid, true
	}
	children, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return 0, false
	}
	for _, c := range strings.Fields(string(children)) {
		if n, err := strconv.Atoi(c); err == nil {
			if j, ok := findJava(n); ok {
				return j, true
			}
		}
	}
	return 0, false
}

func timeout(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

func TestJcmd(t *testing.T) {
	classes := compileMain(t)
	j := startJVM(t, javaArgs(classes), nil)
	ctx := timeout(t)
	p, err := lookup(j.pid)
	if err != nil {
		t.Fatal(err)
	}
	sock := p.socketPath()

	out, err := Jcmd(ctx, j.pid, "VM.version")
	if err != nil {
		t.Fatalf("VM.version: %v", err)
	}
	if !strings.Contains(out, "OpenJDK") {
		t.Errorf("VM.version output lacks OpenJDK: %q", out)
	}
	t.Logf("VM.version: %s", strings.TrimSpace(out))
	if !exists(sock) {
		t.Errorf("attach socket %s missing after Jcmd", sock)
	}
	for _, trig := range []string{p.cwdPath(".attach_pid"), p.tmpPath(".attach_pid")} {
		if exists(trig) {
			t.Errorf("trigger file %s left behind", trig)
		}
	}

	if _, err := Jcmd(ctx, j.pid, "GC.run"); err != nil {
		t.Errorf("GC.run: %v", err)
	}
	// Unknown on older JVM updates that lack it; must not break anything.
	if out, err := Jcmd(ctx, j.pid, "System.trim_native_heap"); err != nil && !errors.Is(err, ErrUnknownCommand) {
		t.Errorf("System.trim_native_heap: %v", err)
	} else {
		t.Logf("System.trim_native_heap: %q, %v", strings.TrimSpace(out), err)
	}

	_, err = Jcmd(ctx, j.pid, "No.such_command")
	var cerr *CommandError
	switch {
	case err == nil:
		t.Error("unknown command succeeded")
	case !errors.As(err, &cerr):
		t.Errorf("unknown command: got %T %v, want *CommandError", err, err)
	case !errors.Is(err, ErrUnknownCommand):
		t.Errorf("unknown command: %v does not match ErrUnknownCommand", err)
	case cerr.PID != j.pid || cerr.Command != "No.such_command" || cerr.Code == 0:
		t.Errorf("unknown command: unexpected %+v", cerr)
	default:
		t.Logf("unknown command: %v", err)
	}

	_, err = Jcmd(ctx, j.pid, "GC.run extra-argument")
	if err == nil || errors.Is(err, ErrUnknownCommand) || !strings.Contains(err.Error(), "argument") {
		t.Errorf("GC.run with an argument: got %v, want a CommandError about the argument", err)
	}

	if err := RemoveAttachFiles(j.pid); err != nil {
		t.Fatalf("RemoveAttachFiles: %v", err)
	}
	if exists(sock) {
		t.Fatalf("RemoveAttachFiles left %s", sock)
	}
	if err := RemoveAttachFiles(j.pid); err != nil {
		t.Errorf("RemoveAttachFiles with nothing to remove: %v", err)
	}

	// The JVM restarts its listener on the next trigger.
	out, err = Jcmd(ctx, j.pid, "VM.version")
	if err != nil {
		t.Fatalf("VM.version after RemoveAttachFiles: %v", err)
	}
	if !strings.Contains(out, "OpenJDK") {
		t.Errorf("VM.version output lacks OpenJDK: %q", out)
	}
	if !exists(sock) {
		t.Errorf("attach socket %s not recreated", sock)
	}
	j.checkNoThreadDump(t)
}

// A socket file nobody listens on (as left by a dead JVM with the same PID,
// or restored by CRIU) is replaced.
func TestJcmdStaleSocket(t *testing.T) {
	classes := compileMain(t)
	j := startJVM(t, javaArgs(classes), nil)
	ctx := timeout(t)
	if _, err := Jcmd(ctx, j.pid, "VM.version"); err != nil {
		t.Fatal(err)
	}
	if err := RemoveAttachFiles(j.pid); err != nil {
		t.Fatal(err)
	}
	p, _ := lookup(j.pid)
	l, err := net.Listen("unix", p.socketPath())
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	if !exists(p.socketPath()) {
		t.Fatal("could not leave a stale socket behind")
	}
	if _, err := net.Dial("unix", p.socketPath()); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dialling the stale socket: %v, want ECONNREFUSED", err)
	}

	out, err := Jcmd(ctx, j.pid, "VM.version")
	if err != nil {
		t.Fatalf("VM.version with a stale socket: %v", err)
	}
	if !strings.Contains(out, "OpenJDK") {
		t.Errorf("VM.version output lacks OpenJDK: %q", out)
	}
	j.checkNoThreadDump(t)
}

// With its working directory gone, the trigger file goes to /tmp.
func TestJcmdCwdRemoved(t *testing.T) {
	classes := compileMain(t)
	j := startJVM(t, javaArgs(classes), nil)
	if err := os.Remove(j.cwd); err != nil {
		t.Fatal(err)
	}
	out, err := Jcmd(timeout(t), j.pid, "VM.version")
	if err != nil {
		t.Fatalf("VM.version: %v", err)
	}
	if !strings.Contains(out, "OpenJDK") {
		t.Errorf("VM.version output lacks OpenJDK: %q", out)
	}
	j.checkNoThreadDump(t)
}

// A JVM in its own PID namespace knows itself by another PID.
func TestJcmdPIDNamespace(t *testing.T) {
	classes := compileMain(t)
	j := startJVM(t, javaArgs(classes), &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID})
	p, err := lookup(j.pid)
	if err != nil {
		t.Fatal(err)
	}
	if p.nspid != 1 {
		t.Fatalf("NSpid of the JVM is %d, want 1", p.nspid)
	}
	out, err := Jcmd(timeout(t), j.pid, "VM.version")
	if err != nil {
		t.Fatalf("VM.version: %v", err)
	}
	if !strings.Contains(out, "OpenJDK") {
		t.Errorf("VM.version output lacks OpenJDK: %q", out)
	}
	if !exists("/tmp/.java_pid1") {
		t.Errorf("no /tmp/.java_pid1")
	}
}

// A JVM in its own PID and mount namespaces with a private /tmp, as in a
// container.
func TestJcmdContainerNamespaces(t *testing.T) {
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("no unshare command")
	}
	if out, err := exec.Command("unshare", "--mount", "--pid", "--fork", "--mount-proc",
		"sh", "-c", "mount -t tmpfs tmpfs /tmp").CombinedOutput(); err != nil {
		t.Skipf("cannot create namespaces with a private /tmp: %v: %s", err, out)
	}
	classes := compileMain(t)
	// The classes are under the host's /tmp, which the tmpfs hides: copy
	// them into the tmpfs before moving it over /tmp. The JVM (exec'd) is
	// PID 1 of the new PID namespace, its working directory is its /tmp.
	script := `set -e
d=$(mktemp -d "$1/tmpfs.XXXXXX")
mount -t tmpfs tmpfs "$d"
cp "$1"/*.class "$d"/
mount --move "$d" /tmp
cd /tmp
exec java -XX:-UsePerfData -Xmx64m -cp /tmp Main`
	j := startJVM(t, []string{"unshare", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc", "sh", "-c", script, "sh", classes}, nil)
	p, err := lookup(j.pid)
	if err != nil {
		t.Fatal(err)
	}
	if p.nspid != 1 {
		t.Fatalf("NSpid of the JVM is %d, want 1", p.nspid)
	}
	ctx := timeout(t)
	out, err := Jcmd(ctx, j.pid, "VM.version")
	if err != nil {
		t.Fatalf("VM.version: %v", err)
	}
	if !strings.Contains(out, "OpenJDK") {
		t.Errorf("VM.version output lacks OpenJDK: %q", out)
	}
	if !exists(p.socketPath()) {
		t.Errorf("no %s", p.socketPath())
	}
	if exists("/tmp/.java_pid1") {
		t.Errorf("the socket is in the host's /tmp, not the JVM's private one")
	}
	if err := RemoveAttachFiles(j.pid); err != nil {
		t.Fatal(err)
	}
	if exists(p.socketPath()) {
		t.Errorf("RemoveAttachFiles left %s", p.socketPath())
	}
	if _, err := Jcmd(ctx, j.pid, "GC.run"); err != nil {
		t.Errorf("GC.run after RemoveAttachFiles: %v", err)
	}
	j.checkNoThreadDump(t)
}

// A JVM run with -Xrs starts its attach listener at startup, and does not
// catch SIGQUIT, which would kill it: once its socket is gone, Jcmd must fail
// without signalling it.
func TestJcmdReducedSignals(t *testing.T) {
	classes := compileMain(t)
	j := startJVM(t, []string{"java", "-Xrs", "-XX:-UsePerfData", "-Xmx64m", "-cp", classes, "Main"}, nil)
	ctx := timeout(t)
	if _, err := Jcmd(ctx, j.pid, "VM.version"); err != nil {
		t.Errorf("VM.version on a -Xrs JVM: %v", err)
	}
	if err := RemoveAttachFiles(j.pid); err != nil {
		t.Fatal(err)
	}
	_, err := Jcmd(ctx, j.pid, "VM.version")
	if err == nil || !strings.Contains(err.Error(), "SIGQUIT") {
		t.Errorf("Jcmd on a -Xrs JVM without socket: got %v, want an error about SIGQUIT", err)
	}
	t.Logf("without socket: %v", err)
	time.Sleep(100 * time.Millisecond)
	if err := syscall.Kill(j.pid, 0); err != nil {
		t.Errorf("the JVM died: %v", err)
	}
}

// A process that does not catch SIGQUIT is not sent one.
func TestJcmdNotAJVM(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep command")
	}
	cmd := exec.Command(sleep, "300")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err = Jcmd(ctx, cmd.Process.Pid, "VM.version")
	if err == nil || !strings.Contains(err.Error(), "SIGQUIT") {
		t.Errorf("Jcmd on sleep: got %v, want an error about SIGQUIT", err)
	}
	if err := syscall.Kill(cmd.Process.Pid, 0); err != nil {
		t.Errorf("sleep died: %v", err)
	}
	p, _ := lookup(cmd.Process.Pid)
	if exists(p.cwdPath(".attach_pid")) || exists(p.tmpPath(".attach_pid")) {
		t.Error("trigger file left behind")
	}
}

func TestJcmdBadArguments(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		pid int
		cmd string
	}{
		{0, "VM.version"},
		{-1, "VM.version"},
		{os.Getpid(), ""},
		{os.Getpid(), "  "},
		{os.Getpid(), "VM.version\x00"},
		{os.Getpid(), "VM.version " + strings.Repeat("x", maxCommandLen)},
	} {
		if _, err := Jcmd(ctx, tc.pid, tc.cmd); err == nil {
			t.Errorf("Jcmd(%d, %q) succeeded", tc.pid, tc.cmd)
		}
	}
	// A PID that does not exist (pid_max is at most 2^22).
	if _, err := Jcmd(ctx, 1<<23, "VM.version"); err == nil || !strings.Contains(err.Error(), "no process") {
		t.Errorf("Jcmd on a missing process: %v", err)
	}
	if err := RemoveAttachFiles(1 << 23); err == nil {
		t.Error("RemoveAttachFiles on a missing process succeeded")
	}
}

func TestReportsException(t *testing.T) {
	for out, want := range map[string]bool{
		"java.lang.IllegalArgumentException: Unknown diagnostic command\n": true,
		"java.lang.OutOfMemoryError\n":                                     true,
		"OpenJDK 64-Bit Server VM version 17\n":                            false,
		"":                                                                 false,
		"java.lang.String: 12 instances\n":                                 false,
		" num     #instances         #bytes  class name\n":                 false,
	} {
		if got := reportsException(out); got != want {
			t.Errorf("reportsException(%q) = %v, want %v", out, got, want)
		}
	}
}
