package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crac-build/crac-build/internal/builder"
	"github.com/crac-build/crac-build/internal/contract"
	"github.com/crac-build/crac-build/internal/host"
	"github.com/crac-build/crac-build/internal/inspect"
	"github.com/crac-build/crac-build/internal/registry"
	"github.com/crac-build/crac-build/internal/runner"
	"github.com/crac-build/crac-build/internal/secrets"
)

// The tests of what goes into a checkpoint build e2e/testdata/probe, an
// application that reads a build secret, exposes every JDK source of
// randomness, and connects where it is told.

var (
	probeOnce sync.Once
	probeDir  string // compiled classes and the base's unpacked cache
	probeErr  error
)

// probe compiles the probe application once and returns its classes dir
// and a cache dir shared by the probe's builds and runs.
func probe(t *testing.T) (classes, cache string) {
	t.Helper()
	requireE2E(t)
	if _, err := exec.LookPath("javac"); err != nil {
		msg := "the probe application needs javac (make deps installs a JDK)"
		if os.Getenv("CRAC_E2E") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	probeOnce.Do(func() {
		probeDir, probeErr = os.MkdirTemp("", "crac-e2e-probe-")
		if probeErr != nil {
			return
		}
		tempDirs = append(tempDirs, probeDir)
		src := filepath.Join(repoRoot(t), "e2e", "testdata", "probe", "Probe.java")
		out, err := exec.Command("javac", "--release", "17", "-nowarn", "-d", filepath.Join(probeDir, "classes"), src).CombinedOutput()
		if err != nil {
			probeErr = fmt.Errorf("javac %s: %w\n%s", src, err, out)
		}
	})
	if probeErr != nil {
		t.Fatal(probeErr)
	}
	return filepath.Join(probeDir, "classes"), filepath.Join(probeDir, "cache")
}

// probeOptions are the options of a probe build; the test changes them.
func probeOptions(t *testing.T, out string) builder.Options {
	classes, cache := probe(t)
	root := repoRoot(t)
	return builder.Options{
		Base:           "oci-layout:" + filepath.Join(root, "build/base") + ":jre17",
		Adds:           []builder.Add{{Src: classes, Dest: "/app/probe"}},
		Cmd:            []string{"java", "-cp", "/app/probe", "Probe"},
		Port:           8080,
		ReadyURL:       "http://127.0.0.1:8080/health",
		ReadyTimeout:   2 * time.Minute,
		WarmupRequests: 3,
		WarmupPath:     "/random",
		Outputs:        []string{out},
		CriuBundle:     filepath.Join(root, "build/criu"),
		Launcher:       filepath.Join(root, "bin/crac-launch"),
		CacheDir:       cache,
		TempDir:        t.TempDir(),
		Version:        "e2e",
	}
}

// secretFile writes a fresh random secret and returns its path and value.
func secretFile(t *testing.T) (string, string) {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	value := "e2e-secret-" + hex.EncodeToString(b)
	p := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(p, []byte(value+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p, value
}

func build(t *testing.T, o builder.Options) (*builder.Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	return builder.Build(ctx, o)
}

// TestSecretKeptFailsBuild: the application keeps the secret it read during
// the build in memory; the build must fail naming the secret, never
// printing it, and write nothing.
func TestSecretKeptFailsBuild(t *testing.T) {
	outDir := filepath.Join(t.TempDir(), "images")
	o := probeOptions(t, "oci-layout:"+outDir+":keep")
	file, value := secretFile(t)
	o.Secrets = []secrets.Secret{{ID: "token", File: file}}
	o.Env = []string{"SECRET_MODE=keep", "SECRET_ID=token"}
	_, err := build(t, o)
	if err == nil {
		t.Fatal("the build of an application that keeps its build secret succeeded")
	}
	msg := err.Error()
	for _, want := range []string{`secret "token" found in pages-`, "read secrets after the restore"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, value) {
		t.Errorf("the error prints the secret's value:\n%s", msg)
	}
	if _, serr := os.Stat(outDir); !os.IsNotExist(serr) {
		t.Errorf("a failed build left output at %s", outDir)
	}
}

var (
	cleanOnce sync.Once
	cleanRes  *builder.Result
	cleanRef  string
	cleanErr  error
	cleanVal  string
)

// cleanProbe builds, once, a probe that reads its secret, uses it and wipes
// it, with SIGUSR1 as its restore signal.
func cleanProbe(t *testing.T) (*builder.Result, string, string) {
	t.Helper()
	o := probeOptions(t, "")
	cleanOnce.Do(func() {
		dir, err := os.MkdirTemp("", "crac-e2e-clean-")
		if err != nil {
			cleanErr = err
			return
		}
		tempDirs = append(tempDirs, dir)
		cleanRef = "oci-layout:" + filepath.Join(dir, "images") + ":clean"
		o.Outputs = []string{cleanRef}
		file := filepath.Join(dir, "token")
		b := make([]byte, 12)
		_, _ = rand.Read(b)
		cleanVal = "e2e-secret-" + hex.EncodeToString(b)
		if cleanErr = os.WriteFile(file, []byte(cleanVal+"\n"), 0o600); cleanErr != nil {
			return
		}
		o.Secrets = []secrets.Secret{{ID: "token", File: file}}
		o.Env = []string{"SECRET_MODE=use", "SECRET_ID=token"}
		o.RestoreSignal = "SIGUSR1"
		var log bytes.Buffer
		o.AppOutput = &log
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cleanRes, cleanErr = builder.Build(ctx, o)
		if cleanErr != nil {
			cleanErr = fmt.Errorf("%w\napp output:\n%s", cleanErr, log.String())
		}
	})
	if cleanErr != nil {
		t.Fatalf("building the probe: %v", cleanErr)
	}
	return cleanRes, cleanRef, cleanVal
}

// TestSecretUsedAndWipedPasses: the application reads the secret, uses it
// and keeps no copy; the build passes and no layer holds the value.
func TestSecretUsedAndWipedPasses(t *testing.T) {
	res, ref, value := cleanProbe(t)
	h := res.Metadata.Hygiene
	if h == nil || len(h.Secrets) != 1 || h.Secrets[0].ID != "token" || !h.Secrets[0].Scanned {
		t.Fatalf("metadata's secret scans = %+v, want token scanned", h)
	}
	img, err := registry.Load(context.Background(), ref, registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var files []secrets.File
	for i, l := range ls {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, fmt.Sprintf("layer-%d.tar", i))
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.Copy(f, rc)
		rc.Close()
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, secrets.File{Path: p, Name: fmt.Sprintf("layer %d", i)})
		f, err = os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(f)
		for {
			h, err := tr.Next()
			if err != nil {
				break
			}
			if name := strings.TrimPrefix(h.Name, "./"); strings.HasPrefix(name, "run/secrets") {
				t.Errorf("layer %d has %s", i, name)
			}
		}
		f.Close()
	}
	hits, err := secrets.Scan(files, secrets.Needles("token", []byte(value)))
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) > 0 {
		t.Errorf("the secret is in the image: %+v", hits)
	}
	// The scan is real: the same needles find the value in a copy of a
	// layer with the value appended.
	b, _ := os.ReadFile(files[len(files)-1].Path)
	planted := filepath.Join(dir, "planted")
	if err := os.WriteFile(planted, append(b, value...), 0o600); err != nil {
		t.Fatal(err)
	}
	if hits, _ := secrets.Scan([]secrets.File{{Path: planted, Name: "planted"}}, secrets.Needles("token", []byte(value))); len(hits) == 0 {
		t.Error("the scan does not find a planted value")
	}
}

// TestInventoryAndProvenance checks the report stored in the metadata and
// what inspect shows.
func TestInventoryAndProvenance(t *testing.T) {
	res, ref, _ := cleanProbe(t)
	m := res.Metadata
	h := m.Hygiene
	var listening bool
	for _, s := range h.Sockets {
		if strings.HasPrefix(s.Proto, "tcp") && s.State == "LISTEN" && strings.HasSuffix(s.Local, ":8080") && s.PID == m.Process.PID {
			listening = true
		}
		if s.State == "ESTABLISHED" {
			t.Errorf("connection left at the checkpoint: %+v", s)
		}
	}
	if !listening {
		t.Errorf("sockets %+v lack the listener on 8080", h.Sockets)
	}
	if len(h.Processes) != 1 || h.Processes[0].PID != m.Process.PID || h.Processes[0].Command != "java" {
		t.Errorf("processes %+v, want the JVM alone", h.Processes)
	}
	var threads int
	for _, g := range h.Threads {
		threads += g.Count
	}
	if threads != m.Process.Threads || threads < 10 {
		t.Errorf("%d threads in groups %+v, process has %d", threads, h.Threads, m.Process.Threads)
	}
	mem := h.Memory
	if mem.RSSKiB <= 0 || mem.AnonKiB <= 0 || mem.HeapCommittedKiB <= 0 || mem.HeapUsedKiB <= 0 || mem.MetaspaceCommittedKiB <= 0 || mem.CodeCacheUsedKiB <= 0 {
		t.Errorf("memory split %+v lacks a part", mem)
	}
	var aws bool
	for _, f := range h.Findings {
		if f.Kind == "AWS access key ID" && strings.HasPrefix(f.File, "pages-") {
			aws = true
		}
	}
	if !aws {
		t.Errorf("findings %+v lack the probe's example AWS key", h.Findings)
	}
	if !strings.Contains(strings.Join(res.Warnings, "\n"), "AWS access key ID found in the checkpoint") {
		t.Errorf("warnings lack the AWS key:\n%s", strings.Join(res.Warnings, "\n"))
	}
	for _, f := range m.OpenFiles {
		if f.Mount != "" {
			t.Errorf("open file %s on %s, want every file in the image", f.Path, f.Mount)
		}
	}

	info, err := inspect.Image(context.Background(), ref, registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	base, err := registry.Load(context.Background(), probeOptions(t, "").Base, registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	bd, _ := base.Digest()
	for k, want := range map[string]string{
		contract.LabelBaseDigest: bd.String(),
		contract.LabelBaseName:   probeOptions(t, "").Base,
		contract.LabelVersion:    "crac-build e2e",
		contract.LabelKernel:     host.Kernel(),
		contract.LabelCPUModel:   m.Host.CPUModel,
		contract.LabelCreated:    m.Created.Format(time.RFC3339),
	} {
		if got := info.Labels[k]; got != want || got == "" {
			t.Errorf("label %s = %q, want %q", k, got, want)
		}
	}
	if info.Base == nil || info.Base.Digest != bd.String() {
		t.Errorf("inspect's base = %+v, want digest %s", info.Base, bd)
	}
	im := info.Metadata
	if im == nil || im.Base == nil || im.Base.Digest != bd.String() || im.Hygiene == nil || len(im.Hygiene.Sockets) != len(h.Sockets) || im.RestoreSignal != "SIGUSR1" {
		t.Errorf("inspect's metadata lacks provenance or the report: %+v", im)
	}
}

// randomValues fetches the probe's /random as key -> value.
func randomValues(t *testing.T, url string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(get(t, url+"/random")), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			out[k] = v
		}
	}
	return out
}

func startProbe(t *testing.T, ref string, env ...string) *started {
	t.Helper()
	_, cache := probe(t)
	return startRefWith(t, runner.Options{Image: ref, Env: env, CacheDir: cache})
}

// TestRandomnessSharedByRestoredCopies restores one image twice and shows
// which sources of randomness every copy shares, and that the restore
// notice (file and signal) lets the application re-seed.
func TestRandomnessSharedByRestoredCopies(t *testing.T) {
	_, ref, _ := cleanProbe(t)
	// No post-restore pass: its request would race the test's, and the
	// shared generators would advance in another order in each copy.
	a, b := startProbe(t, ref, "CRAC_FIRST_REQUESTS=off"), startProbe(t, ref, "CRAC_FIRST_REQUESTS=off")
	for _, s := range []*started{a, b} {
		if mode, reason := s.r.WaitMode(5 * time.Second); mode != "restored" {
			t.Fatalf("launcher mode %q (%s), want restored", mode, reason)
		}
	}
	va, vb := randomValues(t, a.url), randomValues(t, b.url)
	var table strings.Builder
	for _, k := range []string{"random", "mathRandom", "threadLocalRandom", "threadLocalRandomNewThread", "splittableRandom", "newSplittableRandom", "sha1prng", "drbg", "startupUUID", "identityHashCode", "nativePRNG", "newSecureRandom", "randomUUID", "newRandom", "restoreId", "reseededRandom", "signals"} {
		fmt.Fprintf(&table, "%-27s %-40s %s\n", k, va[k], vb[k])
	}
	t.Logf("two containers restored from one image:\n%s", table.String())
	// Seeded before the checkpoint: every copy gives the same values.
	for _, k := range []string{"random", "mathRandom", "threadLocalRandom", "threadLocalRandomNewThread", "splittableRandom", "newSplittableRandom", "sha1prng", "drbg", "startupUUID"} {
		if va[k] == "" || va[k] != vb[k] {
			t.Errorf("%s: %q and %q, want the same value in both copies (shared state)", k, va[k], vb[k])
		}
	}
	// Fresh entropy at each call, or the restore notice: they differ.
	for _, k := range []string{"nativePRNG", "newSecureRandom", "randomUUID", "restoreId", "reseededRandom"} {
		if va[k] == "" || va[k] == vb[k] {
			t.Errorf("%s: %q and %q, want different values", k, va[k], vb[k])
		}
	}
	if va["restoreId"] == "none" || va["signals"] != "1" || vb["signals"] != "1" {
		t.Errorf("restore notice: id %q, signals %q and %q; want an id and one SIGUSR1 each", va["restoreId"], va["signals"], vb["signals"])
	}
	// A cold start finds no notice.
	c := startProbe(t, ref, "CRAC_RESTORE=off")
	if mode, _ := c.r.WaitMode(5 * time.Second); mode != "cold" {
		t.Fatalf("launcher mode %q, want cold", mode)
	}
	if vc := randomValues(t, c.url); vc["restoreId"] != "none" || vc["signals"] != "0" {
		t.Errorf("cold start: restoreId %q, signals %q; want none and 0", vc["restoreId"], vc["signals"])
	}
}

// holdingPeer accepts connections on loopback and holds them open: a
// database the application reaches during warmup.
func holdingPeer(t *testing.T) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return ln
}

