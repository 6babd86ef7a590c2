// Command mkimage makes the crac-build image: crac-build, the launcher,
// the CRIU bundle and the org.crac agent under /opt/crac-build, on no base at all (every file is
// static or brings its own loader), so that a Containerfile can
// `COPY --from=` it and CI can copy the tools out of it.
//
//	go run ./internal/tools/mkimage -crac-build bin/crac-build \
//	    -launcher bin/crac-launch -criu-bundle build/criu -agent bin/crac-agent.jar \
//	    -output oci-layout:build/image:crac-build
//
// The layer is reproducible (layers.Tar: sorted, uid/gid 0, times from
// SOURCE_DATE_EPOCH) and gzip-compressed, which every builder and runtime
// reads.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/crac-build/crac-build/internal/builder"
	"github.com/crac-build/crac-build/internal/contract"
	"github.com/crac-build/crac-build/internal/layers"
	"github.com/crac-build/crac-build/internal/registry"
)

// ToolPath is where crac-build itself lives in the image: beside the
// launcher, so one COPY of /opt/crac-build brings everything.
const ToolPath = contract.Prefix + "/bin/crac-build"

func main() {
	log.SetFlags(0)
	log.SetPrefix("mkimage: ")
	tool := flag.String("crac-build", "bin/crac-build", "crac-build binary (static)")
	launcher := flag.String("launcher", "bin/crac-launch", "crac-launch binary (static)")
	bundle := flag.String("criu-bundle", "build/criu", "CRIU bundle dir")
	agentJar := flag.String("agent", "bin/crac-agent.jar", "crac-agent.jar, the org.crac agent")
	output := flag.String("output", "oci-layout:build/image:crac-build", "where to write the image (oci-layout:DIR:TAG, docker-archive:FILE:REPO:TAG or a registry)")
	version := flag.String("version", "dev", "version label")
	flag.Parse()

	dir, err := os.MkdirTemp("", "mkimage-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	img, err := toolImage(*tool, *launcher, *bundle, *agentJar, *version, dir)
	if err == nil {
		err = registry.Write(context.Background(), img, *output, registry.Options{})
	}
	if err != nil {
		os.RemoveAll(dir)
		log.Fatal(err)
	}
	d, _ := img.Digest()
	fmt.Printf("%s %s\n", *output, d)
}

// toolImage is the crac-build image; dir holds its layer blob.
func toolImage(tool, launcher, bundle, agentJar, version, dir string) (v1.Image, error) {
	t, err := builder.RuntimeTar(launcher, bundle, agentJar)
	if err != nil {
		return nil, err
	}
	if err := t.AddHost(tool, ToolPath); err != nil {
		return nil, fmt.Errorf("adding crac-build: %w", err)
	}
	l, err := layers.Write(t, dir, layers.WriteOptions{Compression: layers.Gzip})
	if err != nil {
		return nil, fmt.Errorf("writing the layer: %w", err)
	}
	created := v1.Time{Time: layers.SourceDateEpoch()}
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.Append(base, mutate.Addendum{Layer: l, History: v1.History{
		Created:   created,
		CreatedBy: "mkimage: crac-build, crac-launch, the CRIU bundle and the agent in " + contract.Prefix,
	}})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = registry.HostPlatform().Architecture, "linux"
	cf.Created = created
	cf.Config.Entrypoint = []string{ToolPath}
	cf.Config.Env = []string{"PATH=" + filepath.Dir(ToolPath) + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	cf.Config.Labels = map[string]string{
		"org.opencontainers.image.title":       "crac-build",
		"org.opencontainers.image.description": "crac-build, crac-launch, a CRIU bundle and the org.crac agent under " + contract.Prefix,
		"org.opencontainers.image.version":     version,
	}
	return mutate.ConfigFile(img, cf)
}
