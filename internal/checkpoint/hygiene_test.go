package checkpoint

import (
	"bufio"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/crac-build/crac-build/internal/contract"
)

// treeScript is a process tree with one of each thing Inventory reports: a
// listener, a loopback connection to itself (both ends in the tree), one
// more that it has not accepted (in its listener's queue), a
// connection to a peer outside the tree (the test), a unix socket pair, a
// deleted file held open, and a child process. perl-base is essential in
// Debian, so the test needs nothing else.
const treeScript = `
use strict; use Socket; use IO::Socket::INET;
$| = 1;
my $peer = shift;
my $ln = IO::Socket::INET->new(Listen => 5, LocalAddr => "127.0.0.1", LocalPort => 0, Proto => "tcp") or die "listen: $!";
my $self = IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $ln->sockport, Proto => "tcp") or die "connect self: $!";
my $acc = $ln->accept or die "accept: $!";
my $queued = IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $ln->sockport, Proto => "tcp") or die "connect queued: $!";
my $out = IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $peer, Proto => "tcp") or die "connect peer: $!";
socketpair(my $a, my $b, AF_UNIX, SOCK_STREAM, 0) or die "socketpair: $!";
open(my $tmp, ">", "/tmp/crac-inventory-$$") or die "tmp: $!";
unlink("/tmp/crac-inventory-$$");
my $kid = fork();
if ($kid == 0) { sleep 1000; exit 0 }
print "ready ", $ln->sockport, " ", $out->sockport, " ", $kid, "\n";
sleep 1000;
`

