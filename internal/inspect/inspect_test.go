package inspect

import (
	"bytes"
	"context"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/crac-build/crac-build/internal/builder"
	"github.com/crac-build/crac-build/internal/contract"
	"github.com/crac-build/crac-build/internal/layers"
	"github.com/crac-build/crac-build/internal/registry"
)

func layerOf(t *testing.T, files map[string][]byte) *layers.Layer {
	t.Helper()
	tr := layers.NewTar()
	for name, b := range files {
		if err := tr.AddBytes(name, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	l, err := layers.Write(tr, t.TempDir(), layers.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// warmImage lays out an image the way the builder does: base, application,
// runtime, checkpoint (CRIU images, metadata, the app's file changes), with
// the history entries and labels the builder writes.
func warmImage(t *testing.T, m *contract.Metadata) (v1.Image, *layers.Layer) {
	t.Helper()
	base, err := random.Image(1024, 1)
	if err != nil {
		t.Fatal(err)
	}
	pages := bytes.Repeat([]byte("warm page "), 10000)
	if m.Images == nil {
		m.Images = []contract.FileSum{{Name: "pages-1.img", Size: int64(len(pages))}, {Name: "inventory.img", Size: 3}}
	}
	mb, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	ck := layerOf(t, map[string][]byte{
		contract.ImagesDir + "/pages-1.img":   pages,
		contract.ImagesDir + "/inventory.img": []byte("inv"),
		contract.MetadataPath:                 mb,
		"tmp/app.log":                         []byte("log line\n"),
	})
	ls := []*layers.Layer{
		layerOf(t, map[string][]byte{"app/hello.jar": []byte("jar")}),
		layerOf(t, map[string][]byte{contract.LauncherPath: []byte("launcher")}),
		ck,
	}
	what := []string{"crac-build: application files", "crac-build: launcher and CRIU bundle 4.2.1", "crac-build: checkpoint of java -jar /app/hello.jar"}
	img := base
	for i, l := range ls {
		img, err = mutate.Append(img, mutate.Addendum{Layer: l, History: v1.History{CreatedBy: what[i]}})
		if err != nil {
			t.Fatal(err)
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	cf.Config.Entrypoint = []string{contract.LauncherPath}
	cf.Config.Labels = builder.Labels(m, ck.RawSize())
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img, ck
}

func testMetadata() *contract.Metadata {
	return &contract.Metadata{
		FormatVersion: contract.FormatVersion,
		Builder:       "crac-build test",
		Created:       time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
		Cold:          contract.Command{Args: []string{"java", "-jar", "/app/hello.jar"}},
		JVMVersion:    "OpenJDK 64-Bit Server VM version 17.0.13",
		Process:       contract.Process{PID: 129, Threads: 20, RSSKiB: 51200},
		Host: contract.Host{
			Kernel: "6.18.0", Arch: "x86_64", CPUModel: "Test CPU", CriuVersion: "4.2.1",
			CPUFeatures: []string{"fpu", "sse2", "avx2", "hypervisor", "aes"},
		},
		RequiredCaps: []string{"CAP_CHECKPOINT_RESTORE", "CAP_SETPCAP"},
		Warmup:       contract.Warmup{ReadyAfterMs: 1500, Requests: 200, DurationMs: 3000, Script: "warmup.sh"},
	}
}

func TestInspectWarmImage(t *testing.T) {
	img, ck := warmImage(t, testMetadata())
	ref := "oci-layout:" + filepath.Join(t.TempDir(), "images") + ":hello"
	if err := registry.Write(context.Background(), img, ref, registry.Options{}); err != nil {
		t.Fatal(err)
	}
	info, err := Image(context.Background(), ref, registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !info.Warm || info.Metadata == nil {
		t.Fatalf("a warm image inspected as not warm: %+v", info)
	}
	ckSize, _ := ck.Size()
	type facts struct {
		JVM, CRIU, Kernel, Platform string
		Caps, CPU, Cold, Roles      []string
		Checkpoint                  Checkpoint
		Ready                       int64
		Requests                    int
	}
	var roles []string
	for _, l := range info.Layers {
		roles = append(roles, l.Role)
	}
	got := facts{
		JVM: info.JVMVersion, CRIU: info.CriuVersion, Kernel: info.BuildKernel, Platform: info.Platform,
		Caps: info.RequiredCapabilities, CPU: info.CPUFeatures, Cold: info.ColdCommand, Roles: roles,
		Checkpoint: *info.Checkpoint, Ready: info.Warmup.ReadyAfterMs, Requests: info.Warmup.Requests,
	}
	want := facts{
		JVM: "OpenJDK 64-Bit Server VM version 17.0.13", CRIU: "4.2.1", Kernel: "6.18.0", Platform: "linux/" + runtime.GOARCH,
		Caps: []string{"CAP_CHECKPOINT_RESTORE", "CAP_SETPCAP"},
		// Only instruction-set features: "fpu" and "hypervisor" say
		// nothing about the code the JIT emitted.
		CPU:   []string{"sse2", "avx2", "aes"},
		Cold:  []string{"java", "-jar", "/app/hello.jar"},
		Roles: []string{RoleBase, RoleApplication, RoleRuntime, RoleCheckpoint},
		Checkpoint: Checkpoint{
			CompressedBytes: ckSize, RawBytes: ck.RawSize(),
			ImagesBytes: 100003, ImageFiles: 2, Compression: "zstd",
		},
		Ready: 1500, Requests: 200,
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("inspect facts (-got +want):\n%s", diff)
	}
	if info.Checkpoint.CompressedBytes >= info.Checkpoint.RawBytes {
		t.Errorf("checkpoint compressed %d >= raw %d", info.Checkpoint.CompressedBytes, info.Checkpoint.RawBytes)
	}
	var total int64
	for _, l := range info.Layers {
		total += l.Size
	}
	if info.TotalBytes != total {
		t.Errorf("TotalBytes %d, layers add up to %d", info.TotalBytes, total)
	}
}

func TestInspectCountsCheckpointImages(t *testing.T) {
	m := testMetadata()
	m.Images = []contract.FileSum{{Name: "pages-1.img", Size: 100000}, {Name: "core-129.img", Size: 500}}
	img, _ := warmImage(t, m)
	info, err := FromImage(img, "test")
	if err != nil {
		t.Fatal(err)
	}
	if c := info.Checkpoint; c.ImagesBytes != 100500 || c.ImageFiles != 2 {
		t.Errorf("CRIU images %d bytes in %d files, want 100500 in 2", c.ImagesBytes, c.ImageFiles)
	}
}

func TestInspectColdImage(t *testing.T) {
	img, err := random.Image(512, 2)
	if err != nil {
		t.Fatal(err)
	}
	info, err := FromImage(img, "plain")
	if err != nil {
		t.Fatal(err)
	}
	if info.Warm || info.Checkpoint != nil || len(info.Layers) != 2 {
		t.Errorf("plain image: warm %v, checkpoint %v, %d layers; want not warm, 2 layers", info.Warm, info.Checkpoint, len(info.Layers))
	}
	for _, l := range info.Layers {
		if l.Role != RoleBase {
			t.Errorf("layer %s role %q, want base", l.Digest, l.Role)
		}
	}
	if !strings.HasPrefix(info.Digest, "sha256:") {
		t.Errorf("digest %q", info.Digest)
	}
}
