package checkpoint

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/crac-build/crac-build/internal/contract"
	"github.com/crac-build/crac-build/internal/hotspot"
	"github.com/crac-build/crac-build/internal/proc"
)

// Tree returns pid and its descendants, parents before children: the
// processes a dump of pid takes.
func Tree(pid int) ([]int, error) {
	return proc.Tree(pid)
}

// Inventory reads from /proc what the process tree rooted at pid holds:
// its processes and threads, its sockets (matched to the kernel's socket
// tables, with the other end of each TCP connection located), the deleted
// files it holds, and its resident memory as the kernel splits it. Like
// DescribeProcess it must run in the tree's PID and mount namespaces.
func Inventory(pid int) (*contract.Hygiene, error) {
	pids, err := Tree(pid)
	if err != nil {
		return nil, fmt.Errorf("listing the process tree of %d: %w", pid, err)
	}
	h := &contract.Hygiene{}
	threads := map[string]int{}
	inodes := map[uint64]int{} // socket inode -> holder PID in the tree
	deleted := map[string]bool{}
	for _, p := range pids {
		st, err := proc.Status(p)
		if err != nil {
			continue // exited meanwhile: the dump will not see it either
		}
		tp := contract.TreeProcess{PID: p, Command: proc.Comm(p)}
		tp.PPID, _ = strconv.Atoi(st["PPid"])
		tp.Threads, _ = strconv.Atoi(st["Threads"])
		tp.RSSKiB = proc.KiB(st["VmRSS"])
		tp.SigCgt = st["SigCgt"]
		h.Processes = append(h.Processes, tp)
		if p == pid {
			h.Memory = contract.Memory{
				RSSKiB: proc.KiB(st["VmRSS"]), AnonKiB: proc.KiB(st["RssAnon"]),
				FileKiB: proc.KiB(st["RssFile"]), ShmemKiB: proc.KiB(st["RssShmem"]),
			}
		}
		for _, name := range proc.ThreadComms(p) {
			threads[threadGroup(name)]++
		}
		for ino := range socketInodes(p) {
			inodes[ino] = p
		}
		for _, f := range deletedFiles(p) {
			deleted[f] = true
		}
	}
	for name, n := range threads {
		h.Threads = append(h.Threads, contract.ThreadGroup{Name: name, Count: n})
	}
	sort.Slice(h.Threads, func(i, j int) bool {
		if h.Threads[i].Count != h.Threads[j].Count {
			return h.Threads[i].Count > h.Threads[j].Count
		}
		return h.Threads[i].Name < h.Threads[j].Name
	})
	for f := range deleted {
		h.DeletedFiles = append(h.DeletedFiles, f)
	}
	sort.Strings(h.DeletedFiles)
	h.Sockets, err = sockets(pid, inodes)
	if err != nil {
		return nil, err
	}
	return h, nil
}

// threadGroup names the group of a thread: a trailing number (GC Thread#3,
// pool-1-thread-12) becomes "*" so that pools count as one line.
func threadGroup(name string) string {
	t := strings.TrimRight(name, "0123456789")
	if t != name && t != "" {
		return t + "*"
	}
	return name
}

// socketInodes returns the inodes of the sockets pid holds open.
func socketInodes(pid int) map[uint64]bool {
	out := map[uint64]bool{}
	fds, _ := proc.FDs(pid)
	for _, l := range fds {
		if ino, ok := proc.SocketInode(l); ok {
			out[ino] = true
		}
	}
	return out
}

// deletedFiles lists the deleted files pid holds open or mapped.
func deletedFiles(pid int) []string {
	var out []string
	fds, _ := proc.FDs(pid)
	mapped, _ := proc.MappedFiles(pid)
	for _, l := range append(slices.Collect(maps.Values(fds)), mapped...) {
		if f, ok := strings.CutSuffix(l, " (deleted)"); ok && strings.HasPrefix(f, "/") {
			out = append(out, f)
		}
	}
	return out
}

// sameEnd compares socket ends across tcp and tcp6 tables: an IPv4 client
// of a dual-stack listener appears as ::ffff:a.b.c.d on the server side.
func sameEnd(a, b netip.AddrPort) bool {
	return a.Port() == b.Port() && a.Addr().Unmap() == b.Addr().Unmap()
}

