package contract

import (
	"fmt"
	"strings"
	"syscall"
)

// What a checkpoint holds besides the process's state: the pre-dump
// inventory (files, sockets, threads, memory), the scans for secrets, how
// the launcher tells a restored application that it was restored, and where
// the image came from.

// Paths of the build and run time conventions around a checkpoint.
const (
	// SecretsDir holds the build secrets (--secret ID=FILE) in the build
	// sandbox, one read-only file per ID, as image builders do. It is a
	// mount: nothing under it reaches a layer, and it does not exist when
	// the image runs.
	SecretsDir = "/run/secrets"
	// RestoredPath is written by the launcher just before it restores the
	// checkpoint (and removed before a cold start): an application that
	// finds it, or finds its id changed, knows it runs as a restored copy
	// and must re-seed what every copy shares. Its format is that of a
	// Java properties file: "id=<32 hex digits>", "time=<RFC 3339>",
	// "checkpoint=<RFC 3339 time of the checkpoint>".
	RestoredPath = "/run/crac-build/restored"
)

// Labels of the image's provenance. The base image's name and digest use the
// keys the OCI image spec defines for them.
const (
	LabelBaseName   = "org.opencontainers.image.base.name"
	LabelBaseDigest = "org.opencontainers.image.base.digest"
	LabelCPUModel   = "dev.crac-build.cpu-model"
)

// BaseImage is the image the warm image was built on.
type BaseImage struct {
	// Name is the reference the build was given (registry reference,
	// oci-layout:DIR:TAG or docker-archive:FILE).
	Name   string `json:"name"`
	Digest string `json:"digest"`
}

// Peer kinds of a connected socket: where the other end is.
const (
	// PeerTree: another socket of the dumped process tree; both ends are
	// in the checkpoint.
	PeerTree = "tree"
	// PeerSandbox: a process of the build sandbox outside the dumped tree.
	PeerSandbox = "sandbox"
	// PeerOutside: not in the sandbox (the host, the warmup program, a
	// remote machine).
	PeerOutside = "outside"
)

// Socket is one socket the dumped tree held.
type Socket struct {
	// Proto is tcp, tcp6, udp, udp6 or unix.
	Proto string `json:"proto"`
	// State as the kernel names it: LISTEN, ESTABLISHED, CLOSE_WAIT, ...
	// (unix: LISTEN, CONNECTED, UNCONNECTED).
	State string `json:"state"`
	// Local and Remote addresses (host:port); unix sockets have Path.
	Local  string `json:"local,omitempty"`
	Remote string `json:"remote,omitempty"`
	Path   string `json:"path,omitempty"`
	// Type of a unix socket: stream, dgram, seqpacket.
	Type  string `json:"type,omitempty"`
	Inode uint64 `json:"inode"`
	// PID and Command of the process holding it.
	PID     int    `json:"pid"`
	Command string `json:"command,omitempty"`
	// Direction of an established TCP connection: "in" (accepted on one
	// of the tree's listening ports) or "out" (the tree connected).
	Direction string `json:"direction,omitempty"`
	// Peer says where the other end of a connected TCP socket is (PeerTree,
	// PeerSandbox, PeerOutside), PeerProcess who holds it when known.
	Peer        string `json:"peer,omitempty"`
	PeerProcess string `json:"peerProcess,omitempty"`
}

// TreeProcess is one process of the dumped tree.
type TreeProcess struct {
	PID     int    `json:"pid"`
	PPID    int    `json:"ppid"`
	Command string `json:"command"`
	Threads int    `json:"threads"`
	RSSKiB  int64  `json:"rssKiB"`
	// SigCgt is the mask of signals the process catches (hex, as in
	// /proc/PID/status).
	SigCgt string `json:"sigCgt,omitempty"`
}

// ThreadGroup counts the threads of the tree that share a name (as the
// kernel knows them: /proc/PID/task/TID/comm, 15 characters).
type ThreadGroup struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
}

