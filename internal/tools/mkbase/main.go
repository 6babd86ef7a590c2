// Command mkbase turns a root filesystem tarball (as written by mmdebstrap)
// into a single-layer OCI image and stores it in an OCI image layout under a
// tag, i.e. with the org.opencontainers.image.ref.name annotation in the
// layout's index.json, so that it can be used as oci-layout:DIR:TAG.
//
//	go run ./internal/tools/mkbase -rootfs build/cache/base-jre17.rootfs.tar \
//	    -layout build/base -tag jre17 -env JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64
//
// The tar entries are normalised for reproducibility: names lose their "./"
// prefix, the root entry is dropped, user/group names and access/change times
// are cleared, modification times are clamped to SOURCE_DATE_EPOCH, and only
// xattr PAX records are kept. Character and block device nodes are dropped
// (container runtimes provide /dev). Numeric owners and modes are kept as they
// are. The image's created time is SOURCE_DATE_EPOCH (0 if unset).
//
// The layout is updated atomically: a copy of it (blobs hard-linked) is
// updated in a temporary sibling directory, unreferenced blobs are removed,
// and the directory is swapped in with a rename, so a failed run leaves the
// previous layout untouched.
package main

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/match"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"
	"golang.org/x/sys/unix"
)

const refNameAnnotation = "org.opencontainers.image.ref.name"

const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// listFlag collects repeated -env / -label flags.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

type options struct {
	rootfs     string
	layoutDir  string
	tag        string
	arch       string
	env        []string
	labels     map[string]string
	cmd        []string
	createdBy  string
	created    time.Time
	level      int
	digestFile string
	gc         bool
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("mkbase: ")

	var (
		o              options
		envs, labels   listFlag
		cmdJSON, epoch string
	)
	flag.StringVar(&o.rootfs, "rootfs", "", "root filesystem `tarball` (uncompressed tar)")
	flag.StringVar(&o.layoutDir, "layout", "", "OCI image layout `dir`ectory to create or update")
	flag.StringVar(&o.tag, "tag", "", "tag (org.opencontainers.image.ref.name) of the image in the layout")
	flag.StringVar(&o.arch, "arch", runtime.GOARCH, "image architecture")
	flag.Var(&envs, "env", "`KEY=VALUE` for the image config's Env (repeatable; PATH defaults to the Debian default)")
	flag.Var(&labels, "label", "`KEY=VALUE` image label (repeatable)")
	flag.StringVar(&cmdJSON, "cmd", `["java","-version"]`, "image Cmd as a JSON array (empty for none)")
	flag.StringVar(&o.createdBy, "created-by", "", "history created_by text for the layer (default: mkbase and the rootfs name)")
	flag.StringVar(&epoch, "epoch", os.Getenv("SOURCE_DATE_EPOCH"), "created time and mtime clamp, in Unix `seconds` (default $SOURCE_DATE_EPOCH, else 0)")
	// Level 6 vs 9 on the JRE rootfs: 112.4 vs 109.5 MB, 6.5 vs 20 s.
	flag.IntVar(&o.level, "level", 6, "gzip compression level of the layer (1-9)")
	flag.StringVar(&o.digestFile, "digest-file", "", "write the manifest digest to this `file`")
	flag.BoolVar(&o.gc, "gc", true, "remove blobs no longer referenced from the layout's index.json")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: mkbase -rootfs FILE -layout DIR -tag TAG [flags]\n")
		flag.PrintDefaults()
	}
	flag.Parse()

	if o.rootfs == "" || o.layoutDir == "" || o.tag == "" || flag.NArg() != 0 {
		flag.Usage()
		os.Exit(2)
	}
	var err error
	if o.created, err = parseEpoch(epoch); err != nil {
		log.Fatal(err)
	}
	if o.env, err = buildEnv(envs); err != nil {
		log.Fatal(err)
	}
	if o.labels, err = parseLabels(labels); err != nil {
		log.Fatal(err)
	}
	if cmdJSON != "" {
		if err := json.Unmarshal([]byte(cmdJSON), &o.cmd); err != nil {
			log.Fatalf("parse -cmd %q: %v", cmdJSON, err)
		}
	}
	if o.createdBy == "" {
		o.createdBy = "mkbase -rootfs " + filepath.Base(o.rootfs)
	}

	digest, err := run(&o)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("oci-layout:%s:%s %s\n", o.layoutDir, o.tag, digest)
	if o.digestFile != "" {
		if err := os.WriteFile(o.digestFile, []byte(digest.String()+"\n"), 0o644); err != nil {
			log.Fatalf("write digest file: %v", err)
		}
	}
}