func fmtAddr(a netip.AddrPort) string {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port()).String()
}

// sockets describes the sockets of the tree (inode -> holder PID), located
// in the tables of the root's network namespace.
func sockets(root int, tree map[uint64]int) ([]contract.Socket, error) {
	var inet []proc.InetSocket
	for _, proto := range []string{"tcp", "tcp6", "udp", "udp6"} {
		es, err := proc.InetSockets(root, proto)
		if err != nil {
			return nil, err
		}
		inet = append(inet, es...)
	}
	var out []contract.Socket
	var listening []netip.AddrPort
	for _, e := range inet {
		if tree[e.Inode] != 0 && e.State == "LISTEN" {
			listening = append(listening, e.Local)
		}
	}
	var others map[uint64]string // socket inodes of processes outside the tree
	for _, e := range inet {
		pid, ok := tree[e.Inode]
		if !ok || e.Inode == 0 {
			continue
		}
		s := contract.Socket{
			Proto: e.Proto, State: e.State, Local: fmtAddr(e.Local), Inode: e.Inode,
			PID: pid, Command: proc.Comm(pid),
		}
		if e.Remote.Port() != 0 {
			s.Remote = fmtAddr(e.Remote)
		}
		if strings.HasPrefix(e.Proto, "tcp") && e.State != "LISTEN" && e.Remote.Port() != 0 {
			s.Direction = "out"
			if listensOn(listening, e.Local) {
				s.Direction = "in"
			}
			s.Peer = contract.PeerOutside
			for _, p := range inet {
				if !strings.HasPrefix(p.Proto, "tcp") || !sameEnd(p.Local, e.Remote) || !sameEnd(p.Remote, e.Local) {
					continue
				}
				if p.Inode == 0 {
					// Not accepted yet: no file holds it. In the queue of
					// one of the tree's listeners it is the tree's.
					if p.State == "ESTABLISHED" && listensOn(listening, p.Local) {
						s.Peer = contract.PeerTree
						break
					}
					continue
				}
				if _, in := tree[p.Inode]; in {
					s.Peer = contract.PeerTree
					break
				}
				if others == nil {
					others = socketHolders(tree)
				}
				if who, ok := others[p.Inode]; ok {
					s.Peer, s.PeerProcess = contract.PeerSandbox, who
				}
				break
			}
		}
		out = append(out, s)
	}
	unix, err := unixSockets(root, tree)
	if err != nil {
		return nil, err
	}
	out = append(out, unix...)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Proto != out[j].Proto {
			return out[i].Proto < out[j].Proto
		}
		return out[i].Inode < out[j].Inode
	})
	return out, nil
}

// listensOn reports whether one of the listeners accepts connections to a.
func listensOn(listening []netip.AddrPort, a netip.AddrPort) bool {
	for _, l := range listening {
		if l.Port() == a.Port() && (l.Addr().IsUnspecified() || l.Addr().Unmap() == a.Addr().Unmap()) {
			return true
		}
	}
	return false
}

// socketHolders maps the socket inodes of every visible process outside the
// tree to "PID command". Inside the sandbox that is the sandbox's processes.
func socketHolders(tree map[uint64]int) map[uint64]string {
	inTree := map[int]bool{}
	for _, p := range tree {
		inTree[p] = true
	}
	out := map[uint64]string{}
	for _, pid := range proc.PIDs() {
		if inTree[pid] {
			continue
		}
		for ino := range socketInodes(pid) {
			if _, mine := tree[ino]; !mine {
				out[ino] = strconv.Itoa(pid) + " " + proc.Comm(pid)
			}
		}
	}
	return out
}

func unixSockets(root int, tree map[uint64]int) ([]contract.Socket, error) {
	us, err := proc.UnixSockets(root)
	if err != nil {
		return nil, err
	}
	var out []contract.Socket
	for _, u := range us {
		pid, ok := tree[u.Inode]
		if !ok {
			continue
		}
		out = append(out, contract.Socket{
			Proto: "unix", Type: u.Type, State: u.State, Path: u.Path, Inode: u.Inode,
			PID: pid, Command: proc.Comm(pid),
		})
	}
	return out, nil
}

