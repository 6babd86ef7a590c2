package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/crac-build/crac-build/internal/contract"
	"github.com/crac-build/crac-build/internal/layers"
	"github.com/crac-build/crac-build/internal/registry"
	"github.com/crac-build/crac-build/internal/runner"
	"github.com/crac-build/crac-build/internal/sandbox"
)

// LazyConfig configures LazyPagesAB.
type LazyConfig struct {
	Image    string
	CacheDir string
	TempDir  string
	Runtime  string
	Port     int
	Probe    string
	Paths    []string
	Rounds   int
	Requests int
	// SteadyFrom as in Config.
	SteadyFrom int
	Logf       func(format string, args ...any)
}

// lazyCaps: CRIU turns userfaultfd off in --unprivileged mode ("UFFD is not
// supported"), so lazy pages need a privileged restore: these on top of
// Docker's defaults (measured: CAP_SYS_RESOURCE is not in this host's
// bounding set, and the restore works without it).
var lazyCaps = []string{"CAP_CHECKPOINT_RESTORE", "CAP_SYS_ADMIN", "CAP_NET_ADMIN", "CAP_SYS_PTRACE", "CAP_SYS_TIME"}

// lazyScript restores the checkpoint with the criu CLI of the image's
// bundle, eagerly or with lazy pages ($1), and prints "T0 <unix ns>" just
// before the restore starts. It prepares what the launcher prepares (the
// agent's socket dir) and skips CRIU's mode check of "/" as
// checkpoint.Restore does (the runtime chooses that mode, not the image). The lazy-pages daemon is started first and
// waited for (its socket must exist before the restore), as a launcher
// would do during its checks.
const lazyScript = `C=` + contract.CriuPath + `; I=` + contract.ImagesDir + `; W=/tmp/crac-bench-lazy
# The agent's socket dir, which the launcher makes before a restore.
mkdir -p $W ` + contract.AgentDir + `
if [ "$1" = lazy ]; then
	$C lazy-pages -D $I -W $W -o lazy.log &
	n=0; while [ ! -S $W/lazy-pages.socket ] && [ $n -lt 100000 ]; do n=$((n+1)); done
	echo T0 $(date +%s%N)
	$C restore --lazy-pages -D $I -W $W -o restore.log --tcp-close --skip-file-rwx-check -d
else
	echo T0 $(date +%s%N)
	$C restore -D $I -W $W -o restore.log --tcp-close --skip-file-rwx-check -d
fi
echo "restore exit $?"
exec sleep 3600
`

// LazyPagesAB restores the image's checkpoint with the criu CLI in a
// container, eagerly and with lazy pages (userfaultfd) in turn, Rounds times
// each, and measures restore start to the first successful response and
// the request latencies. Both run privileged (lazy pages need it), so the
// comparison is between the two alone; the figures are not comparable with
// container starts through the launcher.
func LazyPagesAB(ctx context.Context, c LazyConfig) ([]Row, error) {
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	img, err := registry.Load(ctx, c.Image, registry.Options{})
	if err != nil {
		return nil, err
	}
	rootfs, err := layers.CachedRootFS(img, c.CacheDir)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(rootfs + "/bin/sh"); err != nil {
		return nil, fmt.Errorf("the image has no /bin/sh for the experiment: %w", err)
	}
	desc := "criu restore (CLI, privileged, in a container of the image) start to first response; not a container start"
	rows := []Row{
		{Variant: Variant{Name: "criu eager (privileged)", Note: "criu restore as the launcher does it, but privileged: the reference for lazy pages"}, Desc: desc},
		{Variant: Variant{Name: "criu lazy pages (privileged)", Note: "criu lazy-pages daemon + restore --lazy-pages: memory is filled on first touch through userfaultfd"}, Desc: desc},
	}
	for round := 0; round < c.Rounds; round++ {
		for k := range rows {
			i := (k + round) % len(rows)
			mode := "eager"
			if i == 1 {
				mode = "lazy"
			}
			s := lazyOnce(ctx, c, rootfs, mode)
			s.Round = round + 1
			rows[i].Starts = append(rows[i].Starts, s)
			if s.Error != "" {
				c.Logf("lazy-pages round %d %s: %s", round+1, mode, s.Error)
			} else {
				c.Logf("lazy-pages round %d %-5s first response %6.1f ms after the restore started, req1 %6.2f ms", round+1, mode, s.ReadyMs, s.Latency.First)
			}
		}
	}
	return rows, nil
}

func lazyOnce(ctx context.Context, c LazyConfig, rootfs, mode string) Start {
	dir, err := os.MkdirTemp(c.TempDir, "crac-bench-lazy-")
	if err != nil {
		return Start{Error: err.Error()}
	}
	// The reader runs before the container starts: runc's output is
	// copied into pw, and a container that fails to start must still be
	// able to write (else its Destroy waits for that copy forever).
	pr, pw := io.Pipe()
	defer pw.Close()
	t0 := make(chan time.Time, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "T0 "); ok {
				if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
					select {
					case t0 <- time.Unix(0, n):
					default:
					}
				}
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	ct, err := sandbox.Start(ctx, sandbox.Config{
		Runtime: c.Runtime,
		Dir:     dir,
		Lower:   []string{rootfs},
		Args:    []string{"/bin/sh", "-c", lazyScript, "sh", mode},
		Env:     []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		Caps:    append(sandbox.DockerCaps(), lazyCaps...),
		Stdout:  pw,
		Stderr:  io.Discard,
	})
	if err != nil {
		os.RemoveAll(dir)
		return Start{Error: err.Error()}
	}
	defer ct.Destroy()
	var start time.Time
	select {
	case start = <-t0:
	case <-ct.Done():
		return Start{Error: "the experiment's container exited before the restore"}
	case <-time.After(30 * time.Second):
		return Start{Error: "the lazy-pages daemon did not start"}
	case <-ctx.Done():
		return Start{Error: ctx.Err().Error()}
	}
	client := runner.SeriesClient(ct.DialContext, 0)
	defer client.CloseIdleConnections()
	base := "http://127.0.0.1:" + strconv.Itoa(c.Port)
	deadline := time.Now().Add(30 * time.Second)
	probe := &http.Client{Transport: &http.Transport{DialContext: ct.DialContext, DisableKeepAlives: true}, Timeout: 5 * time.Second}
	for {
		resp, err := probe.Get(base + c.Probe)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode >= 200 && resp.StatusCode < 300 {
				break
			}
		}
		if time.Now().After(deadline) {
			return Start{Mode: mode, Error: fmt.Sprintf("no answer from %s within 30 s of the restore (%v)", c.Probe, err)}
		}
		if ctx.Err() != nil {
			return Start{Mode: mode, Error: ctx.Err().Error()}
		}
		time.Sleep(2 * time.Millisecond)
	}
	s := Start{Mode: mode, ReadyMs: ms(time.Since(start))}
	if c.Requests > 0 {
		lat, errs, err := runner.Series(ctx, client, base, c.Paths, c.Requests)
		if err != nil {
			s.Error = err.Error()
			return s
		}
		s.latency, s.Errors = lat, errs
		s.Latency = Summarize(lat, c.SteadyFrom)
	}
	return s
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }
