package sandbox

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// Netns reaches into the network namespace of a running process from the
// host: a runc container's init, or the init that `crac-build checkpoint`
// starts in namespaces of its own.
type Netns struct {
	PID int
	// Name says whose namespace it is, in errors.
	Name string
}

// run runs fn on an OS thread that has joined the namespace. Sockets
// created there stay in that namespace; processes started there inherit
// it. If the thread cannot return to the host's namespace it stays locked
// and dies with the goroutine.
func (n Netns) run(fn func() error) error {
	target, err := os.Open("/proc/" + strconv.Itoa(n.PID) + "/ns/net")
	if err != nil {
		return fmt.Errorf("opening network namespace of %s: %w", n.Name, err)
	}
	defer target.Close()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer orig.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("joining network namespace of %s: %w", n.Name, err)
			return
		}
		ferr := fn()
		if unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		errc <- ferr
	}()
	return <-errc
}

// DialContext connects to addr inside the namespace.
func (n Netns) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var conn net.Conn
	err := n.run(func() error {
		var err error
		conn, err = (&net.Dialer{}).DialContext(ctx, network, addr)
		return err
	})
	return conn, err
}

// StartInNetns starts a host program in the namespace (it keeps the host's
// mount namespace and files). The caller waits for it.
func (n Netns) StartInNetns(cmd *exec.Cmd) error {
	return n.run(cmd.Start)
}

func (c *Container) netns() Netns { return Netns{PID: c.initPID, Name: "container " + c.ID} }

// DialContext connects to addr inside the container's network namespace.
func (c *Container) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return c.netns().DialContext(ctx, network, addr)
}

// StartInNetns starts a host program in the container's network namespace
// (it keeps the host's mount namespace and files). The caller waits for it.
func (c *Container) StartInNetns(cmd *exec.Cmd) error {
	return c.netns().StartInNetns(cmd)
}

// Forward listens on hostAddr (e.g. "127.0.0.1:0") in the host's network
// namespace and relays every connection to port on the container's
// loopback, as a container runtime's port publishing does. It returns the
// listener; closing it (Destroy does) stops forwarding.
func (c *Container) Forward(hostAddr string, port int) (net.Listener, error) {
	ln, err := net.Listen("tcp", hostAddr)
	if err != nil {
		return nil, fmt.Errorf("publishing port %d on %s: %w", port, hostAddr, err)
	}
	c.closers = append(c.closers, ln)
	target := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer in.Close()
				out, err := c.DialContext(context.Background(), "tcp", target)
				if err != nil {
					return // the client sees a closed connection, as with docker-proxy
				}
				defer out.Close()
				relay(in, out)
			}()
		}
	}()
	return ln, nil
}

func relay(a, b net.Conn) {
	var wg sync.WaitGroup
	wg.Add(2)
	cp := func(dst, src net.Conn) {
		defer wg.Done()
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
	}
	go cp(a, b)
	go cp(b, a)
	wg.Wait()
}
