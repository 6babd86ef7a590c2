package builder

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/crac-build/crac-build/internal/contract"
	"github.com/crac-build/crac-build/internal/layers"
	"github.com/crac-build/crac-build/internal/registry"
)

func TestWithJVMFlags(t *testing.T) {
	flags := strings.Join(jvmFlags, " ")
	for _, tc := range []struct {
		cmd  []string
		want string
	}{
		{[]string{"java", "-jar", "app.jar"}, "java " + flags + " -jar app.jar"},
		{[]string{"/usr/bin/java", "-cp", "x", "Main"}, "/usr/bin/java " + flags + " -cp x Main"},
		{[]string{"/opt/java/openjdk/bin/java"}, "/opt/java/openjdk/bin/java " + flags},
		{[]string{"sh", "-c", "java -jar app.jar"}, "sh -c java -jar app.jar"},
		{[]string{"/app/run.sh"}, "/app/run.sh"},
		{[]string{"javaw", "x"}, "javaw x"},
	} {
		in := append([]string(nil), tc.cmd...)
		got := withJVMFlags(in, jvmFlags)
		if strings.Join(got, " ") != tc.want {
			t.Errorf("withJVMFlags(%q) = %q, want %q", tc.cmd, got, tc.want)
		}
		if !cmp.Equal(in, tc.cmd) {
			t.Errorf("withJVMFlags changed its argument to %q", in)
		}
	}
	// The flags the checkpoint depends on are there.
	for _, f := range []string{"-XX:-UsePerfData"} {
		if !strings.Contains(flags, f) {
			t.Errorf("jvmFlags lack %s", f)
		}
	}
}

func TestJVMEnv(t *testing.T) {
	flags := strings.Join(jvmFlags, " ")
	env := []string{"PATH=/usr/bin", "JAVA_TOOL_OPTIONS=-Xss1m", "LANG=C"}
	orig := append([]string(nil), env...)
	for _, tc := range []struct {
		name string
		cmd  []string
		env  []string
		want []string
	}{
		{"java itself", []string{"/usr/bin/java", "-jar", "x"}, env, env},
		{"script, no JAVA_TOOL_OPTIONS", []string{"/app/run.sh"}, []string{"PATH=/usr/bin"}, []string{"PATH=/usr/bin", "JAVA_TOOL_OPTIONS=" + flags}},
		{"script, JAVA_TOOL_OPTIONS set", []string{"sh", "/app/run.sh"}, env, []string{"PATH=/usr/bin", "JAVA_TOOL_OPTIONS=-Xss1m " + flags, "LANG=C"}},
		{"script, JAVA_TOOL_OPTIONS empty", []string{"/app/run.sh"}, []string{"JAVA_TOOL_OPTIONS="}, []string{"JAVA_TOOL_OPTIONS=" + flags}},
		{"script, no env", []string{"/app/run.sh"}, nil, []string{"JAVA_TOOL_OPTIONS=" + flags}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := jvmEnv(tc.cmd, tc.env, jvmFlags)
			if diff := cmp.Diff(got, tc.want); diff != "" {
				t.Errorf("jvmEnv (-got +want):\n%s", diff)
			}
		})
	}
	if diff := cmp.Diff(env, orig); diff != "" {
		t.Errorf("jvmEnv changed its env argument (-got +want):\n%s", diff)
	}
}

func TestSkipInDiff(t *testing.T) {
	for rel, want := range map[string]bool{
		"opt/crac-build/checkpoint/images": true,
		"proc":                             true,
		"sys":                              true,
		"dev":                              true,
		"tmp/.java_pid131":                 true,
		"tmp/.attach_pid131":               true,
		"app/.java_pid1":                   true,
		"opt/crac-build/checkpoint":        false,
		"opt/crac-build":                   false,
		"tmp":                              false,
		"tmp/hsperfdata_root":              false,
		"tmp/app.log":                      false,
		"proc2":                            false,
		"app/proc":                         false,
		"devices":                          false,
		"etc/java_pid":                     false,
	} {
		if got := skipInDiff(rel); got != want {
			t.Errorf("skipInDiff(%q) = %v, want %v", rel, got, want)
		}
	}
}

