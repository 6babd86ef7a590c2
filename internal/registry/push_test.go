package registry

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/crac-build/crac-build/internal/layers"
	"github.com/crac-build/crac-build/internal/progress"
)

// noCreds never reads the host's Docker credentials.
var noCreds = authn.NewMultiKeychain()

// fastRetries keeps the retry tests short; the policy is the same.
var fastRetries = &remote.Backoff{Duration: time.Millisecond, Factor: 2, Steps: 3}

// recorder wraps the in-process registry, counting completed blob uploads
// by digest and optionally failing some requests.
type recorder struct {
	mu      sync.Mutex
	uploads map[string]int // digest -> completed uploads
	tries   map[string]int // digest -> upload completions attempted
	// fail, if set, may answer a request itself (returns true).
	fail func(w http.ResponseWriter, r *http.Request, try int) bool
	next http.Handler
}

func newRegistry(t *testing.T, rec *recorder) string {
	t.Helper()
	rec.uploads, rec.tries = map[string]int{}, map[string]int{}
	rec.next = ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	s := httptest.NewServer(rec)
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://")
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// A blob upload ends with PUT .../blobs/uploads/<id>?digest=sha256:...
	d := r.URL.Query().Get("digest")
	completing := r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/blobs/uploads/") && d != ""
	if completing {
		rec.mu.Lock()
		rec.tries[d]++
		try := rec.tries[d]
		rec.mu.Unlock()
		if rec.fail != nil && rec.fail(w, r, try) {
			return
		}
	}
	sw := &statusWriter{ResponseWriter: w}
	rec.next.ServeHTTP(sw, r)
	if completing && sw.code == http.StatusCreated {
		rec.mu.Lock()
		rec.uploads[d]++
		rec.mu.Unlock()
	}
}

