package layers

import (
	"fmt"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// CachedRootFS returns a directory holding img's flattened root filesystem,
// unpacking it under cacheDir (keyed by the image's digest) the first time.
// The directory must be treated as read-only (use it as an overlay lower
// dir). Concurrent callers are safe: each unpacks aside and the first
// rename wins.
func CachedRootFS(img v1.Image, cacheDir string) (string, error) {
	d, err := img.Digest()
	if err != nil {
		return "", fmt.Errorf("image digest: %w", err)
	}
	dir := filepath.Join(cacheDir, "rootfs", d.Hex)
	if _, err := os.Stat(dir); err == nil {
		return dir, nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return "", fmt.Errorf("creating rootfs cache: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".unpack-")
	if err != nil {
		return "", fmt.Errorf("creating rootfs cache: %w", err)
	}
	rc := mutate.Extract(img)
	err = Extract(rc, tmp)
	rc.Close()
	if err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("unpacking image %s: %w", d, err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	if err := os.Rename(tmp, dir); err != nil {
		os.RemoveAll(tmp)
		if _, serr := os.Stat(dir); serr == nil {
			return dir, nil // another process won the race
		}
		return "", fmt.Errorf("caching unpacked image: %w", err)
	}
	return dir, nil
}

// ExtractLayer unpacks one layer into dir.
func ExtractLayer(l v1.Layer, dir string) error {
	rc, err := l.Uncompressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	return Extract(rc, dir)
}