func TestUnique(t *testing.T) {
	got := unique([]string{"CAP_SETPCAP", "CAP_CHOWN", "CAP_SETPCAP", "CAP_KILL", "CAP_CHOWN"})
	if diff := cmp.Diff(got, []string{"CAP_SETPCAP", "CAP_CHOWN", "CAP_KILL"}); diff != "" {
		t.Errorf("unique (-got +want):\n%s", diff)
	}
}

func TestRing(t *testing.T) {
	r := newRing(3)
	for i := 1; i <= 5; i++ {
		fmt.Fprintf(r, "line %d\n", i)
	}
	if got, want := r.String(), "line 3\nline 4\nline 5"; got != want {
		t.Errorf("ring = %q, want %q", got, want)
	}
	// Lines split across writes, and a last line without its newline,
	// kept beside the n full lines.
	io.WriteString(r, "li")
	io.WriteString(r, "ne 6\nline 7\nline")
	io.WriteString(r, " 8 (no newline)")
	if got, want := r.String(), "line 5\nline 6\nline 7\nline 8 (no newline)"; got != want {
		t.Errorf("ring = %q, want %q", got, want)
	}
	// One write of many lines keeps only the last ones.
	r = newRing(2)
	n, err := io.WriteString(r, strings.Repeat("x\n", 100)+"y\nz\n")
	if err != nil || n != 204 {
		t.Errorf("Write = %d, %v", n, err)
	}
	if got := r.String(); got != "y\nz" {
		t.Errorf("ring = %q, want %q", got, "y\nz")
	}
	if len(r.lines) > 2 {
		t.Errorf("ring holds %d lines, want at most 2", len(r.lines))
	}
}

func TestPipe(t *testing.T) {
	var buf bytes.Buffer
	p, err := newPipe(&buf)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(p.w, "from the application")
	p.drain()
	if buf.String() != "from the application" {
		t.Errorf("pipe delivered %q", buf.String())
	}
	p.closeWrite() // twice is fine
	if err := p.Close(); err != nil {
		t.Error(err)
	}
}

func TestAppAddr(t *testing.T) {
	for _, tc := range []struct {
		port     int
		ready    string
		wantHost string
		wantPort int
	}{
		{8080, "http://127.0.0.1:8080/", "127.0.0.1", 8080},
		{8080, "http://127.0.0.1:9000/health", "127.0.0.1", 8080},
		{0, "http://10.0.0.2:9000/health", "10.0.0.2", 9000},
		{0, "http://[::1]:9000/", "::1", 9000},
	} {
		w := &Options{Port: tc.port, ReadyURL: tc.ready}
		host, port := w.appAddr()
		if host != tc.wantHost || port != tc.wantPort {
			t.Errorf("appAddr(port %d, %s) = %s, %d; want %s, %d", tc.port, tc.ready, host, port, tc.wantHost, tc.wantPort)
		}
	}
}

func TestAppAddrDefaultPort(t *testing.T) {
	for ready, want := range map[string]int{"http://127.0.0.1/health": 80, "https://127.0.0.1/": 443} {
		if _, port := (&Options{ReadyURL: ready}).appAddr(); port != want {
			t.Errorf("appAddr(%s) port %d, want %d", ready, port, want)
		}
	}
}

