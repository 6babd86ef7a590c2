package layers

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Entry is one tar entry. Content comes from HostPath (a regular file on
// the host) or from Data.
type Entry struct {
	Header   tar.Header
	HostPath string
	Data     []byte
}

// Tar collects entries and writes them as a tar in sorted order. Parent
// directories are added explicitly (root-owned, 0755) where missing.
type Tar struct {
	entries map[string]*Entry
	// ModTime is the time of entries added without one of their own:
	// SOURCE_DATE_EPOCH by default, else the Unix epoch.
	ModTime time.Time
}

// NewTar returns an empty Tar whose fixed time is SourceDateEpoch().
func NewTar() *Tar {
	return &Tar{entries: map[string]*Entry{}, ModTime: SourceDateEpoch()}
}

// SourceDateEpoch returns the time in $SOURCE_DATE_EPOCH, or the epoch.
func SourceDateEpoch() time.Time {
	if v := os.Getenv("SOURCE_DATE_EPOCH"); v != "" {
		var sec int64
		if _, err := fmt.Sscanf(v, "%d", &sec); err == nil {
			return time.Unix(sec, 0).UTC()
		}
	}
	return time.Unix(0, 0).UTC()
}

func clean(name string) (string, error) {
	n := path.Clean("/" + filepath.ToSlash(name))
	if n == "/" {
		return "", fmt.Errorf("invalid path %q in layer", name)
	}
	return strings.TrimPrefix(n, "/"), nil
}

func (t *Tar) put(e *Entry) error {
	n, err := clean(e.Header.Name)
	if err != nil {
		return err
	}
	if e.Header.Typeflag == tar.TypeDir {
		n += "/"
	}
	e.Header.Name = n
	key := strings.TrimSuffix(n, "/")
	t.entries[key] = e
	return nil
}

// reproducible normalises a header for a reproducible layer.
func (t *Tar) reproducible(h *tar.Header) {
	h.Uid, h.Gid, h.Uname, h.Gname = 0, 0, "", ""
	h.ModTime, h.AccessTime, h.ChangeTime = t.ModTime, time.Time{}, time.Time{}
	h.Format = tar.FormatPAX
	h.PAXRecords = nil
	h.Xattrs = nil //nolint:staticcheck // cleared on purpose
}

// AddBytes adds a regular file with the given content and mode.
func (t *Tar) AddBytes(name string, data []byte, mode int64) error {
	h := tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: mode, Size: int64(len(data))}
	t.reproducible(&h)
	return t.put(&Entry{Header: h, Data: data})
}

// AddDir adds an empty directory.
func (t *Tar) AddDir(name string, mode int64) error {
	h := tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: mode}
	t.reproducible(&h)
	return t.put(&Entry{Header: h})
}

// AddHost adds a host file or directory tree at dest, reproducibly: the
// contents and permission bits come from the host, owners and times do not.
// Symlinks are kept as symlinks.
func (t *Tar) AddHost(src, dest string) error {
	fi, err := os.Lstat(src)
	if err != nil {
		return fmt.Errorf("adding %s: %w", src, err)
	}
	if !fi.IsDir() {
		return t.addHostOne(src, dest, fi)
	}
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("adding %s: %w", p, err)
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return fmt.Errorf("adding %s: %w", p, err)
		}
		return t.addHostOne(p, path.Join(dest, filepath.ToSlash(rel)), fi)
	})
}

func (t *Tar) addHostOne(src, dest string, fi fs.FileInfo) error {
	h := tar.Header{Name: dest, Mode: int64(fi.Mode().Perm())}
	e := &Entry{}
	switch {
	case fi.Mode().IsRegular():
		h.Typeflag, h.Size = tar.TypeReg, fi.Size()
		e.HostPath = src
	case fi.IsDir():
		h.Typeflag = tar.TypeDir
	case fi.Mode()&fs.ModeSymlink != 0:
		target, err := os.Readlink(src)
		if err != nil {
			return fmt.Errorf("adding %s: %w", src, err)
		}
		h.Typeflag, h.Linkname = tar.TypeSymlink, target
	default:
		return fmt.Errorf("adding %s: unsupported file type %s", src, fi.Mode().Type())
	}
	t.reproducible(&h)
	e.Header = h
	return t.put(e)
}

// AddEntry adds an entry as it is (not normalised): for container diffs,
// whose owners and times belong to the application.
func (t *Tar) AddEntry(e Entry) error {
	return t.put(&e)
}

// EstimatedSize is about the size of the tar WriteTo writes: a header
// block per entry, the contents padded to blocks, the end marker. Parents
// that WriteTo adds and long names' PAX records are not counted.
func (t *Tar) EstimatedSize() int64 {
	const block = 512
	n := int64(2 * block)
	for _, e := range t.entries {
		n += block + (e.Header.Size+block-1)/block*block
	}
	return n
}

// Len returns the number of entries.
func (t *Tar) Len() int { return len(t.entries) }

// WriteTo writes the tar: entries sorted by name, each directory's missing
// parents first.
func (t *Tar) WriteTo(w io.Writer) (int64, error) {
	// Fill in missing parents.
	for key := range t.entries {
		for dir := path.Dir(key); dir != "." && dir != "/"; dir = path.Dir(dir) {
			if _, ok := t.entries[dir]; ok {
				continue
			}
			h := tar.Header{Name: dir + "/", Typeflag: tar.TypeDir, Mode: 0o755}
			t.reproducible(&h)
			t.entries[dir] = &Entry{Header: h}
		}
	}
	keys := make([]string, 0, len(t.entries))
	for k := range t.entries {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	cw := &countWriter{w: w}
	tw := tar.NewWriter(cw)
	for _, k := range keys {
		e := t.entries[k]
		h := e.Header
		if err := tw.WriteHeader(&h); err != nil {
			return cw.n, fmt.Errorf("writing tar header %s: %w", h.Name, err)
		}
		if h.Typeflag != tar.TypeReg || h.Size == 0 {
			continue
		}
		var r io.Reader
		if e.HostPath != "" {
			f, err := os.Open(e.HostPath)
			if err != nil {
				return cw.n, fmt.Errorf("reading %s: %w", e.HostPath, err)
			}
			r = io.LimitReader(f, h.Size)
			n, err := io.Copy(tw, r)
			f.Close()
			if err != nil {
				return cw.n, fmt.Errorf("writing %s: %w", h.Name, err)
			}
			if n != h.Size {
				return cw.n, fmt.Errorf("writing %s: %s changed size while being read", h.Name, e.HostPath)
			}
			continue
		}
		if _, err := io.Copy(tw, bytes.NewReader(e.Data)); err != nil {
			return cw.n, fmt.Errorf("writing %s: %w", h.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return cw.n, err
	}
	return cw.n, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
