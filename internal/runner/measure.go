package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/crac-build/crac-build/internal/checkpoint"
)

// MeasureOptions say what Measure does once the container runs.
type MeasureOptions struct {
	// ProbeURL is polled until it answers 2xx: a URL, or a path on the
	// published port. Its answer is the first successful response.
	ProbeURL     string
	ProbeTimeout time.Duration
	// Requests sequential GETs follow the probe, request i to
	// Paths[i % len(Paths)] (default: the probe's path), on one keep-alive
	// connection as a pooled client would (the server may close it; then
	// the client reconnects and that request pays for it).
	Requests int
	Paths    []string
	// RequestTimeout bounds each request (default 10 s: a JSP's first
	// compile on a loaded machine).
	RequestTimeout time.Duration
	// FreshRequests more follow the series, each on a new connection
	// (request 1 pays for one: these are its steady-state counterpart).
	FreshRequests int
	// Pause, if set, is waited between the first successful response and
	// the first request: request 1 then meets a JVM that is done with what
	// follows a start (the launcher's work, the compiler's queue).
	Pause time.Duration
	// StopTimeout is the grace between SIGTERM and SIGKILL (default 10 s).
	StopTimeout time.Duration
}

// Measurement is what one container start showed.
type Measurement struct {
	// Mode is "restored" or "cold", as the launcher said; Reason says why
	// it started cold.
	Mode   string `json:"mode"`
	Reason string `json:"reason,omitempty"`
	// ReadyMs is container start to the probe's first 2xx answer.
	ReadyMs float64 `json:"readyMs"`
	// LauncherMs is the launcher's own "restored in N ms" (0 when cold).
	LauncherMs float64 `json:"launcherMs,omitempty"`
	// Breakdown is where the restore's time went (the launcher's
	// CRAC_BREAKDOWN line); nil when cold.
	Breakdown *checkpoint.Breakdown `json:"breakdown,omitempty"`
	// LatencyMs[i] is the latency of request i+1 after the probe answered.
	LatencyMs []float64 `json:"latencyMs,omitempty"`
	// FreshMs are the FreshRequests' latencies.
	FreshMs []float64 `json:"freshMs,omitempty"`
	// Errors counts requests that failed or answered non-2xx (their
	// latency is still recorded).
	Errors     int `json:"errors"`
	ExitStatus int `json:"exitStatus"`
}

// Measure starts a container of o.Image, measures container start to the
// first successful response, then the latency of m.Requests requests, and
// stops the container. The container is gone when it returns, error or not.
func Measure(ctx context.Context, o Options, m MeasureOptions) (_ *Measurement, err error) {
	if m.ProbeURL == "" {
		return nil, errors.New("measure: no probe URL")
	}
	if m.ProbeTimeout == 0 {
		m.ProbeTimeout = time.Minute
	}
	if m.StopTimeout == 0 {
		m.StopTimeout = 10 * time.Second
	}
	if o.HostAddr == "" {
		o.HostAddr = "127.0.0.1:0"
	}
	r, err := Start(ctx, o)
	if err != nil {
		return nil, err
	}
	res := &Measurement{}
	defer func() {
		st, serr := r.Stop(m.StopTimeout)
		res.ExitStatus = st
		if err == nil && serr != nil {
			err = serr
		}
	}()
	probe := m.ProbeURL
	if strings.HasPrefix(probe, "/") {
		if r.Addr == "" {
			return nil, fmt.Errorf("probe %s is a path but no port is published", probe)
		}
		probe = "http://" + r.Addr + probe
	}
	pctx, cancel := context.WithTimeout(ctx, m.ProbeTimeout)
	d, err := r.Probe(pctx, probe)
	cancel()
	if err != nil {
		return nil, err
	}
	res.ReadyMs = ms(d)
	res.Mode, res.Reason = r.WaitMode(2 * time.Second)
	res.LauncherMs = r.LauncherMs()
	res.Breakdown = r.Breakdown()
	res.Breakdown.Complete(r.Started, d)
	if m.Pause > 0 {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(m.Pause):
		}
	}
	if m.Requests > 0 {
		base := probe[:len(probe)-len(pathOf(probe))]
		paths := m.Paths
		if len(paths) == 0 {
			paths = []string{pathOf(probe)}
		}
		client := SeriesClient(nil, m.RequestTimeout)
		defer client.CloseIdleConnections()
		res.LatencyMs, res.Errors, err = Series(ctx, client, base, paths, m.Requests)
		if err != nil {
			return nil, err
		}
		if m.FreshRequests > 0 {
			fresh := SeriesClient(nil, m.RequestTimeout)
			fresh.Transport.(*http.Transport).DisableKeepAlives = true
			var errs int
			res.FreshMs, errs, err = Series(ctx, fresh, base, paths, m.FreshRequests)
			res.Errors += errs
			if err != nil {
				return nil, err
			}
		}
	}
	return res, nil
}

// pathOf returns the path and query of an http URL ("/" if none).
func pathOf(u string) string {
	rest := strings.TrimPrefix(strings.TrimPrefix(u, "http://"), "https://")
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		return rest[i:]
	}
	return "/"
}

// SeriesClient is an HTTP client for Series: one keep-alive connection,
// no compression, timeout per request (default 10 s: a JSP's first compile
// on a loaded machine). dial, if set, makes its connections (e.g. into a
// container's network namespace).
func SeriesClient(dial func(ctx context.Context, network, addr string) (net.Conn, error), timeout time.Duration) *http.Client {
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	if dial == nil {
		dial = (&net.Dialer{Timeout: 2 * time.Second}).DialContext
	}
	return &http.Client{
		Transport: &http.Transport{DialContext: dial, MaxIdleConnsPerHost: 1, DisableCompression: true},
		Timeout:   timeout,
	}
}

// Series sends n sequential GET requests with client, request i to
// base+paths[i%len(paths)], and returns each one's latency in ms (to the
// last byte of the body) and how many failed. It gives up, with an error,
// when more than a tenth of them failed.
func Series(ctx context.Context, client *http.Client, base string, paths []string, n int) ([]float64, int, error) {
	out := make([]float64, 0, n)
	errs := 0
	var last error
	for i := 0; i < n; i++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+paths[i%len(paths)], nil)
		if err != nil {
			return nil, 0, err
		}
		t0 := time.Now()
		resp, err := client.Do(req)
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err == nil && (resp.StatusCode < 200 || resp.StatusCode > 299) {
				err = fmt.Errorf("%s answered %s", req.URL, resp.Status)
			}
		}
		out = append(out, ms(time.Since(t0)))
		if err != nil {
			if ctx.Err() != nil {
				return nil, 0, ctx.Err()
			}
			errs++
			last = err
			if errs > n/10 {
				return nil, errs, fmt.Errorf("%d of %d requests failed, last: %v", errs, i+1, last)
			}
		}
	}
	return out, errs, nil
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

// parseLauncherMs reads N from "crac-launch: restored in N ms".
func parseLauncherMs(line string) float64 {
	s := strings.TrimSuffix(strings.TrimPrefix(line, "crac-launch: restored in "), " ms")
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return 0
	}
	return v
}