// fakeRuntime makes a launcher file and a CRIU bundle dir.
func fakeRuntime(t *testing.T) (launcher, bundle string) {
	t.Helper()
	dir := t.TempDir()
	launcher = filepath.Join(dir, "crac-launch")
	bundle = filepath.Join(dir, "criu-bundle")
	for p, mode := range map[string]os.FileMode{
		launcher:                             0o755,
		filepath.Join(dir, "crac-agent.jar"): 0o644,
		filepath.Join(bundle, "criu"):        0o755,
		filepath.Join(bundle, "criu.real"):   0o755,
		filepath.Join(bundle, "lib/libc.so"): 0o644,
	} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(filepath.Base(p)), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{bundle, filepath.Join(bundle, "lib")} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return launcher, bundle
}

func tarHeaders(t *testing.T, tw *layers.Tar) map[string]*tar.Header {
	t.Helper()
	var buf bytes.Buffer
	if _, err := tw.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	out := map[string]*tar.Header{}
	tr := tar.NewReader(&buf)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name] = h
	}
}

func TestRuntimeTar(t *testing.T) {
	launcher, bundle := fakeRuntime(t)
	tw, err := RuntimeTar(launcher, bundle, agentNextTo(launcher))
	if err != nil {
		t.Fatalf("RuntimeTar: %v", err)
	}
	hs := tarHeaders(t, tw)
	var got []string
	for n := range hs {
		got = append(got, n)
	}
	want := []string{
		"opt/",
		"opt/crac-build/",
		"opt/crac-build/agent/",
		"opt/crac-build/agent/crac-agent.jar",
		"opt/crac-build/bin/",
		"opt/crac-build/bin/crac-launch",
		"opt/crac-build/checkpoint/",
		"opt/crac-build/checkpoint/images/",
		"opt/crac-build/criu/",
		"opt/crac-build/criu/criu",
		"opt/crac-build/criu/criu.real",
		"opt/crac-build/criu/lib/",
		"opt/crac-build/criu/lib/libc.so",
	}
	if diff := cmp.Diff(got, want, cmpSortStrings); diff != "" {
		t.Errorf("runtime layer (-got +want):\n%s", diff)
	}
	// The paths are the contract's.
	for _, p := range []string{contract.LauncherPath, contract.CriuPath, contract.ImagesDir + "/", contract.AgentPath} {
		if _, ok := hs[strings.TrimPrefix(p, "/")]; !ok {
			t.Errorf("no %s in the runtime layer", p)
		}
	}
	if h := hs["opt/crac-build/bin/crac-launch"]; h != nil && (h.Mode != 0o755 || h.Uid != 0) {
		t.Errorf("launcher mode %o uid %d, want 755 and root", h.Mode, h.Uid)
	}
	if h := hs["opt/crac-build/criu/lib/libc.so"]; h != nil && h.Mode != 0o644 {
		t.Errorf("libc.so mode %o, want 644", h.Mode)
	}
	// Without the agent (--no-agent and no jar), the rest is the same.
	tw, err = RuntimeTar(launcher, bundle, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := tarHeaders(t, tw)["opt/crac-build/agent/crac-agent.jar"]; ok {
		t.Error("RuntimeTar without an agent added one")
	}
}

func agentNextTo(launcher string) string {
	return filepath.Join(filepath.Dir(launcher), "crac-agent.jar")
}

// A checkout's build/criu may be a symlink (git worktrees share one): the
// image gets the bundle's files, never a link to a host path.
func TestRuntimeTarFollowsSymlinks(t *testing.T) {
	launcher, bundle := fakeRuntime(t)
	links := t.TempDir()
	for src, dst := range map[string]string{launcher: "crac-launch", bundle: "criu", agentNextTo(launcher): "crac-agent.jar"} {
		if err := os.Symlink(src, filepath.Join(links, dst)); err != nil {
			t.Fatal(err)
		}
	}
	tw, err := RuntimeTar(filepath.Join(links, "crac-launch"), filepath.Join(links, "criu"), filepath.Join(links, "crac-agent.jar"))
	if err != nil {
		t.Fatalf("RuntimeTar: %v", err)
	}
	hs := tarHeaders(t, tw)
	for _, p := range []string{"opt/crac-build/bin/crac-launch", "opt/crac-build/criu/criu", "opt/crac-build/criu/lib/libc.so", "opt/crac-build/agent/crac-agent.jar"} {
		if h := hs[p]; h == nil || h.Typeflag != tar.TypeReg {
			t.Errorf("%s is %v in the runtime layer, want a regular file", p, h)
		}
	}
	if h := hs["opt/crac-build/criu/"]; h == nil || h.Typeflag != tar.TypeDir {
		t.Errorf("opt/crac-build/criu is %v, want a directory", h)
	}
}

func TestRuntimeTarErrors(t *testing.T) {
	launcher, bundle := fakeRuntime(t)
	if err := os.Remove(filepath.Join(bundle, "criu")); err != nil {
		t.Fatal(err)
	}
	_, err := RuntimeTar(launcher, bundle, agentNextTo(launcher))
	if err == nil || !strings.Contains(err.Error(), "incomplete") || !strings.Contains(err.Error(), bundle) {
		t.Errorf("RuntimeTar without criu: %v, want an error naming the incomplete bundle", err)
	}
	if _, err := RuntimeTar(launcher, filepath.Join(t.TempDir(), "no-bundle"), ""); err == nil {
		t.Error("RuntimeTar of a missing bundle succeeded")
	}
	launcher, bundle = fakeRuntime(t)
	if _, err := RuntimeTar(launcher+".missing", bundle, ""); err == nil || !strings.Contains(err.Error(), "launcher") {
		t.Errorf("RuntimeTar with a missing launcher: %v", err)
	}
	if _, err := RuntimeTar(launcher, bundle, agentNextTo(launcher)+".missing"); err == nil || !strings.Contains(err.Error(), "agent") {
		t.Errorf("RuntimeTar with a missing agent: %v", err)
	}
}

// The runtime layer of one launcher and bundle is the same in every
// build: registries and runtimes share it.
func TestRuntimeTarReproducible(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "")
	l1, b1 := fakeRuntime(t)
	l2, b2 := fakeRuntime(t)
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(filepath.Join(b2, "criu"), later, later); err != nil {
		t.Fatal(err)
	}
	var digests []v1.Hash
	for _, lb := range [][2]string{{l1, b1}, {l2, b2}} {
		tw, err := RuntimeTar(lb[0], lb[1], agentNextTo(lb[0]))
		if err != nil {
			t.Fatal(err)
		}
		l, err := layers.Write(tw, t.TempDir(), layers.WriteOptions{Compression: layers.Zstd})
		if err != nil {
			t.Fatal(err)
		}
		d, _ := l.Digest()
		digests = append(digests, d)
	}
	if digests[0] != digests[1] {
		t.Errorf("runtime layers differ: %s vs %s", digests[0], digests[1])
	}
}

