package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/crac-build/crac-build/internal/checkpoint"
	"github.com/crac-build/crac-build/internal/contract"
	"github.com/crac-build/crac-build/internal/environ"
	"github.com/crac-build/crac-build/internal/host"
	"github.com/crac-build/crac-build/internal/layers"
	"github.com/crac-build/crac-build/internal/progress"
	"github.com/crac-build/crac-build/internal/registry"
	"github.com/crac-build/crac-build/internal/sandbox"
	"github.com/crac-build/crac-build/internal/seccomp"
)

// Options of a local run.
type Options struct {
	Image string
	// Cold forces a cold start (CRAC_RESTORE=off).
	Cold bool
	// Env sets K=V over the image's environment (as docker run -e).
	Env []string
	// Port is the container port to publish; default the image's only
	// exposed port.
	Port int
	// HostAddr is where to publish it on the host, default 127.0.0.1:PORT;
	// port 0 picks a free one.
	HostAddr string
	// Caps replace the container's capabilities (default: Docker's
	// defaults plus CAP_CHECKPOINT_RESTORE).
	Caps []string
	// Seccomp is the container's seccomp filter (default: none, as
	// `--security-opt seccomp=unconfined`). SeccompProfile names a
	// Docker-format profile file instead, compiled for Caps as Docker
	// would; seccomp.RestoreProfileFile is the one the project ships.
	Seccomp        *specs.LinuxSeccomp
	SeccompProfile string
	// Entrypoint and Args replace the image's ENTRYPOINT and CMD, as
	// `docker run --entrypoint E IMAGE ARGS...` does.
	Entrypoint []string
	Args       []string
	// Uptime, if set, runs the container in a time namespace whose
	// monotonic clock starts at Uptime: a host that booted then.
	Uptime   time.Duration
	Runtime  string
	CacheDir string
	TempDir  string
	Insecure bool
	// Platform selects from a multi-platform index; its architecture must
	// be this host's.
	Platform *v1.Platform
	// Progress receives the byte counts of the image's pull or unpack.
	Progress progress.Func
	// Stdout and Stderr receive the container's output.
	Stdout, Stderr io.Writer

	// CPUs and MemoryBytes limit the container (0: no limit), as
	// `docker run --cpus --memory` does.
	CPUs        float64
	MemoryBytes int64
}

// Run is a running container.
type Run struct {
	c       *sandbox.Container
	Started time.Time
	// Addr is the published host address (host:port), "" if none.
	Addr string

	mu     sync.Mutex
	mode   string
	reason string
	seen   chan struct{}
	once   sync.Once
	// bdSeen is closed when the launcher's breakdown line was read.
	bdSeen chan struct{}
	bdOnce sync.Once

	launcherMs float64               // guarded by mu
	breakdown  *checkpoint.Breakdown // guarded by mu
}

