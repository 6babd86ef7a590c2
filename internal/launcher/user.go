package launcher

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/crac-build/crac-build/internal/contract"
	"github.com/crac-build/crac-build/internal/environ"
	"github.com/crac-build/crac-build/internal/proc"
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
	// Without CAP_SETGID or CAP_SETUID (a container that drops them)
	// the application cannot become its user; it does not start as root
	// instead. The runtime can set the user itself (the launcher then is
	// not root and starts cold as it).
	hint := func(op string, err error) error {
		return fmt.Errorf("cannot run the application as user %s (the image's USER): %s: %w; grant CAP_SETUID and CAP_SETGID, or run the container as that user (docker run --user %d:%d, runAsUser: %d), which starts it cold", u, op, err, u.UID, u.GID, u.UID)
	}
	if err := syscall.Setgroups(groups); err != nil {
		return hint("setgroups", err)
	}
	if err := syscall.Setgid(int(u.GID)); err != nil {
		return hint("setgid", err)
	}
	if err := syscall.Setuid(int(u.UID)); err != nil {
		return hint("setuid", err)
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
	return environ.Merge(env, []string{"HOME=" + m.User.Home})
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

// TakeRealIDs makes the real uid and gid of this process (the dump mode,
// root) those of process pid, the application, and keeps the effective and
// saved ids, root, and with them the capabilities. CRIU's dump of another
// user's task reads its rlimits with prlimit(2), which the kernel allows
// only to a caller whose real ids are the task's or to one with
// CAP_SYS_RESOURCE, which not every host's bounding set has (these
// machines' does not), and ptrace's attach compares real ids too. The
// dump mode exits after the dump; nothing else runs with these ids. For
// an application that runs as root it changes nothing.
func TakeRealIDs(pid int) error {
	st, err := proc.Status(pid)
	if err != nil {
		return fmt.Errorf("reading the ids of process %d: %w", pid, err)
	}
	uid, uerr := strconv.Atoi(firstField(st["Uid"]))
	gid, gerr := strconv.Atoi(firstField(st["Gid"]))
	if uerr != nil || gerr != nil {
		return fmt.Errorf("reading the ids of process %d: Uid %q, Gid %q", pid, st["Uid"], st["Gid"])
	}
	if uid == os.Getuid() && gid == os.Getgid() {
		return nil
	}
	// The gid first: changing it needs CAP_SETGID, which stays effective
	// as long as an effective uid is root.
	if err := syscall.Setresgid(gid, -1, -1); err != nil {
		return fmt.Errorf("taking the real gid %d of process %d: %w", gid, pid, err)
	}
	if err := syscall.Setresuid(uid, -1, -1); err != nil {
		return fmt.Errorf("taking the real uid %d of process %d: %w", uid, pid, err)
	}
	return nil
}

func firstField(s string) string {
	if f := strings.Fields(s); len(f) > 0 {
		return f[0]
	}
	return ""
}
