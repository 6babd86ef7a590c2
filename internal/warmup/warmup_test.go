package warmup_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crac-build/crac-build/internal/warmup"
)

// client dials on the host, as the sandbox's dialer does in its netns.
func client() *http.Client {
	var d net.Dialer
	return warmup.Client(d.DialContext)
}

// startingServer answers 503 to its first n requests, then 200.
func startingServer(t *testing.T, n int64) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= n {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok"))
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func TestWaitReady(t *testing.T) {
	srv, calls := startingServer(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	t0 := time.Now()
	d, err := warmup.WaitReady(ctx, client(), srv.URL+"/health", nil)
	if err != nil {
		t.Fatalf("WaitReady: %v", err)
	}
	if got := calls.Load(); got != 4 {
		t.Errorf("%d probes, want 4 (three 503s, then 200)", got)
	}
	if d <= 0 || d > time.Since(t0) {
		t.Errorf("WaitReady took %v by its count, %v by the test's", d, time.Since(t0))
	}
	// Three waits between probes: it does not spin.
	if d < 3*40*time.Millisecond {
		t.Errorf("ready after %v: the probes were not spaced out", d)
	}
}

func TestWaitReadyRedirectIsReady(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.URL.Path == "/" {
			http.Redirect(w, r, "/login", http.StatusFound)
			return
		}
		http.NotFound(w, r)
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := warmup.WaitReady(ctx, client(), srv.URL+"/", nil); err != nil {
		t.Fatalf("WaitReady on a redirect: %v", err)
	}
	if calls.Load() != 1 {
		t.Errorf("%d requests: the client followed the redirect", calls.Load())
	}
}

func TestWaitReadyExited(t *testing.T) {
	srv, _ := startingServer(t, 1<<30)
	exited := make(chan struct{})
	time.AfterFunc(100*time.Millisecond, func() { close(exited) })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	t0 := time.Now()
	_, err := warmup.WaitReady(ctx, client(), srv.URL, exited)
	if !errors.Is(err, warmup.ErrExited) {
		t.Errorf("WaitReady: %v, want ErrExited", err)
	}
	if time.Since(t0) > 5*time.Second {
		t.Errorf("WaitReady returned %v after the exit", time.Since(t0))
	}
}

func TestWaitReadyTimeout(t *testing.T) {
	srv, _ := startingServer(t, 1<<30)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := warmup.WaitReady(ctx, client(), srv.URL+"/health", make(chan struct{}))
	if err == nil {
		t.Fatal("WaitReady succeeded against a server that never is ready")
	}
	for _, want := range []string{"not ready after", "503", "/health"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

func TestWaitReadyConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = warmup.WaitReady(ctx, client(), "http://"+addr+"/", nil)
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("WaitReady with nothing listening: %v, want the last error (connection refused)", err)
	}
	if _, err := warmup.WaitReady(context.Background(), client(), "http://bad host/", nil); err == nil || !strings.Contains(err.Error(), "readiness URL") {
		t.Errorf("WaitReady of an invalid URL: %v", err)
	}
}

func TestHTTP(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1)%4 == 0 {
			http.Error(w, "flaky", http.StatusInternalServerError)
			return
		}
		w.Write([]byte("hello"))
	}))
	defer srv.Close()
	s, err := warmup.HTTP(context.Background(), client(), srv.URL+"/work", 10)
	if err != nil {
		t.Fatalf("HTTP: %v", err)
	}
	if s.Requests != 10 || s.Errors != 2 || calls.Load() != 10 {
		t.Errorf("%d requests, %d errors, server saw %d; want 10, 2 (the 4th and 8th), 10", s.Requests, s.Errors, calls.Load())
	}
	if !strings.Contains(s.LastError, "500") {
		t.Errorf("LastError %q, want the 500", s.LastError)
	}
	if s.First <= 0 || s.Last <= 0 || s.Duration < s.First {
		t.Errorf("timings first %v last %v duration %v", s.First, s.Last, s.Duration)
	}
}

func TestHTTPAllFail(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.NotFound(w, r)
	}))
	defer srv.Close()
	s, err := warmup.HTTP(context.Background(), client(), srv.URL+"/missing", 5)
	if err == nil || !strings.Contains(err.Error(), "every warmup request failed") || !strings.Contains(err.Error(), "404") {
		t.Errorf("HTTP against 404s: %v, want every request failed with the 404", err)
	}
	if s.Requests != 5 || s.Errors != 5 {
		t.Errorf("%d requests, %d errors; want 5, 5", s.Requests, s.Errors)
	}
	// No requests, no failure.
	if s, err := warmup.HTTP(context.Background(), client(), srv.URL, 0); err != nil || s.Requests != 0 {
		t.Errorf("HTTP with n=0: %+v, %v", s, err)
	}
}

func TestHTTPCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 3 {
			cancel()
		}
	}))
	defer srv.Close()
	s, err := warmup.HTTP(ctx, client(), srv.URL, 1000)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("HTTP after cancel: %v, want context.Canceled", err)
	}
	if s.Requests > 4 {
		t.Errorf("%d requests after the cancel", s.Requests)
	}
}

// A connection kept open would be in the checkpoint.
func TestClientKeepsNoConnection(t *testing.T) {
	var mu sync.Mutex
	conns := 0
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			mu.Lock()
			conns++
			mu.Unlock()
		}
	}
	srv.Start()
	defer srv.Close()
	if _, err := warmup.HTTP(context.Background(), client(), srv.URL, 3); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if conns != 3 {
		t.Errorf("3 requests used %d connections, want one each (no keep-alive)", conns)
	}
}

// writeScript writes an executable sh script.
func writeScript(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "warm.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func start(c *exec.Cmd) error { return c.Start() }

func TestScript(t *testing.T) {
	p := writeScript(t, `echo "url=$CRAC_APP_URL host=$CRAC_APP_HOST port=$CRAC_APP_PORT inherited=$FROM_ENV"
echo "to stderr" >&2
`)
	var out bytes.Buffer
	env := []string{"PATH=" + os.Getenv("PATH"), "FROM_ENV=yes"}
	if err := warmup.Script(context.Background(), p, env, "10.0.0.2", 8080, start, &out); err != nil {
		t.Fatalf("Script: %v", err)
	}
	want := "url=http://10.0.0.2:8080 host=10.0.0.2 port=8080 inherited=yes\nto stderr\n"
	if out.String() != want {
		t.Errorf("output %q, want %q", out.String(), want)
	}
	// IPv6 hosts get brackets in the URL.
	out.Reset()
	if err := warmup.Script(context.Background(), p, nil, "::1", 9000, start, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "url=http://[::1]:9000 host=::1 port=9000") {
		t.Errorf("output %q", out.String())
	}
	// Without an output writer it runs all the same.
	if err := warmup.Script(context.Background(), p, nil, "127.0.0.1", 1, start, nil); err != nil {
		t.Errorf("Script without output: %v", err)
	}
}

func TestScriptFails(t *testing.T) {
	p := writeScript(t, `echo "GET /orders failed: 500"
echo "giving up" >&2
exit 3
`)
	err := warmup.Script(context.Background(), p, nil, "127.0.0.1", 8080, start, nil)
	if err == nil {
		t.Fatal("a failing script succeeded")
	}
	for _, want := range []string{p, "exit status 3", "GET /orders failed: 500", "giving up"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

func TestScriptOutputTail(t *testing.T) {
	// 2000 lines: the error keeps only the end.
	p := writeScript(t, `i=0
while [ $i -lt 2000 ]; do echo "line $i"; i=$((i+1)); done
echo "the real reason"
exit 1
`)
	err := warmup.Script(context.Background(), p, nil, "127.0.0.1", 8080, start, nil)
	if err == nil {
		t.Fatal("a failing script succeeded")
	}
	if !strings.Contains(err.Error(), "the real reason") || !strings.Contains(err.Error(), "line 1999") {
		t.Errorf("error lacks the end of the output: %.200q", err)
	}
	if strings.Contains(err.Error(), "line 0\n") {
		t.Errorf("error holds the whole output, want its tail")
	}
	if len(err.Error()) > 4096+len(p)+100 {
		t.Errorf("error is %d bytes long", len(err.Error()))
	}
}

func TestScriptStartFails(t *testing.T) {
	p := writeScript(t, "exit 0\n")
	boom := errors.New("no netns")
	err := warmup.Script(context.Background(), p, nil, "127.0.0.1", 8080, func(*exec.Cmd) error { return boom }, nil)
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "starting warmup script") {
		t.Errorf("Script with a failing start: %v", err)
	}
	err = warmup.Script(context.Background(), filepath.Join(t.TempDir(), "missing.sh"), nil, "127.0.0.1", 8080, start, nil)
	if err == nil {
		t.Error("Script of a missing file succeeded")
	}
}

func TestScriptTimeout(t *testing.T) {
	p := writeScript(t, "echo started\nexec sleep 30\n")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	err := warmup.Script(ctx, p, nil, "127.0.0.1", 8080, start, nil)
	if err == nil {
		t.Fatal("a script past its deadline succeeded")
	}
	if time.Since(t0) > 5*time.Second {
		t.Errorf("Script returned %v after its deadline", time.Since(t0))
	}
	if !strings.Contains(err.Error(), "started") {
		t.Errorf("error %q lacks the script's output", err)
	}
}
