package builder

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/crac-build/crac-build/internal/layers"
	"github.com/crac-build/crac-build/internal/warmup"
)

func TestParseCommand(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{`["java","-jar","app.jar"]`, []string{"java", "-jar", "app.jar"}},
		{`  ["sh", "-c", "echo $HOME"]  `, []string{"sh", "-c", "echo $HOME"}},
		{`java -jar app.jar`, []string{"java", "-jar", "app.jar"}},
		{"  java\t-Xmx1g \n -jar   app.jar  ", []string{"java", "-Xmx1g", "-jar", "app.jar"}},
		{`sh -c 'echo "hi there"'`, []string{"sh", "-c", `echo "hi there"`}},
		{`sh -c "echo 'hi there'"`, []string{"sh", "-c", `echo 'hi there'`}},
		{`java -Dname="a b"c -jar x`, []string{"java", "-Dname=a bc", "-jar", "x"}},
		{`a\ b c`, []string{"a b", "c"}},
		{`"a\"b"`, []string{`a"b`}},
		{`'a\b'`, []string{`a\b`}},
		{`prog '' ""`, []string{"prog", "", ""}},
		{`prog \'x`, []string{"prog", "'x"}},
	} {
		got, err := ParseCommand(tc.in)
		if err != nil {
			t.Errorf("ParseCommand(%q): %v", tc.in, err)
			continue
		}
		if diff := cmp.Diff(got, tc.want); diff != "" {
			t.Errorf("ParseCommand(%q) (-got +want):\n%s", tc.in, diff)
		}
	}
	for _, in := range []string{
		``,
		`   `,
		`[]`,
		`["java",`,
		`[1, 2]`,
		`java "unterminated`,
		`java 'unterminated`,
		`trailing\`,
	} {
		if got, err := ParseCommand(in); err == nil {
			t.Errorf("ParseCommand(%q) = %q, want an error", in, got)
		}
	}
}

// Inside double quotes a shell keeps a backslash that escapes nothing
// special: sh -c 'printf "%s" "a\d"' prints a\d.
func TestParseCommandBackslashInDoubleQuotes(t *testing.T) {
	got, err := ParseCommand(`java -Dpattern="\d+" -jar app.jar`)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(got, []string{"java", `-Dpattern=\d+`, "-jar", "app.jar"}); diff != "" {
		t.Errorf("(-got +want):\n%s", diff)
	}
}

func TestParseAdd(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "app.jar")
	if err := os.WriteFile(src, []byte("jar"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ParseAdd(src + ":/app/app.jar")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(got, Add{Src: src, Dest: "/app/app.jar"}); diff != "" {
		t.Errorf("(-got +want):\n%s", diff)
	}
	for _, tc := range []struct{ in, want string }{
		{src, "want SRC:DEST"},
		{src + ":", "want SRC:DEST"},
		{":/app", "want SRC:DEST"},
		{src + ":app/app.jar", "absolute"},
		{filepath.Join(dir, "missing.jar") + ":/app/x.jar", "no such file"},
	} {
		_, err := ParseAdd(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseAdd(%q): %v, want an error containing %q", tc.in, err, tc.want)
		}
	}
}

// validOptions are the least a build needs.
func validOptions(t *testing.T) Options {
	return Options{
		Base:       "oci-layout:/base:jre",
		Port:       8080,
		Outputs:    []string{"oci-layout:/out:warm"},
		CriuBundle: "/bundle",
		Launcher:   "/crac-launch",
		Agent:      "/crac-agent.jar",
		CacheDir:   t.TempDir(),
	}
}

func TestOptionsDefaults(t *testing.T) {
	o := validOptions(t)
	o.CacheDir = ""
	if err := o.defaults(); err != nil {
		t.Fatal(err)
	}
	if o.ReadyURL != "http://127.0.0.1:8080/" {
		t.Errorf("ReadyURL %q", o.ReadyURL)
	}
	if o.ReadyTimeout != DefaultReadyTimeout || o.WarmupTimeout != DefaultWarmupTimeout {
		t.Errorf("timeouts %v, %v", o.ReadyTimeout, o.WarmupTimeout)
	}
	if o.WarmupPath != "" || o.Compression != layers.Zstd || o.Logf == nil {
		t.Errorf("WarmupPath %q, Compression %q, Logf set %v", o.WarmupPath, o.Compression, o.Logf != nil)
	}
	if !strings.HasSuffix(o.CacheDir, "crac-build") {
		t.Errorf("CacheDir %q", o.CacheDir)
	}
	o.Logf("a silent logger must not panic: %d", 1)

	// Given values stay.
	o = validOptions(t)
	o.ReadyURL = "http://127.0.0.1:9000/health"
	o.Compression = layers.Gzip
	if err := o.defaults(); err != nil {
		t.Fatal(err)
	}
	if o.ReadyURL != "http://127.0.0.1:9000/health" || o.Compression != layers.Gzip {
		t.Errorf("defaults overwrote ReadyURL %q or Compression %q", o.ReadyURL, o.Compression)
	}
}

func TestOptionsDefaultsErrors(t *testing.T) {
	dir := t.TempDir()
	notExec := filepath.Join(dir, "warm.sh")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		change func(*Options)
		want   string
	}{
		{"no base", func(o *Options) { o.Base = "" }, "--base"},
		{"no port or ready URL", func(o *Options) { o.Port = 0 }, "--port"},
		{"no outputs", func(o *Options) { o.Outputs = nil }, "--output or --push"},
		{"no bundle", func(o *Options) { o.CriuBundle = "" }, "CRIU bundle"},
		{"no launcher", func(o *Options) { o.Launcher = "" }, "launcher"},
		{"no agent", func(o *Options) { o.Agent = "" }, "--no-agent"},
		{"bad restore policy", func(o *Options) { o.OnRestoreError = "ignore" }, "--on-restore-error"},
		{"relative warmup path", func(o *Options) { o.WarmupPath = "health" }, "must start with /"},
		{"warmup requests without port", func(o *Options) {
			o.Port, o.ReadyURL, o.WarmupRequests = 0, "http://127.0.0.1:8080/", 10
		}, "--warmup-requests needs --port"},
		{"warmup script not executable", func(o *Options) { o.WarmupScript = notExec }, "not executable"},
		{"warmup script missing", func(o *Options) { o.WarmupScript = filepath.Join(dir, "missing.sh") }, "warmup script"},
		{"rounds and a count of requests", func(o *Options) { o.WarmupRequests, o.WarmupRounds = 10, "steady" }, "give one of them"},
		{"rounds of nothing", func(o *Options) { o.WarmupRounds = "5" }, "repeats a warmup: give it one"},
		{"bad rounds", func(o *Options) { o.WarmupPath, o.WarmupRounds = "/", "steady:0" }, "want steady, steady:MAX"},
		{"warmup path without port", func(o *Options) {
			o.Port, o.ReadyURL, o.WarmupPath = 0, "http://127.0.0.1:8080/", "/"
		}, "--warmup-path needs --port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := validOptions(t)
			tc.change(&o)
			err := o.defaults()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("defaults: %v, want an error containing %q", err, tc.want)
			}
		})
	}
	// Push alone is a place to put the image.
	o := validOptions(t)
	o.Outputs, o.Push = nil, []string{"registry.example/app:warm"}
	if err := o.defaults(); err != nil {
		t.Errorf("defaults with Push only: %v", err)
	}
}

func TestOptionsWarmupScriptAbsolute(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "warm.sh"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	o := validOptions(t)
	o.WarmupScript = "warm.sh"
	if err := o.defaults(); err != nil {
		t.Fatal(err)
	}
	// The script runs from another directory than the CLI's.
	if want := filepath.Join(dir, "warm.sh"); o.WarmupScript != want {
		t.Errorf("WarmupScript %q, want %q", o.WarmupScript, want)
	}
}

// Rounds are the default when there is something to repeat and no count
// of requests; a count keeps the fixed warmup.
func TestWarmupRounds(t *testing.T) {
	for _, tc := range []struct {
		name  string
		o     Options
		until string
		max   int
	}{
		{"nothing to warm up", Options{Port: 1}, "", 0},
		{"a script", Options{WarmupScript: "/w.sh"}, UntilSteady, DefaultMaxRounds},
		{"a requests file", Options{Port: 1, WarmupRequestsFile: "/r.txt"}, UntilSteady, DefaultMaxRounds},
		{"a path", Options{Port: 1, WarmupPath: "/work"}, UntilSteady, DefaultMaxRounds},
		{"a path and a count", Options{Port: 1, WarmupPath: "/work", WarmupRequests: 500}, "", 0},
		{"a script and a count", Options{Port: 1, WarmupScript: "/w.sh", WarmupRequests: 500}, "", 0},
		{"steady, bounded", Options{WarmupScript: "/w.sh", WarmupRounds: "steady:3"}, UntilSteady, 3},
		{"a number of rounds", Options{WarmupScript: "/w.sh", WarmupRounds: "7"}, UntilRounds, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			until, max, err := tc.o.warmupRounds()
			if err != nil || until != tc.until || max != tc.max {
				t.Errorf("warmupRounds() = %q, %d, %v; want %q, %d", until, max, err, tc.until, tc.max)
			}
		})
	}
}

// A round of requests until steady sends half as many as the rounds
// before it, at least the round's base, in whole passes over the list.
func TestRoundSize(t *testing.T) {
	k := &warmer{reqs: make([]warmup.Request, 3), perRound: 102, grow: true}
	var got []int
	for i := 0; i < 12; i++ {
		n := k.roundSize()
		got = append(got, n)
		k.stats.Requests += n
	}
	want := []int{102, 102, 102, 153, 231, 345, 519, 777, 1002, 1002, 1002, 1002}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("round sizes %v, want %v", got, want)
	}
	k.grow = false
	if n := k.roundSize(); n != 102 {
		t.Errorf("a fixed number of rounds: %d requests a round, want 102", n)
	}
}

// The build names a round's warmup: a script's run does not grow.
func TestWarmerWhat(t *testing.T) {
	for _, tc := range []struct {
		k    warmer
		want string
	}{
		{warmer{r: warmRun{o: &Options{WarmupScript: "/x/warm.sh"}}, grow: true}, "a run of warm.sh"},
		{warmer{r: warmRun{o: &Options{WarmupPath: "/p"}}, reqs: make([]warmup.Request, 1), perRound: 100, grow: true}, "100 GET /p or half of those before (at most 1000)"},
		{warmer{r: warmRun{o: &Options{WarmupScript: "/x/warm.sh", WarmupPath: "/p"}}, reqs: make([]warmup.Request, 1), perRound: 100}, "a run of warm.sh and 100 GET /p"},
	} {
		if got := tc.k.what(); got != tc.want {
			t.Errorf("what() = %q, want %q", got, tc.want)
		}
	}
}