var cmpSortStrings = cmp.Transformer("sort", func(in []string) []string {
	out := append([]string(nil), in...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
})

func testMetadata() *contract.Metadata {
	return &contract.Metadata{
		FormatVersion: contract.FormatVersion,
		Builder:       "crac-build test",
		Created:       time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC),
		Cold:          contract.Command{Args: []string{"java", "-jar", "/app/app.jar"}},
		JVMVersion:    "21.0.5",
		Host: contract.Host{
			Kernel: "6.18.44", CriuVersion: "4.2.1",
			CPUFeatures: []string{"avx2", "hypervisor", "sse4_2"},
		},
		RequiredCaps: []string{"CAP_CHECKPOINT_RESTORE", "CAP_SETPCAP"},
	}
}

func TestLabels(t *testing.T) {
	m := testMetadata()
	got := Labels(m, 123456)
	isa := sha256.Sum256([]byte("avx2 sse4_2"))
	want := map[string]string{
		contract.LabelFormat:      "1",
		contract.LabelVersion:     "crac-build test",
		contract.LabelCriu:        "4.2.1",
		contract.LabelKernel:      "6.18.44",
		contract.LabelJVM:         "21.0.5",
		contract.LabelCaps:        "CAP_CHECKPOINT_RESTORE,CAP_SETPCAP",
		contract.LabelCPUFeatures: hex.EncodeToString(isa[:]),
		contract.LabelCheckpoint:  "123456",
		contract.LabelCreated:     "2025-03-04T05:06:07Z",
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("Labels (-got +want):\n%s", diff)
	}
	// Flags that are not instructions do not change the CPU label; an
	// instruction-set flag does.
	m2 := testMetadata()
	m2.Host.CPUFeatures = []string{"avx2", "sse4_2", "tsc_known_freq"}
	if Labels(m2, 0)[contract.LabelCPUFeatures] != got[contract.LabelCPUFeatures] {
		t.Error("a non-ISA flag changed the CPU features label")
	}
	m2.Host.CPUFeatures = append(m2.Host.CPUFeatures, "avx512f")
	if Labels(m2, 0)[contract.LabelCPUFeatures] == got[contract.LabelCPUFeatures] {
		t.Error("an ISA flag did not change the CPU features label")
	}
}

