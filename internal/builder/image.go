package builder

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/crac-build/crac-build/internal/contract"
	"github.com/crac-build/crac-build/internal/cpubaseline"
	"github.com/crac-build/crac-build/internal/layers"
)

// assemble appends the application, runtime and checkpoint layers to the
// base and sets the config: the launcher as ENTRYPOINT, the environment,
// the port and the labels of the image contract.
func assemble(base v1.Image, baseCfg *v1.ConfigFile, ls []*layers.Layer, meta *contract.Metadata, env []string, workDir string, o Options) (v1.Image, error) {
	what := []string{
		"crac-build: application files",
		"crac-build: launcher and CRIU bundle " + meta.Host.CriuVersion,
		"crac-build: checkpoint of " + strings.Join(meta.Cold.Args, " "),
	}
	created := v1.Time{Time: meta.Created}
	adds := make([]mutate.Addendum, len(ls))
	for i, l := range ls {
		adds[i] = mutate.Addendum{Layer: l, History: v1.History{CreatedBy: what[i], Created: created, Comment: "crac-build " + o.Version}}
	}
	img, err := mutate.Append(base, adds...)
	if err != nil {
		return nil, fmt.Errorf("appending layers: %w", err)
	}
	cfg := baseCfg.DeepCopy()
	cfg.Created = created
	cfg.Config.Entrypoint = []string{contract.LauncherPath}
	cfg.Config.Cmd = nil
	// The launcher runs as the container's root: a non-root process has
	// no effective CAP_CHECKPOINT_RESTORE (Docker and podman grant added
	// capabilities to root only, not as ambient ones). It drops to the
	// base's USER for the application (contract.User, the user label).
	cfg.Config.User = ""
	cfg.Config.Env = env
	cfg.Config.WorkingDir = workDir
	if o.Port > 0 {
		if cfg.Config.ExposedPorts == nil {
			cfg.Config.ExposedPorts = map[string]struct{}{}
		}
		cfg.Config.ExposedPorts[strconv.Itoa(o.Port)+"/tcp"] = struct{}{}
	}
	if cfg.Config.Labels == nil {
		cfg.Config.Labels = map[string]string{}
	}
	for k, v := range Labels(meta, ls[2].RawSize()) {
		cfg.Config.Labels[k] = v
	}
	for k, v := range ProvenanceLabels(meta) {
		cfg.Config.Labels[k] = v
	}
	// mutate.Append already recorded the layers' diff IDs and history.
	withLayers, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg.RootFS = withLayers.RootFS
	cfg.History = withLayers.History
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		return nil, fmt.Errorf("setting image config: %w", err)
	}
	return img, nil
}

// Labels are the facts of the metadata that `inspect` and registries show
// without reading the checkpoint layer.
func Labels(m *contract.Metadata, rawCheckpoint int64) map[string]string {
	h := sha256.Sum256([]byte(strings.Join(cpubaseline.Needs(m), " ")))
	l := map[string]string{
		contract.LabelFormat:      strconv.Itoa(m.FormatVersion),
		contract.LabelVersion:     m.Builder,
		contract.LabelCriu:        m.Host.CriuVersion,
		contract.LabelKernel:      m.Host.Kernel,
		contract.LabelJVM:         m.JVMVersion,
		contract.LabelCaps:        strings.Join(m.RequiredCaps, ","),
		contract.LabelCPUFeatures: hex.EncodeToString(h[:]),
		contract.LabelCheckpoint:  strconv.FormatInt(rawCheckpoint, 10),
		contract.LabelCreated:     m.Created.Format(time.RFC3339),
	}
	if m.JVM != nil && m.JVM.GC != "" {
		l[contract.LabelGC] = m.JVM.GC
	}
	if m.CPUBaseline != nil {
		l[contract.LabelCPUBaseline] = m.CPUBaseline.Name
	}
	if m.User != nil {
		l[contract.LabelUser] = fmt.Sprintf("%d:%d", m.User.UID, m.User.GID)
	}
	if m.Limits != nil {
		l[contract.LabelLimits] = fmt.Sprintf("cpus=%d,memory=%d", m.Limits.CPUs, m.Limits.MemoryBytes)
	}
	return l
}

// ProvenanceLabels say where the image comes from: the base image (by the
// OCI spec's keys) and the build host's CPU. The builder's version, the
// kernel and the time are in Labels.
func ProvenanceLabels(m *contract.Metadata) map[string]string {
	out := map[string]string{}
	if m.Base != nil {
		out[contract.LabelBaseName] = m.Base.Name
		out[contract.LabelBaseDigest] = m.Base.Digest
	}
	if m.Host.CPUModel != "" {
		out[contract.LabelCPUModel] = m.Host.CPUModel
	}
	return out
}