func parseEpoch(s string) (time.Time, error) {
	if s == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, fmt.Errorf("parse SOURCE_DATE_EPOCH %q: not a non-negative integer", s)
	}
	return time.Unix(n, 0).UTC(), nil
}

// buildEnv returns the image Env: PATH first (the default unless given),
// then the other variables in the order given; later values win.
func buildEnv(envs []string) ([]string, error) {
	out := []string{defaultPath}
	idx := map[string]int{"PATH": 0}
	for _, e := range envs {
		k, _, ok := strings.Cut(e, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("parse -env %q: want KEY=VALUE", e)
		}
		if i, seen := idx[k]; seen {
			out[i] = e
			continue
		}
		idx[k] = len(out)
		out = append(out, e)
	}
	return out, nil
}

func parseLabels(labels []string) (map[string]string, error) {
	if len(labels) == 0 {
		return nil, nil
	}
	m := make(map[string]string, len(labels))
	for _, l := range labels {
		k, v, ok := strings.Cut(l, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("parse -label %q: want KEY=VALUE", l)
		}
		m[k] = v
	}
	return m, nil
}

func run(o *options) (v1.Hash, error) {
	start := time.Now()
	abs, err := filepath.Abs(o.layoutDir)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("layout %s: %w", o.layoutDir, err)
	}
	parent := filepath.Dir(abs)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return v1.Hash{}, fmt.Errorf("create layout parent: %w", err)
	}

	// Serialise writers of the same layout.
	unlock, err := lockFile(filepath.Join(parent, "."+filepath.Base(abs)+".lock"))
	if err != nil {
		return v1.Hash{}, err
	}
	defer unlock()

	stage, err := os.MkdirTemp(parent, "."+filepath.Base(abs)+".tmp-")
	if err != nil {
		return v1.Hash{}, fmt.Errorf("create staging dir for %s: %w", abs, err)
	}
	if err := os.Chmod(stage, 0o755); err != nil { // MkdirTemp makes it 0700
		os.RemoveAll(stage)
		return v1.Hash{}, fmt.Errorf("chmod %s: %w", stage, err)
	}
	committed := false
	defer func() {
		if !committed {
			os.RemoveAll(stage)
		}
	}()

	existing, err := seedLayout(abs, stage)
	if err != nil {
		return v1.Hash{}, err
	}
	var lp layout.Path
	if existing {
		if lp, err = layout.FromPath(stage); err != nil {
			return v1.Hash{}, fmt.Errorf("open layout copy of %s: %w", abs, err)
		}
	} else if lp, err = layout.Write(stage, empty.Index); err != nil {
		return v1.Hash{}, fmt.Errorf("create layout %s: %w", abs, err)
	}

	// The layer blob is written straight into the staging layout (same
	// filesystem), then renamed to its digest; GCR sees it exists and skips it.
	blobDir := filepath.Join(stage, "blobs", "sha256")
	if err := os.MkdirAll(blobDir, 0o755); err != nil {
		return v1.Hash{}, fmt.Errorf("create %s: %w", blobDir, err)
	}
	lb, err := writeLayer(o.rootfs, blobDir, o.created, o.level)
	if err != nil {
		return v1.Hash{}, err
	}
	blobPath := filepath.Join(blobDir, lb.digest.Hex)
	layer, err := tarball.LayerFromOpener(
		func() (io.ReadCloser, error) { return os.Open(blobPath) },
		tarball.WithMediaType(types.OCILayer),
	)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("open layer %s: %w", blobPath, err)
	}

	img, err := buildImage(o, layer)
	if err != nil {
		return v1.Hash{}, err
	}
	digest, err := img.Digest()
	if err != nil {
		return v1.Hash{}, fmt.Errorf("compute manifest digest: %w", err)
	}
	if err := lp.ReplaceImage(img,
		match.Name(o.tag), // matches the ref.name annotation
		layout.WithAnnotations(map[string]string{refNameAnnotation: o.tag}),
	); err != nil {
		return v1.Hash{}, fmt.Errorf("write image %s to layout %s: %w", o.tag, abs, err)
	}
	if o.gc {
		removed, err := collectGarbage(stage)
		if err != nil {
			return v1.Hash{}, fmt.Errorf("gc layout %s: %w", abs, err)
		}
		if removed > 0 {
			log.Printf("removed %d unreferenced blob(s)", removed)
		}
	}
	if err := syncTree(stage); err != nil {
		return v1.Hash{}, err
	}
	if err := swapIn(stage, abs, existing); err != nil {
		return v1.Hash{}, err
	}
	committed = true
	log.Printf("layer %s: %d bytes compressed, %d uncompressed (%d entries, %d device nodes dropped); %s",
		lb.digest, lb.size, lb.uncompressed, lb.entries, lb.droppedDevices, time.Since(start).Round(time.Millisecond))
	return digest, nil
}

