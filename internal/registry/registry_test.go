package registry_test

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/crac-build/crac-build/internal/registry"
)

// opts never reads the host's Docker credentials.
var opts = registry.Options{Keychain: authn.NewMultiKeychain()}

func TestParseRef(t *testing.T) {
	existing := filepath.Join(t.TempDir(), "with:colon")
	if err := os.Mkdir(existing, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		in   string
		want registry.Ref
	}{
		{"oci-layout:out", registry.Ref{Kind: registry.KindOCILayout, Path: "out"}},
		{"oci-layout:/tmp/out:v1", registry.Ref{Kind: registry.KindOCILayout, Path: "/tmp/out", Tag: "v1"}},
		{"oci-layout:" + existing, registry.Ref{Kind: registry.KindOCILayout, Path: existing}},
		{"docker-archive:app.tar", registry.Ref{Kind: registry.KindDockerArchive, Path: "app.tar"}},
		{"docker-archive:/tmp/app.tar:example.com/app:1.0", registry.Ref{Kind: registry.KindDockerArchive, Path: "/tmp/app.tar", Tag: "example.com/app:1.0"}},
		{"eclipse-temurin:21-jre", registry.Ref{Kind: registry.KindRegistry, Name: "eclipse-temurin:21-jre"}},
		{"registry.example:5000/team/app:tag", registry.Ref{Kind: registry.KindRegistry, Name: "registry.example:5000/team/app:tag"}},
		{"localhost/app@sha256:" + strings.Repeat("a", 64), registry.Ref{Kind: registry.KindRegistry, Name: "localhost/app@sha256:" + strings.Repeat("a", 64)}},
	} {
		got, err := registry.ParseRef(tc.in)
		if err != nil {
			t.Errorf("ParseRef(%q): %v", tc.in, err)
			continue
		}
		if diff := cmp.Diff(got, tc.want); diff != "" {
			t.Errorf("ParseRef(%q) (-got +want):\n%s", tc.in, diff)
		}
		// String gives back what was parsed.
		if got.String() != tc.in {
			t.Errorf("ParseRef(%q).String() = %q", tc.in, got.String())
		}
	}
	for _, in := range []string{
		"",
		"oci-layout:",
		"docker-archive:",
		"http://registry.example/app:1",
		"oci://dir",
		"docker://eclipse-temurin:21",
		"UPPER/case:tag",
		"app:bad tag",
	} {
		if r, err := registry.ParseRef(in); err == nil {
			t.Errorf("ParseRef(%q) = %+v, want an error", in, r)
		} else if in != "" && !strings.Contains(err.Error(), in) {
			t.Errorf("ParseRef(%q): error %q does not name the reference", in, err)
		}
	}
}