// jcmd outputs parsed by JVMMemory.
var (
	reMetaspace  = regexp.MustCompile(`(?m)^\s*Metaspace\s+used (\d+)K, committed (\d+)K`)
	reCodeUsed   = regexp.MustCompile(`\bused=(\d+)Kb`)
	reNMTSection = regexp.MustCompile(`(?m)^-\s+(.+?) \(reserved=(\d+)KB, committed=(\d+)KB\)`)
	reNMTTotal   = regexp.MustCompile(`(?m)^Total: reserved=(\d+)KB, committed=(\d+)KB`)
)

// JVMMemory asks the JVM (through the attach API, so before the attach
// files are removed) how its memory splits into heap, metaspace and code
// cache, and, when native memory tracking is on, by NMT category. It fills
// m and returns the first failure; parts that failed stay zero.
func JVMMemory(ctx context.Context, pid int, m *contract.Memory) error {
	var first error
	keep := func(err error) {
		if first == nil {
			first = err
		}
	}
	if out, err := hotspot.Jcmd(ctx, pid, "GC.heap_info"); err == nil {
		parseHeapInfo(out, m)
	} else {
		keep(err)
	}
	if out, err := hotspot.Jcmd(ctx, pid, "Compiler.codecache"); err == nil {
		m.CodeCacheUsedKiB = parseCodeCache(out)
	} else {
		keep(err)
	}
	// Fails with "Native memory tracking is not enabled" unless the JVM
	// runs with -XX:NativeMemoryTracking=summary: then there is no more.
	if out, err := hotspot.Jcmd(ctx, pid, "VM.native_memory summary"); err == nil {
		m.NMTCommittedKiB = parseNMT(out)
	}
	return first
}

// addJVMMemory copies the JVM's figures into m (which holds the kernel's)
// and estimates the rest of the anonymous memory.
func addJVMMemory(m *contract.Memory, jvm contract.Memory) {
	m.HeapUsedKiB, m.HeapCommittedKiB = jvm.HeapUsedKiB, jvm.HeapCommittedKiB
	m.MetaspaceUsedKiB, m.MetaspaceCommittedKiB = jvm.MetaspaceUsedKiB, jvm.MetaspaceCommittedKiB
	m.CodeCacheUsedKiB, m.NMTCommittedKiB = jvm.CodeCacheUsedKiB, jvm.NMTCommittedKiB
	if m.AnonKiB > 0 && m.HeapCommittedKiB > 0 {
		if other := m.AnonKiB - m.HeapCommittedKiB - m.MetaspaceCommittedKiB - m.CodeCacheUsedKiB; other > 0 {
			m.OtherAnonKiB = other
		}
	}
}

// everyContainerHas are mounts a restoring container has too: files there
// need no warning for being outside the image.
var everyContainerHas = map[string]bool{"/proc": true, "/sys": true, "/dev": true}

