package layers_test

import (
	"archive/tar"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/crac-build/crac-build/internal/layers"
)

func mkfifo(p string) error { return unix.Mkfifo(p, 0o644) }

// setOpaque marks dir as an overlayfs opaque dir, with the trusted xattr
// the kernel writes as root, or else the user one of unprivileged overlays.
func setOpaque(t *testing.T, dir string) {
	t.Helper()
	err := unix.Setxattr(dir, "trusted.overlay.opaque", []byte("y"), 0)
	if err == nil {
		return
	}
	if err2 := unix.Setxattr(dir, "user.overlay.opaque", []byte("y"), 0); err2 != nil {
		t.Skipf("cannot set an overlay opaque xattr here: trusted: %v, user: %v", err, err2)
	}
}

// makeUpper builds what overlayfs leaves in an upper dir after a container
// ran: a deletion, an opaque dir, new files with the application's owners.
func makeUpper(t *testing.T) (string, time.Time) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("an overlay upper dir with whiteouts and owners needs root (mknod, chown)")
	}
	upper := t.TempDir()
	mtime := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

	// A deleted file: a 0/0 character device.
	if err := unix.Mknod(filepath.Join(upper, "deleted"), unix.S_IFCHR|0o000, 0); err != nil {
		if errors.Is(err, unix.EPERM) {
			t.Skipf("mknod of a whiteout: %v", err)
		}
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(upper, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mknod(filepath.Join(upper, "etc", "gone.conf"), unix.S_IFCHR|0o000, 0); err != nil {
		t.Fatal(err)
	}

	// A dir removed and made anew: opaque, with new content.
	writeFile(t, filepath.Join(upper, "var/cache/new.bin"), "new", 0o644)
	setOpaque(t, filepath.Join(upper, "var/cache"))

	// A file the application wrote, with its owner, mode and time.
	conf := filepath.Join(upper, "etc", "app.conf")
	writeFile(t, conf, "key=value\n", 0o640)
	if err := os.Chown(conf, 1234, 5678); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(conf, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	tool := filepath.Join(upper, "usr/local/bin/tool")
	writeFile(t, tool, "#!/bin/sh\n", 0o755)
	if err := unix.Chmod(tool, 0o4755); err != nil {
		t.Fatal(err)
	}

	if err := os.Symlink("/etc/app.conf", filepath.Join(upper, "etc", "link.conf")); err != nil {
		t.Fatal(err)
	}
	if err := mkfifo(filepath.Join(upper, "etc", "fifo")); err != nil {
		t.Fatal(err)
	}

	// What the sandbox made, which the layer must leave out.
	writeFile(t, filepath.Join(upper, "proc/self/status"), "x", 0o644)
	writeFile(t, filepath.Join(upper, "tmp/.java_pid42"), "", 0o600)
	writeFile(t, filepath.Join(upper, "tmp/kept"), "kept", 0o600)
	return upper, mtime
}

func TestAddUpper(t *testing.T) {
	upper, mtime := makeUpper(t)
	skip := func(rel string) bool { return rel == "proc" || rel == "tmp/.java_pid42" }
	tw := layers.NewTar()
	if err := tw.AddUpper(upper, skip); err != nil {
		t.Fatalf("AddUpper: %v", err)
	}
	es := readTar(t, bytes.NewReader(tarBytes(t, tw)))
	got := names(es)
	want := []string{
		".wh.deleted",
		"etc/",
		"etc/.wh.gone.conf",
		"etc/app.conf",
		"etc/fifo",
		"etc/link.conf",
		"tmp/",
		"tmp/kept",
		"usr/",
		"usr/local/",
		"usr/local/bin/",
		"usr/local/bin/tool",
		"var/",
		"var/cache/",
		"var/cache/.wh..wh..opq",
		"var/cache/new.bin",
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("entries (-got +want):\n%s", diff)
	}
	m := byName(es)
	for _, n := range []string{".wh.deleted", "etc/.wh.gone.conf", "var/cache/.wh..wh..opq"} {
		if h := m[n].hdr; h != nil && (h.Typeflag != tar.TypeReg || h.Size != 0) {
			t.Errorf("%s: type %c size %d, want an empty regular file", n, h.Typeflag, h.Size)
		}
	}
	if e, ok := m["etc/app.conf"]; ok {
		h := e.hdr
		if h.Uid != 1234 || h.Gid != 5678 || h.Mode != 0o640 || !h.ModTime.Equal(mtime) || e.data != "key=value\n" {
			t.Errorf("etc/app.conf: %d:%d mode %o mtime %v data %q, want 1234:5678 mode 640 mtime %v and its content",
				h.Uid, h.Gid, h.Mode, h.ModTime, e.data, mtime)
		}
	}
	if h := m["usr/local/bin/tool"].hdr; h != nil && h.Mode != 0o4755 {
		t.Errorf("setuid tool has mode %o, want 4755", h.Mode)
	}
	if h := m["etc/link.conf"].hdr; h != nil && (h.Typeflag != tar.TypeSymlink || h.Linkname != "/etc/app.conf") {
		t.Errorf("etc/link.conf: type %c link %q, want a symlink to /etc/app.conf", h.Typeflag, h.Linkname)
	}
	if h := m["etc/fifo"].hdr; h != nil && h.Typeflag != tar.TypeFifo {
		t.Errorf("etc/fifo: type %c, want a fifo", h.Typeflag)
	}
}

func TestAddUpperNoSkip(t *testing.T) {
	upper, _ := makeUpper(t)
	tw := layers.NewTar()
	if err := tw.AddUpper(upper, nil); err != nil {
		t.Fatalf("AddUpper: %v", err)
	}
	m := byName(readTar(t, bytes.NewReader(tarBytes(t, tw))))
	for _, n := range []string{"proc/self/status", "tmp/.java_pid42"} {
		if _, ok := m[n]; !ok {
			t.Errorf("without skip, %s is missing", n)
		}
	}
}

// An upper dir's layer applied on the lower dir gives what the container
// saw: the overlay's merged view.
func TestAddUpperExtractsAsMerged(t *testing.T) {
	upper, _ := makeUpper(t)
	lower := t.TempDir()
	writeFile(t, filepath.Join(lower, "deleted"), "old", 0o644)
	writeFile(t, filepath.Join(lower, "etc/gone.conf"), "old", 0o644)
	writeFile(t, filepath.Join(lower, "etc/other.conf"), "stays", 0o644)
	writeFile(t, filepath.Join(lower, "var/cache/old.bin"), "old", 0o644)

	tw := layers.NewTar()
	if err := tw.AddUpper(upper, func(rel string) bool { return rel == "proc" }); err != nil {
		t.Fatal(err)
	}
	if err := layers.Extract(bytes.NewReader(tarBytes(t, tw)), lower); err != nil {
		t.Fatalf("Extract: %v", err)
	}
	for _, p := range []string{"deleted", "etc/gone.conf", "var/cache/old.bin", "var/cache/.wh..wh..opq", ".wh.deleted"} {
		if _, err := os.Lstat(filepath.Join(lower, p)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: %v, want it gone", p, err)
		}
	}
	for p, want := range map[string]string{"etc/other.conf": "stays", "var/cache/new.bin": "new", "etc/app.conf": "key=value\n"} {
		if b, err := os.ReadFile(filepath.Join(lower, p)); err != nil || string(b) != want {
			t.Errorf("%s: %q, %v, want %q", p, b, err, want)
		}
	}
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(lower, "etc/app.conf"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Uid != 1234 || st.Gid != 5678 || st.Mode&0o7777 != 0o640 {
		t.Errorf("etc/app.conf extracted as %d:%d mode %o, want 1234:5678 mode 640", st.Uid, st.Gid, st.Mode&0o7777)
	}
}

// Whiteouts hide what lower layers hold, never what their own layer holds
// (OCI image-spec, layer.md "Whiteouts"). Sorted, a name below '.' ("-x",
// "#x", "+x") comes before the opaque marker of its dir.
func TestExtractOpaqueKeepsItsOwnLayer(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("trusted xattrs need root")
	}
	upper := t.TempDir()
	writeFile(t, filepath.Join(upper, "cache/-new"), "new", 0o644)
	writeFile(t, filepath.Join(upper, "cache/new"), "new", 0o644)
	setOpaque(t, filepath.Join(upper, "cache"))
	tw := layers.NewTar()
	if err := tw.AddUpper(upper, nil); err != nil {
		t.Fatal(err)
	}
	lower := t.TempDir()
	writeFile(t, filepath.Join(lower, "cache/old"), "old", 0o644)
	if err := layers.Extract(bytes.NewReader(tarBytes(t, tw)), lower); err != nil {
		t.Fatal(err)
	}
	var got []string
	ents, _ := os.ReadDir(filepath.Join(lower, "cache"))
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if diff := cmp.Diff(got, []string{"-new", "new"}); diff != "" {
		t.Errorf("cache after the layer (-got +want):\n%s", diff)
	}
}
