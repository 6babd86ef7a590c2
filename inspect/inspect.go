// Package inspect reads what a warm image says about itself: its labels,
// its layers, and the checkpoint metadata in its last layer.
package inspect

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/crac-build/crac-build/contract"
	"github.com/crac-build/crac-build/registry"
)

// Layer is one layer of the image.
type Layer struct {
	Digest    string `json:"digest"`
	MediaType string `json:"mediaType"`
	Size      int64  `json:"size"`
	CreatedBy string `json:"createdBy,omitempty"`
}

// Info is what inspect shows.
type Info struct {
	Ref        string             `json:"ref"`
	Digest     string             `json:"digest"`
	Entrypoint []string           `json:"entrypoint"`
	Labels     map[string]string  `json:"labels,omitempty"`
	Layers     []Layer            `json:"layers"`
	Metadata   *contract.Metadata `json:"metadata,omitempty"`
	// CheckpointRawBytes is the size of the CRIU image files.
	CheckpointRawBytes int64 `json:"checkpointRawBytes"`
}

// Image inspects the image at ref.
func Image(ctx context.Context, ref string, o registry.Options) (*Info, error) {
	img, err := registry.Load(ctx, ref, o)
	if err != nil {
		return nil, err
	}
	return FromImage(img, ref)
}

// FromImage inspects img.
func FromImage(img v1.Image, ref string) (*Info, error) {
	d, err := img.Digest()
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	info := &Info{Ref: ref, Digest: d.String(), Entrypoint: cf.Config.Entrypoint, Labels: cf.Config.Labels}
	ls, err := img.Layers()
	if err != nil {
		return nil, err
	}
	var hist []v1.History
	for _, h := range cf.History {
		if !h.EmptyLayer {
			hist = append(hist, h)
		}
	}
	for i, l := range ls {
		ld, _ := l.Digest()
		sz, _ := l.Size()
		mt, _ := l.MediaType()
		e := Layer{Digest: ld.String(), MediaType: string(mt), Size: sz}
		if i < len(hist) {
			e.CreatedBy = hist[i].CreatedBy
		}
		info.Layers = append(info.Layers, e)
	}
	if cf.Config.Labels[contract.LabelFormat] == "" || len(ls) == 0 {
		return info, nil // not a warm image
	}
	m, err := readMetadata(ls[len(ls)-1])
	if err != nil {
		return nil, fmt.Errorf("reading checkpoint metadata of %s: %w", ref, err)
	}
	info.Metadata = m
	for _, f := range m.Images {
		info.CheckpointRawBytes += f.Size
	}
	return info, nil
}

func readMetadata(l v1.Layer) (*contract.Metadata, error) {
	rc, err := l.Uncompressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	want := strings.TrimPrefix(contract.MetadataPath, "/")
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil, fmt.Errorf("no %s in the last layer", contract.MetadataPath)
		}
		if err != nil {
			return nil, err
		}
		if strings.TrimPrefix(h.Name, "./") == want {
			b, err := io.ReadAll(tr)
			if err != nil {
				return nil, err
			}
			return contract.Parse(b)
		}
	}
}
