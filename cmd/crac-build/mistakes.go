package main

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/crac-build/crac-build/internal/builder"
	"github.com/crac-build/crac-build/internal/registry"
)

// The likely mistakes that `crac-build build` can see before it reads the
// base image (a build takes a minute; these take a millisecond), each said
// in one line that names the fix. The ones only a run can see (nothing
// answering on the port, a wrong ready URL, an application that exits, a
// base without java) are the builder's.

// buildHost is what those checks ask of the machine: a seam for tests.
type buildHost struct {
	euid     int
	lookPath func(string) (string, error)
	stat     func(string) (os.FileInfo, error)
}

func thisHost() buildHost {
	return buildHost{euid: os.Geteuid(), lookPath: exec.LookPath, stat: os.Stat}
}

// checkBuild says what keeps a build with o from running on h, or nil.
func (h buildHost) checkBuild(o builder.Options) error {
	if h.euid != 0 {
		return errors.New("crac-build build needs root (it mounts the image's layers and runs runc): run it as root, e.g. with sudo; `crac-build doctor` lists what else is missing")
	}
	rt := o.Runtime
	if rt == "" {
		rt = "runc"
	}
	if _, err := h.lookPath(rt); err != nil {
		return fmt.Errorf("the OCI runtime %s is not installed: apt-get install runc (Debian, Ubuntu) or dnf install runc, or name another with --runtime", rt)
	}
	for _, out := range o.Outputs {
		if err := h.checkOutput(out); err != nil {
			return err
		}
	}
	return nil
}

// checkOutput refuses an --output that the build could not write at its
// end: a layout over something that is not one, an archive over a
// directory. An existing layout gets the tag (other tags stay); an
// existing archive is replaced.
func (h buildHost) checkOutput(out string) error {
	r, err := registry.ParseRef(out)
	if err != nil {
		return fmt.Errorf("--output %s: %w", out, err)
	}
	fi, err := h.stat(r.Path)
	if r.Path == "" || errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("--output %s: %w", out, err)
	}
	switch r.Kind {
	case registry.KindOCILayout:
		if !fi.IsDir() {
			return fmt.Errorf("--output %s: %s exists and is a file, not an OCI layout directory: name a new directory (oci-layout:DIR:TAG) or remove the file", out, r.Path)
		}
		if _, err := h.stat(filepath.Join(r.Path, "index.json")); err == nil {
			return nil
		}
		if empty, _ := isEmptyDir(r.Path); !empty {
			return fmt.Errorf("--output %s: %s exists and is not an OCI image layout (no index.json): name a new directory or an existing layout", out, r.Path)
		}
	case registry.KindDockerArchive:
		if fi.IsDir() {
			return fmt.Errorf("--output %s: %s is a directory: name the archive's file, e.g. docker-archive:%s:%s", out, r.Path, filepath.Join(r.Path, "app.tar"), r.Tag)
		}
	}
	return nil
}

func isEmptyDir(dir string) (bool, error) {
	f, err := os.Open(dir)
	if err != nil {
		return false, err
	}
	defer f.Close()
	names, err := f.Readdirnames(1)
	return len(names) == 0, err
}

// explain puts the fix in front of errors whose cause is the user's to
// remedy and that the libraries word for a protocol: a registry that
// refused the credentials.
func explain(err error) error {
	var te *transport.Error
	if errors.As(err, &te) && (te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden) {
		host := "REGISTRY"
		if te.Request != nil && te.Request.URL != nil {
			host = te.Request.URL.Host
		}
		return fmt.Errorf("the registry %s refused access (%d %s): log in with `docker login %s` (crac-build reads ~/.docker/config.json and its credential helpers), and check the repository's name\n%w",
			host, te.StatusCode, http.StatusText(te.StatusCode), host, err)
	}
	return err
}
