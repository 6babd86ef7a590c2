package secrets

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// MaxSize bounds a secret file. Secrets are passwords, tokens and keys;
// BuildKit's limit is 500 KB. A bigger file is more likely a mistake, and
// every byte of it must be searched for in the whole checkpoint.
const MaxSize = 1 << 20

// Secret is one --secret ID=FILE of a build.
type Secret struct {
	ID   string
	File string
}

var validID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// Parse parses "ID=FILE". The ID names the file in the sandbox
// (/run/secrets/ID), so it is one path element.
func Parse(s string) (Secret, error) {
	id, file, ok := strings.Cut(s, "=")
	if !ok || id == "" || file == "" {
		return Secret{}, fmt.Errorf("--secret %q: want ID=FILE", s)
	}
	if !validID.MatchString(id) {
		return Secret{}, fmt.Errorf("--secret %q: the ID must be letters, digits, '.', '_' or '-' (it names a file)", s)
	}
	fi, err := os.Stat(file)
	if err != nil {
		return Secret{}, fmt.Errorf("--secret %s: %w", id, err)
	}
	if !fi.Mode().IsRegular() {
		return Secret{}, fmt.Errorf("--secret %s: %s is not a regular file", id, file)
	}
	if fi.Size() > MaxSize {
		return Secret{}, fmt.Errorf("--secret %s: %s has %d bytes, more than a secret's limit of %d", id, file, fi.Size(), MaxSize)
	}
	return Secret{ID: id, File: file}, nil
}

// Values are secrets' contents, kept in memory for the scan of a
// checkpoint.
type Values struct {
	m map[string][]byte
}

// Load reads every secret's file. IDs must be unique and files no bigger
// than MaxSize.
func Load(list []Secret) (*Values, error) {
	v := &Values{m: map[string][]byte{}}
	for _, sec := range list {
		if _, dup := v.m[sec.ID]; dup {
			v.Clear()
			return nil, fmt.Errorf("--secret %s given twice", sec.ID)
		}
		b, err := os.ReadFile(sec.File)
		if err == nil && len(b) > MaxSize {
			err = fmt.Errorf("%d bytes, more than a secret's limit of %d", len(b), MaxSize)
		}
		if err != nil {
			v.Clear()
			return nil, fmt.Errorf("reading secret %s: %w", sec.ID, err)
		}
		v.m[sec.ID] = b
	}
	return v, nil
}

// IDs returns the secrets' IDs, sorted.
func (v *Values) IDs() []string {
	var ids []string
	for id := range v.m {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Value returns a secret's content.
func (v *Values) Value(id string) []byte { return v.m[id] }

// Clear overwrites the contents and forgets them.
func (v *Values) Clear() {
	for id, b := range v.m {
		clear(b)
		delete(v.m, id)
	}
}

// Staged secrets are copies on a tmpfs of their own, ready to be
// bind-mounted read-only at contract.SecretsDir in the sandbox. Their
// values stay in memory for the scan.
type Staged struct {
	// Dir is the tmpfs mount point holding one file per ID.
	Dir string
	*Values
	mounted bool
}

// Stage mounts a tmpfs at dir (created, mode 0700 on the host side) and
// copies every secret into it as a read-only file named after its ID. The
// tmpfs keeps the copies off the disk; Close unmounts it, and the copies
// are gone.
func Stage(dir string, list []Secret) (_ *Staged, err error) {
	v, err := Load(list)
	if err != nil {
		return nil, err
	}
	s := &Staged{Dir: dir, Values: v}
	defer func() {
		if err != nil {
			_ = s.Close()
		}
	}()
	var total int64
	for _, b := range v.m {
		total += int64(len(b))
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating secrets dir %s: %w", dir, err)
	}
	// Room for the files plus a page each; the mode is that of
	// /run/secrets in the sandbox.
	opts := fmt.Sprintf("mode=0755,size=%d", total+int64(len(list)+1)*4096)
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, opts); err != nil {
		return nil, fmt.Errorf("mounting a tmpfs for the build secrets at %s: %w", dir, err)
	}
	s.mounted = true
	for _, id := range s.IDs() {
		// 0400, owned by root, as BuildKit's secret mounts.
		if err := os.WriteFile(filepath.Join(dir, id), s.Value(id), 0o400); err != nil {
			return nil, fmt.Errorf("staging secret %s: %w", id, err)
		}
	}
	return s, nil
}

// Close unmounts the tmpfs (its files vanish with it) and removes Dir.
func (s *Staged) Close() error {
	var errs []error
	if s.mounted {
		if err := unix.Unmount(s.Dir, 0); err != nil {
			// Busy (a process still has it open): detach it, the
			// kernel frees it when the last user goes.
			if err2 := unix.Unmount(s.Dir, unix.MNT_DETACH); err2 != nil {
				errs = append(errs, fmt.Errorf("unmounting secrets tmpfs %s: %w", s.Dir, err))
			}
		}
		s.mounted = false
	}
	if err := os.RemoveAll(s.Dir); err != nil {
		errs = append(errs, err)
	}
	s.Clear()
	return errors.Join(errs...)
}

// trimmed is the value a program most likely keeps: files usually end in a
// newline that the program strips when it reads them.
func trimmed(v []byte) []byte { return bytes.TrimSpace(v) }
