package checkpoint

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crac-build/crac-build/internal/contract"
)

func TestPagesPolicy(t *testing.T) {
	root := t.TempDir()
	write := func(rel string, content []byte) {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	elf := func(body string) []byte { return append([]byte("\x7fELF"), body...) }
	// The marker straddles the 1 MiB read boundary of elfContains.
	big := strings.Repeat("x", 1<<20-6) + "<jemalloc>: tail"
	write("lib/libjvm.so", elf(strings.Repeat("y", 3<<20)))
	write("lib/librocksdbjni.so", elf(big))
	write("app/notes.txt", []byte("<jemalloc> in a file that is not an object"))
	write("usr/lib/libjemalloc.so.2", elf("whatever"))

	cases := []struct {
		name   string
		files  []contract.OpenFile
		mapped bool
		reason string
	}{
		{"glibc and HotSpot only", []contract.OpenFile{{Path: "/lib/libjvm.so", Mapped: true}}, true, ""},
		{"jemalloc preloaded", []contract.OpenFile{{Path: "/lib/libjvm.so", Mapped: true}, {Path: "/usr/lib/libjemalloc.so.2", Mapped: true}}, false, "libjemalloc.so.2"},
		{"jemalloc linked into a JNI library", []contract.OpenFile{{Path: "/lib/librocksdbjni.so", Mapped: true}}, false, "librocksdbjni.so holds jemalloc"},
		{"open, not mapped", []contract.OpenFile{{Path: "/usr/lib/libjemalloc.so.2"}}, true, ""},
		{"marker outside an ELF object", []contract.OpenFile{{Path: "/app/notes.txt", Mapped: true}}, true, ""},
		{"missing file", []contract.OpenFile{{Path: "/gone.so", Mapped: true}}, true, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := PagesPolicy(root, c.files)
			if p.Map != c.mapped || !strings.Contains(p.Reason, c.reason) || (c.mapped && p.Reason != "") {
				t.Errorf("PagesPolicy = %+v, want map=%v reason containing %q", p, c.mapped, c.reason)
			}
		})
	}
}
