package layers

import (
	"archive/tar"
	"io"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"
)

// makeTree writes the same files in the given order, with mtimes of its own.
func makeTree(t *testing.T, order []string, mtime time.Time) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range order {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("content of "+name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		mtime = mtime.Add(time.Minute)
		return os.Chtimes(p, mtime, mtime)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func layerFromTree(t *testing.T, dir string) *Layer {
	t.Helper()
	tr := NewTar()
	if err := tr.AddHost(dir, "/app"); err != nil {
		t.Fatal(err)
	}
	l, err := Write(tr, t.TempDir(), WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestLayerIsReproducible(t *testing.T) {
	files := []string{"lib/a.jar", "lib/b.jar", "conf/app.properties", "app.jar", "lib/sub/c.jar"}
	rev := append([]string(nil), files...)
	sort.Sort(sort.Reverse(sort.StringSlice(rev)))
	a := layerFromTree(t, makeTree(t, files, time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)))
	b := layerFromTree(t, makeTree(t, rev, time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)))
	if a.digest != b.digest || a.diffID != b.diffID {
		t.Errorf("same files, other order and times: digests %s and %s differ", a.digest, b.digest)
	}

	rc, err := a.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" {
			t.Errorf("%s: owner %d:%d %q:%q, want 0:0 without names", h.Name, h.Uid, h.Gid, h.Uname, h.Gname)
		}
		if !h.ModTime.Equal(time.Unix(0, 0)) {
			t.Errorf("%s: mtime %s, want the epoch", h.Name, h.ModTime)
		}
	}
	if !sort.StringsAreSorted(names) {
		t.Errorf("entries not sorted: %v", names)
	}
	if names[0] != "app/" {
		t.Errorf("first entry %q, want the explicit parent app/", names[0])
	}
}

func TestSourceDateEpoch(t *testing.T) {
	dir := makeTree(t, []string{"x"}, time.Now())
	def := layerFromTree(t, dir)
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	if got := SourceDateEpoch(); !got.Equal(time.Unix(1700000000, 0)) {
		t.Errorf("SourceDateEpoch() = %s", got)
	}
	set := layerFromTree(t, dir)
	if set.digest == def.digest {
		t.Error("SOURCE_DATE_EPOCH did not change the layer")
	}
	if again := layerFromTree(t, dir); again.digest != set.digest {
		t.Error("same SOURCE_DATE_EPOCH, other digest")
	}
}
