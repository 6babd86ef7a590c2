// Package hotspot runs diagnostic commands in a running HotSpot JVM
// (OpenJDK and its builds) through the JVM's dynamic attach mechanism, the
// protocol the jcmd tool speaks, without needing jcmd or any other JDK tool.
// crac-build uses it to run "GC.run" and "System.trim_native_heap" in a JVM
// before checkpointing it, when the image holds only a JRE.
//
// # Protocol (Linux, JDK 9 and later)
//
// A JVM listens on the Unix socket /tmp/.java_pid<pid> once its attach
// listener has started, where /tmp is the JVM's own /tmp (not
// java.io.tmpdir) and <pid> is its process id in its own PID namespace. The
// listener starts lazily: a client creates the trigger file
// .attach_pid<pid> in the JVM's working directory (or /tmp) and sends SIGQUIT.
// The JVM's signal dispatcher sees the trigger file, starts the listener and
// creates the socket instead of printing a thread dump.
//
// This package reaches both files through /proc/<pid>/root and
// /proc/<pid>/cwd, and takes <pid> from the last field of the NSpid line of
// /proc/<pid>/status, so it works for a JVM in the caller's namespaces and for
// one in a container alike, given the privileges to read those links
// (root, or the JVM's own user in the same namespaces).
//
// A request is "1\x00jcmd\x00<command>\x00\x00\x00": protocol version 1,
// the operation name and three arguments, each NUL-terminated. The JVM
// answers with the return code as a decimal line ("0\n" on success, "-1\n"
// when the command threw) followed by the command's output, and closes the
// connection. The JVM accepts a connection only from a peer with its own
// effective uid and gid, or from root.
//
// # Stale files
//
// After a CRIU restore, or when a JVM reuses the PID of a dead one, a
// .java_pid socket file may exist that nobody listens on. [Jcmd] removes a
// socket file that refuses connections and triggers the listener again; a
// running JVM notices that its socket file is gone and restarts its listener.
// [RemoveAttachFiles] deletes such files explicitly, for example right before
// a checkpoint so the restored JVM does not inherit them.
//
// # Safety
//
// SIGQUIT kills a process that does not catch it: a process that is not a
// JVM, a JVM too early in its startup, or a JVM run with -Xrs (which starts
// its attach listener at startup instead, so its socket normally exists).
// Jcmd therefore sends SIGQUIT only when /proc/<pid>/status shows that the
// process catches it, and returns an error otherwise.
//
// The package prints nothing and starts no processes.
package hotspot
