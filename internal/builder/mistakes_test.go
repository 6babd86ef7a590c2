package builder

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The mistakes a build can only see by running the application, each
// said in one line that names the fix. e2e/cli_test.go's TestCLIMistakes
// makes them happen with a real JVM.

func TestNotReadyNamesTheFix(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String() + "/"
	l.Close() // nothing listens there now
	ctx := context.Background()
	for _, tc := range []struct {
		name, url, want string
	}{
		{"no port answering", closed, "nothing answered at " + closed + " within 2m0s: give --port the port the application listens on"},
		{"wrong ready URL", srv.URL + "/health", srv.URL + "/health answered 404 Not Found until the 2m0s timeout: give --ready-url a page that answers 2xx or 3xx"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := notReady(tc.url, 2*time.Minute, answerStatus(ctx, http.DefaultClient, tc.url))
			if !strings.HasPrefix(got, tc.want) || strings.Contains(got, "\n") {
				t.Errorf("got %q, want one line starting %q", got, tc.want)
			}
		})
	}
}

func TestExitedBeforeReadyNamesTheFix(t *testing.T) {
	for _, tc := range []struct {
		name, lines, want string
		status            int
	}{
		// What crac-launch printed for a base without java (2026-12-05).
		{"base without java", "crac-launch: init: finding \"java\": exec: \"java\": executable file not found in $PATH\n", `the image has no "java" on its PATH: use a base image with a JDK 11+`, 127},
		{"app exits at start", "Error: Unable to access jarfile /app/app.jar\n", "the application exited (status 1) before it was ready: its last lines are below; check its command (--cmd", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := exitedBeforeReady(tc.status, tc.lines); !strings.HasPrefix(got, tc.want) || strings.Contains(got, "\n") {
				t.Errorf("got %q, want one line starting %q", got, tc.want)
			}
		})
	}
}

func TestWarmupNotExecutableNamesTheFix(t *testing.T) {
	script := filepath.Join(t.TempDir(), "warm.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	o := Options{Port: 8080, WarmupScript: script}
	err := o.warmupDefaults()
	if want := "--warmup " + script + " is not executable: chmod +x " + script; err == nil || err.Error() != want {
		t.Errorf("got %v, want %q", err, want)
	}
}
