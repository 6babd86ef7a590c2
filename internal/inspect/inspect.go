package inspect

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/crac-build/crac-build/internal/contract"
	"github.com/crac-build/crac-build/internal/cpubaseline"
	"github.com/crac-build/crac-build/internal/registry"
)

// Roles of a warm image's layers, in order: the base's, then the three
// crac-build adds (see docs/image-contract.md).
const (
	RoleBase        = "base"
	RoleApplication = "application"
	RoleRuntime     = "runtime"
	RoleCheckpoint  = "checkpoint"
)

// Layer is one layer of the image.
type Layer struct {
	Digest    string `json:"digest"`
	MediaType string `json:"mediaType"`
	// Size is the blob's (compressed) size.
	Size      int64  `json:"size"`
	Role      string `json:"role"`
	CreatedBy string `json:"createdBy,omitempty"`
}

// Checkpoint sizes the checkpoint layer.
type Checkpoint struct {
	// CompressedBytes is the layer blob, what a pull transfers.
	CompressedBytes int64 `json:"compressedBytes"`
	// RawBytes is the uncompressed layer (a tar): CRIU images, metadata
	// and the application's filesystem changes.
	RawBytes int64 `json:"rawBytes"`
	// ImagesBytes is the sum of the CRIU image files, in ImageFiles files.
	ImagesBytes int64  `json:"imagesBytes"`
	ImageFiles  int    `json:"imageFiles"`
	Compression string `json:"compression"`
}

// Info is what inspect shows. The fields above Metadata summarise it.
type Info struct {
	Ref        string            `json:"ref"`
	Digest     string            `json:"digest"`
	Platform   string            `json:"platform"`
	Entrypoint []string          `json:"entrypoint"`
	Labels     map[string]string `json:"labels,omitempty"`
	Layers     []Layer           `json:"layers"`
	// TotalBytes is the sum of the layer blobs.
	TotalBytes int64 `json:"totalBytes"`
	Warm       bool  `json:"warm"`

	// The facts of a warm image (zero otherwise).
	Builder              string     `json:"builder,omitempty"`
	Created              *time.Time `json:"created,omitempty"`
	JVMVersion           string     `json:"jvmVersion,omitempty"`
	CriuVersion          string     `json:"criuVersion,omitempty"`
	BuildKernel          string     `json:"buildKernel,omitempty"`
	BuildArch            string     `json:"buildArch,omitempty"`
	BuildCPU             string     `json:"buildCPU,omitempty"`
	RequiredCapabilities []string   `json:"requiredCapabilities,omitempty"`
	// CPUFeatures are the instruction-set features a restoring CPU needs:
	// the CPU baseline's, or every one of the build host's CPU (native).
	CPUFeatures []string `json:"cpuFeatures,omitempty"`
	// CPUBaseline is the level the image was built for ("native" when
	// none was given).
	CPUBaseline string `json:"cpuBaseline,omitempty"`
	// CPUBaselineCPUs says which processors have the level.
	CPUBaselineCPUs string           `json:"cpuBaselineCPUs,omitempty"`
	ColdCommand     []string         `json:"coldCommand,omitempty"`
	Warmup          *contract.Warmup `json:"warmup,omitempty"`
	Checkpoint      *Checkpoint      `json:"checkpoint,omitempty"`
	// Base is the image it was built on (the labels
	// org.opencontainers.image.base.name and .digest), nil without them.
	Base *contract.BaseImage `json:"base,omitempty"`
	// User is who the application runs as (the launcher stays root); nil:
	// root.
	User *contract.User `json:"user,omitempty"`

	Metadata *contract.Metadata `json:"metadata,omitempty"`

	// JVM is what the JVM chose at its start (collector, processors, max
	// heap) and what the pre-dump steps left; Limits the CPU and memory
	// limits it was built under, OnLimitsChange the launcher's policy when
	// a container's differ.
	JVM            *contract.JVMInfo `json:"jvm,omitempty"`
	Limits         *contract.Limits  `json:"limits,omitempty"`
	OnLimitsChange string            `json:"onLimitsChange,omitempty"`

	// ClassCache is the JDK's start-up cache in the application layer
	// (kind, JDK, size); nil: the image has none.
	ClassCache *contract.ClassCache `json:"classCache,omitempty"`
}

// Image inspects the image at ref.
func Image(ctx context.Context, ref string, o registry.Options) (*Info, error) {
	img, err := registry.Load(ctx, ref, o)
	if err != nil {
		return nil, err
	}
	return FromImage(img, ref)
}