// Memory splits the resident memory of the dumped JVM, as far as the kernel
// and the JVM can tell without native memory tracking. Values in KiB; zero
// means unknown.
type Memory struct {
	// From /proc/PID/status: all resident memory, and its anonymous,
	// file-backed and shared parts. Only the anonymous part (and written
	// private file pages) goes into the checkpoint's pages.
	RSSKiB   int64 `json:"rssKiB"`
	AnonKiB  int64 `json:"anonKiB"`
	FileKiB  int64 `json:"fileKiB"`
	ShmemKiB int64 `json:"shmemKiB,omitempty"`
	// From the JVM (jcmd GC.heap_info, Compiler.codecache).
	HeapUsedKiB           int64 `json:"heapUsedKiB,omitempty"`
	HeapCommittedKiB      int64 `json:"heapCommittedKiB,omitempty"`
	MetaspaceUsedKiB      int64 `json:"metaspaceUsedKiB,omitempty"`
	MetaspaceCommittedKiB int64 `json:"metaspaceCommittedKiB,omitempty"`
	CodeCacheUsedKiB      int64 `json:"codeCacheUsedKiB,omitempty"`
	// OtherAnonKiB is the anonymous memory the heap, metaspace and code
	// cache do not explain: malloc (C heap), thread stacks, GC and
	// compiler data. An estimate: committed is not always resident.
	OtherAnonKiB int64 `json:"otherAnonKiB,omitempty"`
	// NMTCommittedKiB holds the committed memory by category when the JVM
	// runs with -XX:NativeMemoryTracking (jcmd VM.native_memory summary).
	NMTCommittedKiB map[string]int64 `json:"nmtCommittedKiB,omitempty"`
}

// SecretScan records that a build secret was scanned for in the checkpoint
// (a secret that was found failed the build, so images only hold misses).
type SecretScan struct {
	ID    string `json:"id"`
	Bytes int    `json:"bytes"`
	// Scanned is false when the value was too short to tell apart from
	// other data; Note says why.
	Scanned bool   `json:"scanned"`
	Note    string `json:"note,omitempty"`
}

// Finding is a hit of the built-in scan for well-known secret formats
// (private keys, cloud and chat tokens) in the checkpoint or the diff.
type Finding struct {
	Kind string `json:"kind"`
	// File is a CRIU image file (pages-1.img) or "diff:" and a path in the
	// application's filesystem changes.
	File  string `json:"file"`
	Count int    `json:"count"`
}

// Hygiene is what the builder found in the process before the dump and in
// the checkpoint after it: what leaks into every container restored from
// the image, and what might not survive a restore.
type Hygiene struct {
	Processes []TreeProcess `json:"processes"`
	Threads   []ThreadGroup `json:"threads"`
	Sockets   []Socket      `json:"sockets"`
	Memory    Memory        `json:"memory"`
	// DeletedFiles were open or mapped but deleted: CRIU copies their
	// content into the checkpoint.
	DeletedFiles []string     `json:"deletedFiles,omitempty"`
	Secrets      []SecretScan `json:"secrets,omitempty"`
	Findings     []Finding    `json:"findings,omitempty"`
	Warnings     []string     `json:"warnings,omitempty"`
}

// ExternalConnections returns the established TCP connections whose other
// end is not in the dumped tree: they cannot be part of the checkpoint, and
// every restored copy would believe it still holds them.
func (h *Hygiene) ExternalConnections() []Socket {
	var out []Socket
	for _, s := range h.Sockets {
		if (s.Proto == "tcp" || s.Proto == "tcp6") && s.State == "ESTABLISHED" && s.Peer != PeerTree {
			out = append(out, s)
		}
	}
	return out
}

// restoreSignals are the signals a build may ask the launcher to send to
// the restored application. Not SIGUSR2: HotSpot suspends and resumes
// threads with it. Not SIGHUP, SIGINT, SIGTERM: HotSpot's handlers for them
// shut the JVM down. SIGUSR1 ends a JVM that does not catch it, so the
// builder checks that the application does; SIGWINCH is ignored by default.
var restoreSignals = map[string]syscall.Signal{
	"SIGUSR1":  syscall.SIGUSR1,
	"SIGWINCH": syscall.SIGWINCH,
}

// ParseRestoreSignal accepts "USR1", "SIGUSR1" (any case) or "SIGWINCH"
// and returns its canonical name and number.
func ParseRestoreSignal(s string) (string, syscall.Signal, error) {
	name := strings.ToUpper(strings.TrimSpace(s))
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	sig, ok := restoreSignals[name]
	if !ok {
		return "", 0, fmt.Errorf("restore signal %q: want SIGUSR1 or SIGWINCH (SIGUSR2 is HotSpot's own; HUP, INT and TERM shut a JVM down)", s)
	}
	return name, sig, nil
}