func (rec *recorder) snapshot() map[string]int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	out := map[string]int{}
	for k, v := range rec.uploads {
		out[k] = v
	}
	return out
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (s *statusWriter) WriteHeader(c int) {
	s.code = c
	s.ResponseWriter.WriteHeader(c)
}

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// testLayer is a reproducible layer holding one file.
func testLayer(t *testing.T, name, content string) v1.Layer {
	t.Helper()
	tr := layers.NewTar()
	if err := tr.AddBytes(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := layers.Write(tr, t.TempDir(), layers.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func digestOf(t *testing.T, x interface{ Digest() (v1.Hash, error) }) string {
	t.Helper()
	d, err := x.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// The runtime layer (launcher + CRIU bundle) is the same in every image:
// once a registry has it, later pushes must not send it again.
func TestPushUploadsOnlyMissingBlobs(t *testing.T) {
	rec := &recorder{}
	reg := newRegistry(t, rec)
	base, err := random.Image(2048, 2)
	if err != nil {
		t.Fatal(err)
	}
	runtimeLayer := testLayer(t, "opt/crac-build/bin/crac-launch", "the launcher")
	img1, err := mutate.AppendLayers(base, runtimeLayer, testLayer(t, "checkpoint", "one"))
	if err != nil {
		t.Fatal(err)
	}
	ckpt2 := testLayer(t, "checkpoint", "two")
	img2, err := mutate.AppendLayers(base, runtimeLayer, ckpt2)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	if err := Write(ctx, img1, reg+"/app:1", Options{Keychain: noCreds}); err != nil {
		t.Fatal(err)
	}
	first := rec.snapshot()
	// 2 base layers, runtime, checkpoint, config.
	if len(first) != 5 {
		t.Errorf("first push uploaded %d blobs, want 5: %v", len(first), first)
	}

	var updates []progress.Update
	err = Write(ctx, img2, reg+"/app:2", Options{Keychain: noCreds, Progress: func(u progress.Update) { updates = append(updates, u) }})
	if err != nil {
		t.Fatal(err)
	}
	second := rec.snapshot()
	cfg2, _ := img2.ConfigName()
	want := map[string]int{digestOf(t, ckpt2): 1, cfg2.String(): 1}
	got := map[string]int{}
	for d, n := range second {
		if n != first[d] {
			got[d] = n - first[d]
		}
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("second push uploaded other blobs than the new checkpoint and config (-got +want):\n%s", diff)
	}
	if second[digestOf(t, runtimeLayer)] != 1 {
		t.Errorf("runtime layer uploaded %d times, want once", second[digestOf(t, runtimeLayer)])
	}
	if len(updates) == 0 {
		t.Fatal("push reported no progress")
	}
	last := updates[len(updates)-1]
	if last.Op != progress.Push || last.Name != reg+"/app:2" || last.Total == 0 || last.Done != last.Total {
		t.Errorf("last progress update %+v, want a complete push of %s", last, reg+"/app:2")
	}

	// The same image again: nothing at all.
	if err := Write(ctx, img2, reg+"/app:2", Options{Keychain: noCreds}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(rec.snapshot(), second); diff != "" {
		t.Errorf("pushing the same image again uploaded blobs (-got +want):\n%s", diff)
	}
}

func TestFailedPushLeavesNoTag(t *testing.T) {
	rec := &recorder{}
	reg := newRegistry(t, rec)
	bad := testLayer(t, "checkpoint", "never stored")
	img, err := mutate.AppendLayers(empty.Image, testLayer(t, "app", "ok"), bad)
	if err != nil {
		t.Fatal(err)
	}
	rec.fail = func(w http.ResponseWriter, r *http.Request, _ int) bool {
		if r.URL.Query().Get("digest") != digestOf(t, bad) {
			return false
		}
		http.Error(w, `{"errors":[{"code":"UNKNOWN","message":"disk full"}]}`, http.StatusInternalServerError)
		return true
	}
	ref := reg + "/app:broken"
	err = Write(context.Background(), img, ref, Options{Keychain: noCreds, backoff: fastRetries})
	if err == nil {
		t.Fatal("push with a failing blob upload succeeded")
	}
	if !strings.Contains(err.Error(), "pushing "+ref) {
		t.Errorf("error %q does not name the operation and reference", err)
	}
	if n := rec.tries[digestOf(t, bad)]; n != fastRetries.Steps {
		t.Errorf("failing upload tried %d times, want %d (the retry policy)", n, fastRetries.Steps)
	}
	if _, err := remote.Head(mustRef(t, ref)); err == nil {
		t.Errorf("tag %s exists after a failed push", ref)
	}
}

func TestPushRetriesTransientErrors(t *testing.T) {
	rec := &recorder{}
	reg := newRegistry(t, rec)
	l := testLayer(t, "app", "content")
	img, err := mutate.AppendLayers(empty.Image, l)
	if err != nil {
		t.Fatal(err)
	}
	rec.fail = func(w http.ResponseWriter, r *http.Request, try int) bool {
		if r.URL.Query().Get("digest") != digestOf(t, l) || try > 1 {
			return false
		}
		http.Error(w, "restarting", http.StatusServiceUnavailable)
		return true
	}
	ref := reg + "/app:retried"
	if err := Write(context.Background(), img, ref, Options{Keychain: noCreds, backoff: fastRetries}); err != nil {
		t.Fatalf("push with one 503 failed: %v", err)
	}
	if n := rec.tries[digestOf(t, l)]; n != 2 {
		t.Errorf("upload tried %d times, want 2", n)
	}
	got, err := remote.Image(mustRef(t, ref))
	if err != nil {
		t.Fatalf("pulling %s: %v", ref, err)
	}
	if digestOf(t, got) != digestOf(t, img) {
		t.Errorf("pulled digest %s, pushed %s", digestOf(t, got), digestOf(t, img))
	}
}

// Credentials come from the Docker config ($DOCKER_CONFIG/config.json), as
// `docker login` writes it.
func TestPushUsesDockerConfigCredentials(t *testing.T) {
	inner := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte("ci:s3cret"))
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != want {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		inner.ServeHTTP(w, r)
	}))
	defer s.Close()
	reg := strings.TrimPrefix(s.URL, "http://")
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref := reg + "/app:auth"

	t.Setenv("DOCKER_CONFIG", t.TempDir())
	err = Write(context.Background(), img, ref, Options{backoff: fastRetries})
	if err == nil || !strings.Contains(err.Error(), "401") && !strings.Contains(strings.ToLower(err.Error()), "unauthorized") {
		t.Fatalf("push without credentials: %v, want an authorization error", err)
	}

	dir := t.TempDir()
	cfg := fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, reg, base64.StdEncoding.EncodeToString([]byte("ci:s3cret")))
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", dir)
	if err := Write(context.Background(), img, ref, Options{}); err != nil {
		t.Fatalf("push with credentials in the Docker config: %v", err)
	}
}

func TestCheckHostArch(t *testing.T) {
	if err := CheckHostArch(nil); err != nil {
		t.Errorf("no platform: %v", err)
	}
	h := HostPlatform()
	if err := CheckHostArch(&h); err != nil {
		t.Errorf("host platform: %v", err)
	}
	if err := CheckHostArch(&v1.Platform{OS: "linux", Architecture: "riscv64"}); err == nil || !strings.Contains(err.Error(), "linux/riscv64") {
		t.Errorf("other arch: %v, want an error naming linux/riscv64", err)
	}
	for _, bad := range []string{"linux", "/amd64"} {
		if _, err := ParsePlatform(bad); err == nil {
			t.Errorf("ParsePlatform(%q) accepted it", bad)
		}
	}
}

// TrackReads reports the compressed bytes of a pull once the image is
// read, and nothing for an image never read.
func TestTrackReads(t *testing.T) {
	img, err := random.Image(4096, 3)
	if err != nil {
		t.Fatal(err)
	}
	var ups []progress.Update
	tracked, finish := TrackReads(img, func(u progress.Update) { ups = append(ups, u) }, progress.Pull, "base")
	_, finish2 := TrackReads(img, func(u progress.Update) { t.Errorf("unread image reported %+v", u) }, progress.Pull, "unread")
	finish2()
	rc := mutate.Extract(tracked)
	if _, err := io.Copy(io.Discard, rc); err != nil {
		t.Fatal(err)
	}
	rc.Close()
	finish()
	var total int64
	ls, _ := img.Layers()
	for _, l := range ls {
		n, _ := l.Size()
		total += n
	}
	if len(ups) < 2 {
		t.Fatalf("got %d updates", len(ups))
	}
	last := ups[len(ups)-1]
	if last.Op != progress.Pull || last.Name != "base" || last.Total != total || last.Done != total {
		t.Errorf("last update %+v, want pull of base done %d of %d", last, total, total)
	}
}
