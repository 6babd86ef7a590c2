package layers_test

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/crac-build/crac-build/internal/layers"
)

// rawTar writes headers as they are (no sorting, no cleaning): archives
// made by someone else, possibly hostile.
func rawTar(t *testing.T, hs ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range hs {
		h := *e.hdr
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.data))
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.data)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func reg(name, data string) entry {
	return entry{hdr: &tar.Header{Name: name, Typeflag: tar.TypeReg}, data: data}
}

func dirEntry(name string) entry {
	return entry{hdr: &tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o755}}
}

func symlink(name, target string) entry {
	return entry{hdr: &tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: target, Mode: 0o777}}
}

func hardlink(name, target string) entry {
	return entry{hdr: &tar.Header{Name: name, Typeflag: tar.TypeLink, Linkname: target}}
}

// treeEntry describes one file of a directory tree, for comparisons.
type treeEntry struct {
	Mode    fs.FileMode
	Content string
	Link    string
	MTime   int64
}

// readTree walks dir (not following symlinks).
func readTree(t *testing.T, dir string) map[string]treeEntry {
	t.Helper()
	out := map[string]treeEntry{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			return nil
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		e := treeEntry{Mode: fi.Mode()}
		switch {
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			e.Content = string(b)
			e.MTime = fi.ModTime().Unix()
		case fi.Mode()&fs.ModeSymlink != 0:
			e.Link, _ = os.Readlink(p)
		default:
			e.MTime = fi.ModTime().Unix()
		}
		out[filepath.ToSlash(rel)] = e
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestExtractRoundTrip(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "1600000000")
	src := filepath.Join(t.TempDir(), "src")
	makeAppTree(t, src, []int{0, 1, 2, 3, 4, 5, 6, 7, 8}, 2)
	tw := layers.NewTar()
	if err := tw.AddHost(src, "/"+"app"); err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	if err := layers.Extract(bytes.NewReader(tarBytes(t, tw)), dst); err != nil {
		t.Fatalf("Extract: %v", err)
	}
	got := readTree(t, filepath.Join(dst, "app"))
	want := readTree(t, src)
	// The layer fixes the times; the rest must be the host's.
	for k, e := range want {
		if e.Link == "" {
			e.MTime = 1600000000
		}
		want[k] = e
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("extracted tree (-got +want):\n%s", diff)
	}
	if os.Geteuid() == 0 {
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(dst, "app/lib/a.jar"), &st); err != nil {
			t.Fatal(err)
		}
		if st.Uid != 0 || st.Gid != 0 {
			t.Errorf("extracted owner %d:%d, want the layer's 0:0", st.Uid, st.Gid)
		}
	}
}

func TestExtractKeepsOwnersAndSpecialFiles(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("owners and device nodes need root")
	}
	mtime := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	raw := rawTar(t,
		entry{hdr: &tar.Header{Name: "srv/", Typeflag: tar.TypeDir, Mode: 0o1777, Uid: 7, Gid: 8, ModTime: mtime}},
		entry{hdr: &tar.Header{Name: "srv/data", Typeflag: tar.TypeReg, Mode: 0o2640, Uid: 1234, Gid: 5678, ModTime: mtime}, data: "payload"},
		entry{hdr: &tar.Header{Name: "srv/null", Typeflag: tar.TypeChar, Mode: 0o666, Devmajor: 1, Devminor: 3}},
		entry{hdr: &tar.Header{Name: "srv/fifo", Typeflag: tar.TypeFifo, Mode: 0o600}},
		entry{hdr: &tar.Header{Name: "srv/link", Typeflag: tar.TypeSymlink, Linkname: "data", Uid: 9, Gid: 9}},
	)
	dst := t.TempDir()
	if err := layers.Extract(bytes.NewReader(raw), dst); err != nil {
		t.Fatalf("Extract: %v", err)
	}
	for _, tc := range []struct {
		name     string
		uid, gid uint32
		mode     uint32
		mtime    time.Time
		rdev     uint64
	}{
		{"srv", 7, 8, unix.S_IFDIR | 0o1777, mtime, 0},
		{"srv/data", 1234, 5678, unix.S_IFREG | 0o2640, mtime, 0},
		{"srv/null", 0, 0, unix.S_IFCHR | 0o666, time.Time{}, unix.Mkdev(1, 3)},
		{"srv/fifo", 0, 0, unix.S_IFIFO | 0o600, time.Time{}, 0},
		{"srv/link", 9, 9, unix.S_IFLNK | 0o777, time.Time{}, 0},
	} {
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(dst, tc.name), &st); err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if st.Uid != tc.uid || st.Gid != tc.gid || st.Mode != tc.mode || st.Rdev != tc.rdev {
			t.Errorf("%s: %d:%d mode %o rdev %d, want %d:%d mode %o rdev %d", tc.name, st.Uid, st.Gid, st.Mode, st.Rdev, tc.uid, tc.gid, tc.mode, tc.rdev)
		}
		if !tc.mtime.IsZero() && st.Mtim.Sec != tc.mtime.Unix() {
			t.Errorf("%s: mtime %d, want %d", tc.name, st.Mtim.Sec, tc.mtime.Unix())
		}
	}
}

