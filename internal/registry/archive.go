package registry

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// ArchiveZstd keeps a docker archive's zstd layers as they are (Options.
// ArchiveCompression); any other value writes them gzip-compressed.
const ArchiveZstd = "zstd"

// gzipLayers returns img with every layer that is not gzip-compressed
// (zstd, uncompressed) recompressed with gzip, for a docker archive: Docker
// before Engine 23 reads no zstd layer (`docker load`: "archive/tar: invalid
// tar header"), and every Docker reads gzip. The config is the same, so are
// the layers' diff IDs and the image ID that Docker shows.
func gzipLayers(img v1.Image) (v1.Image, error) {
	ls, err := img.Layers()
	if err != nil {
		return nil, err
	}
	out := make([]v1.Layer, len(ls))
	changed := false
	for i, l := range ls {
		mt, err := l.MediaType()
		if err != nil {
			return nil, err
		}
		if mt == types.DockerLayer || mt == types.OCILayer {
			out[i] = l
			continue
		}
		// Compressed once into memory: the digest (for the manifest) and
		// the archive's copy are the same bytes.
		l := l
		gz, err := tarball.LayerFromOpener(l.Uncompressed, tarball.WithCompressedCaching, tarball.WithMediaType(types.DockerLayer))
		if err != nil {
			return nil, fmt.Errorf("gzip-compressing layer %d: %w", i, err)
		}
		out[i], changed = gz, true
	}
	if !changed {
		return img, nil
	}
	return &layersImage{Image: img, layers: out}, nil
}

// layersImage is an image whose layers were replaced by others with the
// same content (same diff IDs): its manifest names the new blobs.
type layersImage struct {
	v1.Image
	layers []v1.Layer
}

func (i *layersImage) Layers() ([]v1.Layer, error) { return i.layers, nil }

func (i *layersImage) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	for _, l := range i.layers {
		if d, err := l.Digest(); err == nil && d == h {
			return l, nil
		}
	}
	return i.Image.LayerByDigest(h)
}

func (i *layersImage) MediaType() (types.MediaType, error) { return types.DockerManifestSchema2, nil }

func (i *layersImage) Manifest() (*v1.Manifest, error) {
	m, err := i.Image.Manifest()
	if err != nil {
		return nil, err
	}
	m = m.DeepCopy()
	m.MediaType = types.DockerManifestSchema2
	m.Config.MediaType = types.DockerConfigJSON
	for n, l := range i.layers {
		d, err := l.Digest()
		if err != nil {
			return nil, err
		}
		size, err := l.Size()
		if err != nil {
			return nil, err
		}
		mt, err := l.MediaType()
		if err != nil {
			return nil, err
		}
		m.Layers[n] = v1.Descriptor{MediaType: mt, Size: size, Digest: d}
	}
	return m, nil
}

func (i *layersImage) RawManifest() ([]byte, error) {
	m, err := i.Manifest()
	if err != nil {
		return nil, err
	}
	return json.Marshal(m)
}

func (i *layersImage) Digest() (v1.Hash, error) {
	b, err := i.RawManifest()
	if err != nil {
		return v1.Hash{}, err
	}
	sum := sha256.Sum256(b)
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}, nil
}

func (i *layersImage) Size() (int64, error) {
	b, err := i.RawManifest()
	return int64(len(b)), err
}
