package contract_test

import (
	"encoding/json"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/crac-build/crac-build/internal/contract"
)

func sampleMetadata() *contract.Metadata {
	return &contract.Metadata{
		FormatVersion: contract.FormatVersion,
		Builder:       "crac-build test",
		Created:       time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
		Cold:          contract.Command{Args: []string{"java", "-jar", "/app/app.jar"}, Env: []string{"PATH=/usr/bin"}, WorkDir: "/app"},
		JVMVersion:    "21.0.5",
		Process: contract.Process{
			PID: 131, Threads: 24, RSSKiB: 81234,
			Stdio:  [3]string{"/dev/null", "pipe:[1234]", "pipe:[1234]"},
			CapEff: "00000000a80425fb", CapBnd: "00000000a80425fb",
		},
		Host: contract.Host{
			Kernel: "6.18.44", Arch: "x86_64", CPUModel: "Test CPU",
			CPUFeatures: []string{"avx2", "hypervisor", "sse4_2"}, CriuVersion: "4.2.1",
		},
		RequiredCaps: []string{"CAP_CHECKPOINT_RESTORE", "CAP_SETPCAP"},
		Images:       []contract.FileSum{{Name: "pages-1.img", Size: 4096, CRC32C: 0xdeadbeef}},
		OpenFiles:    []contract.OpenFile{{Path: "/app/app.jar", Size: 100, Mode: 0o644, SHA256: "ab", Mapped: true}},
		Warmup:       contract.Warmup{ReadyAfterMs: 1200, Requests: 100, Errors: 1, DurationMs: 900, FirstMs: 12.5, LastMs: 1.25},
		TCPClose:     true,
		Timings:      map[string]int64{"dump": 250},
	}
}

func TestMarshalParseRoundTrip(t *testing.T) {
	m := sampleMetadata()
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(string(b), "}\n") || !strings.Contains(string(b), "\n  \"formatVersion\": 1") {
		t.Errorf("Marshal is not indented JSON ending in a newline:\n%s", b)
	}
	got, err := contract.Parse(b)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if diff := cmp.Diff(got, m); diff != "" {
		t.Errorf("round trip (-got +want):\n%s", diff)
	}

	// Read does the same from a file.
	p := filepath.Join(t.TempDir(), "metadata.json")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err = contract.Read(p)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if diff := cmp.Diff(got, m); diff != "" {
		t.Errorf("Read (-got +want):\n%s", diff)
	}
}

// The JSON field names are the contract with launchers already in images:
// renaming one breaks them.
func TestMetadataFieldNames(t *testing.T) {
	b, err := sampleMetadata().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"formatVersion", "builder", "created", "cold", "jvmVersion", "process", "host", "requiredCapabilities", "images", "openFiles", "warmup", "tcpClose", "timingsMs"} {
		if _, ok := top[k]; !ok {
			t.Errorf("no field %q in %s", k, b)
		}
	}
	var img []map[string]any
	if err := json.Unmarshal(top["images"], &img); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(img, []map[string]any{{"name": "pages-1.img", "size": 4096.0, "crc32c": float64(0xdeadbeef)}}); diff != "" {
		t.Errorf("images (-got +want):\n%s", diff)
	}
}

func TestParseRejects(t *testing.T) {
	for _, tc := range []struct {
		name, json, want string
	}{
		{"format 0", `{"cold":{"args":["java"]}}`, "format 0"},
		{"format 2", `{"formatVersion":2,"cold":{"args":["java"]}}`, "format 2"},
		{"no cold command", `{"formatVersion":1}`, "no cold command"},
		{"empty cold command", `{"formatVersion":1,"cold":{"args":[]}}`, "no cold command"},
		{"not JSON", `formatVersion: 1`, "decoding"},
		{"wrong type", `{"formatVersion":"1","cold":{"args":["java"]}}`, "decoding"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := contract.Parse([]byte(tc.json))
			if err == nil {
				t.Fatalf("Parse = %+v, want an error", m)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
	if _, err := contract.Read(filepath.Join(t.TempDir(), "missing.json")); err == nil || !os.IsNotExist(unwrapAll(err)) {
		t.Errorf("Read of a missing file: %v", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}

func TestFileCRC32C(t *testing.T) {
	dir := t.TempDir()
	table := crc32.MakeTable(crc32.Castagnoli)
	big := make([]byte, 3<<20+17) // crosses the 1 MiB read buffer
	for i := range big {
		big[i] = byte(i * 31)
	}
	for _, tc := range []struct {
		name string
		data []byte
		want uint32
	}{
		{"empty", nil, 0},
		// The check value of CRC-32C (RFC 3720 B.4 and every CRC catalogue).
		{"check", []byte("123456789"), 0xe3069283},
		{"big", big, crc32.Checksum(big, table)},
	} {
		p := filepath.Join(dir, tc.name)
		if err := os.WriteFile(p, tc.data, 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := contract.FileCRC32C(p)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%s: CRC-32C %08x, want %08x", tc.name, got, tc.want)
		}
		if ieee := crc32.ChecksumIEEE(tc.data); len(tc.data) > 0 && got == ieee {
			t.Errorf("%s: got the IEEE CRC-32, want Castagnoli", tc.name)
		}
	}
	if _, err := contract.FileCRC32C(filepath.Join(dir, "missing")); err == nil {
		t.Error("FileCRC32C of a missing file succeeded")
	}
}

func TestPaths(t *testing.T) {
	// The bundle's wrapper and the launcher find each other through these:
	// they are part of images already built.
	for got, want := range map[string]string{
		contract.LauncherPath:  "/opt/crac-build/bin/crac-launch",
		contract.CriuPath:      "/opt/crac-build/criu/criu",
		contract.ImagesDir:     "/opt/crac-build/checkpoint/images",
		contract.MetadataPath:  "/opt/crac-build/checkpoint/metadata.json",
		contract.CheckpointDir: "/opt/crac-build/checkpoint",
	} {
		if got != want {
			t.Errorf("path %s, want %s", got, want)
		}
	}
}
