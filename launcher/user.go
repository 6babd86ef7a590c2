package launcher

import (
	"fmt"
	"os"
	"strings"
	"syscall"

	"github.com/crac-build/crac-build/contract"
)

// The launcher is root (the container's): CRIU's restore needs its
// capabilities, which a non-root process does not have in effect. The
// application runs as the image's user (contract.User): in the build
// sandbox init starts it with that user's ids, CRIU restores them with the
// task, and a cold start drops to them before the exec.

// credential is the user's ids for exec.Cmd (Go sets the groups, gid and
// uid in the child, in that order, before the exec); nil for root.
func credential(u *contract.User) *syscall.Credential {
	if u == nil {
		return nil
	}
	return &syscall.Credential{Uid: u.UID, Gid: u.GID, Groups: append([]uint32{}, u.Groups...)}
}

// dropToUser makes this process the user, as a runtime does for a USER
// before it starts the container's process: supplementary groups, gid,
// uid (every thread: Go's syscall package does it on all of them). The
// uid change from root clears the permitted, effective and ambient
// capabilities; the bounding set stays, as under Docker. No new privileges
// is left as the runtime set it: the build sandbox did not set it, and a
// restored JVM has it only when the container does.
// A launcher that is not root (the runtime's --user or runAsUser replaced
// the image's) leaves its ids alone: the operator chose them.
func dropToUser(u *contract.User) error {
	if u == nil || os.Geteuid() != 0 {
		return nil
	}
	groups := make([]int, len(u.Groups))
	for i, g := range u.Groups {
		groups[i] = int(g)
	}
	if err := syscall.Setgroups(groups); err != nil {
		return fmt.Errorf("setting the groups of user %s: %w", u, err)
	}
	if err := syscall.Setgid(int(u.GID)); err != nil {
		return fmt.Errorf("setting the gid of user %s: %w", u, err)
	}
	if err := syscall.Setuid(int(u.UID)); err != nil {
		return fmt.Errorf("setting the uid of user %s: %w", u, err)
	}
	return nil
}

// userEnv gives a cold start the HOME the application had at build: the
// user's home when the image's environment sets none (the runtime set
// the launcher's, root's), as at build time and as Docker does for a USER.
func userEnv(m *contract.Metadata, env []string) []string {
	if m == nil || m.User == nil || os.Geteuid() != 0 {
		return env
	}
	for _, kv := range m.Cold.Env {
		if strings.HasPrefix(kv, "HOME=") {
			return env
		}
	}
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if !strings.HasPrefix(kv, "HOME=") {
			out = append(out, kv)
		}
	}
	return append(out, "HOME="+m.User.Home)
}

// chownForUser gives a directory the launcher made for the restored
// application (the agents' socket dir) to its user, who made it at build.
func chownForUser(dir string, u *contract.User) error {
	if u == nil {
		return nil
	}
	if err := os.Chown(dir, int(u.UID), int(u.GID)); err != nil {
		return fmt.Errorf("giving %s to user %s: %w", dir, u, err)
	}
	return nil
}
