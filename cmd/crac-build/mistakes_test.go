package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/urfave/cli/v2"

	"github.com/crac-build/crac-build/internal/builder"
	"github.com/crac-build/crac-build/internal/registry"
)

// The likely mistakes of a first build each give one line that names the
// fix. Those that need a running application (no port answering, a wrong
// ready URL, a base without java, an application that exits at start, a
// warmup that is not executable) are tested in the builder
// (builder/mistakes_test.go) and for real in e2e (TestCLIMistakes).

// firstLine is what a user reads first.
func firstLine(err error) string {
	if err == nil {
		return ""
	}
	l, _, _ := strings.Cut(err.Error(), "\n")
	return l
}

func TestCheckBuildNamesTheFix(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	notLayout := filepath.Join(dir, "notes")
	layout := filepath.Join(dir, "layout")
	for _, p := range []string{filepath.Join(notLayout, "x.txt"), filepath.Join(layout, "index.json"), file} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	root := buildHost{euid: 0, lookPath: func(string) (string, error) { return "/usr/sbin/runc", nil }, stat: os.Stat}
	noRunc := root
	noRunc.lookPath = func(f string) (string, error) { return "", &exec.Error{Name: f, Err: exec.ErrNotFound} }
	user := root
	user.euid = 1000
	for _, tc := range []struct {
		name   string
		host   buildHost
		output string
		want   string
	}{
		{"no root", user, "oci-layout:" + layout + ":x", "crac-build build needs root (it mounts the image's layers and runs runc): run it as root"},
		{"no runc", noRunc, "oci-layout:" + layout + ":x", "the OCI runtime runc is not installed: apt-get install runc"},
		{"output exists: a file as a layout", root, "oci-layout:" + file + ":x", "exists and is a file, not an OCI layout directory: name a new directory"},
		{"output exists: a directory that is no layout", root, "oci-layout:" + notLayout + ":x", "exists and is not an OCI image layout (no index.json): name a new directory or an existing layout"},
		{"output exists: a directory as an archive", root, "docker-archive:" + dir + ":app:warm", "is a directory: name the archive's file, e.g. docker-archive:" + filepath.Join(dir, "app.tar") + ":app:warm"},
		{"a layout gets another tag", root, "oci-layout:" + layout + ":x", ""},
		{"an empty directory becomes a layout", root, "oci-layout:" + t.TempDir() + ":x", ""},
		{"a new archive", root, "docker-archive:" + filepath.Join(dir, "new.tar") + ":app:warm", ""},
		{"an archive is replaced", root, "docker-archive:" + file + ":app:warm", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.host.checkBuild(builder.Options{Outputs: []string{tc.output}})
			got := firstLine(err)
			if tc.want == "" && err != nil || !strings.Contains(got, tc.want) {
				t.Errorf("got %q, want a line with %q", got, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "\n") {
				t.Errorf("not one line: %q", err)
			}
		})
	}
}

// A registry that wants credentials the user has not given: the line
// names docker login and the host.
func TestExplainRegistryAuth(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
		http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	_, err := registry.Load(context.Background(), host+"/team/app:1", registry.Options{Insecure: true, Keychain: authn.NewMultiKeychain()})
	if err == nil {
		t.Fatal("a registry that answers 401 gave an image")
	}
	got := firstLine(explain(err))
	want := "the registry " + host + " refused access (401 Unauthorized): log in with `docker login " + host + "`"
	if !strings.HasPrefix(got, want) {
		t.Errorf("got %q, want it to start %q", got, want)
	}
	if other := errors.New("disk full"); explain(other) != other {
		t.Errorf("explain changed an error it has nothing to say about")
	}
}

// An unknown flag gives one line, with the nearest flag, instead of the
// whole help.
func TestUnknownFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"build", "--ready-ur", "x"}, "unknown flag --ready-ur (did you mean --ready-url?); `crac-build build --help` lists the flags"},
		{[]string{"build", "--bogus"}, "unknown flag --bogus; `crac-build build --help` lists the flags"},
		{[]string{"checkpoint", "--warmup-request", "5"}, "unknown flag --warmup-request (did you mean --warmup-requests?); `crac-build checkpoint --help` lists the flags"},
		{[]string{"--quite", "build"}, "unknown flag --quite (did you mean --quiet?); `crac-build --help` lists the flags"},
		{[]string{"build", "--port", "eighty"}, `invalid value "eighty" for flag -port: parse error; ` + "`crac-build build --help` lists the flags"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out strings.Builder
			app := testApp(&out)
			err := app.Run(append([]string{"crac-build"}, tc.args...))
			if got := firstLine(err); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			if out.Len() > 0 {
				t.Errorf("printed besides the error:\n%s", out.String())
			}
		})
	}
}

// testApp is main's app writing to w, with Actions that must not run.
func testApp(w io.Writer) *cli.App {
	app := newApp()
	app.Writer, app.ErrWriter = w, w
	app.ExitErrHandler = func(*cli.Context, error) {}
	for _, c := range app.Commands {
		c.Action = func(*cli.Context) error { return errors.New("the action ran") }
	}
	return app
}
