package builder

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/crac-build/crac-build/internal/contract"
	"github.com/crac-build/crac-build/internal/secrets"
)

func TestHygieneDefaults(t *testing.T) {
	o := Options{RestoreSignal: "usr1"}
	if err := o.hygieneDefaults(); err != nil {
		t.Fatal(err)
	}
	if o.Network != "none" || o.RestoreSignal != "SIGUSR1" {
		t.Errorf("network %q, signal %q; want none, SIGUSR1", o.Network, o.RestoreSignal)
	}
	for _, bad := range []Options{
		{Network: "bridge"},
		{RestoreSignal: "USR2"},
		{Secrets: []secrets.Secret{{ID: "a", File: "/x"}, {ID: "a", File: "/y"}}},
	} {
		if err := bad.hygieneDefaults(); err == nil {
			t.Errorf("hygieneDefaults accepted %+v", bad)
		}
	}
}

// stage stages secrets for real (a tmpfs needs root).
func stage(t *testing.T, values map[string]string) *secrets.Staged {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CRAC_E2E") == "1" {
			t.Fatal("test needs root (to mount a tmpfs)")
		}
		t.Skip("test needs root (to mount a tmpfs)")
	}
	var list []secrets.Secret
	dir := t.TempDir()
	for id, v := range values {
		p := filepath.Join(dir, id)
		if err := os.WriteFile(p, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
		list = append(list, secrets.Secret{ID: id, File: p})
	}
	s, err := secrets.Stage(filepath.Join(t.TempDir(), "staged"), list)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestScanCheckpoint(t *testing.T) {
	const db, api = "db-password-0123456789", "api-token-abcdefghijkl"
	staged := stage(t, map[string]string{"db": db + "\n", "api": api, "pin": "1234"})
	images, upper := t.TempDir(), t.TempDir()
	write := func(p string, b []byte) {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(images, "pages-1.img"), []byte("....user="+db+"...."))
	write(filepath.Join(images, "pagemap-1.img"), []byte("nothing"))
	write(filepath.Join(upper, "app", "cache.txt"), []byte("Authorization: Basic "+base64.StdEncoding.EncodeToString([]byte("u:"+db))))
	write(filepath.Join(upper, "app", "key.pem"), []byte("-----BEGIN PRIVATE KEY-----\n"+strings.Repeat("QUJD", 16)+"\n-----END PRIVATE KEY-----\n"))

	files, err := scanFiles(images, upper)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, f.Name)
	}
	if diff := cmp.Diff(names, []string{"pagemap-1.img", "pages-1.img", "diff:/app/cache.txt", "diff:/app/key.pem"}); diff != "" {
		t.Errorf("scanned files (-got +want):\n%s", diff)
	}
	h := &contract.Hygiene{}
	err = scanCheckpoint(files, staged.Values, h)
	if err == nil {
		t.Fatal("scan of a checkpoint holding a secret succeeded")
	}
	msg := err.Error()
	if !strings.Contains(msg, `secret "db" found in pages-1.img as plain, diff:/app/cache.txt as base64`) || strings.Contains(msg, `"api"`) {
		t.Errorf("error does not name db's places alone:\n%s", msg)
	}
	if strings.Contains(msg, db) {
		t.Errorf("error prints the secret:\n%s", msg)
	}
	want := []contract.SecretScan{
		{ID: "api", Bytes: len(api), Scanned: true},
		{ID: "db", Bytes: len(db) + 1, Scanned: true},
		{ID: "pin", Bytes: 4, Note: "shorter than 8 bytes: too short to tell from other data, not scanned"},
	}
	if diff := cmp.Diff(h.Secrets, want); diff != "" {
		t.Errorf("secret scans (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(h.Findings, []contract.Finding{{Kind: "PEM private key", File: "diff:/app/key.pem", Count: 1}}); diff != "" {
		t.Errorf("findings (-got +want):\n%s", diff)
	}
	joined := strings.Join(h.Warnings, "\n")
	for _, w := range []string{"secret pin is shorter than 8 bytes", "PEM private key found in the checkpoint (1 in diff:/app/key.pem)"} {
		if !strings.Contains(joined, w) {
			t.Errorf("warnings lack %q:\n%s", w, joined)
		}
	}

	// Without the secret in them the same files pass.
	write(filepath.Join(images, "pages-1.img"), []byte("nothing here"))
	write(filepath.Join(upper, "app", "cache.txt"), []byte("nothing here"))
	if err := scanCheckpoint(files, staged.Values, &contract.Hygiene{}); err != nil {
		t.Errorf("scan of a clean checkpoint: %v", err)
	}
	if err := scanCheckpoint(files, nil, &contract.Hygiene{}); err != nil {
		t.Errorf("scan without secrets: %v", err)
	}
}

func TestCheckRestoreSignal(t *testing.T) {
	// SigCgt with SIGUSR1 (signal 10, bit 9) caught.
	h := &contract.Hygiene{Processes: []contract.TreeProcess{{PID: 129, SigCgt: "0000000000000200"}}}
	if err := checkRestoreSignal("SIGUSR1", h); err != nil {
		t.Errorf("SIGUSR1 caught: %v", err)
	}
	if err := checkRestoreSignal("", h); err != nil {
		t.Errorf("no signal: %v", err)
	}
	err := checkRestoreSignal("SIGWINCH", h)
	if err == nil || !strings.Contains(err.Error(), "does not catch SIGWINCH") {
		t.Errorf("SIGWINCH not caught: %v", err)
	}
	h.Processes[0].SigCgt = "0000000181005ccf" // a JVM without a USR1 handler
	err = checkRestoreSignal("SIGUSR1", h)
	if err == nil || !strings.Contains(err.Error(), "would end it") {
		t.Errorf("SIGUSR1 not caught: %v", err)
	}
}

func TestProvenanceLabels(t *testing.T) {
	m := &contract.Metadata{
		Base: &contract.BaseImage{Name: "eclipse-temurin:17-jre", Digest: "sha256:abc"},
		Host: contract.Host{CPUModel: "AMD EPYC"},
	}
	want := map[string]string{
		"org.opencontainers.image.base.name":   "eclipse-temurin:17-jre",
		"org.opencontainers.image.base.digest": "sha256:abc",
		"dev.crac-build.cpu-model":             "AMD EPYC",
	}
	if diff := cmp.Diff(ProvenanceLabels(m), want); diff != "" {
		t.Errorf("ProvenanceLabels (-got +want):\n%s", diff)
	}
	if got := ProvenanceLabels(&contract.Metadata{}); len(got) != 0 {
		t.Errorf("ProvenanceLabels of nothing = %v", got)
	}
	if !skipSecretsDir("run/secrets") || skipSecretsDir("run/secrets2") || skipSecretsDir("run") {
		t.Error("skipSecretsDir skips the wrong paths")
	}
}