// FromImage inspects img. For a warm image it reads the checkpoint layer
// through (a pull of that layer, for a registry image).
func FromImage(img v1.Image, ref string) (*Info, error) {
	d, err := img.Digest()
	if err != nil {
		return nil, fmt.Errorf("digest of %s: %w", ref, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("config of %s: %w", ref, err)
	}
	info := &Info{Ref: ref, Digest: d.String(), Entrypoint: cf.Config.Entrypoint, Labels: cf.Config.Labels}
	if n, bd := cf.Config.Labels[contract.LabelBaseName], cf.Config.Labels[contract.LabelBaseDigest]; n != "" || bd != "" {
		info.Base = &contract.BaseImage{Name: n, Digest: bd}
	}
	info.Platform = cf.OS + "/" + cf.Architecture
	if cf.Variant != "" {
		info.Platform += "/" + cf.Variant
	}
	ls, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("layers of %s: %w", ref, err)
	}
	var hist []v1.History
	for _, h := range cf.History {
		if !h.EmptyLayer {
			hist = append(hist, h)
		}
	}
	ck := -1
	for i, l := range ls {
		ld, err := l.Digest()
		if err != nil {
			return nil, fmt.Errorf("layer %d of %s: %w", i, ref, err)
		}
		sz, err := l.Size()
		if err != nil {
			return nil, fmt.Errorf("layer %s of %s: %w", ld, ref, err)
		}
		mt, _ := l.MediaType()
		e := Layer{Digest: ld.String(), MediaType: string(mt), Size: sz, Role: RoleBase}
		if i < len(hist) {
			e.CreatedBy = hist[i].CreatedBy
			e.Role = roleOf(e.CreatedBy)
		}
		if e.Role == RoleCheckpoint {
			ck = i
		}
		info.Layers = append(info.Layers, e)
		info.TotalBytes += sz
	}
	if cf.Config.Labels[contract.LabelFormat] == "" || len(ls) == 0 {
		return info, nil // not a warm image
	}
	if ck < 0 {
		ck = len(ls) - 1 // history lost (e.g. squashed): the contract puts it last
		info.Layers[ck].Role = RoleCheckpoint
	}
	m, raw, err := readMetadata(ls[ck])
	if err != nil {
		return nil, fmt.Errorf("reading checkpoint metadata of %s: %w", ref, err)
	}
	info.Warm = true
	info.Metadata = m
	info.Builder = m.Builder
	created := m.Created
	info.Created = &created
	info.JVMVersion = m.JVMVersion
	info.CriuVersion = m.Host.CriuVersion
	info.BuildKernel = m.Host.Kernel
	info.BuildArch = m.Host.Arch
	info.BuildCPU = m.Host.CPUModel
	info.RequiredCapabilities = m.RequiredCaps
	info.CPUFeatures = cpubaseline.Needs(m)
	info.CPUBaseline = "native"
	if b := m.CPUBaseline; b != nil {
		info.CPUBaseline, info.CPUBaselineCPUs = b.Name, b.CPUs
	}
	info.ColdCommand = m.Cold.Args
	info.User = m.User
	w := m.Warmup
	info.Warmup = &w
	info.JVM, info.Limits, info.OnLimitsChange = m.JVM, m.Limits, m.OnLimitsChange
	info.ClassCache = m.ClassCache
	if m.Limits != nil && info.OnLimitsChange == "" {
		info.OnLimitsChange = contract.LimitsChangeWarn
	}
	c := &Checkpoint{CompressedBytes: info.Layers[ck].Size, RawBytes: raw, ImageFiles: len(m.Images)}
	c.Compression = compressionOf(types.MediaType(info.Layers[ck].MediaType))
	for _, f := range m.Images {
		c.ImagesBytes += f.Size
	}
	if c.RawBytes == 0 {
		c.RawBytes, _ = strconv.ParseInt(cf.Config.Labels[contract.LabelCheckpoint], 10, 64)
	}
	info.Checkpoint = c
	return info, nil
}

// roleOf names a layer by the history entry crac-build wrote for it.
func roleOf(createdBy string) string {
	switch {
	case strings.HasPrefix(createdBy, "crac-build: application"):
		return RoleApplication
	case strings.HasPrefix(createdBy, "crac-build: launcher"):
		return RoleRuntime
	case strings.HasPrefix(createdBy, "crac-build: checkpoint"):
		return RoleCheckpoint
	}
	return RoleBase
}

func compressionOf(mt types.MediaType) string {
	s := string(mt)
	switch {
	case strings.HasSuffix(s, "zstd"):
		return "zstd"
	case strings.HasSuffix(s, "gzip"):
		return "gzip"
	case strings.HasSuffix(s, "tar"):
		return "none"
	}
	return s
}

// readMetadata finds the metadata in the checkpoint layer and returns it
// with the layer's uncompressed size (it reads the layer to the end).
func readMetadata(l v1.Layer) (*contract.Metadata, int64, error) {
	rc, err := l.Uncompressed()
	if err != nil {
		return nil, 0, err
	}
	defer rc.Close()
	cr := &countReader{r: rc}
	tr := tar.NewReader(cr)
	want := strings.TrimPrefix(contract.MetadataPath, "/")
	var m *contract.Metadata
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, 0, err
		}
		if m == nil && strings.TrimPrefix(h.Name, "./") == want {
			b, err := io.ReadAll(tr)
			if err != nil {
				return nil, 0, err
			}
			if m, err = contract.Parse(b); err != nil {
				return nil, 0, err
			}
		}
	}
	if m == nil {
		return nil, 0, fmt.Errorf("no %s in the checkpoint layer", contract.MetadataPath)
	}
	// The tar's end-of-archive blocks and padding after them.
	if _, err := io.Copy(io.Discard, cr); err != nil {
		return nil, 0, err
	}
	return m, cr.n, nil
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