func TestExtractHardLink(t *testing.T) {
	raw := rawTar(t,
		dirEntry("bin/"),
		reg("bin/busybox", "multi-call"),
		hardlink("bin/sh", "bin/busybox"),
		hardlink("bin/ls", "/bin/busybox"),
	)
	dst := t.TempDir()
	if err := layers.Extract(bytes.NewReader(raw), dst); err != nil {
		t.Fatalf("Extract: %v", err)
	}
	var orig unix.Stat_t
	if err := unix.Stat(filepath.Join(dst, "bin/busybox"), &orig); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"bin/sh", "bin/ls"} {
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(dst, n), &st); err != nil {
			t.Errorf("%s: %v", n, err)
			continue
		}
		if st.Ino != orig.Ino {
			t.Errorf("%s is inode %d, want a hard link to bin/busybox (inode %d)", n, st.Ino, orig.Ino)
		}
	}
	if orig.Nlink != 3 {
		t.Errorf("bin/busybox has %d links, want 3", orig.Nlink)
	}
}

func TestExtractWhiteouts(t *testing.T) {
	dst := t.TempDir()
	writeFile(t, filepath.Join(dst, "etc/old.conf"), "old", 0o644)
	writeFile(t, filepath.Join(dst, "etc/kept.conf"), "kept", 0o644)
	writeFile(t, filepath.Join(dst, "var/cache/a/b"), "old", 0o644)
	writeFile(t, filepath.Join(dst, "var/cache/c"), "old", 0o644)
	writeFile(t, filepath.Join(dst, "gone/deep/file"), "old", 0o644)

	raw := rawTar(t,
		reg("etc/.wh.old.conf", ""),
		reg(".wh.gone", ""),
		dirEntry("var/cache/"),
		reg("var/cache/.wh..wh..opq", ""),
		reg("var/cache/fresh", "new"),
		reg("etc/.wh.never-existed", ""),
	)
	if err := layers.Extract(bytes.NewReader(raw), dst); err != nil {
		t.Fatalf("Extract: %v", err)
	}
	got := readTree(t, dst)
	var gotNames []string
	for n := range got {
		gotNames = append(gotNames, n)
	}
	want := []string{"etc", "etc/kept.conf", "var", "var/cache", "var/cache/fresh"}
	if diff := cmp.Diff(gotNames, want, cmpSorted); diff != "" {
		t.Errorf("tree after whiteouts (-got +want):\n%s", diff)
	}
}

