package secrets

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/google/go-cmp/cmp"

	"github.com/crac-build/crac-build/internal/contract"
)

func TestParse(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "pw")
	if err := os.WriteFile(f, []byte("s3cret-value\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := Parse("db.password=" + f)
	if err != nil || got != (Secret{ID: "db.password", File: f}) {
		t.Errorf("Parse = %+v, %v", got, err)
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, make([]byte, MaxSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "id", "=" + f, "id=", "../x=" + f, "a/b=" + f, ".hidden=" + f, "id=" + dir, "id=" + filepath.Join(dir, "missing"), "id=" + big} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) succeeded", bad)
		}
	}
}

func utf16le(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	return b
}

// contains reports whether any needle occurs in data.
func contains(data []byte, ns []Needle) string {
	for _, n := range ns {
		if bytes.Contains(data, n.b) {
			return n.Encoding
		}
	}
	return ""
}

func TestNeedlesFindEveryEncoding(t *testing.T) {
	value := "correct horse battery staple é\n"
	ns := Needles("pw", []byte(value))
	v := strings.TrimSpace(value)
	latin1 := []byte{}
	for _, r := range v {
		latin1 = append(latin1, byte(r))
	}
	be := utf16le(v)
	for i := 0; i < len(be); i += 2 {
		be[i], be[i+1] = be[i+1], be[i]
	}
	cases := map[string][]byte{
		"plain":    []byte("x=" + v + ";"),
		"Latin-1":  append([]byte("\x00\x01"), latin1...),
		"UTF-16LE": append([]byte{0, 'a', 0}, utf16le(v)...),
		"UTF-16BE": be,
	}
	for want, data := range cases {
		if got := contains(data, ns); got != want {
			t.Errorf("%s: found as %q", want, got)
		}
	}
	// base64 of the value inside longer data, at every alignment and with
	// both alphabets: "Authorization: Basic base64(user:password)".
	rng := rand.New(rand.NewSource(1))
	for pre := 0; pre < 7; pre++ {
		for post := 0; post < 4; post++ {
			for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
				data := make([]byte, pre)
				rng.Read(data)
				data = append(data, v...)
				tail := make([]byte, post)
				rng.Read(tail)
				data = append(data, tail...)
				if got := contains([]byte(enc.EncodeToString(data)), ns); !strings.HasPrefix(got, "base64") {
					t.Errorf("base64 with %d bytes before, %d after: found as %q", pre, post, got)
				}
			}
		}
	}
	// Random data holds none of them.
	noise := make([]byte, 1<<20)
	rng.Read(noise)
	if got := contains(noise, ns); got != "" {
		t.Errorf("random data matched as %s", got)
	}
}

func TestNeedlesTooShort(t *testing.T) {
	if ns := Needles("pin", []byte("1234\n")); len(ns) != 0 {
		t.Errorf("a 4-byte secret gave needles %v", ns)
	}
	// 8 ASCII bytes: plain, UTF-16 and the base64 cores long enough.
	for _, n := range Needles("pw", []byte("abcdefgh")) {
		if len(n.b) < MinScanLen {
			t.Errorf("needle %s of %d bytes", n.Encoding, len(n.b))
		}
	}
}

// TestScanAcrossChunks puts a value across the boundary of two read
// chunks, as a string across two pages lies in a CRIU pages file.
func TestScanAcrossChunks(t *testing.T) {
	dir := t.TempDir()
	value := "across-the-boundary-secret"
	data := make([]byte, chunkSize+4096)
	rand.New(rand.NewSource(2)).Read(data)
	at := chunkSize - 10
	copy(data[at:], utf16le(value))
	p := filepath.Join(dir, "pages-1.img")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	clean := filepath.Join(dir, "pages-2.img")
	if err := os.WriteFile(clean, data[:4096], 0o600); err != nil {
		t.Fatal(err)
	}
	hits, err := Scan([]File{{clean, "pages-2.img"}, {p, "pages-1.img"}}, Needles("api", []byte(value)))
	if err != nil {
		t.Fatal(err)
	}
	want := []Hit{{ID: "api", Encoding: "UTF-16LE", File: "pages-1.img", Offset: int64(at)}}
	if diff := cmp.Diff(hits, want); diff != "" {
		t.Errorf("hits (-got +want):\n%s", diff)
	}
	if _, err := Scan([]File{{filepath.Join(dir, "missing"), "x"}}, Needles("api", []byte(value))); err == nil {
		t.Error("Scan of a missing file succeeded")
	}
}

func TestScanTokens(t *testing.T) {
	dir := t.TempDir()
	pem := "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\nVTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK\n-----END RSA PRIVATE KEY-----\n"
	jwt := "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
	body := strings.Join([]string{
		"AKIAIOSFODNN7EXAMPLE",
		"ghp_" + strings.Repeat("a1B2", 9),
		"xoxb-123456789012-abcdefghij",
		jwt,
		pem,
		// Not keys: a header alone (a constant in a library), a short id.
		"-----BEGIN PRIVATE KEY-----\n",
		"AKIA-not-a-key",
	}, "\n")
	data := make([]byte, chunkSize+8192)
	for i := range data {
		data[i] = 'x'
	}
	copy(data, body)
	// And one AWS key across the chunk boundary, counted once.
	copy(data[chunkSize-8:], "AKIAIOSFODNN7EXAMPLF")
	p := filepath.Join(dir, "pages-1.img")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := ScanTokens([]File{{p, "pages-1.img"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []contract.Finding{
		{Kind: "AWS access key ID", File: "pages-1.img", Count: 2},
		{Kind: "GitHub token", File: "pages-1.img", Count: 1},
		{Kind: "JSON Web Token", File: "pages-1.img", Count: 1},
		{Kind: "PEM private key", File: "pages-1.img", Count: 1},
		{Kind: "Slack token", File: "pages-1.img", Count: 1},
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("findings (-got +want):\n%s", diff)
	}
}

func TestStage(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CRAC_E2E") == "1" {
			t.Fatal("test needs root (to mount a tmpfs)")
		}
		t.Skip("test needs root (to mount a tmpfs)")
	}
	src := t.TempDir()
	a, b := filepath.Join(src, "a"), filepath.Join(src, "b")
	if err := os.WriteFile(a, []byte("alpha-secret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b, []byte("beta-secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "secrets")
	s, err := Stage(dir, []Secret{{"b", b}, {"a", a}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if diff := cmp.Diff(s.IDs(), []string{"a", "b"}); diff != "" {
		t.Errorf("IDs (-got +want):\n%s", diff)
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	if !strings.Contains(string(mi), " "+dir+" ") || !strings.Contains(string(mi), "tmpfs") {
		t.Errorf("%s is not a tmpfs mount", dir)
	}
	fi, err := os.Stat(filepath.Join(dir, "a"))
	if err != nil || fi.Mode().Perm() != 0o400 {
		t.Errorf("staged file: %v, %v; want mode 0400", fi, err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "a")); string(got) != "alpha-secret\n" {
		t.Errorf("staged a = %q", got)
	}
	if string(s.Value("b")) != "beta-secret" {
		t.Errorf("Value(b) = %q", s.Value("b"))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	mi, _ = os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mi), " "+dir+" ") {
		t.Errorf("%s still mounted after Close", dir)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s still exists after Close: %v", dir, err)
	}
	if _, err := Stage(filepath.Join(t.TempDir(), "s"), []Secret{{"a", a}, {"a", b}}); err == nil {
		t.Error("Stage with a duplicate ID succeeded")
	}
}