func buildImage(o *options, layer v1.Layer) (v1.Image, error) {
	cfg := &v1.ConfigFile{
		Architecture: o.arch,
		OS:           "linux",
		Created:      v1.Time{Time: o.created},
		Config: v1.Config{
			Env:    o.env,
			Cmd:    o.cmd,
			Labels: o.labels,
		},
		RootFS: v1.RootFS{Type: "layers"},
	}
	img, err := mutate.ConfigFile(empty.Image, cfg)
	if err != nil {
		return nil, fmt.Errorf("set image config: %w", err)
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History: v1.History{
			Created:   v1.Time{Time: o.created},
			CreatedBy: o.createdBy,
			Comment:   "rootfs " + filepath.Base(o.rootfs) + " converted by internal/tools/mkbase",
		},
	})
	if err != nil {
		return nil, fmt.Errorf("append rootfs layer: %w", err)
	}
	return img, nil
}

// layerBlob describes the compressed layer written by writeLayer.
type layerBlob struct {
	digest         v1.Hash
	size           int64
	uncompressed   int64
	entries        int
	droppedDevices int
}

// writeLayer copies the normalised entries of the rootfs tar into a gzip blob
// in dir, named by its sha256 digest.
func writeLayer(rootfs, dir string, clamp time.Time, level int) (layerBlob, error) {
	var lb layerBlob
	in, err := os.Open(rootfs)
	if err != nil {
		return lb, fmt.Errorf("open rootfs: %w", err)
	}
	defer in.Close()

	out, err := os.CreateTemp(dir, ".layer-")
	if err != nil {
		return lb, fmt.Errorf("create layer blob in %s: %w", dir, err)
	}
	defer func() {
		out.Close()
		os.Remove(out.Name()) // no-op after the rename
	}()

	compressedHash := sha256.New()
	compressed := &countingWriter{w: io.MultiWriter(out, compressedHash)}
	gz, err := gzip.NewWriterLevel(compressed, level)
	if err != nil {
		return lb, fmt.Errorf("gzip level %d: %w", level, err)
	}
	uncompressed := &countingWriter{w: gz}

	lb.entries, lb.droppedDevices, err = normalizeTar(in, uncompressed, clamp)
	if err != nil {
		return lb, fmt.Errorf("convert rootfs %s: %w", rootfs, err)
	}
	if err := gz.Close(); err != nil {
		return lb, fmt.Errorf("compress rootfs %s: %w", rootfs, err)
	}
	if err := out.Sync(); err != nil {
		return lb, fmt.Errorf("write layer blob: %w", err)
	}
	if err := out.Close(); err != nil {
		return lb, fmt.Errorf("write layer blob: %w", err)
	}
	lb.digest = v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", compressedHash.Sum(nil))}
	lb.size = compressed.n
	lb.uncompressed = uncompressed.n
	if err := os.Chmod(out.Name(), 0o644); err != nil {
		return lb, fmt.Errorf("chmod layer blob: %w", err)
	}
	if err := os.Rename(out.Name(), filepath.Join(dir, lb.digest.Hex)); err != nil {
		return lb, fmt.Errorf("rename layer blob: %w", err)
	}
	return lb, nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// normalizeTar copies a tar stream, rewriting each header as described in
// the package comment.
func normalizeTar(r io.Reader, w io.Writer, clamp time.Time) (entries, devices int, err error) {
	tr := tar.NewReader(r)
	tw := tar.NewWriter(w)
	seen := make(map[string]bool)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return entries, devices, fmt.Errorf("read entry after %d entries: %w", entries, err)
		}
		name, err := cleanName(h.Name)
		if err != nil {
			return entries, devices, err
		}
		if name == "" { // the root directory itself
			continue
		}
		if h.Typeflag == tar.TypeChar || h.Typeflag == tar.TypeBlock {
			devices++
			continue
		}
		if path.Base(name) == ".wh..wh..opq" || strings.HasPrefix(path.Base(name), ".wh.") {
			return entries, devices, fmt.Errorf("entry %q: whiteout files are not allowed in a rootfs", h.Name)
		}
		nh := &tar.Header{
			Typeflag: h.Typeflag,
			Name:     name,
			Linkname: h.Linkname,
			Size:     h.Size,
			Mode:     h.Mode,
			Uid:      h.Uid,
			Gid:      h.Gid,
			ModTime:  h.ModTime.Truncate(time.Second),
			Devmajor: h.Devmajor,
			Devminor: h.Devminor,
		}
		if nh.ModTime.After(clamp) {
			nh.ModTime = clamp
		}
		switch h.Typeflag {
		case tar.TypeDir:
			nh.Name += "/"
		case tar.TypeLink:
			if nh.Linkname, err = cleanName(h.Linkname); err != nil {
				return entries, devices, err
			}
			if !seen[nh.Linkname] {
				return entries, devices, fmt.Errorf("entry %q: hard link to %q before its target", h.Name, h.Linkname)
			}
		case tar.TypeReg, tar.TypeSymlink, tar.TypeFifo: // (the reader maps old-style TypeRegA to TypeReg)
		default:
			return entries, devices, fmt.Errorf("entry %q: unsupported tar type %q", h.Name, h.Typeflag)
		}
		for k, v := range h.PAXRecords {
			if strings.HasPrefix(k, "SCHILY.xattr.") {
				if nh.PAXRecords == nil {
					nh.PAXRecords = make(map[string]string)
				}
				nh.PAXRecords[k] = v
			}
		}
		if seen[name] {
			return entries, devices, fmt.Errorf("entry %q: duplicate", h.Name)
		}
		seen[name] = true
		if err := tw.WriteHeader(nh); err != nil {
			return entries, devices, fmt.Errorf("write header %q: %w", name, err)
		}
		if nh.Typeflag == tar.TypeReg {
			if _, err := io.Copy(tw, tr); err != nil {
				return entries, devices, fmt.Errorf("copy %q: %w", name, err)
			}
		}
		entries++
	}
	if err := tw.Close(); err != nil {
		return entries, devices, fmt.Errorf("finish tar: %w", err)
	}
	return entries, devices, nil
}

