package checkpoint

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// bundle returns the repository's CRIU bundle, skipping (or failing under
// CRAC_E2E=1, as in CI) when the host cannot run CRIU.
func bundle(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	criu := filepath.Join(filepath.Dir(file), "..", "..", "build", "criu", "criu")
	var why string
	if os.Geteuid() != 0 {
		why = "root"
	} else if _, err := os.Stat(criu); err != nil {
		why = "the CRIU bundle (make criu)"
	}
	if why == "" {
		return criu
	}
	if os.Getenv("CRAC_E2E") == "1" {
		t.Fatalf("test needs %s", why)
	}
	t.Skipf("test needs %s", why)
	return ""
}

func TestVersion(t *testing.T) {
	criu := bundle(t)
	v, err := Version(criu)
	if err != nil {
		t.Fatal(err)
	}
	if v < 40200 {
		t.Errorf("bundle criu is %s, want >= 4.2", VersionString(v))
	}
	if _, err := Version(filepath.Join(t.TempDir(), "criu")); err == nil {
		t.Error("Version of a missing criu succeeded")
	}
}

// TestDumpRestore checkpoints a real process and restores it as a child of
// the test, with a new pipe handed over as its stdout.
func TestDumpRestore(t *testing.T) {
	criu := bundle(t)
	dir := t.TempDir()
	images, work := filepath.Join(dir, "images"), filepath.Join(dir, "work")
	for _, d := range []string{images, work} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	// A single process (no children: their PIDs would linger) that prints
	// a line every 0.2 s: its output tells whether the restored process
	// writes into the pipe it is handed. perl-base is essential in Debian.
	cmd := exec.Command("perl", "-e", `$|=1; while (1) { print "tick\n"; select(undef, undef, undef, 0.2) }`)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = w
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	pid := cmd.Process.Pid
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); r.Close() })
	buf := make([]byte, 64)
	if _, err := r.Read(buf); err != nil {
		t.Fatal(err)
	}

	proc, files, err := DescribeProcess(pid)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(proc.Stdio[1], "pipe:[") {
		t.Fatalf("stdout recorded as %q, want a pipe", proc.Stdio[1])
	}
	foundExe := false
	for _, f := range files {
		if f.Mapped && strings.Contains(f.Path, "perl") && f.SHA256 != "" && f.Size > 0 {
			foundExe = true
		}
	}
	if !foundExe {
		t.Errorf("open/mapped files %v lack perl's executable with size and digest", files)
	}

	if err := Dump(DumpOptions{CriuPath: criu, PID: pid, ImagesDir: images, WorkDir: work}); err != nil {
		t.Fatal(err)
	}
	sums, err := SumImages(images)
	if err != nil || len(sums) == 0 {
		t.Fatalf("SumImages: %v, %d files", err, len(sums))
	}
	// The dumped tree is left stopped: end it so its PID is free again.
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	r.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// A gate that fails (as the launcher's checksums do on a damaged
	// image) aborts the restore before the process runs, and leaves no
	// process behind: its PID is free for the next restore.
	gated, gw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	damaged := errors.New("checkpoint file pages-1.img fails its checksum (damaged)")
	_, err = Restore(ctx, RestoreOptions{
		CriuPath: criu, ImagesDir: images, WorkDir: work,
		Inherit: map[string]*os.File{proc.Stdio[1]: gw},
		Timeout: 20 * time.Second,
		Gate:    func() error { return damaged },
	})
	gw.Close()
	if !errors.Is(err, damaged) {
		t.Fatalf("gated restore: %v, want the gate's error", err)
	}
	if _, serr := os.Stat("/proc/" + strconv.Itoa(pid)); serr == nil {
		t.Errorf("process %d exists after a restore its gate refused", pid)
	}
	_ = gated.SetReadDeadline(time.Now().Add(time.Second))
	if n, _ := gated.Read(buf); n > 0 {
		t.Errorf("the gated process ran: it wrote %q", buf[:n])
	}
	gated.Close()

	r2, w2, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	rpid, err := Restore(ctx, RestoreOptions{
		CriuPath: criu, ImagesDir: images, WorkDir: work,
		Inherit: map[string]*os.File{proc.Stdio[1]: w2},
		Timeout: 20 * time.Second,
	})
	w2.Close()
	if err != nil {
		t.Fatalf("restore: %v\n%s", err, LogTail(filepath.Join(work, "restore.log"), 20))
	}
	defer func() {
		_ = syscall.Kill(rpid, syscall.SIGKILL)
		var ws syscall.WaitStatus
		_, _ = syscall.Wait4(rpid, &ws, 0, nil)
	}()
	if rpid != pid {
		t.Errorf("restored PID %d, dumped %d", rpid, pid)
	}
	_ = r2.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := r2.Read(buf)
	if err != nil || !strings.Contains(string(buf[:n]), "tick") {
		t.Errorf("restored process wrote %q (%v) into the inherited pipe, want ticks", buf[:n], err)
	}
}

// TestRestoreTimeoutKillsHungCriu stands in a criu that never answers (as a
// real one does when it lacks a capability) and checks that Restore gives
// up at its deadline and leaves no process behind.
func TestRestoreTimeoutKillsHungCriu(t *testing.T) {
	dir := t.TempDir()
	hung := filepath.Join(dir, "criu")
	// exec keeps the PID: the process go-criu started is the one that hangs.
	if err := os.WriteFile(hung, []byte("#!/bin/sh\nexec sleep 1000\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := Restore(context.Background(), RestoreOptions{
		CriuPath: hung, ImagesDir: dir, WorkDir: dir, Timeout: 500 * time.Millisecond,
	})
	if err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("Restore with a hung criu: %v, want a timeout", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Restore returned after %s, want soon after its 500ms deadline", d)
	}
	b, _ := os.ReadFile("/proc/self/task/" + strconv.Itoa(os.Getpid()) + "/children")
	for _, f := range strings.Fields(string(b)) {
		if cmdline, _ := os.ReadFile("/proc/" + f + "/cmdline"); strings.Contains(string(cmdline), "sleep") {
			t.Errorf("hung criu (PID %s) still running after the timeout", f)
		}
	}
}