var cmpSorted = cmp.Transformer("sort", func(in []string) []string {
	out := append([]string(nil), in...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
})

// A layer replaces what is in the way: a file by a dir, a dir by a file, a
// symlink by a file (without writing through it).
func TestExtractReplaces(t *testing.T) {
	dst := t.TempDir()
	outside := t.TempDir()
	writeFile(t, filepath.Join(dst, "was-file"), "x", 0o644)
	writeFile(t, filepath.Join(dst, "was-dir/child"), "x", 0o644)
	writeFile(t, filepath.Join(outside, "target"), "outside", 0o644)
	if err := os.Symlink(filepath.Join(outside, "target"), filepath.Join(dst, "was-link")); err != nil {
		t.Fatal(err)
	}
	raw := rawTar(t,
		dirEntry("was-file/"),
		reg("was-dir", "now a file"),
		reg("was-link", "now a file"),
	)
	if err := layers.Extract(bytes.NewReader(raw), dst); err != nil {
		t.Fatalf("Extract: %v", err)
	}
	if fi, err := os.Lstat(filepath.Join(dst, "was-file")); err != nil || !fi.IsDir() {
		t.Errorf("was-file: %v, %v; want a dir", fi, err)
	}
	for _, n := range []string{"was-dir", "was-link"} {
		if b, err := os.ReadFile(filepath.Join(dst, n)); err != nil || string(b) != "now a file" {
			t.Errorf("%s: %q, %v; want the layer's file", n, b, err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(outside, "target")); string(b) != "outside" {
		t.Errorf("the symlink's old target now holds %q: the layer wrote through a symlink", b)
	}
}

// Hostile archives: every write must land inside the extraction dir.
func TestExtractStaysInside(t *testing.T) {
	for _, tc := range []struct {
		name string
		// entries gets the absolute path of a dir outside dst, which must
		// stay untouched.
		entries func(outside string) []entry
	}{
		{
			name:    "dot-dot name",
			entries: func(string) []entry { return []entry{reg("../../pwned", "x")} },
		},
		{
			name: "dot-dot inside a name",
			entries: func(string) []entry {
				return []entry{reg("a/../../../pwned", "x")}
			},
		},
		{
			name: "absolute symlink then a file through it",
			entries: func(outside string) []entry {
				return []entry{symlink("escape", outside), reg("escape/pwned", "x")}
			},
		},
		{
			name: "relative symlink climbing out then a file through it",
			entries: func(outside string) []entry {
				return []entry{symlink("up", "../../../../../../../../../.."+outside), reg("up/pwned", "x")}
			},
		},
		{
			name: "symlink to /etc then a file through it",
			entries: func(string) []entry {
				return []entry{symlink("etc", "/etc"), reg("etc/crac-build-extract-test-pwned", "x")}
			},
		},
		{
			name: "symlink then a dir through it",
			entries: func(outside string) []entry {
				return []entry{symlink("d", outside), dirEntry("d/sub/"), reg("d/sub/pwned", "x")}
			},
		},
		{
			name: "hard link to a file outside",
			entries: func(outside string) []entry {
				return []entry{hardlink("pwned", outside+"/secret")}
			},
		},
		{
			name: "hard link through a symlink",
			entries: func(outside string) []entry {
				return []entry{symlink("s", outside), hardlink("pwned", "s/secret")}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			outside := t.TempDir()
			writeFile(t, filepath.Join(outside, "secret"), "secret", 0o600)
			dst := filepath.Join(t.TempDir(), "root")
			if err := os.Mkdir(dst, 0o755); err != nil {
				t.Fatal(err)
			}
			parentBefore := readTree(t, filepath.Dir(dst))
			err := layers.Extract(bytes.NewReader(rawTar(t, tc.entries(outside)...)), dst)
			t.Logf("Extract: %v", err)

			var outNames []string
			for n := range readTree(t, outside) {
				outNames = append(outNames, n)
			}
			if diff := cmp.Diff(outNames, []string{"secret"}); diff != "" {
				t.Errorf("the dir outside changed (-got +want):\n%s", diff)
			}
			var st unix.Stat_t
			if err := unix.Stat(filepath.Join(outside, "secret"), &st); err == nil && st.Nlink != 1 {
				t.Errorf("the file outside has %d links: the layer linked to it", st.Nlink)
			}
			if b, err := os.ReadFile(filepath.Join(outside, "secret")); err != nil || string(b) != "secret" {
				t.Errorf("the file outside holds %q, %v", b, err)
			}
			if _, err := os.Lstat("/etc/crac-build-extract-test-pwned"); err == nil {
				os.Remove("/etc/crac-build-extract-test-pwned")
				t.Errorf("the layer wrote into the host's /etc")
			}
			// Nothing but dst may appear beside dst.
			parentAfter := readTree(t, filepath.Dir(dst))
			for n := range parentAfter {
				if n != "root" && !strings.HasPrefix(n, "root/") {
					if _, ok := parentBefore[n]; !ok {
						t.Errorf("%s appeared outside the extraction dir", n)
					}
				}
			}
		})
	}
}

// A whiteout's name is one path component after ".wh.": ".wh..." names
// "..", which is not a file of the layer's directory.
func TestExtractWhiteoutOfDotDot(t *testing.T) {
	outer := t.TempDir()
	dst := filepath.Join(outer, "root")
	writeFile(t, filepath.Join(outer, "sibling"), "must stay", 0o644)
	writeFile(t, filepath.Join(dst, "a/file"), "must stay", 0o644)
	for _, name := range []string{".wh...", "a/.wh...", ".wh.", "a/.wh."} {
		err := layers.Extract(bytes.NewReader(rawTar(t, reg(name, ""))), dst)
		t.Logf("Extract(%q): %v", name, err)
		if _, err := os.Stat(filepath.Join(outer, "sibling")); err != nil {
			t.Fatalf("after a whiteout named %q, a file beside the extraction dir: %v", name, err)
		}
		if _, err := os.Stat(filepath.Join(dst, "a/file")); err != nil {
			t.Fatalf("after a whiteout named %q, a file of the extraction dir: %v", name, err)
		}
	}
}

func TestExtractCorrupt(t *testing.T) {
	raw := rawTar(t, reg("a", strings.Repeat("x", 2000)))
	err := layers.Extract(bytes.NewReader(raw[:1024]), t.TempDir())
	if err == nil {
		t.Fatal("Extract of a truncated tar succeeded")
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) || !strings.Contains(err.Error(), "extracting a") {
		t.Errorf("error %v: want an unexpected EOF naming the entry", err)
	}
}