// Start pulls or opens the image, unpacks it (cached by digest), and starts
// a container of it.
func Start(ctx context.Context, o Options) (*Run, error) {
	if err := registry.CheckHostArch(o.Platform); err != nil {
		return nil, err
	}
	img, err := registry.Load(ctx, o.Image, registry.Options{Insecure: o.Insecure, Platform: o.Platform})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading config of %s: %w", o.Image, err)
	}
	if o.CacheDir == "" {
		d, err := os.UserCacheDir()
		if err != nil {
			d = os.TempDir()
		}
		o.CacheDir = filepath.Join(d, "crac-build")
	}
	op := progress.Unpack
	if registry.KindOf(o.Image) == registry.KindRegistry {
		op = progress.Pull
	}
	tracked, finish := registry.TrackReads(img, o.Progress, op, o.Image)
	rootfs, err := layers.CachedRootFS(tracked, o.CacheDir)
	if err != nil {
		return nil, err
	}
	finish()
	port := o.Port
	if port == 0 && len(cf.Config.ExposedPorts) == 1 {
		for p := range cf.Config.ExposedPorts {
			port, _ = strconv.Atoi(strings.TrimSuffix(p, "/tcp"))
		}
	}
	env := environ.Merge(cf.Config.Env, o.Env)
	if o.Cold {
		env = environ.Merge(env, []string{contract.EnvRestore + "=off"})
	}
	if _, ok := environ.Lookup(env, contract.EnvBreakdown); !ok {
		// The launcher says where a restore's time went (one more line).
		env = append(env, contract.EnvBreakdown+"=1")
	}
	caps := o.Caps
	if caps == nil {
		caps, _ = Caps(nil, nil)
	}
	entrypoint, cmd := cf.Config.Entrypoint, cf.Config.Cmd
	if o.Entrypoint != nil {
		entrypoint, cmd = o.Entrypoint, nil // Docker drops CMD too
	}
	if o.Args != nil {
		cmd = o.Args
	}
	args := append(append([]string{}, entrypoint...), cmd...)
	if len(args) == 0 {
		return nil, fmt.Errorf("image %s has no ENTRYPOINT or CMD", o.Image)
	}
	filter := o.Seccomp
	if filter == nil && o.SeccompProfile != "" {
		if filter, err = seccomp.LoadFile(o.SeccompProfile, caps); err != nil {
			return nil, err
		}
	}
	dir, err := os.MkdirTemp(o.TempDir, "crac-run-")
	if err != nil {
		return nil, err
	}
	r := &Run{seen: make(chan struct{}), bdSeen: make(chan struct{})}
	stderr := o.Stderr
	if stderr == nil {
		stderr = io.Discard
	}
	lw := &lineWatcher{dst: stderr, fn: r.watch}
	r.Started = time.Now()
	c, err := sandbox.Start(ctx, sandbox.Config{
		Runtime: o.Runtime,
		Dir:     dir,
		Lower:   []string{rootfs},
		Args:    args,
		Env:     env,
		Cwd:     cf.Config.WorkingDir,
		Caps:    caps,
		Seccomp: filter,
		Uptime:  o.Uptime,
		Stdout:  orDiscard(o.Stdout),
		Stderr:  lw,

		CPUs: o.CPUs, MemoryBytes: o.MemoryBytes,
	})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	r.c = c
	if port > 0 {
		addr := o.HostAddr
		if addr == "" {
			addr = "127.0.0.1:" + strconv.Itoa(port)
		}
		ln, err := c.Forward(addr, port)
		if err != nil {
			_ = c.Destroy()
			return nil, err
		}
		r.Addr = ln.Addr().String()
	}
	return r, nil
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// watch reads the launcher's verdict from the container's stderr.
func (r *Run) watch(line string) {
	var mode, reason string
	switch {
	case strings.HasPrefix(line, "crac-launch: restored in "):
		mode = "restored"
		r.mu.Lock()
		r.launcherMs = parseLauncherMs(line)
		r.mu.Unlock()
	case strings.HasPrefix(line, contract.BreakdownPrefix):
		var b checkpoint.Breakdown
		if json.Unmarshal([]byte(strings.TrimPrefix(line, contract.BreakdownPrefix)), &b) == nil {
			r.mu.Lock()
			r.breakdown = &b
			r.mu.Unlock()
			r.bdOnce.Do(func() { close(r.bdSeen) })
		}
		return
	case strings.HasPrefix(line, "crac-launch: cold start: "):
		mode, reason = "cold", strings.TrimPrefix(line, "crac-launch: cold start: ")
	default:
		return
	}
	r.mu.Lock()
	if r.mode == "" {
		r.mode, r.reason = mode, reason
	}
	r.mu.Unlock()
	r.once.Do(func() { close(r.seen) })
}

// Mode returns "restored", "cold" or "" (the launcher said nothing yet),
// and the launcher's reason for a cold start.
func (r *Run) Mode() (string, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.mode, r.reason
}

// LauncherMs is the launcher's own restore time ("restored in N ms"), 0
// before it said so or when it started cold.
func (r *Run) LauncherMs() float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.launcherMs
}