func TestInventory(t *testing.T) {
	peer, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	// Until it is accepted, the peer's end is in the listener's queue, held
	// by no file descriptor: the test waits for the accept.
	accepted := make(chan struct{})
	go func() {
		for {
			c, err := peer.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			close(accepted)
		}
	}()
	peerPort := peer.Addr().(*net.TCPAddr).Port
	cmd := exec.Command("perl", "-e", treeScript, strconv.Itoa(peerPort))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var kid int
	t.Cleanup(func() {
		if kid > 0 {
			_ = syscall.Kill(kid, syscall.SIGKILL)
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("perl tree did not start: %v", err)
	}
	f := strings.Fields(line)
	if len(f) != 4 || f[0] != "ready" {
		t.Fatalf("perl tree said %q", line)
	}
	listenPort, _ := strconv.Atoi(f[1])
	outPort, _ := strconv.Atoi(f[2])
	kid, _ = strconv.Atoi(f[3])
	pid := cmd.Process.Pid
	select {
	case <-accepted:
	case <-time.After(10 * time.Second):
		t.Fatal("the test's listener did not accept the tree's connection")
	}

	tree, err := Tree(pid)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(tree, []int{pid, kid}); diff != "" {
		t.Errorf("Tree (-got +want):\n%s", diff)
	}

	h, err := Inventory(pid)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Processes) != 2 || h.Processes[1].PPID != pid || h.Processes[0].Command != "perl" {
		t.Errorf("processes = %+v, want perl and its child", h.Processes)
	}
	if h.Memory.RSSKiB <= 0 || h.Memory.AnonKiB <= 0 {
		t.Errorf("memory = %+v, want RSS and anonymous sizes", h.Memory)
	}
	if len(h.Threads) == 0 || h.Threads[0].Name != "perl" || h.Threads[0].Count != 2 {
		t.Errorf("threads = %+v, want perl x2", h.Threads)
	}
	want := "/tmp/crac-inventory-" + strconv.Itoa(pid)
	if !cmp.Equal(h.DeletedFiles, []string{want}) {
		t.Errorf("deleted files = %q, want %q", h.DeletedFiles, want)
	}

	var listen, inTree, external, unixStream int
	for _, s := range h.Sockets {
		switch {
		case s.Proto == "tcp" && s.State == "LISTEN":
			listen++
			if s.Local != "127.0.0.1:"+strconv.Itoa(listenPort) {
				t.Errorf("listener at %s, want port %d", s.Local, listenPort)
			}
		case s.Proto == "tcp" && s.State == "ESTABLISHED" && s.Peer == contract.PeerTree:
			inTree++
		case s.Proto == "tcp" && s.State == "ESTABLISHED":
			external++
			if s.Local != "127.0.0.1:"+strconv.Itoa(outPort) || s.Remote != peer.Addr().String() || s.Direction != "out" {
				t.Errorf("external connection %+v, want out from port %d to %s", s, outPort, peer.Addr())
			}
			// The test process holds the other end: a process outside the tree.
			if s.Peer != contract.PeerSandbox || !strings.HasPrefix(s.PeerProcess, strconv.Itoa(os.Getpid())+" ") {
				t.Errorf("external connection's peer %q %q, want this test process", s.Peer, s.PeerProcess)
			}
		case s.Proto == "unix" && s.Type == "stream":
			unixStream++
		}
	}
	if listen != 1 || inTree != 3 || external != 1 || unixStream != 2 {
		t.Errorf("sockets: %d listening, %d in-tree connected, %d external, %d unix stream; want 1, 3, 1, 2\n%+v", listen, inTree, external, unixStream, h.Sockets)
	}
	dirs := map[string]int{}
	for _, s := range h.Sockets {
		if s.Peer == contract.PeerTree {
			dirs[s.Direction]++
		}
	}
	if dirs["in"] != 1 || dirs["out"] != 2 {
		t.Errorf("directions of the loopback connections = %v, want one in (accepted), two out", dirs)
	}

	// The external connection fails the checks unless allowed.
	r := &Report{Hygiene: h}
	err = checkHygiene(r, false)
	if err == nil || !strings.Contains(err.Error(), peer.Addr().String()) || !strings.Contains(err.Error(), "--allow-connections") {
		t.Errorf("checkHygiene = %v, want an error naming %s and --allow-connections", err, peer.Addr())
	}
	r = &Report{Hygiene: h}
	if err := checkHygiene(r, true); err != nil {
		t.Errorf("checkHygiene with connections allowed: %v", err)
	}
	joined := strings.Join(h.Warnings, "\n")
	for _, w := range []string{"closed at dump (--allow-connections)", "held open but deleted", "both ends in the checkpoint"} {
		if !strings.Contains(joined, w) {
			t.Errorf("warnings lack %q:\n%s", w, joined)
		}
	}
}

func TestCheckHygieneSecretHeldOpen(t *testing.T) {
	r := &Report{
		Hygiene:   &contract.Hygiene{},
		OpenFiles: []contract.OpenFile{{Path: contract.SecretsDir + "/db", Mount: contract.SecretsDir}},
	}
	err := checkHygiene(r, true)
	if err == nil || !strings.Contains(err.Error(), "/run/secrets/db") {
		t.Errorf("checkHygiene with a secret held open = %v, want an error naming it", err)
	}
	r = &Report{
		Hygiene: &contract.Hygiene{},
		OpenFiles: []contract.OpenFile{
			{Path: "/app/log", Writable: true},
			{Path: "/data/x", Mount: "/data"},
			{Path: "/proc/1/stat", Mount: "/proc"},
		},
	}
	if err := checkHygiene(r, false); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"/app/log is open for writing without O_APPEND: if a restored process grows it, later restores of the same container fail",
		"/data/x is on /data, not in the image: a restore needs it there with the same size and mode",
	}
	if diff := cmp.Diff(r.Warnings, want); diff != "" {
		t.Errorf("warnings (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(r.Hygiene.Warnings, want); diff != "" {
		t.Errorf("hygiene warnings (-got +want):\n%s", diff)
	}
}

func TestSameEnd(t *testing.T) {
	if !sameEnd(netip.MustParseAddrPort("[::ffff:127.0.0.1]:80"), netip.MustParseAddrPort("127.0.0.1:80")) {
		t.Error("a v4-mapped address and its v4 form are not the same end")
	}
}

// Outputs of OpenJDK 17's jcmd, as the JVM in the base image printed them.
const (
	heapInfoG1 = `129:
 garbage-first heap   total 10240K, used 4803K [0x00000000e0e00000, 0x0000000100000000)
  region size 1024K, 2 young (2048K), 0 survivors (0K)
 Metaspace       used 9542K, committed 9856K, reserved 1114112K
  class space    used 1024K, committed 1152K, reserved 1048576K
`
	heapInfoSerial = `7:
 def new generation   total 4928K, used 1370K [0x00000000fe600000, 0x00000000feb50000, 0x00000000ff0a0000)
  eden space 4416K,  31% used [0x00000000fe600000, 0x00000000fea56a30, 0x00000000fea50000)
 tenured generation   total 10944K, used 3140K [0x00000000ff0a0000, 0x00000000ffb50000, 0x0000000100000000)
 Metaspace       used 700K, committed 896K, reserved 1056768K
`
	codeCache = `129:
CodeHeap 'non-profiled nmethods': size=120032Kb used=1459Kb max_used=1459Kb free=118572Kb
 bounds [0x00007f, 0x00007f, 0x00007f]
CodeHeap 'profiled nmethods': size=120028Kb used=5318Kb max_used=5318Kb free=114709Kb
 bounds [0x00007f, 0x00007f, 0x00007f]
CodeHeap 'non-nmethods': size=5700Kb used=1345Kb max_used=1367Kb free=4354Kb
 bounds [0x00007f, 0x00007f, 0x00007f]
 total_blobs=3614 nmethods=2956 adapters=568
 compilation: enabled
`
	nmt = `129:

Native Memory Tracking:

Total: reserved=1418468KB, committed=81124KB
-                 Java Heap (reserved=262144KB, committed=16384KB)
                            (mmap: reserved=262144KB, committed=16384KB)

-                     Class (reserved=1048888KB, committed=1336KB)
                            (classes #1534)
-                    Thread (reserved=20532KB, committed=988KB)
`
)

func TestParseJVMMemory(t *testing.T) {
	var m contract.Memory
	parseHeapInfo(heapInfoG1, &m)
	m.CodeCacheUsedKiB = parseCodeCache(codeCache)
	m.NMTCommittedKiB = parseNMT(nmt)
	want := contract.Memory{
		HeapUsedKiB: 4803, HeapCommittedKiB: 10240,
		MetaspaceUsedKiB: 9542, MetaspaceCommittedKiB: 9856,
		CodeCacheUsedKiB: 1459 + 5318 + 1345,
		NMTCommittedKiB:  map[string]int64{"Total": 81124, "Java Heap": 16384, "Class": 1336, "Thread": 988},
	}
	if diff := cmp.Diff(m, want); diff != "" {
		t.Errorf("G1 (-got +want):\n%s", diff)
	}
	var s contract.Memory
	parseHeapInfo(heapInfoSerial, &s)
	if s.HeapCommittedKiB != 4928+10944 || s.HeapUsedKiB != 1370+3140 || s.MetaspaceCommittedKiB != 896 {
		t.Errorf("Serial: %+v", s)
	}
	if parseNMT("Native memory tracking is not enabled") != nil {
		t.Error("NMT off parsed as something")
	}
	k := contract.Memory{AnonKiB: 50000}
	addJVMMemory(&k, m)
	if k.OtherAnonKiB != 50000-10240-9856-(1459+5318+1345) {
		t.Errorf("other anonymous memory %d", k.OtherAnonKiB)
	}
}

func TestMounts(t *testing.T) {
	ms := mounts{"/", "/proc", "/dev", "/dev/shm", "/run/secrets", "/opt/crac-build/checkpoint/images", "/with space"}
	for path, want := range map[string]string{
		"/app/hello.jar":              "",
		"/dev/shm/x":                  "/dev/shm",
		"/run/secrets/db":             "/run/secrets",
		"/run/secretsX":               "",
		"/proc/1/stat":                "/proc",
		"/with space/f":               "/with space",
		"/usr/lib/jvm/lib/modules":    "",
		"/opt/crac-build/checkpoint/": "",
	} {
		if got := ms.of(path); got != want {
			t.Errorf("mount of %s = %q, want %q", path, got, want)
		}
	}
	// The real table has the root and /proc.
	real := readMounts()
	if real.of("/proc/self/stat") != "/proc" || real.of("/") != "" {
		t.Errorf("this process's mounts %q lack / or /proc", real)
	}
}
