package checkpoint

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A timens-0.img written by CRIU 4.2.1 (monotonic 803.337326248 s,
// boottime 803.337326409 s).
var timensImage = []byte{
	0x19, 0x43, 0x56, 0x54, 0x33, 0x44, 0x11, 0x43, 0x16, 0x00, 0x00, 0x00,
	0x0a, 0x09, 0x08, 0xa3, 0x06, 0x10, 0xa8, 0xe1, 0xec, 0xa0, 0x01,
	0x12, 0x09, 0x08, 0xa3, 0x06, 0x10, 0xc9, 0xe2, 0xec, 0xa0, 0x01,
}

func TestReadClocks(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, TimensImage), timensImage, 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := ReadClocks(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := Clocks{Monotonic: 803*time.Second + 337326248, Boottime: 803*time.Second + 337326409}
	if c != want {
		t.Errorf("ReadClocks = %+v, want %+v", c, want)
	}
}

func TestReadClocksRejects(t *testing.T) {
	for name, b := range map[string][]byte{
		"empty":     nil,
		"short":     timensImage[:10],
		"truncated": timensImage[:20],
		"no entry":  timensImage[:12],
	} {
		if _, err := parseClocks(b); err == nil {
			t.Errorf("%s: parseClocks succeeded", name)
		}
	}
	if _, err := ReadClocks(t.TempDir()); err == nil {
		t.Error("ReadClocks of a dir without the image succeeded")
	}
}
