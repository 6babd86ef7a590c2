package builder

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"

	"github.com/crac-build/crac-build/internal/contract"
)

// appUser resolves the application's user: spec (--user) if set, else the
// base's USER, against /etc/passwd and /etc/group of the image's root
// filesystem (lower: its layers' directories, top first). nil means root,
// as before USER was honoured: nothing changes for such an image.
func appUser(spec, baseUser, image string, lower []string) (*contract.User, error) {
	what := fmt.Sprintf("--user %q (base image %s)", spec, image)
	if spec == "" {
		spec, what = baseUser, fmt.Sprintf("USER %q of the base image %s", baseUser, image)
	}
	if spec == "" {
		return nil, nil
	}
	passwd, err := openInLayers(lower, "/etc/passwd")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if passwd != nil {
		defer passwd.Close()
	}
	group, err := openInLayers(lower, "/etc/group")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if group != nil {
		defer group.Close()
	}
	u, err := contract.ResolveUser(spec, readerOrNil(passwd), readerOrNil(group))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if u.IsRoot() {
		return nil, nil
	}
	return u, nil
}

// readerOrNil keeps a missing file a nil io.Reader (not a nil *os.File in
// an interface).
func readerOrNil(f *os.File) io.Reader {
	if f == nil {
		return nil
	}
	return f
}

// openInLayers opens name in the topmost layer directory that has it,
// resolving symlinks inside that directory as the container would; nil if
// no layer has it.
func openInLayers(lower []string, name string) (*os.File, error) {
	for _, dir := range lower {
		p, err := securejoin.SecureJoin(dir, name)
		if err != nil {
			return nil, err
		}
		f, err := os.Open(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		return f, err
	}
	return nil, nil
}

// userArgs is the sandbox init's --user flag: UID:GID[:G1,G2,...].
func userArgs(u *contract.User) []string {
	if u == nil {
		return nil
	}
	return []string{"--user", u.Creds()}
}

// withHome sets HOME to the user's home when env has none: runc sets it
// for the container's process (the launcher, root: /root), and Docker for a
// USER from its passwd entry; the application gets the latter, as it would
// in the base image. The launcher does the same at a cold start.
func withHome(env []string, u *contract.User) []string {
	if u == nil {
		return env
	}
	for _, kv := range env {
		if strings.HasPrefix(kv, "HOME=") {
			return env
		}
	}
	return append(append([]string{}, env...), "HOME="+u.Home)
}

// userRestoreCaps are what a restore of an application that runs as
// another user needs besides CRIU's own (measured: without each, the
// restore of examples/hello as uid 1000 fails): CRIU (root) sets the
// restored task's uid, gid and groups (CAP_SETUID, CAP_SETGID: without
// them it hangs, like any capability it cannot restore); it binds the
// agent's socket again in the user's directory (CAP_DAC_OVERRIDE), which
// the launcher gives back to the user (CAP_CHOWN).
var userRestoreCaps = []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_SETGID", "CAP_SETUID"}
