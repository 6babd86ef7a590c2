package warmup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// DialFunc dials inside the application's network (the sandbox's netns).
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// Client returns an HTTP client that dials through dial and keeps no idle
// connection: a connection still open at checkpoint time cannot be restored
// elsewhere.
func Client(dial DialFunc) *http.Client {
	return &http.Client{
		Transport: &http.Transport{DialContext: dial, DisableKeepAlives: true},
		Timeout:   30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// ErrExited is returned when the application exits while being probed.
var ErrExited = errors.New("application exited")

// WaitReady polls url until it answers with a status below 400 (2xx or 3xx),
// the context ends, or exited is closed. It returns the time it took.
func WaitReady(ctx context.Context, c *http.Client, url string, exited <-chan struct{}) (time.Duration, error) {
	start := time.Now()
	// Polling interval: short enough not to add latency to a 1-3 s start,
	// long enough not to burn a core on a slow one.
	const interval = 50 * time.Millisecond
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return 0, fmt.Errorf("readiness URL %q: %w", url, err)
		}
		resp, err := c.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode < 400 {
				return time.Since(start), nil
			}
			last = fmt.Errorf("%s answered %s", url, resp.Status)
		} else if ctx.Err() == nil || last == nil {
			// A request cut short by the deadline says less than the
			// failure before it: keep that one for the message.
			last = err
		}
		select {
		case <-exited:
			return 0, ErrExited
		case <-ctx.Done():
			return 0, fmt.Errorf("not ready after %s: %v", time.Since(start).Round(time.Millisecond), last)
		case <-time.After(interval):
		}
	}
}

// Stats summarise an HTTP warmup.
type Stats struct {
	Requests int
	Errors   int
	Duration time.Duration
	First    time.Duration
	Last     time.Duration
	// Median is the median request latency.
	Median time.Duration
	// LastError is the last failure seen, if any.
	LastError string
}

// HTTP sends n GET requests to url, one after the other, and measures them
// (List with that one request). A response with status >= 400 counts as an
// error; the warmup fails only when every request failed.
func HTTP(ctx context.Context, c *http.Client, rawURL string, n int) (Stats, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return Stats{}, fmt.Errorf("warmup URL %q: not an absolute URL (%v)", rawURL, err)
	}
	s, err := List(ctx, c, u.Scheme+"://"+u.Host, []Request{{Method: http.MethodGet, Path: u.RequestURI()}}, n, 1)
	if err == nil && s.Requests > 0 && s.Errors == s.Requests {
		err = fmt.Errorf("every warmup request failed: %s", s.LastError)
	}
	return s.Stats, err
}

// Script runs a warmup program with CRAC_APP_URL, CRAC_APP_HOST and
// CRAC_APP_PORT set. start starts the command (in the application's
// network); output receives its stdout and stderr. A failure's error
// carries the tail of its output.
func Script(ctx context.Context, path string, env []string, host string, port int, start func(*exec.Cmd) error, output io.Writer) error {
	cmd := exec.CommandContext(ctx, path)
	cmd.Env = append(append([]string{}, env...),
		"CRAC_APP_URL=http://"+net.JoinHostPort(host, strconv.Itoa(port)),
		"CRAC_APP_HOST="+host,
		"CRAC_APP_PORT="+strconv.Itoa(port),
	)
	var buf tailBuffer
	w := io.Writer(&buf)
	if output != nil {
		w = io.MultiWriter(output, &buf)
	}
	cmd.Stdout, cmd.Stderr = w, w
	cmd.WaitDelay = 2 * time.Second
	if err := start(cmd); err != nil {
		return fmt.Errorf("starting warmup script %s: %w", path, err)
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("warmup script %s: %w\n%s", path, err, buf.String())
	}
	return nil
}

// tailBuffer keeps the last 4 KiB written to it.
type tailBuffer struct{ b []byte }

func (t *tailBuffer) Write(p []byte) (int, error) {
	const max = 4096
	t.b = append(t.b, p...)
	if len(t.b) > max {
		t.b = t.b[len(t.b)-max:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	return strings.TrimSpace(string(bytes.ToValidUTF8(t.b, nil)))
}
