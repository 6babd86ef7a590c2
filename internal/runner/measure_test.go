package runner

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

func TestSeries(t *testing.T) {
	var n, conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := n.Add(1)
		if r.URL.Path == "/bad" && i%2 == 0 {
			http.Error(w, "no", http.StatusInternalServerError)
			return
		}
		_, _ = w.Write([]byte("ok " + r.URL.Path))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()

	client := SeriesClient(nil, 0)
	defer client.CloseIdleConnections()
	lat, errs, err := Series(context.Background(), client, srv.URL, []string{"/a", "/b"}, 20)
	if err != nil || errs != 0 || len(lat) != 20 {
		t.Fatalf("Series = %d latencies, %d errors, %v; want 20, 0, nil", len(lat), errs, err)
	}
	for i, l := range lat {
		if l <= 0 {
			t.Errorf("latency %d = %v, want > 0", i, l)
		}
	}
	if c := conns.Load(); c != 1 {
		t.Errorf("Series opened %d connections, want 1 (keep-alive)", c)
	}

	// Every other request to /bad fails: more than a tenth, so Series gives up.
	if _, errs, err := Series(context.Background(), client, srv.URL, []string{"/bad"}, 20); err == nil || errs < 3 {
		t.Errorf("Series with failures: errs %d, err %v; want an error after more than 2", errs, err)
	}
}

func TestParseLauncherMs(t *testing.T) {
	for line, want := range map[string]float64{
		"crac-launch: restored in 133 ms": 133,
		"crac-launch: restored in x ms":   0,
	} {
		if got := parseLauncherMs(line); got != want {
			t.Errorf("parseLauncherMs(%q) = %v, want %v", line, got, want)
		}
	}
	if got := pathOf("http://127.0.0.1:80/a/b?c=d"); got != "/a/b?c=d" {
		t.Errorf("pathOf = %q", got)
	}
	if got := pathOf("http://127.0.0.1:80"); got != "/" {
		t.Errorf("pathOf = %q", got)
	}
}