func randomImage(t *testing.T) v1.Image {
	t.Helper()
	img, err := random.Image(512, 2)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// withArch sets the config's platform.
func withArch(t *testing.T, img v1.Image, arch string) v1.Image {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	out, err := mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func digest(t *testing.T, img v1.Image) v1.Hash {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func indexEntries(t *testing.T, dir string) []v1.Descriptor {
	t.Helper()
	p, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	return im.Manifests
}

func TestOCILayoutRoundTrip(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "out", "layout") // made by Write
	first, second, other := randomImage(t), randomImage(t), randomImage(t)

	if err := registry.Write(ctx, first, "oci-layout:"+dir+":app", opts); err != nil {
		t.Fatalf("Write: %v", err)
	}
	got, err := registry.Load(ctx, "oci-layout:"+dir+":app", opts)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if digest(t, got) != digest(t, first) {
		t.Errorf("loaded %s, wrote %s", digest(t, got), digest(t, first))
	}
	if err := validate.Image(got); err != nil {
		t.Errorf("loaded image is not valid: %v", err)
	}
	// With a single image the tag may be left out.
	if got, err := registry.Load(ctx, "oci-layout:"+dir, opts); err != nil || digest(t, got) != digest(t, first) {
		t.Errorf("Load without tag of a one-image layout: %v", err)
	}

	// Writing the tag again moves it.
	if err := registry.Write(ctx, second, "oci-layout:"+dir+":app", opts); err != nil {
		t.Fatalf("second Write: %v", err)
	}
	ents := indexEntries(t, dir)
	if len(ents) != 1 {
		t.Fatalf("index has %d entries after writing one tag twice, want 1", len(ents))
	}
	if ents[0].Digest != digest(t, second) || ents[0].Annotations["org.opencontainers.image.ref.name"] != "app" {
		t.Errorf("index entry %s %v, want %s tagged app", ents[0].Digest, ents[0].Annotations, digest(t, second))
	}
	got, err = registry.Load(ctx, "oci-layout:"+dir+":app", opts)
	if err != nil || digest(t, got) != digest(t, second) {
		t.Errorf("Load after the tag moved: %v, want %s", err, digest(t, second))
	}

	// A second tag: two images, and the tag is needed.
	if err := registry.Write(ctx, other, "oci-layout:"+dir+":other", opts); err != nil {
		t.Fatal(err)
	}
	if n := len(indexEntries(t, dir)); n != 2 {
		t.Errorf("index has %d entries, want 2", n)
	}
	_, err = registry.Load(ctx, "oci-layout:"+dir, opts)
	if err == nil || !strings.Contains(err.Error(), "2 images") || !strings.Contains(err.Error(), "oci-layout:"+dir+":TAG") {
		t.Errorf("Load without tag of a two-image layout: %v, want an error that says to name a tag", err)
	}
	if got, err := registry.Load(ctx, "oci-layout:"+dir+":other", opts); err != nil || digest(t, got) != digest(t, other) {
		t.Errorf("Load of the second tag: %v", err)
	}
	if _, err := registry.Load(ctx, "oci-layout:"+dir+":missing", opts); err == nil || !strings.Contains(err.Error(), `"missing"`) {
		t.Errorf("Load of a missing tag: %v, want an error naming it", err)
	}
}

func TestWriteNeedsTag(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, ref := range []string{"oci-layout:" + filepath.Join(dir, "l"), "docker-archive:" + filepath.Join(dir, "a.tar")} {
		if err := registry.Write(ctx, randomImage(t), ref, opts); err == nil || !strings.Contains(err.Error(), "tag") {
			t.Errorf("Write(%s) without a tag: %v, want an error asking for one", ref, err)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("refused writes left %d files", len(ents))
	}
}

func TestLoadMissing(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, ref := range []string{
		"oci-layout:" + filepath.Join(dir, "nothing"),
		"docker-archive:" + filepath.Join(dir, "nothing.tar"),
	} {
		if _, err := registry.Load(ctx, ref, opts); err == nil {
			t.Errorf("Load(%s) succeeded", ref)
		}
	}
	// An empty layout.
	if _, err := layout.Write(filepath.Join(dir, "empty"), empty.Index); err != nil {
		t.Fatal(err)
	}
	if _, err := registry.Load(ctx, "oci-layout:"+filepath.Join(dir, "empty"), opts); err == nil || !strings.Contains(err.Error(), "no image") {
		t.Errorf("Load of an empty layout: %v, want 'no image'", err)
	}
}

func TestDockerArchiveRoundTrip(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	img := withArch(t, randomImage(t), runtime.GOARCH)
	file := filepath.Join(dir, "sub", "app.tar") // sub is made by Write
	ref := "docker-archive:" + file + ":example.com/team/app:1.0"
	if err := registry.Write(ctx, img, ref, opts); err != nil {
		t.Fatalf("Write: %v", err)
	}
	for _, ref := range []string{ref, "docker-archive:" + file} {
		got, err := registry.Load(ctx, ref, opts)
		if err != nil {
			t.Fatalf("Load(%s): %v", ref, err)
		}
		wantCfg, _ := img.ConfigName()
		gotCfg, _ := got.ConfigName()
		if gotCfg != wantCfg {
			t.Errorf("Load(%s): config %s, want %s", ref, gotCfg, wantCfg)
		}
		wl, _ := img.Layers()
		gl, err := got.Layers()
		if err != nil || len(gl) != len(wl) {
			t.Fatalf("Load(%s): %d layers (%v), want %d", ref, len(gl), err, len(wl))
		}
		for i := range wl {
			wd, _ := wl[i].DiffID()
			gd, _ := gl[i].DiffID()
			if wd != gd {
				t.Errorf("layer %d: diff ID %s, want %s", i, gd, wd)
			}
		}
	}
	if _, err := registry.Load(ctx, "docker-archive:"+file+":example.com/team/app:2.0", opts); err == nil {
		t.Error("Load of a tag the archive does not hold succeeded")
	}
	ents, _ := os.ReadDir(filepath.Dir(file))
	if len(ents) != 1 {
		t.Errorf("archive dir holds %d files, want only the archive", len(ents))
	}
}

func TestPushPull(t *testing.T) {
	ctx := context.Background()
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	ref := host + "/team/app:warm"
	img := withArch(t, randomImage(t), runtime.GOARCH)
	o := opts
	o.Insecure = true
	if err := registry.Write(ctx, img, ref, o); err != nil {
		t.Fatalf("push: %v", err)
	}
	got, err := registry.Load(ctx, ref, o)
	if err != nil {
		t.Fatalf("pull: %v", err)
	}
	if digest(t, got) != digest(t, img) {
		t.Errorf("pulled %s, pushed %s", digest(t, got), digest(t, img))
	}
	if err := validate.Image(got); err != nil {
		t.Errorf("pulled image is not valid: %v", err)
	}
	if _, err := registry.Load(ctx, host+"/team/app:missing", o); err == nil || !strings.Contains(err.Error(), "pulling") {
		t.Errorf("pull of a missing tag: %v", err)
	}
}

// otherArch is an architecture this host is not.
func otherArch() string {
	if runtime.GOARCH == "arm64" {
		return "amd64"
	}
	return "arm64"
}

func TestLoadRefusesOtherArchitecture(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "layout")
	ref := "oci-layout:" + dir + ":foreign"
	if err := registry.Write(ctx, withArch(t, randomImage(t), otherArch()), ref, opts); err != nil {
		t.Fatal(err)
	}
	_, err := registry.Load(ctx, ref, opts)
	if err == nil || !strings.Contains(err.Error(), "architecture") || !strings.Contains(err.Error(), otherArch()) {
		t.Errorf("Load of a %s image on %s: %v, want an error about the architecture", otherArch(), runtime.GOARCH, err)
	}
	// Asking for that platform is allowed.
	want := v1.Platform{OS: "linux", Architecture: otherArch()}
	o := opts
	o.Platform = &want
	if _, err := registry.Load(ctx, ref, o); err != nil {
		t.Errorf("Load with Platform %s: %v", want, err)
	}
}

func TestLoadMultiPlatformIndex(t *testing.T) {
	ctx := context.Background()
	host := withArch(t, randomImage(t), runtime.GOARCH)
	foreign := withArch(t, randomImage(t), otherArch())
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: foreign, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: otherArch()}}},
		mutate.IndexAddendum{Add: host, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: runtime.GOARCH}}},
	)
	dir := filepath.Join(t.TempDir(), "layout")
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendIndex(idx, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "multi"})); err != nil {
		t.Fatal(err)
	}

	for _, ref := range []string{"oci-layout:" + dir + ":multi", "oci-layout:" + dir} {
		got, err := registry.Load(ctx, ref, opts)
		if err != nil {
			t.Fatalf("Load(%s): %v", ref, err)
		}
		if digest(t, got) != digest(t, host) {
			t.Errorf("Load(%s) = %s, want the %s image %s", ref, digest(t, got), runtime.GOARCH, digest(t, host))
		}
	}

	o := opts
	o.Platform = &v1.Platform{OS: "linux", Architecture: otherArch()}
	if got, err := registry.Load(ctx, "oci-layout:"+dir+":multi", o); err != nil || digest(t, got) != digest(t, foreign) {
		t.Errorf("Load with Platform %s: %v, want %s", otherArch(), err, digest(t, foreign))
	}

	o.Platform = &v1.Platform{OS: "linux", Architecture: "riscv64"}
	_, err = registry.Load(ctx, "oci-layout:"+dir+":multi", o)
	if err == nil || !strings.Contains(err.Error(), "linux/riscv64") || !strings.Contains(err.Error(), "linux/"+runtime.GOARCH) {
		t.Errorf("Load for a platform the index lacks: %v, want an error naming the wanted and present platforms", err)
	}
}

