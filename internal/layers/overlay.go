package layers

import (
	"archive/tar"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Whiteout names of the OCI image layer format.
const (
	whiteoutPrefix = ".wh."
	whiteoutOpaque = ".wh..wh..opq"
)

// AddUpper adds the changes recorded in an overlayfs upper dir, as `docker
// commit` would: files and dirs as they are (owners, modes and times kept),
// deletions (0/0 char devices) as whiteout files, opaque dirs with an
// opaque marker. skip, if set, leaves out paths (relative, slash-separated)
// and everything under them. Sockets are left out: a tar cannot hold them.
func (t *Tar) AddUpper(upper string, skip func(rel string) bool) error {
	return filepath.WalkDir(upper, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("reading container diff %s: %w", p, err)
		}
		rel, err := filepath.Rel(upper, p)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		if skip != nil && skip(rel) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return fmt.Errorf("reading container diff %s: %w", p, err)
		}
		st, _ := fi.Sys().(*syscall.Stat_t)
		h := tar.Header{
			Name:    rel,
			Mode:    int64(fi.Mode().Perm()),
			ModTime: fi.ModTime().Truncate(time.Second),
			Format:  tar.FormatPAX,
		}
		if fi.Mode()&fs.ModeSetuid != 0 {
			h.Mode |= 0o4000
		}
		if fi.Mode()&fs.ModeSetgid != 0 {
			h.Mode |= 0o2000
		}
		if fi.Mode()&fs.ModeSticky != 0 {
			h.Mode |= 0o1000
		}
		if st != nil {
			h.Uid, h.Gid = int(st.Uid), int(st.Gid)
		}
		e := Entry{}
		switch {
		case fi.Mode()&fs.ModeCharDevice != 0 && st != nil && st.Rdev == 0:
			// overlayfs whiteout: the file was deleted.
			wh := tar.Header{Name: path.Join(path.Dir(rel), whiteoutPrefix+path.Base(rel)), Typeflag: tar.TypeReg, ModTime: h.ModTime, Format: tar.FormatPAX}
			return t.AddEntry(Entry{Header: wh})
		case fi.Mode().IsRegular():
			h.Typeflag, h.Size = tar.TypeReg, fi.Size()
			e.HostPath = p
		case fi.IsDir():
			h.Typeflag = tar.TypeDir
			if isOpaque(p) {
				wh := tar.Header{Name: path.Join(rel, whiteoutOpaque), Typeflag: tar.TypeReg, ModTime: h.ModTime, Format: tar.FormatPAX}
				if err := t.AddEntry(Entry{Header: wh}); err != nil {
					return err
				}
			}
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			h.Typeflag, h.Linkname = tar.TypeSymlink, target
		case fi.Mode()&fs.ModeNamedPipe != 0:
			h.Typeflag = tar.TypeFifo
		case fi.Mode()&fs.ModeDevice != 0 && st != nil:
			h.Typeflag = tar.TypeBlock
			if fi.Mode()&fs.ModeCharDevice != 0 {
				h.Typeflag = tar.TypeChar
			}
			h.Devmajor, h.Devminor = int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
		default:
			return nil // sockets
		}
		e.Header = h
		return t.AddEntry(e)
	})
}

func isOpaque(dir string) bool {
	buf := make([]byte, 4)
	for _, name := range []string{"trusted.overlay.opaque", "user.overlay.opaque"} {
		n, err := unix.Lgetxattr(dir, name, buf)
		if err == nil && n > 0 && buf[0] == 'y' {
			return true
		}
	}
	return false
}
