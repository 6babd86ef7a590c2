package secrets

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/crac-build/crac-build/internal/contract"
)

// MinScanLen is the shortest value (and encoded form) searched for. A
// checkpoint holds tens of megabytes of class names, strings and numbers:
// shorter needles would match by chance, and a secret that short is a
// secret in name only.
const MinScanLen = 8

// Needle is one encoded form of a secret's value.
type Needle struct {
	ID       string
	Encoding string
	b        []byte
}

// Needles returns the forms in which a program may hold value: as is
// (UTF-8 or ASCII, also Java's compact Latin-1 strings of ASCII text),
// Latin-1 (Java's compact strings of other text), UTF-16LE (Java's char[]
// and non-Latin-1 strings on x86), UTF-16BE, and base64 (standard and URL
// alphabets) at each of the three alignments it can have inside a longer
// encoded text (a Basic auth header, a config blob). The value is trimmed
// of surrounding white space first: programs strip the file's newline.
// A value shorter than MinScanLen gives no needles, and encoded forms
// shorter than that are left out.
func Needles(id string, value []byte) []Needle {
	v := trimmed(value)
	if len(v) < MinScanLen {
		return nil
	}
	var out []Needle
	seen := map[string]bool{}
	add := func(enc string, b []byte) {
		if len(b) < MinScanLen || seen[string(b)] {
			return
		}
		seen[string(b)] = true
		out = append(out, Needle{ID: id, Encoding: enc, b: b})
	}
	add("plain", v)
	if utf8.Valid(v) {
		runes := []rune(string(v))
		latin1 := make([]byte, 0, len(runes))
		for _, r := range runes {
			if r > 0xff {
				latin1 = nil
				break
			}
			latin1 = append(latin1, byte(r))
		}
		if latin1 != nil {
			add("Latin-1", latin1)
		}
		u := utf16.Encode(runes)
		le, be := make([]byte, 2*len(u)), make([]byte, 2*len(u))
		for i, c := range u {
			binary.LittleEndian.PutUint16(le[2*i:], c)
			binary.BigEndian.PutUint16(be[2*i:], c)
		}
		add("UTF-16LE", le)
		add("UTF-16BE", be)
	}
	for _, a := range []struct {
		name string
		enc  *base64.Encoding
	}{{"base64", base64.StdEncoding}, {"base64url", base64.URLEncoding}} {
		for shift := 0; shift < 3; shift++ {
			add(a.name, base64Core(a.enc, v, shift))
		}
	}
	return out
}

// base64Core returns the part of the base64 encoding of value that does not
// depend on its surroundings when value starts shift bytes (mod 3) into the
// encoded data: the characters whose 6 bits all come from value.
func base64Core(enc *base64.Encoding, value []byte, shift int) []byte {
	buf := make([]byte, shift+len(value))
	copy(buf[shift:], value)
	s := enc.EncodeToString(buf)
	first := (8*shift + 5) / 6           // first character past the prefix's bits
	last := 8 * (shift + len(value)) / 6 // characters entirely within the data
	if last <= first {
		return nil
	}
	return []byte(s[first:last])
}

// Hit is where a needle was found.
type Hit struct {
	ID       string
	Encoding string
	// File is the name the caller gave the scanned file.
	File   string
	Offset int64
}

// File is a file to scan: Path to read, Name to report.
type File struct {
	Path string
	Name string
}

// chunkSize is how much of a file is searched at once; chunks overlap by
// the longest needle (or token window), so a match that crosses a chunk
// boundary (or a page boundary: CRIU writes a mapping's pages one after
// another) is still found.
const chunkSize = 8 << 20

// Scan searches every file for every needle and returns the first hit of
// each needle in each file.
func Scan(files []File, needles []Needle) ([]Hit, error) {
	if len(needles) == 0 {
		return nil, nil
	}
	overlap := 0
	for _, n := range needles {
		if len(n.b) > overlap {
			overlap = len(n.b)
		}
	}
	var hits []Hit
	for _, f := range files {
		found := make([]bool, len(needles))
		err := chunks(f.Path, overlap, func(buf []byte, base int64, last bool) {
			for i, n := range needles {
				if found[i] {
					continue
				}
				if j := bytes.Index(buf, n.b); j >= 0 {
					found[i] = true
					hits = append(hits, Hit{ID: n.ID, Encoding: n.Encoding, File: f.Name, Offset: base + int64(j)})
				}
			}
		})
		if err != nil {
			return nil, err
		}
	}
	return hits, nil
}