// cleanName turns "./usr/bin/" into "usr/bin" and rejects names that would
// escape the root.
func cleanName(name string) (string, error) {
	clean := path.Clean("/" + name)
	for _, el := range strings.Split(name, "/") {
		if el == ".." {
			return "", fmt.Errorf("entry %q: path escapes the root", name)
		}
	}
	return strings.TrimPrefix(clean, "/"), nil
}

// seedLayout fills stage with a copy of the layout at dir, if there is one:
// blobs are hard-linked (they are immutable and GCR never rewrites an
// existing blob of the right size), other files are copied.
func seedLayout(dir, stage string) (bool, error) {
	if _, err := os.Stat(filepath.Join(dir, "index.json")); errors.Is(err, fs.ErrNotExist) {
		if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
			return false, fmt.Errorf("layout %s: not empty but has no index.json; refusing to replace it", dir)
		}
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("layout %s: %w", dir, err)
	}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		dst := filepath.Join(stage, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(dst, 0o755)
		case !d.Type().IsRegular():
			return fmt.Errorf("%s: not a regular file", p)
		case strings.HasPrefix(rel, "blobs"+string(filepath.Separator)):
			if err := os.Link(p, dst); err == nil {
				return nil
			}
			return copyFile(p, dst)
		default:
			return copyFile(p, dst)
		}
	})
	if err != nil {
		return false, fmt.Errorf("copy layout %s: %w", dir, err)
	}
	return true, nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fi.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// collectGarbage removes blobs of the layout at dir that index.json does not
