package launcher

import (
	"context"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/crac-build/crac-build/internal/contract"
)

func TestFirstRequestURLs(t *testing.T) {
	img := &contract.Metadata{FirstRequests: &contract.FirstRequests{
		Base: "http://127.0.0.1:8080", Paths: []string{"/api/items", "/?q=1"},
	}}
	addrOnly := &contract.Metadata{FirstRequests: &contract.FirstRequests{Base: "http://127.0.0.1:8080/"}}
	for _, c := range []struct {
		name string
		m    *contract.Metadata
		env  map[string]string
		want []string
		err  string
	}{
		{"image's paths", img, nil, []string{"http://127.0.0.1:8080/api/items", "http://127.0.0.1:8080/?q=1"}, ""},
		{"off", img, map[string]string{contract.EnvFirstRequests: "off"}, nil, ""},
		{"empty is off", img, map[string]string{contract.EnvFirstRequests: ""}, nil, ""},
		{"container's paths replace the image's", img, map[string]string{contract.EnvFirstRequests: "/a, /b?x=1 ,"},
			[]string{"http://127.0.0.1:8080/a", "http://127.0.0.1:8080/b?x=1"}, ""},
		{"spaces separate too (a build's --env)", img, map[string]string{contract.EnvFirstRequests: "/a /b\t/c"},
			[]string{"http://127.0.0.1:8080/a", "http://127.0.0.1:8080/b", "http://127.0.0.1:8080/c"}, ""},
		{"address only: no pass", addrOnly, nil, nil, ""},
		{"address only, container's paths", addrOnly, map[string]string{contract.EnvFirstRequests: "/x"}, []string{"http://127.0.0.1:8080/x"}, ""},
		{"URLs as they are", nil, map[string]string{contract.EnvFirstRequests: "http://127.0.0.1:9000/h,https://127.0.0.1:9443/"},
			[]string{"http://127.0.0.1:9000/h", "https://127.0.0.1:9443/"}, ""},
		{"older image: a path needs an address", &contract.Metadata{}, map[string]string{contract.EnvFirstRequests: "/x"}, nil, "does not record the application's address"},
		{"neither path nor URL", img, map[string]string{contract.EnvFirstRequests: "api"}, nil, `"api" is neither a path`},
		{"no metadata, no knob", nil, nil, nil, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := FirstRequestURLs(c.m, c.env)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want it to say %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

func TestFirstRequests(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	conns := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.RequestURI())
		conns[r.RemoteAddr] = true
		mu.Unlock()
		switch r.URL.Path {
		case "/broken":
			http.Error(w, "boom", http.StatusInternalServerError)
		case "/missing":
			http.NotFound(w, r)
		default:
			_, _ = w.Write([]byte(strings.Repeat("x", 100_000)))
		}
	}))
	defer srv.Close()
	urls := []string{srv.URL + "/a?n=1", srv.URL + "/broken", srv.URL + "/missing", srv.URL + "/b"}
	pass := FirstRequests(context.Background(), urls)
	want := []string{"GET /a?n=1", "GET /broken", "GET /missing", "GET /b"}
	if !reflect.DeepEqual(seen, want) {
		t.Errorf("the application saw %q, want %q", seen, want)
	}
	// A 404 warms the path as well; a 500 or no answer is a failure to
	// report (the pass goes on).
	if pass.Sent != 4 || pass.Failed != 1 || pass.LastError == nil || !strings.Contains(pass.LastError.Error(), "/broken answered 500") {
		t.Errorf("pass = %+v", pass)
	}
	if len(conns) != 1 {
		t.Errorf("the pass opened %d connections, want 1 (keep-alive)", len(conns))
	}

	// Nothing listening: every request fails, the pass still ends.
	dead := httptest.NewServer(http.NotFoundHandler())
	addr := dead.URL
	dead.Close()
	pass = FirstRequests(context.Background(), []string{addr + "/x", addr + "/y"})
	if pass.Sent != 2 || pass.Failed != 2 {
		t.Errorf("pass to a closed port = %+v", pass)
	}
	if pass = FirstRequests(context.Background(), nil); pass.Sent != 0 {
		t.Errorf("empty pass sent %d", pass.Sent)
	}
}