// chunks calls fn with consecutive windows of the file at path, each one
// starting with the last overlap-1 bytes of the one before (base is the
// window's offset in the file).
func chunks(path string, overlap int, fn func(buf []byte, base int64, last bool)) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("scanning %s: %w", path, err)
	}
	defer f.Close()
	keep := overlap - 1
	if keep < 0 {
		keep = 0
	}
	buf := make([]byte, keep+chunkSize)
	have := 0
	var base int64
	for {
		n, err := io.ReadFull(f, buf[have:])
		have += n
		last := err == io.EOF || err == io.ErrUnexpectedEOF
		if err != nil && !last {
			return fmt.Errorf("scanning %s: %w", path, err)
		}
		if have > 0 {
			fn(buf[:have], base, last)
		}
		if last {
			return nil
		}
		k := keep
		if k > have {
			k = have
		}
		copy(buf, buf[have-k:have])
		base += int64(have - k)
		have = k
	}
}

// token is a well-known secret format: a literal prefix found fast, then a
// pattern checked at the prefix.
type token struct {
	kind   string
	prefix []byte
	re     *regexp.Regexp
}

// tokens are formats whose owners document them (and that secret scanners
// such as GitHub's and gitleaks' search for). Each pattern is anchored at
// its prefix.
var tokens = func() []token {
	var out []token
	add := func(kind, re string, prefixes ...string) {
		r := regexp.MustCompile(`^(?:` + re + `)`)
		for _, p := range prefixes {
			out = append(out, token{kind, []byte(p), r})
		}
	}
	// A PEM private key: the header, then base64 (a header alone is a
	// constant in some library's code, not a key).
	add("PEM private key", `-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----\r?\n(?:[A-Za-z][A-Za-z-]*: [^\r\n]*\r?\n)*(?:\r?\n)?[A-Za-z0-9+/]{40}`, "-----BEGIN ")
	add("AWS access key ID", `(?:AKIA|ASIA)[A-Z2-7]{16}`, "AKIA", "ASIA")
	add("GitHub token", `gh[pousr]_[A-Za-z0-9]{36}`, "ghp_", "gho_", "ghu_", "ghs_", "ghr_")
	add("GitHub fine-grained token", `github_pat_[A-Za-z0-9_]{82}`, "github_pat_")
	add("Slack token", `xox[abposr]-[0-9A-Za-z-]{10,}`, "xoxa-", "xoxb-", "xoxp-", "xoxo-", "xoxs-", "xoxr-")
	add("JSON Web Token", `eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}`, "eyJ")
	add("Google API key", `AIza[0-9A-Za-z_-]{35}`, "AIza")
	add("Stripe secret key", `[sr]k_live_[0-9A-Za-z]{24,}`, "sk_live_", "rk_live_")
	return out
}()

// tokenWindow is how far past its prefix a token pattern may look.
const tokenWindow = 4096

// ScanTokens searches the files for well-known secret formats and counts
// the hits by kind and file.
func ScanTokens(files []File) ([]contract.Finding, error) {
	var out []contract.Finding
	for _, f := range files {
		counts := map[string]int{}
		err := chunks(f.Path, tokenWindow, func(buf []byte, base int64, last bool) {
			// A hit is counted in the window where it starts, unless it
			// starts in the part the next window repeats.
			limit := len(buf)
			if !last {
				limit = len(buf) - (tokenWindow - 1)
			}
			for _, t := range tokens {
				for i := 0; i < limit; {
					j := bytes.Index(buf[i:limit], t.prefix)
					if j < 0 {
						break
					}
					at := i + j
					end := at + tokenWindow
					if end > len(buf) {
						end = len(buf)
					}
					if loc := t.re.FindIndex(buf[at:end]); loc != nil {
						counts[t.kind]++
						i = at + loc[1]
						continue
					}
					i = at + 1
				}
			}
		})
		if err != nil {
			return nil, err
		}
		for kind, n := range counts {
			out = append(out, contract.Finding{Kind: kind, File: f.Name, Count: n})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].File != out[j].File {
			return out[i].File < out[j].File
		}
		return out[i].Kind < out[j].Kind
	})
	return out, nil
}
