package launcher

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crac-build/crac-build/internal/contract"
	"github.com/crac-build/crac-build/internal/proc"
)

// Every thread of the checkpoint needs its TID: the images name them.
func TestCheckPIDsThreads(t *testing.T) {
	m := &contract.Metadata{
		Process: contract.Process{PID: freePID(t)},
		Images:  []contract.FileSum{{Name: "pages-1.img"}, {Name: fmt.Sprintf("core-%d.img", os.Getpid())}},
	}
	err := checkPIDs(m)
	want := fmt.Sprintf("thread ID %d, which the checkpoint needs, is taken by ", os.Getpid())
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("a taken TID: %v, want %q...", err, want)
	}
	m.Images[1].Name = fmt.Sprintf("core-%d.img", freePID(t))
	if err := checkPIDs(m); err != nil {
		t.Errorf("free TIDs: %v", err)
	}
}

// largeFile writes a file above FullHashMax and records it as the builder
// does: full digest, fingerprint (sampled), mtime.
func largeFile(t *testing.T) (string, []byte, contract.OpenFile) {
	t.Helper()
	b := make([]byte, 3*contract.FullHashMax+12345)
	for i := range b {
		b[i] = byte(i * 7 % 251)
	}
	p := filepath.Join(t.TempDir(), "modules")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	full, err := contract.FileSHA256(p)
	if err != nil {
		t.Fatal(err)
	}
	fp, err := contract.Fingerprint(p)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	mtime := fi.ModTime().Unix()
	return p, b, contract.OpenFile{Path: p, Size: int64(len(b)), Mode: 0o644, SHA256: full, Fingerprint: fp, MTime: &mtime}
}

// rewrite changes the file's content in place and restores its mtime.
func rewrite(t *testing.T, p string, b []byte, mtime time.Time) {
	t.Helper()
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

func TestCheckFilesLarge(t *testing.T) {
	p, b, f := largeFile(t)
	m := &contract.Metadata{OpenFiles: []contract.OpenFile{f}}
	if err := checkFiles(m, false); err != nil {
		t.Fatalf("unchanged: %v", err)
	}
	mtime := time.Unix(*f.MTime, 0)

	// A change in a sampled block (the first 64 KiB), same mtime.
	c := bytes.Clone(b)
	c[100] ^= 1
	rewrite(t, p, c, mtime)
	if err := checkFiles(m, false); err == nil || !strings.Contains(err.Error(), "sampled blocks differ") {
		t.Errorf("change in a sampled block: %v", err)
	}

	// A change between samples, same mtime: not seen by the sampled
	// check (the documented limit), seen by the full one.
	c = bytes.Clone(b)
	c[contract.SampleEdge+contract.SampleBlock+10] ^= 1
	rewrite(t, p, c, mtime)
	if err := checkFiles(m, false); err != nil {
		t.Errorf("change between samples passed the sampled check? %v (expected to pass)", err)
	}
	if err := checkFiles(m, true); err == nil || !strings.Contains(err.Error(), "other content than at build (same size)") {
		t.Errorf("full check of a change between samples: %v", err)
	}

	// The same change with a new mtime: hashed in full.
	rewrite(t, p, c, mtime.Add(time.Hour))
	if err := checkFiles(m, false); err == nil || !strings.Contains(err.Error(), "other content than at build (same size)") {
		t.Errorf("change with a new mtime: %v", err)
	}

	// A new mtime alone (touch) is not a change.
	rewrite(t, p, b, mtime.Add(time.Hour))
	if err := checkFiles(m, false); err != nil {
		t.Errorf("touched only: %v", err)
	}

	// Metadata of an older builder (no fingerprint, no mtime): large files
	// on the image's filesystem are checked by size and mode only.
	old := f
	old.Fingerprint, old.MTime = "", nil
	rewrite(t, p, c, mtime)
	if err := checkFiles(&contract.Metadata{OpenFiles: []contract.OpenFile{old}}, false); err != nil {
		t.Errorf("older metadata: %v", err)
	}
}

// A small file with a fingerprint: any same-size change is seen.
func TestCheckFilesSmall(t *testing.T) {
	p := filepath.Join(t.TempDir(), "app.jar")
	b := bytes.Repeat([]byte("PK"), 5000)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	full, _ := contract.FileSHA256(p)
	fp, _ := contract.Fingerprint(p)
	fi, _ := os.Stat(p)
	mtime := fi.ModTime().Unix()
	m := &contract.Metadata{OpenFiles: []contract.OpenFile{{Path: p, Size: int64(len(b)), Mode: 0o644, SHA256: full, Fingerprint: fp, MTime: &mtime}}}
	if err := checkFiles(m, false); err != nil {
		t.Fatalf("unchanged: %v", err)
	}
	c := bytes.Clone(b)
	c[len(c)/2] ^= 1
	rewrite(t, p, c, fi.ModTime())
	if err := checkFiles(m, false); err == nil || !strings.HasSuffix(err.Error(), "other content than at build (same size)") {
		t.Errorf("one bit changed: %v", err)
	}
}

func TestProbeClone3(t *testing.T) {
	st, err := proc.Status(proc.Self)
	if err != nil {
		t.Fatal(err)
	}
	if st["Seccomp"] != "0" {
		t.Skipf("this test runs under a seccomp filter (mode %s)", st["Seccomp"])
	}
	if code := ProbeClone3(); code != 0 {
		t.Errorf("ProbeClone3 without a filter = %d, want 0", code)
	}
	if err := checkClone3("/nonexistent"); err != nil {
		t.Errorf("checkClone3 without a filter: %v (it should not even run the probe)", err)
	}
}
