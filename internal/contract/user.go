package contract

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// User is the user the application runs as: the base image's USER, or the
// build's --user, resolved at build time against the image's /etc/passwd
// and /etc/group the way runc (and so Docker and podman) resolves it. The
// launcher stays root (it needs CAP_CHECKPOINT_RESTORE); the JVM runs as
// this user in the build sandbox, is restored with these ids (CRIU restores
// a task's credentials), and a cold start drops to them before the exec.
type User struct {
	// Spec is the USER as given: "app", "1000", "1000:1000", "app:staff".
	Spec string `json:"spec"`
	// Name is the passwd entry's name, "" if the uid has none.
	Name string `json:"name,omitempty"`
	UID  uint32 `json:"uid"`
	GID  uint32 `json:"gid"`
	// Groups are the supplementary group ids (setgroups); the primary GID
	// is not repeated.
	Groups []uint32 `json:"groups,omitempty"`
	// Home is the passwd entry's home ("/" without one): HOME of a cold
	// start when the image's environment sets none, as at build time.
	Home string `json:"home,omitempty"`
}

// String is "1000:1000" with the name and supplementary groups when there
// are some: "app 1000:1000 (groups 27,100)".
func (u *User) String() string {
	s := fmt.Sprintf("%d:%d", u.UID, u.GID)
	if u.Name != "" {
		s = u.Name + " " + s
	}
	if len(u.Groups) > 0 {
		g := make([]string, len(u.Groups))
		for i, id := range u.Groups {
			g[i] = strconv.FormatUint(uint64(id), 10)
		}
		s += " (groups " + strings.Join(g, ",") + ")"
	}
	return s
}

// IsRoot says whether u changes nothing for a process started as root
// with no supplementary groups (what the application ran as before USER
// was honoured).
func (u *User) IsRoot() bool {
	return u == nil || u.UID == 0 && u.GID == 0 && len(u.Groups) == 0
}

// ResolveUser resolves a USER spec ("name", "uid", "name:group",
// "uid:gid", ...) as runc does: a name must have an entry in passwd, a
// number need not (its gid is then 0, as in Docker); without an explicit
// group the primary group is the passwd entry's and the supplementary
// groups are those of group listing the user by name; an explicit group
// (a name in group, or a number) replaces both. passwd and group may be
// nil (an image without them): then only numbers resolve.
func ResolveUser(spec string, passwd, group io.Reader) (*User, error) {
	userArg, groupArg, hasGroup := strings.Cut(spec, ":")
	if userArg == "" || hasGroup && groupArg == "" {
		return nil, fmt.Errorf("%q: want USER, UID, USER:GROUP or UID:GID", spec)
	}
	u := &User{Spec: spec, Home: "/"}
	entries, err := parseColonFile(passwd, 7)
	if err != nil {
		return nil, fmt.Errorf("reading /etc/passwd: %w", err)
	}
	uid, numeric := parseID(userArg)
	found := false
	for _, e := range entries {
		id, ok := parseID(e[2])
		gid, gok := parseID(e[3])
		if !ok || !gok {
			continue
		}
		// A number names a uid, never a user called "1000".
		if numeric && id == uid || !numeric && e[0] == userArg {
			u.Name, u.UID, u.GID, u.Home, found = e[0], id, gid, e[5], true
			break
		}
	}
	if !found {
		if !numeric {
			return nil, fmt.Errorf("no user %s in /etc/passwd", userArg)
		}
		u.UID = uid
	}
	if u.Home == "" {
		u.Home = "/"
	}
	if !hasGroup && u.Name == "" {
		return u, nil
	}
	groups, err := parseColonFile(group, 4)
	if err != nil {
		return nil, fmt.Errorf("reading /etc/group: %w", err)
	}
	if hasGroup {
		gid, gnumeric := parseID(groupArg)
		if gnumeric {
			u.GID = gid // a number needs no entry
			return u, nil
		}
		for _, g := range groups {
			if id, ok := parseID(g[2]); ok && g[0] == groupArg {
				u.GID = id
				return u, nil
			}
		}
		return nil, fmt.Errorf("no group %s in /etc/group", groupArg)
	}
	seen := map[uint32]bool{u.GID: true}
	for _, g := range groups {
		id, ok := parseID(g[2])
		if !ok || seen[id] {
			continue
		}
		for _, member := range strings.Split(g[3], ",") {
			if member == u.Name {
				u.Groups = append(u.Groups, id)
				seen[id] = true
				break
			}
		}
	}
	return u, nil
}

// parseID parses a uid or gid (a non-negative 32-bit number).
func parseID(s string) (uint32, bool) {
	n, err := strconv.ParseUint(s, 10, 32)
	return uint32(n), err == nil
}

// parseColonFile reads /etc/passwd or /etc/group lines as fields (padded
// to n), skipping blank and comment lines. A nil reader has no entries.
func parseColonFile(r io.Reader, n int) ([][]string, error) {
	if r == nil {
		return nil, nil
	}
	var out [][]string
	s := bufio.NewScanner(r)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ":")
		for len(f) < n {
			f = append(f, "")
		}
		out = append(out, f)
	}
	return out, s.Err()
}

// Creds is the user as ids only, "UID:GID" or "UID:GID:G1,G2,...": how
// the builder tells the sandbox's init whom to run the application as.
func (u *User) Creds() string {
	s := fmt.Sprintf("%d:%d", u.UID, u.GID)
	if len(u.Groups) > 0 {
		g := make([]string, len(u.Groups))
		for i, id := range u.Groups {
			g[i] = strconv.FormatUint(uint64(id), 10)
		}
		s += ":" + strings.Join(g, ",")
	}
	return s
}

// ParseCreds parses what Creds writes.
func ParseCreds(s string) (*User, error) {
	f := strings.Split(s, ":")
	if len(f) < 2 || len(f) > 3 {
		return nil, fmt.Errorf("user ids %q: want UID:GID[:G1,G2,...]", s)
	}
	u := &User{Spec: s}
	var ok, gok bool
	u.UID, ok = parseID(f[0])
	u.GID, gok = parseID(f[1])
	if !ok || !gok {
		return nil, fmt.Errorf("user ids %q: want UID:GID[:G1,G2,...]", s)
	}
	if len(f) == 3 && f[2] != "" {
		for _, g := range strings.Split(f[2], ",") {
			id, ok := parseID(g)
			if !ok {
				return nil, fmt.Errorf("user ids %q: group %q is not a number", s, g)
			}
			u.Groups = append(u.Groups, id)
		}
	}
	return u, nil
}
