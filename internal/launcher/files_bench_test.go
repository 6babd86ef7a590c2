package launcher

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/crac-build/crac-build/internal/contract"
)

// jdkFiles describes what a JVM of the host's JDK maps, as the builder
// records it: the files the launcher checks before every restore.
func jdkFiles(b *testing.B) *contract.Metadata {
	b.Helper()
	home := "/usr/lib/jvm/java-17-openjdk-amd64"
	var paths []string
	for _, p := range []string{"bin/java", "lib/modules", "lib/server/libjvm.so", "lib/server/classes.jsa",
		"lib/libjava.so", "lib/libjimage.so", "lib/libjli.so", "lib/libnet.so", "lib/libnio.so", "lib/libzip.so",
		"lib/libjsvml.so", "lib/libmanagement.so", "lib/libextnet.so"} {
		paths = append(paths, filepath.Join(home, p))
	}
	libs, _ := filepath.Glob("/usr/lib/x86_64-linux-gnu/lib[cm].so.6")
	paths = append(paths, libs...)
	if p, err := filepath.EvalSymlinks("/usr/lib/x86_64-linux-gnu/libstdc++.so.6"); err == nil {
		paths = append(paths, p)
	}
	m := &contract.Metadata{}
	var total int64
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			b.Skipf("no JDK 17 here: %v", err)
		}
		sum, err := contract.FileSHA256(p)
		if err != nil {
			b.Fatal(err)
		}
		f := contract.OpenFile{Path: p, Size: fi.Size(), Mode: uint32(fi.Mode().Perm()), SHA256: sum}
		mtime := fi.ModTime().Unix()
		f.MTime = &mtime
		if f.Fingerprint, err = contract.Fingerprint(p); err != nil {
			b.Fatal(err)
		}
		total += f.Size
		m.OpenFiles = append(m.OpenFiles, f)
	}
	b.SetBytes(total)
	return m
}

// BenchmarkCheckFiles compares the launcher's file check (fingerprints:
// small files whole, large ones sampled) with full SHA-256 hashes of all,
// both with the files in the page cache.
func BenchmarkCheckFiles(b *testing.B) {
	for _, tc := range []struct {
		name string
		full bool
	}{{"fingerprint", false}, {"full", true}} {
		b.Run(tc.name, func(b *testing.B) {
			m := jdkFiles(b)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := checkFiles(m, tc.full); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
