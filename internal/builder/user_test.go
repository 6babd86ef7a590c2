package builder

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// layerDirs writes two layer directories: base with /etc/passwd and
// /etc/group, top replacing /etc/passwd (as an application layer could).
func layerDirs(t *testing.T) (top, base string) {
	t.Helper()
	top, base = t.TempDir(), t.TempDir()
	for dir, files := range map[string]map[string]string{
		base: {
			"etc/passwd": "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
			"etc/group":  "root:x:0:\napp:x:1000:\nstaff:x:50:app\n",
		},
		top: {"etc/passwd": "root:x:0:0:root:/root:/bin/sh\nsvc:x:2000:2000::/srv:/bin/sh\n"},
	} {
		for name, content := range files {
			p := filepath.Join(dir, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return top, base
}

func TestAppUser(t *testing.T) {
	top, base := layerDirs(t)
	// The base's USER, resolved in the base's files.
	u, err := appUser("", "app", "img", []string{base})
	if err != nil || u == nil || u.String() != "app 1000:1000 (groups 50)" || u.Home != "/home/app" {
		t.Errorf("USER app = %v, %v", u, err)
	}
	// --user wins over the base's USER; the top layer's /etc/passwd wins.
	u, err = appUser("svc", "app", "img", []string{top, base})
	if err != nil || u == nil || u.String() != "svc 2000:2000" || u.Home != "/srv" {
		t.Errorf("--user svc = %v, %v", u, err)
	}
	// Root, and no USER at all, change nothing.
	for _, spec := range []string{"", "root", "0", "0:0"} {
		if u, err := appUser(spec, "", "img", []string{base}); err != nil || u != nil {
			t.Errorf("user %q = %v, %v, want nil (root)", spec, u, err)
		}
	}
	// An unknown user names itself, where it came from and the image.
	_, err = appUser("", "ghost", "oci-layout:b:jre", []string{base})
	if want := `USER "ghost" of the base image oci-layout:b:jre: no user ghost in /etc/passwd`; err == nil || err.Error() != want {
		t.Errorf("USER ghost: %v, want %q", err, want)
	}
	_, err = appUser("app:nogroup", "", "img", []string{base})
	if err == nil || !strings.Contains(err.Error(), `--user "app:nogroup" (base image img): no group nogroup in /etc/group`) {
		t.Errorf("--user app:nogroup: %v", err)
	}
	// An image without /etc/passwd: numeric ids only.
	empty := t.TempDir()
	if u, err := appUser("65532:65532", "", "img", []string{empty}); err != nil || u == nil || u.UID != 65532 {
		t.Errorf("--user 65532:65532 without /etc/passwd = %v, %v", u, err)
	}
}

func TestWithHome(t *testing.T) {
	_, base := layerDirs(t)
	u, err := appUser("app", "", "img", []string{base})
	if err != nil {
		t.Fatal(err)
	}
	if got := withHome([]string{"PATH=/bin"}, u); strings.Join(got, " ") != "PATH=/bin HOME=/home/app" {
		t.Errorf("withHome = %v", got)
	}
	if got := withHome([]string{"HOME=/data"}, u); strings.Join(got, " ") != "HOME=/data" {
		t.Errorf("withHome with the image's HOME = %v", got)
	}
}
