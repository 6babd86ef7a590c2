package layers_test

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/crac-build/crac-build/internal/layers"
)

// entry is what a test reads back from a tar: the header and the content.
type entry struct {
	hdr  *tar.Header
	data string
}

// readTar returns the entries of a tar stream, in order.
func readTar(t *testing.T, r io.Reader) []entry {
	t.Helper()
	tr := tar.NewReader(r)
	var out []entry
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("reading tar: %v", err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("reading %s: %v", h.Name, err)
		}
		out = append(out, entry{hdr: h, data: string(b)})
	}
}

// tarBytes writes t and returns the bytes.
func tarBytes(t *testing.T, tw *layers.Tar) []byte {
	t.Helper()
	var buf bytes.Buffer
	n, err := tw.WriteTo(&buf)
	if err != nil {
		t.Fatalf("WriteTo: %v", err)
	}
	if n != int64(buf.Len()) {
		t.Errorf("WriteTo returned %d, wrote %d bytes", n, buf.Len())
	}
	return buf.Bytes()
}

func byName(es []entry) map[string]entry {
	m := map[string]entry{}
	for _, e := range es {
		m[e.hdr.Name] = e
	}
	return m
}

func names(es []entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.hdr.Name)
	}
	return out
}

func writeFile(t *testing.T, p, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	// The umask must not decide the mode the layer records.
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

// appTree is the content of a host tree: relative path -> content, "" for
// a directory; symlinks are made separately.
var appTree = []struct {
	rel, content string
	mode         os.FileMode
}{
	{"lib", "", 0o755},
	{"lib/a.jar", "jar a", 0o644},
	{"lib/b.jar", "jar b, a bit longer", 0o644},
	{"lib/sub", "", 0o750},
	{"lib/sub/deep.txt", "deep", 0o600},
	{"bin", "", 0o755},
	{"bin/run.sh", "#!/bin/sh\nexec java -jar /app/lib/a.jar\n", 0o755},
	{"app.jar", "main jar", 0o644},
	{"empty", "", 0o700},
}

// makeAppTree creates appTree under dir in the given order of indexes, with
// owners and times that depend on seed: a reproducible layer must not see
// any of that.
func makeAppTree(t *testing.T, dir string, order []int, seed int) {
	t.Helper()
	// Directories first (in the given order), so that files can go in.
	for _, i := range order {
		f := appTree[i]
		if f.content == "" {
			p := filepath.Join(dir, f.rel)
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, f.mode); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, i := range order {
		f := appTree[i]
		if f.content != "" {
			writeFile(t, filepath.Join(dir, f.rel), f.content, f.mode)
		}
	}
	if err := os.Symlink("lib/a.jar", filepath.Join(dir, "current.jar")); err != nil {
		t.Fatal(err)
	}
	mtime := time.Date(2001+seed, 2, 3, 4, 5, 6, 7000*seed, time.UTC)
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if os.Geteuid() == 0 {
			if err := os.Lchown(p, 1000+seed, 2000+seed); err != nil {
				return err
			}
		}
		if d.Type()&os.ModeSymlink != 0 {
			return nil
		}
		return os.Chtimes(p, mtime, mtime)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

func buildAppTar(t *testing.T, src string) *layers.Tar {
	t.Helper()
	tw := layers.NewTar()
	if err := tw.AddHost(src, "/app"); err != nil {
		t.Fatalf("AddHost: %v", err)
	}
	if err := tw.AddBytes("/opt/crac-build/checkpoint/metadata.json", []byte(`{"formatVersion":1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := tw.AddDir("var/empty", 0o711); err != nil {
		t.Fatal(err)
	}
	return tw
}

func TestTarReproducible(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "")
	n := len(appTree)
	forward := make([]int, n)
	backward := make([]int, n)
	for i := range forward {
		forward[i] = i
		backward[i] = n - 1 - i
	}
	srcA := filepath.Join(t.TempDir(), "a")
	srcB := filepath.Join(t.TempDir(), "b")
	makeAppTree(t, srcA, forward, 1)
	makeAppTree(t, srcB, backward, 7)

	rawA := tarBytes(t, buildAppTar(t, srcA))
	rawB := tarBytes(t, buildAppTar(t, srcB))
	if !bytes.Equal(rawA, rawB) {
		t.Fatalf("tars of the same files differ:\n%s", cmp.Diff(names(readTar(t, bytes.NewReader(rawA))), names(readTar(t, bytes.NewReader(rawB)))))
	}

	var diffIDs []string
	for _, c := range []layers.Compression{layers.Zstd, layers.Gzip} {
		t.Run(string(c), func(t *testing.T) {
			la, err := layers.Write(buildAppTar(t, srcA), t.TempDir(), layers.WriteOptions{Compression: c})
			if err != nil {
				t.Fatalf("Write a: %v", err)
			}
			lb, err := layers.Write(buildAppTar(t, srcB), t.TempDir(), layers.WriteOptions{Compression: c})
			if err != nil {
				t.Fatalf("Write b: %v", err)
			}
			da, _ := la.Digest()
			db, _ := lb.Digest()
			if da != db {
				t.Errorf("digests differ: %s vs %s", da, db)
			}
			ia, _ := la.DiffID()
			ib, _ := lb.DiffID()
			if ia != ib {
				t.Errorf("diff IDs differ: %s vs %s", ia, ib)
			}
			if la.RawSize() != int64(len(rawA)) {
				t.Errorf("RawSize = %d, want %d", la.RawSize(), len(rawA))
			}
			diffIDs = append(diffIDs, ia.String())
		})
	}
	// The diff ID is the uncompressed tar's: the compression must not
	// change it.
	if len(diffIDs) == 2 && diffIDs[0] != diffIDs[1] {
		t.Errorf("zstd and gzip layers of one tar have diff IDs %s and %s", diffIDs[0], diffIDs[1])
	}
}

func TestTarHeaders(t *testing.T) {
	for _, tc := range []struct {
		name  string
		epoch string
		want  time.Time
	}{
		{"unset", "", time.Unix(0, 0)},
		{"SOURCE_DATE_EPOCH", "1700000000", time.Unix(1700000000, 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("SOURCE_DATE_EPOCH", tc.epoch)
			if got := layers.SourceDateEpoch(); !got.Equal(tc.want) {
				t.Errorf("SourceDateEpoch() = %v, want %v", got, tc.want)
			}
			src := filepath.Join(t.TempDir(), "src")
			makeAppTree(t, src, []int{0, 1, 2, 3, 4, 5, 6, 7, 8}, 3)
			es := readTar(t, bytes.NewReader(tarBytes(t, buildAppTar(t, src))))

			got := names(es)
			want := []string{
				"app/",
				"app/app.jar",
				"app/bin/",
				"app/bin/run.sh",
				"app/current.jar",
				"app/empty/",
				"app/lib/",
				"app/lib/a.jar",
				"app/lib/b.jar",
				"app/lib/sub/",
				"app/lib/sub/deep.txt",
				"opt/",
				"opt/crac-build/",
				"opt/crac-build/checkpoint/",
				"opt/crac-build/checkpoint/metadata.json",
				"var/",
				"var/empty/",
			}
			if diff := cmp.Diff(got, want); diff != "" {
				t.Errorf("entries (-got +want):\n%s", diff)
			}
			keys := make([]string, len(got))
			for i, n := range got {
				keys[i] = strings.TrimSuffix(n, "/")
			}
			if !sort.StringsAreSorted(keys) {
				t.Errorf("entries not sorted: %q", got)
			}
			seen := map[string]bool{}
			for _, e := range es {
				h := e.hdr
				if d := path.Dir(strings.TrimSuffix(h.Name, "/")); d != "." && !seen[d+"/"] {
					t.Errorf("%s comes before its parent %s/", h.Name, d)
				}
				seen[h.Name] = true
				if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" {
					t.Errorf("%s: owner %d:%d (%q:%q), want 0:0 without names", h.Name, h.Uid, h.Gid, h.Uname, h.Gname)
				}
				if !h.ModTime.Equal(tc.want) {
					t.Errorf("%s: mtime %v, want %v", h.Name, h.ModTime, tc.want)
				}
				if !h.AccessTime.IsZero() || !h.ChangeTime.IsZero() {
					t.Errorf("%s: atime %v ctime %v, want none", h.Name, h.AccessTime, h.ChangeTime)
				}
			}

			m := byName(es)
			for _, tc := range []struct {
				name string
				typ  byte
				mode int64
				data string
				link string
			}{
				{"app/", tar.TypeDir, 0o755, "", ""},
				{"app/lib/sub/", tar.TypeDir, 0o750, "", ""},
				{"app/empty/", tar.TypeDir, 0o700, "", ""},
				{"app/lib/sub/deep.txt", tar.TypeReg, 0o600, "deep", ""},
				{"app/bin/run.sh", tar.TypeReg, 0o755, "#!/bin/sh\nexec java -jar /app/lib/a.jar\n", ""},
				{"app/current.jar", tar.TypeSymlink, 0o777, "", "lib/a.jar"},
				{"opt/crac-build/", tar.TypeDir, 0o755, "", ""}, // an implicit parent
				{"opt/crac-build/checkpoint/metadata.json", tar.TypeReg, 0o644, `{"formatVersion":1}`, ""},
				{"var/empty/", tar.TypeDir, 0o711, "", ""},
			} {
				e, ok := m[tc.name]
				if !ok {
					t.Errorf("no entry %s", tc.name)
					continue
				}
				if e.hdr.Typeflag != tc.typ || e.hdr.Mode != tc.mode || e.data != tc.data || e.hdr.Linkname != tc.link {
					t.Errorf("%s: type %c mode %o data %q link %q, want type %c mode %o data %q link %q",
						tc.name, e.hdr.Typeflag, e.hdr.Mode, e.data, e.hdr.Linkname, tc.typ, tc.mode, tc.data, tc.link)
				}
			}
		})
	}
}

func TestTarReplaceSameName(t *testing.T) {
	tw := layers.NewTar()
	for _, name := range []string{"/etc/app.conf", "etc/app.conf", "./etc//app.conf"} {
		if err := tw.AddBytes(name, []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if tw.Len() != 1 {
		t.Errorf("Len = %d after adding one name three ways, want 1", tw.Len())
	}
	m := byName(readTar(t, bytes.NewReader(tarBytes(t, tw))))
	if got := m["etc/app.conf"].data; got != "./etc//app.conf" {
		t.Errorf("content %q, want the last one added", got)
	}
}

func TestTarRejectsRoot(t *testing.T) {
	tw := layers.NewTar()
	for _, name := range []string{"/", "", ".", "/.."} {
		if err := tw.AddBytes(name, nil, 0o644); err == nil {
			t.Errorf("AddBytes(%q) succeeded, want an error", name)
		}
	}
}

func TestTarHostFileChangedSize(t *testing.T) {
	p := filepath.Join(t.TempDir(), "grows")
	writeFile(t, p, "short", 0o644)
	tw := layers.NewTar()
	if err := tw.AddHost(p, "/grows"); err != nil {
		t.Fatal(err)
	}
	writeFile(t, p, "sh", 0o644)
	if _, err := tw.WriteTo(io.Discard); err == nil || !strings.Contains(err.Error(), "changed size") {
		t.Errorf("WriteTo of a file that shrank: %v, want a 'changed size' error", err)
	}
}

func TestAddHostUnsupported(t *testing.T) {
	p := filepath.Join(t.TempDir(), "fifo")
	if err := mkfifo(p); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	if err := layers.NewTar().AddHost(p, "/fifo"); err == nil || !strings.Contains(err.Error(), "unsupported") {
		t.Errorf("AddHost of a fifo: %v, want an 'unsupported' error", err)
	}
	if err := layers.NewTar().AddHost(filepath.Join(t.TempDir(), "missing"), "/x"); err == nil {
		t.Error("AddHost of a missing file succeeded")
	}
}

func TestParseCompression(t *testing.T) {
	for _, s := range []string{"zstd", "gzip"} {
		if c, err := layers.ParseCompression(s); err != nil || string(c) != s {
			t.Errorf("ParseCompression(%q) = %q, %v", s, c, err)
		}
	}
	for _, s := range []string{"", "xz", "ZSTD"} {
		if _, err := layers.ParseCompression(s); err == nil {
			t.Errorf("ParseCompression(%q) succeeded, want an error", s)
		}
	}
}
