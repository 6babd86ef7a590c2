package registry_test

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/google/go-containerregistry/pkg/compression"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/crac-build/crac-build/internal/registry"
)

// zstdImage is a random image with one gzip and one zstd layer, like a warm
// image on a gzip base.
func zstdImage(t *testing.T) v1.Image {
	t.Helper()
	img := withArch(t, randomImage(t), runtime.GOARCH)
	src, err := random.Layer(4096, types.OCILayer)
	if err != nil {
		t.Fatal(err)
	}
	z, err := tarball.LayerFromOpener(src.Uncompressed, tarball.WithCompression(compression.ZStd), tarball.WithMediaType(types.OCILayerZStd))
	if err != nil {
		t.Fatal(err)
	}
	img, err = mutate.AppendLayers(img, z)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// magic reports the compression of a layer blob as its first bytes say.
func magic(t *testing.T, l v1.Layer) string {
	t.Helper()
	rc, err := l.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b := make([]byte, 4)
	if _, err := io.ReadFull(rc, b); err != nil {
		t.Fatal(err)
	}
	switch {
	case bytes.HasPrefix(b, []byte{0x1f, 0x8b}):
		return "gzip"
	case bytes.Equal(b, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return "zstd"
	}
	return "other"
}

// A docker archive holds gzip layers whatever the image's were (Docker
// before 23 loads no zstd), with the same config, so the same image ID and
// diff IDs; ArchiveZstd keeps them as they are.
func TestDockerArchiveCompression(t *testing.T) {
	ctx := context.Background()
	img := zstdImage(t)
	wantCfg, _ := img.ConfigName()
	wl, _ := img.Layers()
	for _, tc := range []struct {
		comp string
		want []string
	}{
		{"", []string{"gzip", "gzip", "gzip"}},
		{registry.ArchiveZstd, []string{"gzip", "gzip", "zstd"}},
	} {
		file := filepath.Join(t.TempDir(), "app.tar")
		if err := registry.Write(ctx, img, "docker-archive:"+file+":example.com/app:1", registry.Options{ArchiveCompression: tc.comp}); err != nil {
			t.Fatalf("Write (compression %q): %v", tc.comp, err)
		}
		got, err := tarball.ImageFromPath(file, nil)
		if err != nil {
			t.Fatal(err)
		}
		if c, _ := got.ConfigName(); c != wantCfg {
			t.Errorf("compression %q: config %s, want %s (the image ID must not change)", tc.comp, c, wantCfg)
		}
		gl, err := got.Layers()
		if err != nil || len(gl) != len(wl) {
			t.Fatalf("compression %q: %d layers (%v), want %d", tc.comp, len(gl), err, len(wl))
		}
		for i := range gl {
			if m := magic(t, gl[i]); m != tc.want[i] {
				t.Errorf("compression %q: layer %d is %s, want %s", tc.comp, i, m, tc.want[i])
			}
			wd, _ := wl[i].DiffID()
			rc, err := gl[i].Uncompressed()
			if err != nil {
				t.Fatal(err)
			}
			h, _, err := v1.SHA256(rc)
			rc.Close()
			if err != nil || h != wd {
				t.Errorf("compression %q: layer %d content %s (%v), want diff ID %s", tc.comp, i, h, err, wd)
			}
		}
	}
}
