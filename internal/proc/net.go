package proc

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// InetSocket is one line of /proc/PID/net/{tcp,tcp6,udp,udp6}.
type InetSocket struct {
	Proto         string // tcp, tcp6, udp, udp6
	Local, Remote netip.AddrPort
	State         string // LISTEN, ESTABLISHED, ...; UDP: CONNECTED or UNCONNECTED
	Inode         uint64 // 0: no file holds it (a connection not accepted yet)
}

// tcpStates are the kernel's TCP states (include/net/tcp_states.h).
var tcpStates = map[string]string{
	"01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1",
	"05": "FIN_WAIT2", "06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT",
	"09": "LAST_ACK", "0A": "LISTEN", "0B": "CLOSING", "0C": "NEW_SYN_RECV",
}

// InetSockets reads the socket table proto (tcp, tcp6, udp, udp6) of pid's
// network namespace; a missing table (no IPv6) is empty. Not procfs'
// NetTCP: it reads the caller's namespace only, and this reads the sandbox's.
func InetSockets(pid int, proto string) ([]InetSocket, error) {
	f, err := os.Open(Dir(pid) + "/net/" + proto)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading socket table %s of process %d: %w", proto, pid, err)
	}
	defer f.Close()
	var out []InetSocket
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		fl := strings.Fields(sc.Text())
		if len(fl) < 10 {
			continue
		}
		l, err1 := ParseAddr(fl[1])
		r, err2 := ParseAddr(fl[2])
		ino, err3 := strconv.ParseUint(fl[9], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			continue
		}
		state := tcpStates[fl[3]]
		if strings.HasPrefix(proto, "udp") {
			// UDP has no connections; the kernel reuses TCP's numbers
			// for "connected" (a default peer set) and not.
			state = "UNCONNECTED"
			if fl[3] == "01" {
				state = "CONNECTED"
			}
		}
		out = append(out, InetSocket{Proto: proto, Local: l, Remote: r, State: state, Inode: ino})
	}
	return out, sc.Err()
}

// ParseAddr parses an address of /proc/net/tcp{,6}: the IP as 32-bit
// words in host byte order (little-endian here), a colon, the port in hex.
func ParseAddr(s string) (netip.AddrPort, error) {
	ipHex, portHex, ok := strings.Cut(s, ":")
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("bad socket address %q", s)
	}
	raw, err := hex.DecodeString(ipHex)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.AddrPort{}, fmt.Errorf("bad socket address %q", s)
	}
	for i := 0; i < len(raw); i += 4 {
		raw[i], raw[i+1], raw[i+2], raw[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
	}
	port, err := strconv.ParseUint(portHex, 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("bad socket port %q", s)
	}
	addr, _ := netip.AddrFromSlice(raw)
	return netip.AddrPortFrom(addr, uint16(port)), nil
}

// UnixSocket is one line of /proc/PID/net/unix.
type UnixSocket struct {
	Type  string // stream, dgram, seqpacket, else the kernel's number
	State string // LISTEN, CONNECTED or UNCONNECTED
	Inode uint64
	Path  string // "" for an unnamed socket; "@..." abstract
}

var unixTypes = map[string]string{"0001": "stream", "0002": "dgram", "0005": "seqpacket"}

// soAcceptCon is __SO_ACCEPTCON in /proc/net/unix's flags: a listener.
const soAcceptCon = 0x10000

// UnixSockets reads the unix socket table of pid's network namespace.
func UnixSockets(pid int) ([]UnixSocket, error) {
	f, err := os.Open(Dir(pid) + "/net/unix")
	if err != nil {
		return nil, fmt.Errorf("reading unix socket table of process %d: %w", pid, err)
	}
	defer f.Close()
	var out []UnixSocket
	sc := bufio.NewScanner(f)
	sc.Scan()
	for sc.Scan() {
		fl := strings.Fields(sc.Text())
		if len(fl) < 7 {
			continue
		}
		ino, err := strconv.ParseUint(fl[6], 10, 64)
		if err != nil {
			continue
		}
		s := UnixSocket{Type: unixTypes[fl[4]], Inode: ino}
		if s.Type == "" {
			s.Type = fl[4]
		}
		flags, _ := strconv.ParseUint(fl[3], 16, 64)
		switch {
		case flags&soAcceptCon != 0:
			s.State = "LISTEN"
		case fl[5] == "03":
			s.State = "CONNECTED"
		default:
			s.State = "UNCONNECTED"
		}
		if len(fl) > 7 {
			s.Path = strings.Join(fl[7:], " ")
		}
		out = append(out, s)
	}
	return out, sc.Err()
}
