package layers_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/crac-build/crac-build/internal/layers"
)

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func sampleTar(t *testing.T) *layers.Tar {
	t.Helper()
	tw := layers.NewTar()
	// Compressible and not: both paths of the compressors.
	if err := tw.AddBytes("/data/text", []byte(strings.Repeat("warm jvm ", 5000)), 0o644); err != nil {
		t.Fatal(err)
	}
	noise := make([]byte, 64<<10)
	for i := range noise {
		noise[i] = byte(i*7919 + i>>3)
	}
	if err := tw.AddBytes("/data/noise", noise, 0o600); err != nil {
		t.Fatal(err)
	}
	return tw
}

func TestLayerRoundTrip(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "")
	want := tarBytes(t, sampleTar(t))
	for _, tc := range []struct {
		c    layers.Compression
		mt   types.MediaType
		ext  string
		opts layers.WriteOptions
	}{
		{layers.Zstd, types.OCILayerZStd, ".zstd", layers.WriteOptions{Compression: layers.Zstd}},
		{layers.Zstd, types.OCILayerZStd, ".zstd", layers.WriteOptions{Compression: layers.Zstd, Level: 19, Parallel: true}},
		{layers.Gzip, types.OCILayer, ".gzip", layers.WriteOptions{Compression: layers.Gzip}},
		{layers.Gzip, types.OCILayer, ".gzip", layers.WriteOptions{Compression: layers.Gzip, Level: 1}},
		{layers.Zstd, types.OCILayerZStd, ".zstd", layers.WriteOptions{}}, // zstd by default
	} {
		t.Run(string(tc.c), func(t *testing.T) {
			dir := t.TempDir()
			l, err := layers.Write(sampleTar(t), dir, tc.opts)
			if err != nil {
				t.Fatalf("Write: %v", err)
			}
			if mt, _ := l.MediaType(); mt != tc.mt {
				t.Errorf("media type %s, want %s", mt, tc.mt)
			}
			blob, err := os.ReadFile(l.Path())
			if err != nil {
				t.Fatal(err)
			}
			d, _ := l.Digest()
			if d.Hex != sha256Hex(blob) {
				t.Errorf("Digest %s is not the blob's sha256 %s", d.Hex, sha256Hex(blob))
			}
			if want := filepath.Join(dir, d.Hex+tc.ext); l.Path() != want {
				t.Errorf("Path = %s, want %s", l.Path(), want)
			}
			if size, _ := l.Size(); size != int64(len(blob)) {
				t.Errorf("Size = %d, blob has %d bytes", size, len(blob))
			}
			if len(blob) >= len(want) {
				t.Errorf("compressed %d bytes into %d", len(want), len(blob))
			}
			rc, err := l.Compressed()
			if err != nil {
				t.Fatal(err)
			}
			cb, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || !bytes.Equal(cb, blob) {
				t.Errorf("Compressed() differs from the blob file (err %v)", err)
			}

			rc, err = l.Uncompressed()
			if err != nil {
				t.Fatalf("Uncompressed: %v", err)
			}
			got, err := io.ReadAll(rc)
			if err != nil {
				t.Fatalf("reading Uncompressed: %v", err)
			}
			if err := rc.Close(); err != nil {
				t.Errorf("closing Uncompressed: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Uncompressed() gives %d bytes that differ from the tar's %d", len(got), len(want))
			}
			id, _ := l.DiffID()
			if id.Hex != sha256Hex(want) {
				t.Errorf("DiffID %s is not the tar's sha256 %s", id.Hex, sha256Hex(want))
			}
			if l.RawSize() != int64(len(want)) {
				t.Errorf("RawSize = %d, want %d", l.RawSize(), len(want))
			}
			left, _ := filepath.Glob(filepath.Join(dir, "*.tmp"))
			if len(left) > 0 {
				t.Errorf("temporary files left: %v", left)
			}
		})
	}
}

func TestWriteFailureLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	host := filepath.Join(t.TempDir(), "x")
	writeFile(t, host, "x", 0o644)
	tw := layers.NewTar()
	if err := tw.AddHost(host, "/x"); err != nil {
		t.Fatal(err)
	}
	// The host file is gone by the time the layer is written.
	if err := os.Remove(host); err != nil {
		t.Fatal(err)
	}
	if _, err := layers.Write(tw, dir, layers.WriteOptions{}); err == nil {
		t.Fatal("Write succeeded without its host file")
	}
	if _, err := layers.Write(sampleTar(t), dir, layers.WriteOptions{Compression: "xz"}); err == nil {
		t.Error("Write with compression xz succeeded")
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 0 {
		t.Errorf("failed writes left %d files in the dir", len(ents))
	}
}

// Reading a layer must not leave decompressor goroutines behind: builds
// read layers in a loop.
func TestUncompressedCloseReleases(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("with one CPU the zstd decoder runs without goroutines")
	}
	// Many zstd blocks (128 KiB each): more than the decoder's output
	// channel holds, so its goroutines wait for a reader.
	tw := layers.NewTar()
	big := make([]byte, 4<<20)
	for i := range big {
		big[i] = byte(i ^ i>>9 ^ i>>17)
	}
	if err := tw.AddBytes("/big", big, 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := layers.Write(tw, t.TempDir(), layers.WriteOptions{Compression: layers.Zstd})
	if err != nil {
		t.Fatal(err)
	}
	readAll := func() {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		// Read only part, as a tar reader that stops early would.
		if _, err := io.CopyN(io.Discard, rc, 1000); err != nil {
			t.Fatal(err)
		}
		if err := rc.Close(); err != nil {
			t.Fatal(err)
		}
	}
	readAll()
	runtime.GC()
	before := runtime.NumGoroutine()
	const n = 50
	for i := 0; i < n; i++ {
		readAll()
	}
	var after int
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		runtime.GC()
		if after = runtime.NumGoroutine(); after < before+n/2 {
			return
		}
	}
	t.Errorf("%d goroutines before %d reads, %d after: the decoder is not released on Close", before, n, after)
}