// checkHygiene turns the inventory into warnings (on r and r.Hygiene) and
// refuses what no restore could survive: a build secret held open, and
// established connections to peers outside the tree (unless allowed).
func checkHygiene(r *Report, allowConnections bool) error {
	h := r.Hygiene
	for _, f := range r.OpenFiles {
		if f.Path == contract.SecretsDir || strings.HasPrefix(f.Path, contract.SecretsDir+"/") {
			return fmt.Errorf("the application holds the build secret %s open: it exists only during the build, so no restore could reopen it; close it once read (and keep the secret itself out of memory, see --secret)", f.Path)
		}
		if f.Writable && !f.Append {
			r.Warnings = append(r.Warnings, fmt.Sprintf("%s is open for writing without O_APPEND: if a restored process grows it, later restores of the same container fail", f.Path))
		}
		if f.Mount != "" && !everyContainerHas[f.Mount] {
			r.Warnings = append(r.Warnings, fmt.Sprintf("%s is on %s, not in the image: a restore needs it there with the same size and mode", f.Path, f.Mount))
		}
	}
	for _, f := range h.DeletedFiles {
		r.Warnings = append(r.Warnings, fmt.Sprintf("%s is held open but deleted: CRIU copies its content into the checkpoint", f))
	}
	for _, s := range h.Sockets {
		if strings.HasPrefix(s.Proto, "tcp") && s.State == "ESTABLISHED" && s.Peer == contract.PeerTree {
			r.Warnings = append(r.Warnings, fmt.Sprintf("TCP connection %s -> %s of process %d has both ends in the checkpoint but is closed at dump (an unprivileged restore cannot restore TCP connections)", s.Local, s.Remote, s.PID))
		}
	}
	if ext := h.ExternalConnections(); len(ext) > 0 {
		var lines []string
		inbound := false
		for _, s := range ext {
			lines = append(lines, DescribeConnection(s))
			inbound = inbound || s.Direction == "in"
		}
		if !allowConnections {
			hint := ""
			if inbound {
				hint = " (an inbound one is a client's: the warmup must close its connections before it ends)"
			}
			return fmt.Errorf("the application holds %d established TCP connection(s) to peers outside its process tree; they cannot be part of the checkpoint, and every container restored from it would believe it still holds them:\n  %s\nclose them before the checkpoint%s (connect lazily, or again after a restore), or pass --allow-connections to have them closed at dump (the application then finds them reset)",
				len(ext), strings.Join(lines, "\n  "), hint)
		}
		for _, l := range lines {
			r.Warnings = append(r.Warnings, "closed at dump (--allow-connections): "+l)
		}
	}
	h.Warnings = r.Warnings
	return nil
}

// DescribeConnection says in one line which connection s is and where its
// other end is.
func DescribeConnection(s contract.Socket) string {
	arrow, kind := "->", "outbound"
	if s.Direction == "in" {
		arrow, kind = "<-", "inbound"
	}
	where := "outside the sandbox"
	switch s.Peer {
	case contract.PeerSandbox:
		where = "process " + s.PeerProcess + " of the sandbox, outside the application's process tree"
	case contract.PeerTree:
		where = "in the application's process tree"
	}
	return fmt.Sprintf("%s %s %s %s (%s, process %d %s; the peer is %s)", s.Proto, s.Local, arrow, s.Remote, kind, s.PID, s.Command, where)
}

func atoi64(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

// parseHeapInfo reads GC.heap_info: the heap's or its generations' sizes
// in the formats of every collector and JDK (see heapSizes), and the
// Metaspace line.
func parseHeapInfo(out string, m *contract.Memory) {
	used, committed := heapSizes(out)
	m.HeapUsedKiB += used >> 10
	m.HeapCommittedKiB += committed >> 10
	if g := reMetaspace.FindStringSubmatch(out); g != nil {
		m.MetaspaceUsedKiB = atoi64(g[1])
		m.MetaspaceCommittedKiB = atoi64(g[2])
	}
}

// parseCodeCache sums the used size of every code heap in
// Compiler.codecache (three with a segmented code cache, one without).
func parseCodeCache(out string) int64 {
	var n int64
	for _, g := range reCodeUsed.FindAllStringSubmatch(out, -1) {
		n += atoi64(g[1])
	}
	return n
}

func parseNMT(out string) map[string]int64 {
	m := map[string]int64{}
	for _, g := range reNMTSection.FindAllStringSubmatch(out, -1) {
		m[strings.TrimSpace(g[1])] = atoi64(g[3])
	}
	if g := reNMTTotal.FindStringSubmatch(out); g != nil {
		m["Total"] = atoi64(g[2])
	}
	if len(m) == 0 {
		return nil
	}
	return m
}

// mounts are the mount points of the caller's mount namespace.
type mounts []string

func readMounts() mounts {
	ms, err := proc.Mounts("/")
	if err != nil {
		return nil
	}
	out := make(mounts, len(ms))
	for i, m := range ms {
		out[i] = m.Mountpoint
	}
	return out
}

// of returns the mount point of the filesystem holding path (the longest
// mount point containing it), "" for the root filesystem.
func (ms mounts) of(path string) string {
	best := "/"
	for _, m := range ms {
		if (path == m || strings.HasPrefix(path, strings.TrimSuffix(m, "/")+"/")) && len(m) > len(best) {
			best = m
		}
	}
	if best == "/" {
		return ""
	}
	return best
}
