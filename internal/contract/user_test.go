package contract_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/crac-build/crac-build/internal/contract"
)

const testPasswd = `root:x:0:0:root:/root:/bin/bash
# a comment
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
app:x:1000:1000:App:/home/app:/bin/sh
1234:x:2000:2000:a user whose name is a number:/home/n:/bin/sh
nohome:x:1001:1001::/:/bin/sh
`

const testGroup = `root:x:0:
adm:x:4:app,daemon
staff:x:50:
app:x:1000:
tools:x:1500:other,app
`

func resolve(spec string) (*contract.User, error) {
	return contract.ResolveUser(spec, strings.NewReader(testPasswd), strings.NewReader(testGroup))
}

func TestResolveUser(t *testing.T) {
	for _, tc := range []struct {
		spec string
		want contract.User
	}{
		// A name: its uid, primary gid and home, and the groups listing it.
		{"app", contract.User{Name: "app", UID: 1000, GID: 1000, Groups: []uint32{4, 1500}, Home: "/home/app"}},
		// A uid with an entry: the same as its name.
		{"1000", contract.User{Name: "app", UID: 1000, GID: 1000, Groups: []uint32{4, 1500}, Home: "/home/app"}},
		// A number is a uid, even where a user is called that.
		{"2000", contract.User{Name: "1234", UID: 2000, GID: 2000, Home: "/home/n"}},
		// A uid without an entry: gid 0, home /, as Docker does.
		{"4242", contract.User{UID: 4242, GID: 0, Home: "/"}},
		// uid:gid needs no entries; an explicit group drops the
		// supplementary ones, as runc does.
		{"4242:4343", contract.User{UID: 4242, GID: 4343, Home: "/"}},
		{"1000:1000", contract.User{Name: "app", UID: 1000, GID: 1000, Home: "/home/app"}},
		{"app:staff", contract.User{Name: "app", UID: 1000, GID: 50, Home: "/home/app"}},
		{"app:50", contract.User{Name: "app", UID: 1000, GID: 50, Home: "/home/app"}},
		{"root", contract.User{Name: "root", UID: 0, GID: 0, Home: "/root"}},
	} {
		got, err := resolve(tc.spec)
		if err != nil {
			t.Errorf("ResolveUser(%q): %v", tc.spec, err)
			continue
		}
		tc.want.Spec = tc.spec
		if diff := cmp.Diff(got, &tc.want); diff != "" {
			t.Errorf("ResolveUser(%q) (-got +want):\n%s", tc.spec, diff)
		}
	}
}

func TestResolveUserErrors(t *testing.T) {
	for spec, want := range map[string]string{
		"ghost":     `no user ghost in /etc/passwd`,
		"app:ghost": `no group ghost in /etc/group`,
		":1000":     `":1000": want USER, UID, USER:GROUP or UID:GID`,
		"app:":      `"app:": want USER, UID, USER:GROUP or UID:GID`,
	} {
		_, err := resolve(spec)
		if err == nil || err.Error() != want {
			t.Errorf("ResolveUser(%q) = %v, want %q", spec, err, want)
		}
	}
}

func TestResolveUserWithoutFiles(t *testing.T) {
	// An image without /etc/passwd (distroless-like): numbers still work.
	u, err := contract.ResolveUser("65532:65532", nil, nil)
	if err != nil || u.UID != 65532 || u.GID != 65532 || u.Home != "/" {
		t.Errorf("ResolveUser(65532:65532) without passwd = %+v, %v", u, err)
	}
	if _, err := contract.ResolveUser("nonroot", nil, nil); err == nil {
		t.Error("a name resolved without /etc/passwd")
	}
}

func TestUserString(t *testing.T) {
	u, err := resolve("app")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := u.String(), "app 1000:1000 (groups 4,1500)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if u.IsRoot() {
		t.Error("app IsRoot")
	}
	r, _ := resolve("root")
	if !r.IsRoot() || !(*contract.User)(nil).IsRoot() {
		t.Error("root or nil is not IsRoot")
	}
}

func TestCredsRoundTrip(t *testing.T) {
	for _, u := range []*contract.User{
		{UID: 1000, GID: 1000},
		{UID: 1000, GID: 50, Groups: []uint32{4, 1500}},
	} {
		got, err := contract.ParseCreds(u.Creds())
		if err != nil {
			t.Fatalf("ParseCreds(%q): %v", u.Creds(), err)
		}
		if got.UID != u.UID || got.GID != u.GID || !cmp.Equal(got.Groups, u.Groups) {
			t.Errorf("ParseCreds(%q) = %+v, want %+v", u.Creds(), got, u)
		}
	}
	for _, bad := range []string{"", "1000", "a:b", "1:2:x", "1:2:3:4"} {
		if _, err := contract.ParseCreds(bad); err == nil {
			t.Errorf("ParseCreds(%q) accepted", bad)
		}
	}
}