// reach. Anything it cannot parse makes it keep everything.
func collectGarbage(dir string) (int, error) {
	keep := make(map[string]bool)
	var walk func(raw []byte, depth int) error
	walk = func(raw []byte, depth int) error {
		if depth > 8 {
			return errors.New("index nesting too deep")
		}
		var m struct {
			Config    *v1.Descriptor  `json:"config"`
			Layers    []v1.Descriptor `json:"layers"`
			Manifests []v1.Descriptor `json:"manifests"`
			Blobs     []v1.Descriptor `json:"blobs"`
			Subject   *v1.Descriptor  `json:"subject"`
		}
		if err := json.Unmarshal(raw, &m); err != nil {
			return err
		}
		descs := append(append(append([]v1.Descriptor(nil), m.Layers...), m.Manifests...), m.Blobs...)
		if m.Config != nil {
			descs = append(descs, *m.Config)
		}
		if m.Subject != nil {
			descs = append(descs, *m.Subject)
		}
		for _, d := range descs {
			key := d.Digest.Algorithm + "/" + d.Digest.Hex
			if d.Digest.Hex == "" || keep[key] {
				continue
			}
			keep[key] = true
			if d.MediaType.IsIndex() || d.MediaType.IsImage() || d.MediaType == "application/vnd.oci.artifact.manifest.v1+json" {
				child, err := os.ReadFile(filepath.Join(dir, "blobs", d.Digest.Algorithm, d.Digest.Hex))
				if errors.Is(err, fs.ErrNotExist) {
					continue
				} else if err != nil {
					return err
				}
				if err := walk(child, depth+1); err != nil {
					return fmt.Errorf("%s: %w", d.Digest, err)
				}
			}
		}
		return nil
	}
	index, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		return 0, err
	}
	if err := walk(index, 0); err != nil {
		return 0, err
	}
	removed := 0
	algs, err := os.ReadDir(filepath.Join(dir, "blobs"))
	if err != nil {
		return 0, err
	}
	for _, alg := range algs {
		if !alg.IsDir() {
			continue
		}
		blobs, err := os.ReadDir(filepath.Join(dir, "blobs", alg.Name()))
		if err != nil {
			return removed, err
		}
		for _, b := range blobs {
			if keep[alg.Name()+"/"+b.Name()] {
				continue
			}
			if err := os.Remove(filepath.Join(dir, "blobs", alg.Name(), b.Name())); err != nil {
				return removed, err
			}
			removed++
		}
	}
	return removed, nil
}

// syncTree fsyncs the small files and directories of the staged layout so
// that the rename publishes complete content (the layer blob is synced when
// written; hard-linked blobs were synced before).
func syncTree(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			info, err := d.Info()
			if err != nil || info.Size() > 1<<20 {
				return err
			}
		}
		f, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("sync %s: %w", p, err)
		}
		defer f.Close()
		if err := f.Sync(); err != nil {
			return fmt.Errorf("sync %s: %w", p, err)
		}
		return nil
	})
}

// swapIn replaces dir by stage: atomically with renameat2(RENAME_EXCHANGE)
// where the filesystem supports it, else with two renames.
func swapIn(stage, dir string, existing bool) error {
	if !existing {
		if err := os.RemoveAll(dir); err != nil { // an empty directory, if any
			return fmt.Errorf("replace %s: %w", dir, err)
		}
		if err := os.Rename(stage, dir); err != nil {
			return fmt.Errorf("move layout into place: %w", err)
		}
		return syncDir(filepath.Dir(dir))
	}
	err := unix.Renameat2(unix.AT_FDCWD, stage, unix.AT_FDCWD, dir, unix.RENAME_EXCHANGE)
	if err == nil {
		// stage now holds the old layout.
		if err := syncDir(filepath.Dir(dir)); err != nil {
			return err
		}
		if err := os.RemoveAll(stage); err != nil {
			log.Printf("warning: remove old layout %s: %v", stage, err)
		}
		return nil
	}
	if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EOPNOTSUPP) {
		return fmt.Errorf("swap %s into %s: %w", stage, dir, err)
	}
	old := stage + ".old"
	if err := os.Rename(dir, old); err != nil {
		return fmt.Errorf("move old layout aside: %w", err)
	}
	if err := os.Rename(stage, dir); err != nil {
		if rerr := os.Rename(old, dir); rerr != nil {
			return fmt.Errorf("move layout into place: %w (and restoring the old one: %v)", err, rerr)
		}
		return fmt.Errorf("move layout into place: %w", err)
	}
	if err := syncDir(filepath.Dir(dir)); err != nil {
		return err
	}
	if err := os.RemoveAll(old); err != nil {
		log.Printf("warning: remove old layout %s: %v", old, err)
	}
	return nil
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

func lockFile(name string) (func(), error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", name, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	return func() { f.Close() }, nil
}