func TestPushPullIndex(t *testing.T) {
	ctx := context.Background()
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := withArch(t, randomImage(t), runtime.GOARCH)
	foreign := withArch(t, randomImage(t), otherArch())
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: foreign, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: otherArch()}}},
		mutate.IndexAddendum{Add: host, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: runtime.GOARCH}}},
	)
	// Write takes images only: push the index with go-containerregistry.
	ref := strings.TrimPrefix(srv.URL, "http://") + "/base/jre:17"
	if err := pushIndex(ref, idx); err != nil {
		t.Fatal(err)
	}
	o := opts
	o.Insecure = true
	got, err := registry.Load(ctx, ref, o)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if digest(t, got) != digest(t, host) {
		t.Errorf("pulled %s, want the %s image %s", digest(t, got), runtime.GOARCH, digest(t, host))
	}
}

func pushIndex(ref string, idx v1.ImageIndex) error {
	n, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		return err
	}
	return remote.WriteIndex(n, idx)
}

func TestIsIndexMediaType(t *testing.T) {
	mt, err := empty.Index.MediaType()
	if err != nil {
		t.Fatal(err)
	}
	if !registry.IsIndexMediaType(mt) {
		t.Errorf("IsIndexMediaType(%s) = false", mt)
	}
	mt, _ = randomImage(t).MediaType()
	if registry.IsIndexMediaType(mt) {
		t.Errorf("IsIndexMediaType(%s) = true", mt)
	}
}