func TestAssemble(t *testing.T) {
	base, err := random.Image(256, 2)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := base.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.Config.Entrypoint = []string{"java"}
	cf.Config.Cmd = []string{"-jar", "/app/app.jar"}
	cf.Config.Labels = map[string]string{"org.opencontainers.image.title": "base"}
	cf.Config.ExposedPorts = map[string]struct{}{"9000/tcp": {}}
	base, err = mutate.ConfigFile(base, cf)
	if err != nil {
		t.Fatal(err)
	}
	baseCfg, _ := base.ConfigFile()

	blobs := t.TempDir()
	var ls []*layers.Layer
	for i := 0; i < 3; i++ {
		tw := layers.NewTar()
		if err := tw.AddBytes(fmt.Sprintf("/layer%d", i), []byte{byte(i)}, 0o644); err != nil {
			t.Fatal(err)
		}
		// gzip: validate.Image reads layers as gzip only.
		l, err := layers.Write(tw, blobs, layers.WriteOptions{Compression: layers.Gzip})
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
	}
	meta := testMetadata()
	env := []string{"PATH=/usr/bin", "APP=1"}
	img, err := assemble(base, baseCfg, ls, meta, env, "/app", Options{Port: 8080, Version: "v0.test"})
	if err != nil {
		t.Fatalf("assemble: %v", err)
	}
	if err := validate.Image(img); err != nil {
		t.Errorf("image not valid: %v", err)
	}
	got, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(got.Config.Entrypoint, []string{contract.LauncherPath}); diff != "" {
		t.Errorf("Entrypoint (-got +want):\n%s", diff)
	}
	if got.Config.Cmd != nil {
		t.Errorf("Cmd %q, want none: the launcher knows the command", got.Config.Cmd)
	}
	if diff := cmp.Diff(got.Config.Env, env); diff != "" {
		t.Errorf("Env (-got +want):\n%s", diff)
	}
	if got.Config.WorkingDir != "/app" {
		t.Errorf("WorkingDir %q", got.Config.WorkingDir)
	}
	if diff := cmp.Diff(got.Config.ExposedPorts, map[string]struct{}{"8080/tcp": {}, "9000/tcp": {}}); diff != "" {
		t.Errorf("ExposedPorts (-got +want):\n%s", diff)
	}
	if got.Config.Labels["org.opencontainers.image.title"] != "base" || got.Config.Labels[contract.LabelFormat] != "1" {
		t.Errorf("labels %v, want the base's and ours", got.Config.Labels)
	}
	if want := fmt.Sprint(ls[2].RawSize()); got.Config.Labels[contract.LabelCheckpoint] != want {
		t.Errorf("checkpoint size label %q, want %s (the third layer's)", got.Config.Labels[contract.LabelCheckpoint], want)
	}
	if !got.Created.Time.Equal(meta.Created) {
		t.Errorf("Created %v, want %v", got.Created, meta.Created)
	}
	if n := len(got.RootFS.DiffIDs); n != 5 {
		t.Errorf("%d diff IDs, want 5", n)
	}
	if n := len(got.History); n != 5 {
		t.Fatalf("%d history entries, want 5", n)
	}
	for i, want := range []string{"application files", "launcher and CRIU bundle 4.2.1", "checkpoint of java -jar /app/app.jar"} {
		h := got.History[2+i]
		if !strings.Contains(h.CreatedBy, want) || h.Comment != "crac-build v0.test" {
			t.Errorf("history %d: %q / %q, want %q", 2+i, h.CreatedBy, h.Comment, want)
		}
	}
	// The base's config is not touched.
	if baseCfg.Config.Entrypoint[0] != "java" || len(baseCfg.Config.ExposedPorts) != 1 || len(baseCfg.Config.Labels) != 1 {
		t.Errorf("assemble changed the base config: %+v", baseCfg.Config)
	}
}

