package contract_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crac-build/crac-build/internal/contract"
)

func writeFile(t *testing.T, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFileSHA256(t *testing.T) {
	b := bytes.Repeat([]byte("jar"), 100000)
	want := sha256.Sum256(b)
	got, err := contract.FileSHA256(writeFile(t, b))
	if err != nil || got != hex.EncodeToString(want[:]) {
		t.Errorf("FileSHA256 = %s, %v; want %x", got, err, want)
	}
	if _, err := contract.FileSHA256(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("FileSHA256 of a missing file succeeded")
	}
}

func TestFingerprintLarge(t *testing.T) {
	size := 5*contract.FullHashMax + 777
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(i % 253)
	}
	base, err := contract.Fingerprint(writeFile(t, b))
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := contract.Fingerprint(writeFile(t, b)); again != base {
		t.Error("Fingerprint is not deterministic")
	}
	// Offsets of the sampled blocks (see Fingerprint): both edges and
	// SampleBlocks evenly spread blocks, the first at 0, the last at the end.
	step := (size - contract.SampleBlock) / (contract.SampleBlocks - 1)
	for name, off := range map[string]int{
		"head":              10,
		"tail":              size - 10,
		"a middle block":    7*step + 100,
		"the last block":    size - contract.SampleBlock + 1,
		"the edge boundary": contract.SampleEdge - 1,
	} {
		c := bytes.Clone(b)
		c[off] ^= 0xff
		if got, _ := contract.Fingerprint(writeFile(t, c)); got == base {
			t.Errorf("a change in %s (offset %d) is not seen", name, off)
		}
	}
	// Between samples: not seen, by design.
	c := bytes.Clone(b)
	c[7*step+contract.SampleBlock+100] ^= 0xff
	if got, _ := contract.Fingerprint(writeFile(t, c)); got != base {
		t.Error("a change between samples changed the fingerprint: the sampled blocks are not where the doc says")
	}
	// Size is part of it (a change of size outside the samples).
	if got, _ := contract.Fingerprint(writeFile(t, append(bytes.Clone(b), 0))); got == base {
		t.Error("another size gives the same fingerprint")
	}
	if _, err := contract.Fingerprint(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("Fingerprint of a missing file succeeded")
	}
}

// Files up to FullHashMax are read whole: a change anywhere is seen.
func TestFingerprintSmall(t *testing.T) {
	for _, size := range []int{0, 1, contract.SampleBlock - 1, contract.SampleEdge + 3, contract.FullHashMax} {
		b := bytes.Repeat([]byte{7}, size)
		base, err := contract.Fingerprint(writeFile(t, b))
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		for _, off := range []int{0, size / 3, size - 1} {
			if size == 0 {
				break
			}
			c := bytes.Clone(b)
			c[off] ^= 1
			if got, _ := contract.Fingerprint(writeFile(t, c)); got == base {
				t.Errorf("size %d: a change at %d is not seen", size, off)
			}
		}
	}
}

func TestEnvPolicy(t *testing.T) {
	for _, p := range []string{"", contract.EnvChangeWarn, contract.EnvChangeCold} {
		if err := contract.CheckEnvPolicy(p); err != nil {
			t.Errorf("CheckEnvPolicy(%q): %v", p, err)
		}
	}
	if err := contract.CheckEnvPolicy("ignore"); err == nil || !strings.Contains(err.Error(), "warn or cold") {
		t.Errorf("CheckEnvPolicy(ignore): %v", err)
	}
	m := sampleMetadata()
	m.OnEnvChange = "sometimes"
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := contract.Parse(b); err == nil || !strings.Contains(err.Error(), "sometimes") {
		t.Errorf("Parse of an unknown policy: %v", err)
	}
}
