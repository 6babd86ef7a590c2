package main

import (
	"archive/tar"
	"io"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// fakeTree writes small stand-ins for the binaries and a bundle: the image
// only packs files, so their content does not matter here.
func fakeTree(t *testing.T) (tool, launcher, bundle, agentJar string) {
	t.Helper()
	dir := t.TempDir()
	tool, launcher, bundle, agentJar = filepath.Join(dir, "crac-build"), filepath.Join(dir, "crac-launch"), filepath.Join(dir, "criu"), filepath.Join(dir, "crac-agent.jar")
	for _, f := range []string{tool, launcher, agentJar, filepath.Join(bundle, "criu"), filepath.Join(bundle, "lib", "libc.so.6")} {
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte(filepath.Base(f)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return tool, launcher, bundle, agentJar
}

func TestToolImage(t *testing.T) {
	tool, launcher, bundle, agentJar := fakeTree(t)
	img, err := toolImage(tool, launcher, bundle, agentJar, "test", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(img); err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(cf.Config.Entrypoint, []string{"/opt/crac-build/bin/crac-build"}); diff != "" {
		t.Errorf("entrypoint (-got +want):\n%s", diff)
	}
	if cf.OS != "linux" || cf.Architecture == "" {
		t.Errorf("platform %s/%s", cf.OS, cf.Architecture)
	}
	rc := mutate.Extract(img)
	defer rc.Close()
	var files []string
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			files = append(files, h.Name)
		}
		if h.Uid != 0 || h.Gid != 0 {
			t.Errorf("%s is owned by %d:%d", h.Name, h.Uid, h.Gid)
		}
	}
	sort.Strings(files)
	want := []string{
		"opt/crac-build/agent/crac-agent.jar",
		"opt/crac-build/bin/crac-build", "opt/crac-build/bin/crac-launch",
		"opt/crac-build/criu/criu", "opt/crac-build/criu/lib/libc.so.6",
	}
	if diff := cmp.Diff(files, want); diff != "" {
		t.Errorf("files (-got +want):\n%s", diff)
	}
}

// Two runs over the same inputs give the same image.
func TestToolImageReproducible(t *testing.T) {
	tool, launcher, bundle, agentJar := fakeTree(t)
	a, err := toolImage(tool, launcher, bundle, agentJar, "test", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b, err := toolImage(tool, launcher, bundle, agentJar, "test", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	da, _ := a.Digest()
	db, _ := b.Digest()
	if da != db {
		t.Errorf("digests differ: %s, %s", da, db)
	}
}