// Build checks what it can before it starts a sandbox.
func TestBuildFailsEarly(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	base, err := random.Image(64, 1) // no ENTRYPOINT, no CMD
	if err != nil {
		t.Fatal(err)
	}
	baseRef := "oci-layout:" + filepath.Join(dir, "base") + ":jre"
	if err := registry.Write(ctx, base, baseRef, registry.Options{}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	for _, tc := range []struct {
		name   string
		change func(*Options)
		want   string
	}{
		{"invalid options", func(o *Options) { o.Base = "" }, "--base"},
		{"missing base", func(o *Options) { o.Base = "oci-layout:" + filepath.Join(dir, "nope") + ":jre" }, "nope"},
		{"base without a command", func(o *Options) {}, "no command"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := validOptions(t)
			o.Base = baseRef
			o.Outputs = []string{"oci-layout:" + out + ":warm"}
			o.TempDir = t.TempDir()
			tc.change(&o)
			_, err := Build(ctx, o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Build: %v, want an error containing %q", err, tc.want)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("a failed build wrote its output: %v", err)
			}
			if ents, _ := os.ReadDir(o.TempDir); len(ents) != 0 {
				t.Errorf("a failed build left %d entries in its temp dir", len(ents))
			}
		})
	}
}

func TestFirstRequestsOfWarmup(t *testing.T) {
	file := filepath.Join(t.TempDir(), "requests.txt")
	if err := os.WriteFile(file, []byte("GET /api/items?page=1\nPOST /api/items {\"name\":\"x\"}\n  Content-Type: application/json\nGET /\nGET /api/items?page=1\nDELETE /api/items/1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		o    Options
		want contract.FirstRequests
	}{
		// The GET endpoints, once each: a pass must not change state.
		{"requests file", Options{Port: 8080, WarmupRequestsFile: file},
			contract.FirstRequests{Base: "http://127.0.0.1:8080", Paths: []string{"/api/items?page=1", "/"}}},
		{"built-in warmup", Options{Port: 9000, WarmupRequests: 500, WarmupPath: "/hello"},
			contract.FirstRequests{Base: "http://127.0.0.1:9000", Paths: []string{"/hello"}}},
		// A script's requests are unknown: the address only (the
		// container names paths with CRAC_FIRST_REQUESTS).
		{"script", Options{Port: 8080, WarmupScript: "/w.sh"}, contract.FirstRequests{Base: "http://127.0.0.1:8080"}},
		{"ready URL only", Options{ReadyURL: "https://[::1]:8443/health"}, contract.FirstRequests{Base: "https://[::1]:8443"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := firstRequests(&tc.o); !cmp.Equal(*got, tc.want) {
				t.Errorf("firstRequests = %+v, want %+v", *got, tc.want)
			}
		})
	}
}
