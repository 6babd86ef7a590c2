package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/match"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/crac-build/crac-build/internal/progress"
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

// KindOf returns the kind of ref (KindRegistry, ...), "" if it does not
// parse.
func KindOf(ref string) string {
	r, err := ParseRef(ref)
	if err != nil {
		return ""
	}
	return r.Kind
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
	// Progress receives the bytes uploaded by a push (progress.Push).
	Progress progress.Func
	// ArchiveCompression is how a docker archive's layers are compressed:
	// "" (gzip, which every Docker loads: Docker before Engine 23 cannot
	// read zstd) or ArchiveZstd (the layers as they are).
	ArchiveCompression string

	// backoff replaces retryBackoff (tests).
	backoff *remote.Backoff
}

// The retry policy of every registry request. A registry that answers 408,
// 429 or a 5xx, or a connection that drops, gets up to five tries, waiting
// about 1, 2, 4 and 8 s between them (±20% jitter so that parallel layer
// uploads do not retry in lock-step): 15 s covers a registry's rolling
// restart or a short rate limit, and a real outage still fails a CI job
// within a minute. Other 4xx (auth, not found, invalid manifest) are final.
// Blob uploads are retried whole (a PATCH stream cannot be replayed
// half-way); a blob the registry has by then is not sent again.
var (
	retryBackoff     = remote.Backoff{Duration: time.Second, Factor: 2, Jitter: 0.2, Steps: 5}
	retryStatusCodes = []int{
		http.StatusRequestTimeout, http.StatusTooManyRequests,
		http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout,
	}
)

// HostPlatform is the platform of the running binary.
func HostPlatform() v1.Platform {
	return v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
}

// ParsePlatform parses "os/arch[/variant]" (e.g. linux/amd64,
// linux/arm64/v8). "" means the host's platform (nil).
func ParsePlatform(s string) (*v1.Platform, error) {
	if s == "" {
		return nil, nil
	}
	p, err := v1.ParsePlatform(s)
	if err != nil {
		return nil, fmt.Errorf("platform %q: %w", s, err)
	}
	if p.OS == "" || p.Architecture == "" {
		return nil, fmt.Errorf("platform %q: want OS/ARCH[/VARIANT], e.g. linux/amd64", s)
	}
	return p, nil
}

// CheckHostArch refuses a platform of another architecture than this
// host's: a build or a run executes the image here, and a checkpoint is
// bound to the architecture it was made on.
func CheckHostArch(p *v1.Platform) error {
	h := HostPlatform()
	if p != nil && (p.Architecture != h.Architecture || p.OS != h.OS) {
		return fmt.Errorf("platform %s: this host runs %s, and a checkpoint can only be made and restored on the architecture it runs on", p, h.String())
	}
	return nil
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
	b := retryBackoff
	if o.backoff != nil {
		b = *o.backoff
	}
	return []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(kc),
		remote.WithPlatform(o.platform()),
		remote.WithRetryBackoff(b),
		remote.WithRetryStatusCodes(retryStatusCodes...),
	}
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
		if o.Platform != nil {
			return nil, fmt.Errorf("image %s is for %s/%s, not the requested %s/%s (a checkpoint is bound to one architecture)", ref, cf.OS, cf.Architecture, want.OS, want.Architecture)
		}
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
		return push(ctx, n, img, ref, o)
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
		if o.ArchiveCompression != ArchiveZstd {
			if img, err = gzipLayers(img); err != nil {
				os.Remove(tmp.Name())
				return fmt.Errorf("writing docker archive %s: %w", r.Path, err)
			}
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

// push uploads img. remote.Write asks the registry for each blob first
// (HEAD) and uploads only the missing ones, then puts the manifest: the tag
// moves only once every blob is there, so a failed push leaves no tag.
func push(ctx context.Context, n name.Reference, img v1.Image, ref string, o Options) error {
	opts := o.remoteOpts(ctx)
	var done chan struct{}
	if o.Progress != nil {
		updates := make(chan v1.Update, 64)
		done = make(chan struct{})
		go func() {
			defer close(done)
			for u := range updates {
				if u.Error == nil {
					o.Progress(progress.Update{Op: progress.Push, Name: ref, Done: u.Complete, Total: u.Total})
				}
			}
		}()
		opts = append(opts, remote.WithProgress(updates))
	}
	err := remote.Write(n, img, opts...)
	if done != nil {
		// remote.Write closes the channel on every return once its
		// options are made (ours cannot fail to be made).
		<-done
	}
	if err != nil {
		return fmt.Errorf("pushing %s: %w", ref, err)
	}
	return nil
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