// Breakdown is where the restore's time went, as the launcher says after
// "restored in N ms"; nil after a cold start. After a restore it waits up
// to 6 s for the line: it follows "restored in" at once, or after the
// post-restore pass (at most 5 s).
func (r *Run) Breakdown() *checkpoint.Breakdown {
	if mode, _ := r.Mode(); mode == "restored" {
		select {
		case <-r.bdSeen:
		case <-time.After(6 * time.Second):
		case <-r.c.Done():
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.breakdown
}

// WaitMode waits up to d for the launcher's verdict.
func (r *Run) WaitMode(d time.Duration) (string, string) {
	select {
	case <-r.seen:
	case <-time.After(d):
	case <-r.c.Done():
		// Output may still be in flight.
		select {
		case <-r.seen:
		case <-time.After(200 * time.Millisecond):
		}
	}
	return r.Mode()
}

// Done is closed when the container's PID 1 exits.
func (r *Run) Done() <-chan struct{} { return r.c.Done() }

// Signal sends sig to the container's PID 1 (the launcher).
func (r *Run) Signal(sig syscall.Signal) error { return r.c.Signal(sig) }

// Wait returns PID 1's exit status once it has exited.
func (r *Run) Wait() int { return r.c.Wait() }

// Container exposes the sandbox, e.g. to dial into its network.
func (r *Run) Container() *sandbox.Container { return r.c }

// Probe polls url (on the host) until it answers 2xx and returns the time
// since the container started.
func (r *Run) Probe(ctx context.Context, url string) (time.Duration, error) {
	client := &http.Client{
		Transport: &http.Transport{DisableKeepAlives: true, DialContext: (&net.Dialer{Timeout: time.Second}).DialContext},
		Timeout:   5 * time.Second,
	}
	// Probe interval: fine enough to resolve a 40 ms restore.
	const interval = 2 * time.Millisecond
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return 0, fmt.Errorf("probe URL %q: %w", url, err)
		}
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode >= 200 && resp.StatusCode < 300 {
				return time.Since(r.Started), nil
			}
			last = fmt.Errorf("%s answered %s", url, resp.Status)
		} else {
			last = err
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("%s did not answer: %v", url, last)
		case <-r.c.Done():
			return 0, fmt.Errorf("container exited with status %d before %s answered", r.c.Wait(), url)
		case <-time.After(interval):
		}
	}
}

// Stop sends SIGTERM, waits up to grace, then SIGKILLs (as `docker stop`
// does), removes the container and returns PID 1's exit status.
func (r *Run) Stop(grace time.Duration) (int, error) {
	select {
	case <-r.c.Done():
	default:
		_ = r.c.Signal(syscall.SIGTERM)
		select {
		case <-r.c.Done():
		case <-time.After(grace):
			_ = r.c.Signal(syscall.SIGKILL)
		}
	}
	st := r.c.Wait()
	return st, r.c.Destroy()
}

// lineWatcher passes output through and calls fn for every complete line.
type lineWatcher struct {
	dst  io.Writer
	fn   func(string)
	mu   sync.Mutex
	part []byte
}

func (l *lineWatcher) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	// Pass the output on first: whoever fn wakes up (WaitMode) may read
	// dst and must find the line there.
	n, err := l.dst.Write(p)
	l.part = append(l.part, p...)
	for {
		i := strings.IndexByte(string(l.part), '\n')
		if i < 0 {
			break
		}
		l.fn(string(l.part[:i]))
		l.part = l.part[i+1:]
	}
	return n, err
}

// Caps returns the default capabilities of a run (Docker's defaults plus
// CAP_CHECKPOINT_RESTORE) with add added and drop removed, as Docker's
// --cap-add and --cap-drop do (names with or without CAP_, any case).
func Caps(add, drop []string) ([]string, error) {
	set := map[string]bool{}
	for _, c := range append(sandbox.DockerCaps(), "CAP_CHECKPOINT_RESTORE") {
		set[c] = true
	}
	for _, list := range []struct {
		names []string
		on    bool
	}{{add, true}, {drop, false}} {
		for _, n := range list.names {
			m, err := host.CapMask([]string{n})
			if err != nil {
				return nil, err
			}
			set[host.CapNames(m)[0]] = list.on
		}
	}
	var out []string
	for c, on := range set {
		if on {
			out = append(out, c)
		}
	}
	sort.Strings(out)
	return out, nil
}
