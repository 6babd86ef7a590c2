package registry

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/match"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Kinds of image reference.
const (
	KindRegistry      = "registry"
	KindOCILayout     = "oci-layout"
	KindDockerArchive = "docker-archive"
)

// refNameAnnotation is the OCI layout's tag annotation.
const refNameAnnotation = "org.opencontainers.image.ref.name"

// Ref is a parsed image reference.
type Ref struct {
	Kind string
	// Path is the layout dir or archive file (local kinds).
	Path string
	// Tag is the layout tag or the archive's repo:tag (local kinds).
	Tag string
	// Name is the registry reference (registry kind).
	Name string
}

func (r Ref) String() string {
	switch r.Kind {
	case KindRegistry:
		return r.Name
	default:
		if r.Tag == "" {
			return r.Kind + ":" + r.Path
		}
		return r.Kind + ":" + r.Path + ":" + r.Tag
	}
}

// ParseRef parses "oci-layout:DIR[:TAG]", "docker-archive:FILE[:TAG]" or a
// registry reference ("registry.example/app:tag", "eclipse-temurin:21-jre").
func ParseRef(s string) (Ref, error) {
	for _, kind := range []string{KindOCILayout, KindDockerArchive} {
		rest, ok := strings.CutPrefix(s, kind+":")
		if !ok {
			continue
		}
		if rest == "" {
			return Ref{}, fmt.Errorf("image reference %q: missing path", s)
		}
		r := Ref{Kind: kind, Path: rest}
		// The tag follows the first colon (a docker archive's tag is
		// REPO:TAG, with a colon of its own), unless the whole rest names
		// an existing file or dir.
		if i := strings.Index(rest, ":"); i > 0 {
			if _, err := os.Stat(rest); err != nil {
				r.Path, r.Tag = rest[:i], rest[i+1:]
			}
		}
		return r, nil
	}
	if strings.Contains(s, "://") {
		return Ref{}, fmt.Errorf("image reference %q: want REGISTRY/REPO:TAG, oci-layout:DIR[:TAG] or docker-archive:FILE[:TAG]", s)
	}
	if _, err := name.ParseReference(s); err != nil {
		return Ref{}, fmt.Errorf("image reference %q: %w", s, err)
	}
	return Ref{Kind: KindRegistry, Name: s}, nil
}

// Options for reading and writing.
type Options struct {
	// Platform selects from a multi-platform index; default: this host.
	Platform *v1.Platform
	// Insecure allows plain HTTP (and unverified TLS) registries.
	Insecure bool
	// Keychain resolves credentials; default: the Docker config and its
	// credential helpers (authn.DefaultKeychain).
	Keychain authn.Keychain
}

// HostPlatform is the platform of the running binary.
func HostPlatform() v1.Platform {
	return v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
}

func (o Options) platform() v1.Platform {
	if o.Platform != nil {
		return *o.Platform
	}
	return HostPlatform()
}

func (o Options) nameOpts() []name.Option {
	if o.Insecure {
		return []name.Option{name.Insecure}
	}
	return nil
}

func (o Options) remoteOpts(ctx context.Context) []remote.Option {
	kc := o.Keychain
	if kc == nil {
		kc = authn.DefaultKeychain
	}
	return []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(kc), remote.WithPlatform(o.platform())}
}