// TestExternalConnectionFailsBuild: with the host's network the probe
// connects to a peer on the host during warmup and holds the connection;
// the build fails saying so, unless connections are allowed, and then the
// image restores (the connection closed).
func TestExternalConnectionFailsBuild(t *testing.T) {
	peer := holdingPeer(t)
	peerPort := peer.Addr().(*net.TCPAddr).Port
	port := freePort(t)
	outDir := filepath.Join(t.TempDir(), "images")
	o := probeOptions(t, "oci-layout:"+outDir+":conn")
	o.Network = "host"
	o.Env = []string{"PORT=" + strconv.Itoa(port)}
	o.Port = port
	o.ReadyURL = fmt.Sprintf("http://127.0.0.1:%d/health", port)
	o.WarmupRequests = 1
	o.WarmupPath = "/connect?port=" + strconv.Itoa(peerPort)
	_, err := build(t, o)
	if err == nil {
		t.Fatal("the build of an application holding a connection to the host succeeded")
	}
	for _, want := range []string{
		"1 established TCP connection(s) to peers outside its process tree",
		"-> " + peer.Addr().String() + " (outbound, process ",
		"the peer is outside the sandbox",
		"--allow-connections",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if _, serr := os.Stat(outDir); !os.IsNotExist(serr) {
		t.Errorf("a failed build left output at %s", outDir)
	}

	o.AllowConnections = true
	o.TempDir = t.TempDir()
	res, err := build(t, o)
	if err != nil {
		t.Fatalf("build with --allow-connections: %v", err)
	}
	if !strings.Contains(strings.Join(res.Warnings, "\n"), "closed at dump (--allow-connections): tcp") {
		t.Errorf("warnings lack the closed connection:\n%s", strings.Join(res.Warnings, "\n"))
	}
	if len(res.Metadata.Hygiene.ExternalConnections()) != 1 {
		t.Errorf("metadata's external connections: %+v", res.Metadata.Hygiene.Sockets)
	}
	// Built in the host's network, restored in a network of its own.
	s := startProbe(t, o.Outputs[0])
	if mode, reason := s.r.WaitMode(5 * time.Second); mode != "restored" {
		t.Fatalf("launcher mode %q (%s), want restored", mode, reason)
	}
}
