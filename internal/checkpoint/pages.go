package checkpoint

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/crac-build/crac-build/internal/contract"
)

// zeroReliantAllocators are native allocators that count on memory reading
// back as zeros after madvise(MADV_DONTNEED): jemalloc marks a purged
// extent zeroed and then hands it to calloc() without clearing it. Under a
// direct-mapped restore the pages of an area refill from the pages image
// instead (see docs/restore-speed.md), so calloc() could return old data.
// The marker is a string every jemalloc build carries in its messages, so
// a copy linked statically into a JNI library is found too.
var zeroReliantAllocators = []struct{ name, marker string }{
	{"jemalloc", "<jemalloc>"},
}

// PagesPolicy decides whether a restore may map the checkpoint's pages
// (contract.Pages) from the files the process had mapped: not when one of
// them is, or contains, an allocator that relies on zero-fill after
// MADV_DONTNEED. glibc's malloc and HotSpot (every collector, metaspace,
// code cache, thread stacks) do not; the patched CRIU keeps the areas
// where a file mapping behaves differently anyway (stacks, brk, shared and
// special areas) anonymous. root is where the paths are found ("/" inside
// the sandbox).
func PagesPolicy(root string, files []contract.OpenFile) *contract.Pages {
	for _, f := range files {
		if !f.Mapped {
			continue
		}
		for _, a := range zeroReliantAllocators {
			if strings.Contains(filepath.Base(f.Path), a.name) {
				return &contract.Pages{Reason: fmt.Sprintf("%s (%s) relies on zero-filled memory after MADV_DONTNEED", a.name, f.Path)}
			}
			if ok, _ := elfContains(filepath.Join(root, f.Path), []byte(a.marker)); ok {
				return &contract.Pages{Reason: fmt.Sprintf("%s holds %s, which relies on zero-filled memory after MADV_DONTNEED", f.Path, a.name)}
			}
		}
	}
	return &contract.Pages{Map: true}
}

// elfContains reports whether the file at path is an ELF object that
// contains marker (jars, the JDK's modules image and archives are skipped).
func elfContains(path string, marker []byte) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	var magic [4]byte
	if _, err := io.ReadFull(f, magic[:]); err != nil || string(magic[:]) != "\x7fELF" {
		return false, err
	}
	const chunk = 1 << 20
	buf := make([]byte, chunk+len(marker))
	carry := 0
	for {
		n, err := io.ReadFull(f, buf[carry:])
		if bytes.Contains(buf[:carry+n], marker) {
			return true, nil
		}
		if err != nil {
			return false, nil
		}
		carry = copy(buf, buf[carry+n-len(marker)+1:carry+n])
	}
}