// Load reads the image ref names, resolving a multi-platform index to the
// wanted platform and refusing another architecture: a CRIU image is bound
// to the architecture it was made on.
func Load(ctx context.Context, ref string, o Options) (v1.Image, error) {
	r, err := ParseRef(ref)
	if err != nil {
		return nil, err
	}
	var img v1.Image
	switch r.Kind {
	case KindRegistry:
		n, err := name.ParseReference(r.Name, o.nameOpts()...)
		if err != nil {
			return nil, fmt.Errorf("parsing %q: %w", ref, err)
		}
		img, err = remote.Image(n, o.remoteOpts(ctx)...)
		if err != nil {
			return nil, fmt.Errorf("pulling %s: %w", ref, err)
		}
	case KindOCILayout:
		img, err = loadLayout(r, o)
		if err != nil {
			return nil, err
		}
	case KindDockerArchive:
		var tag *name.Tag
		if r.Tag != "" {
			t, err := name.NewTag(r.Tag)
			if err != nil {
				return nil, fmt.Errorf("parsing tag %q of %s: %w", r.Tag, ref, err)
			}
			tag = &t
		}
		img, err = tarball.ImageFromPath(r.Path, tag)
		if err != nil {
			return nil, fmt.Errorf("reading docker archive %s: %w", r.Path, err)
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading config of %s: %w", ref, err)
	}
	want := o.platform()
	if cf.Architecture != "" && cf.Architecture != want.Architecture {
		return nil, fmt.Errorf("image %s is for %s/%s, this host needs %s/%s (a checkpoint is bound to one architecture)", ref, cf.OS, cf.Architecture, want.OS, want.Architecture)
	}
	return img, nil
}

func loadLayout(r Ref, o Options) (v1.Image, error) {
	p, err := layout.FromPath(r.Path)
	if err != nil {
		return nil, fmt.Errorf("opening OCI layout %s: %w", r.Path, err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		return nil, fmt.Errorf("reading OCI layout %s: %w", r.Path, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("reading index of OCI layout %s: %w", r.Path, err)
	}
	var found []v1.Descriptor
	for _, d := range im.Manifests {
		if r.Tag == "" || d.Annotations[refNameAnnotation] == r.Tag {
			found = append(found, d)
		}
	}
	switch {
	case len(found) == 0 && r.Tag != "":
		return nil, fmt.Errorf("OCI layout %s has no image tagged %q", r.Path, r.Tag)
	case len(found) == 0:
		return nil, fmt.Errorf("OCI layout %s holds no image", r.Path)
	case len(found) > 1:
		return nil, fmt.Errorf("OCI layout %s holds %d images: name one with oci-layout:%s:TAG", r.Path, len(found), r.Path)
	}
	d := found[0]
	if d.MediaType.IsIndex() {
		child, err := idx.ImageIndex(d.Digest)
		if err != nil {
			return nil, fmt.Errorf("reading index %s in %s: %w", d.Digest, r.Path, err)
		}
		return imageForPlatform(child, o.platform(), r.String())
	}
	img, err := idx.Image(d.Digest)
	if err != nil {
		return nil, fmt.Errorf("reading image %s in %s: %w", d.Digest, r.Path, err)
	}
	return img, nil
}

func imageForPlatform(idx v1.ImageIndex, want v1.Platform, ref string) (v1.Image, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var have []string
	for _, d := range im.Manifests {
		if d.Platform == nil {
			continue
		}
		have = append(have, d.Platform.String())
		if d.Platform.Satisfies(want) {
			return idx.Image(d.Digest)
		}
	}
	return nil, fmt.Errorf("%s has no image for %s (it has %s)", ref, want.String(), strings.Join(have, ", "))
}

// Write stores img at ref: pushes to a registry, or writes an OCI layout
// or docker archive. Local outputs are written aside and moved in place, so
// a failure leaves no half-written archive and no tag on a partial image.
func Write(ctx context.Context, img v1.Image, ref string, o Options) error {
	r, err := ParseRef(ref)
	if err != nil {
		return err
	}
	switch r.Kind {
	case KindRegistry:
		n, err := name.ParseReference(r.Name, o.nameOpts()...)
		if err != nil {
			return fmt.Errorf("parsing %q: %w", ref, err)
		}
		// remote.Write uploads every blob before the manifest: the tag
		// moves only once the image is complete.
		if err := remote.Write(n, img, o.remoteOpts(ctx)...); err != nil {
			return fmt.Errorf("pushing %s: %w", ref, err)
		}
		return nil
	case KindOCILayout:
		if r.Tag == "" {
			return fmt.Errorf("output %s: name a tag (oci-layout:DIR:TAG)", ref)
		}
		return writeLayout(img, r)
	case KindDockerArchive:
		tag := r.Tag
		if tag == "" {
			return fmt.Errorf("output %s: name a tag (docker-archive:FILE:REPO:TAG)", ref)
		}
		t, err := name.NewTag(tag)
		if err != nil {
			return fmt.Errorf("output %s: tag %q: %w", ref, tag, err)
		}
		dir := filepath.Dir(r.Path)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("output %s: %w", ref, err)
		}
		tmp, err := os.CreateTemp(dir, ".crac-build-*.tar")
		if err != nil {
			return fmt.Errorf("output %s: %w", ref, err)
		}
		tmp.Close()
		if err := os.Chmod(tmp.Name(), 0o644); err != nil {
			os.Remove(tmp.Name())
			return fmt.Errorf("output %s: %w", ref, err)
		}
		if err := tarball.WriteToFile(tmp.Name(), t, img); err != nil {
			os.Remove(tmp.Name())
			return fmt.Errorf("writing docker archive %s: %w", r.Path, err)
		}
		if err := os.Rename(tmp.Name(), r.Path); err != nil {
			os.Remove(tmp.Name())
			return fmt.Errorf("writing docker archive %s: %w", r.Path, err)
		}
		return nil
	}
	return fmt.Errorf("unknown output kind %q", r.Kind)
}

func writeLayout(img v1.Image, r Ref) error {
	p, err := layout.FromPath(r.Path)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("opening OCI layout %s: %w", r.Path, err)
		}
		if err := os.MkdirAll(r.Path, 0o755); err != nil {
			return fmt.Errorf("creating OCI layout %s: %w", r.Path, err)
		}
		if p, err = layout.Write(r.Path, empty.Index); err != nil {
			return fmt.Errorf("creating OCI layout %s: %w", r.Path, err)
		}
	}
	// Blobs first, then the index entry: an interrupted write leaves
	// unreferenced blobs, never a tag on a partial image.
	if err := p.ReplaceImage(img, match.Annotation(refNameAnnotation, r.Tag),
		layout.WithAnnotations(map[string]string{refNameAnnotation: r.Tag})); err != nil {
		return fmt.Errorf("writing OCI layout %s:%s: %w", r.Path, r.Tag, err)
	}
	return nil
}

// IsIndexMediaType reports whether mt is an image index.
func IsIndexMediaType(mt types.MediaType) bool { return mt.IsIndex() }
