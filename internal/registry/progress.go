package registry

import (
	"io"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/crac-build/crac-build/internal/progress"
)

// TrackReads returns img whose layers report the compressed bytes read from
// them to f, as one operation op (progress.Pull for a registry image)
// named name, out of the sum of the layers' sizes. The operation starts at
// the first read: an image that is never read (already unpacked) reports
// nothing. finish reports it complete, if it started.
func TrackReads(img v1.Image, f progress.Func, op, name string) (tracked v1.Image, finish func()) {
	if f == nil {
		return img, func() {}
	}
	t := &tracker{f: f, op: op, name: name, img: img}
	return &trackedImage{Image: img, t: t}, t.finish
}

type tracker struct {
	f        progress.Func
	op, name string
	img      v1.Image
	once     sync.Once
	c        *progress.Counter
}

func (t *tracker) counter() *progress.Counter {
	t.once.Do(func() {
		var total int64
		if ls, err := t.img.Layers(); err == nil {
			for _, l := range ls {
				if n, err := l.Size(); err == nil {
					total += n
				}
			}
		}
		t.c = progress.NewCounter(t.f, t.op, t.name, total)
	})
	return t.c
}

func (t *tracker) finish() {
	t.once.Do(func() {}) // a tracker never read stays silent
	if t.c != nil {
		t.c.Finish()
	}
}

type trackedImage struct {
	v1.Image
	t *tracker
}

func (i *trackedImage) Layers() ([]v1.Layer, error) {
	ls, err := i.Image.Layers()
	if err != nil {
		return nil, err
	}
	out := make([]v1.Layer, len(ls))
	for j, l := range ls {
		if out[j], err = partial.CompressedToLayer(&countedLayer{l: l, t: i.t}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (i *trackedImage) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	l, err := i.Image.LayerByDigest(h)
	if err != nil {
		return nil, err
	}
	return partial.CompressedToLayer(&countedLayer{l: l, t: i.t})
}

// countedLayer is a partial.CompressedLayer (no Uncompressed of its own:
// partial derives it from the counted compressed stream).
type countedLayer struct {
	l v1.Layer
	t *tracker
}

func (c *countedLayer) Digest() (v1.Hash, error)            { return c.l.Digest() }
func (c *countedLayer) DiffID() (v1.Hash, error)            { return c.l.DiffID() }
func (c *countedLayer) Size() (int64, error)                { return c.l.Size() }
func (c *countedLayer) MediaType() (types.MediaType, error) { return c.l.MediaType() }
func (c *countedLayer) Compressed() (io.ReadCloser, error) {
	rc, err := c.l.Compressed()
	if err != nil {
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{c.t.counter().Reader(rc), rc}, nil
}
