package layers

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	"golang.org/x/sys/unix"
)

// Extract unpacks a tar stream into dir as root would: owners, modes,
// times, symlinks, hard links and device nodes are kept. Every path is
// resolved inside dir (symlinks in the archive cannot point writes outside
// it). OCI whiteouts delete what earlier entries (or dir) hold.
func Extract(r io.Reader, dir string) error {
	tr := tar.NewReader(r)
	type dirTime struct {
		path string
		t    time.Time
	}
	var dirs []dirTime
	// written holds the paths this layer wrote: an opaque marker hides only
	// what lower layers (or dir) held, not entries of its own layer.
	written := map[string]bool{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("reading layer: %w", err)
		}
		name := path.Clean("/" + h.Name)
		if name == "/" {
			continue
		}
		base := path.Base(name)
		if strings.HasPrefix(base, whiteoutPrefix) {
			parent, err := securejoin.SecureJoin(dir, path.Dir(name))
			if err != nil {
				return err
			}
			if base == whiteoutOpaque {
				removeUnwritten(parent, path.Dir(name), written)
				continue
			}
			victim := strings.TrimPrefix(base, whiteoutPrefix)
			if victim == "" || victim == "." || victim == ".." || strings.Contains(victim, "/") {
				return fmt.Errorf("invalid whiteout %q in layer", h.Name)
			}
			_ = os.RemoveAll(filepath.Join(parent, victim))
			continue
		}
		written[name] = true
		parent, err := securejoin.SecureJoin(dir, path.Dir(name))
		if err != nil {
			return fmt.Errorf("resolving %s: %w", h.Name, err)
		}
		if err := os.MkdirAll(parent, 0o755); err != nil {
			return fmt.Errorf("extracting %s: %w", h.Name, err)
		}
		target := filepath.Join(parent, base)
		if h.Typeflag != tar.TypeDir {
			if fi, err := os.Lstat(target); err == nil && !(fi.IsDir() && h.Typeflag == tar.TypeDir) {
				if err := os.RemoveAll(target); err != nil {
					return fmt.Errorf("replacing %s: %w", h.Name, err)
				}
			}
		}
		mode := uint32(h.Mode & 0o7777)
		switch h.Typeflag {
		case tar.TypeDir:
			if fi, err := os.Lstat(target); err != nil || !fi.IsDir() {
				_ = os.RemoveAll(target)
				if err := os.Mkdir(target, 0o700); err != nil {
					return fmt.Errorf("extracting %s: %w", h.Name, err)
				}
			}
			dirs = append(dirs, dirTime{target, h.ModTime})
		case tar.TypeReg, tar.TypeRegA: //nolint:staticcheck // old archives use TypeRegA
			f, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
			if err != nil {
				return fmt.Errorf("extracting %s: %w", h.Name, err)
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("extracting %s: %w", h.Name, err)
			}
		case tar.TypeSymlink:
			if err := os.Symlink(h.Linkname, target); err != nil {
				return fmt.Errorf("extracting %s: %w", h.Name, err)
			}
		case tar.TypeLink:
			src, err := securejoin.SecureJoin(dir, path.Clean("/"+h.Linkname))
			if err != nil {
				return fmt.Errorf("resolving link %s: %w", h.Linkname, err)
			}
			if err := os.Link(src, target); err != nil {
				return fmt.Errorf("extracting %s: %w", h.Name, err)
			}
			continue // a hard link shares the target's metadata
		case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
			m := mode
			switch h.Typeflag {
			case tar.TypeChar:
				m |= unix.S_IFCHR
			case tar.TypeBlock:
				m |= unix.S_IFBLK
			default:
				m |= unix.S_IFIFO
			}
			if err := unix.Mknod(target, m, int(unix.Mkdev(uint32(h.Devmajor), uint32(h.Devminor)))); err != nil {
				return fmt.Errorf("extracting %s: %w", h.Name, err)
			}
		default:
			continue // xattr-only and other entries carry nothing to write
		}
		if err := os.Lchown(target, h.Uid, h.Gid); err != nil && !errors.Is(err, unix.EPERM) {
			return fmt.Errorf("chown %s: %w", h.Name, err)
		}
		if h.Typeflag != tar.TypeSymlink {
			if err := unix.Chmod(target, mode); err != nil {
				return fmt.Errorf("chmod %s: %w", h.Name, err)
			}
			if h.Typeflag != tar.TypeDir {
				_ = os.Chtimes(target, h.ModTime, h.ModTime)
			}
		} else {
			ts := []unix.Timespec{unix.NsecToTimespec(h.ModTime.UnixNano()), unix.NsecToTimespec(h.ModTime.UnixNano())}
			_ = unix.UtimesNanoAt(unix.AT_FDCWD, target, ts, unix.AT_SYMLINK_NOFOLLOW)
		}
	}
	// Directory times last: extracting into them changed them.
	for i := len(dirs) - 1; i >= 0; i-- {
		_ = os.Chtimes(dirs[i].path, dirs[i].t, dirs[i].t)
	}
	return nil
}

// removeUnwritten deletes what dir (the layer path rel) holds that the
// current layer did not write, keeping its own entries and their parents.
func removeUnwritten(dir, rel string, written map[string]bool) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		childRel := path.Join(rel, e.Name())
		child := filepath.Join(dir, e.Name())
		if !written[childRel] {
			_ = os.RemoveAll(child)
			continue
		}
		if e.IsDir() {
			removeUnwritten(child, childRel, written)
		}
	}
}
