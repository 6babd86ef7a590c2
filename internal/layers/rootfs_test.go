package layers_test

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/crac-build/crac-build/internal/layers"
)

func TestCachedRootFS(t *testing.T) {
	blobs := t.TempDir()
	base := layers.NewTar()
	for name, content := range map[string]string{"/etc/os-release": "ID=test\n", "/etc/old": "old", "/app/main.jar": "v1"} {
		if err := base.AddBytes(name, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	l1, err := layers.Write(base, blobs, layers.WriteOptions{Compression: layers.Gzip})
	if err != nil {
		t.Fatal(err)
	}
	top := layers.NewTar()
	if err := top.AddBytes("/app/main.jar", []byte("v2"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := top.AddBytes("/etc/.wh.old", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	l2, err := layers.Write(top, blobs, layers.WriteOptions{Compression: layers.Zstd})
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, l1, l2)
	if err != nil {
		t.Fatal(err)
	}

	cache := t.TempDir()
	dir, err := layers.CachedRootFS(img, cache)
	if err != nil {
		t.Fatalf("CachedRootFS: %v", err)
	}
	d, _ := img.Digest()
	if want := filepath.Join(cache, "rootfs", d.Hex); dir != want {
		t.Errorf("dir %s, want %s", dir, want)
	}
	for name, want := range map[string]string{"etc/os-release": "ID=test\n", "app/main.jar": "v2"} {
		if b, err := os.ReadFile(filepath.Join(dir, name)); err != nil || string(b) != want {
			t.Errorf("%s: %q, %v; want %q", name, b, err, want)
		}
	}
	if _, err := os.Lstat(filepath.Join(dir, "etc/old")); !os.IsNotExist(err) {
		t.Errorf("etc/old, deleted by the top layer: %v", err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("rootfs dir: %v, %v; want mode 755 (it becomes the container's /)", fi.Mode(), err)
	}

	// The second call finds the cache: a marker put into it stays.
	marker := filepath.Join(dir, "cache-marker")
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	again, err := layers.CachedRootFS(img, cache)
	if err != nil || again != dir {
		t.Fatalf("second CachedRootFS = %s, %v; want %s", again, err, dir)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("the second call unpacked again: %v", err)
	}
}

func TestCachedRootFSConcurrent(t *testing.T) {
	img, err := random.Image(2048, 3)
	if err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	const n = 8
	dirs := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dirs[i], errs[i] = layers.CachedRootFS(img, cache)
		}()
	}
	wg.Wait()
	for i := 0; i < n; i++ {
		if errs[i] != nil {
			t.Errorf("call %d: %v", i, errs[i])
		}
		if dirs[i] != dirs[0] {
			t.Errorf("call %d returned %s, call 0 %s", i, dirs[i], dirs[0])
		}
	}
	ents, err := os.ReadDir(filepath.Join(cache, "rootfs"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".unpack-") {
			t.Errorf("leftover %s", e.Name())
		}
	}
	if len(ents) != 1 {
		t.Errorf("rootfs cache holds %d entries, want 1", len(ents))
	}
	// random.Image's layers each hold one file; all are in the rootfs.
	files := 0
	_ = filepath.WalkDir(dirs[0], func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			files++
		}
		return nil
	})
	if files != 3 {
		t.Errorf("rootfs holds %d files, want the 3 of the image's layers", files)
	}
}

func TestExtractLayer(t *testing.T) {
	l, err := layers.Write(sampleTar(t), t.TempDir(), layers.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	if err := layers.ExtractLayer(l, dst); err != nil {
		t.Fatalf("ExtractLayer: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(dst, "data/text"))
	if err != nil || string(b) != strings.Repeat("warm jvm ", 5000) {
		t.Errorf("data/text: %d bytes, %v", len(b), err)
	}
}
