package warmup

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

func TestParseRequests(t *testing.T) {
	in := `# the endpoints that matter
GET /orders?limit=10
post /orders {"item": "book", "qty": 2}
  Content-Type: application/json
  X-Trace: warmup

DELETE /orders/1
`
	reqs, err := ParseRequests(strings.NewReader(in), "reqs.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3: %+v", len(reqs), reqs)
	}
	p := reqs[1]
	if p.Method != "POST" || p.Path != "/orders" || p.Body != `{"item": "book", "qty": 2}` || len(p.Headers) != 2 || p.Headers[0] != [2]string{"Content-Type", "application/json"} {
		t.Errorf("POST line: %+v", p)
	}
	if reqs[0].Key() != "GET /orders?limit=10" || reqs[2].Body != "" {
		t.Errorf("GET/DELETE: %+v %+v", reqs[0], reqs[2])
	}
	for _, tc := range []struct{ in, want string }{
		{"", "holds no request"},
		{"  Accept: */*\nGET /", "reqs.txt:1: a header line"},
		{"GET", "reqs.txt:1: \"GET\": want METHOD PATH"},
		{"FETCH /", "reqs.txt:1: method \"FETCH\""},
		{"GET orders", "path \"orders\" must start with /"},
		{"GET /\n  no colon here", "reqs.txt:2: header"},
	} {
		if _, err := ParseRequests(strings.NewReader(tc.in), "reqs.txt"); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseRequests(%q): %v, want an error with %q", tc.in, err, tc.want)
		}
	}
}

// The list goes round in order; each endpoint's answers are counted; the
// body and headers arrive; too many errors fail the warmup, naming the
// endpoint.
func TestList(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.RequestURI()+" "+string(b)+" "+r.Header.Get("Content-Type"))
		mu.Unlock()
		if r.URL.Path == "/broken" {
			w.WriteHeader(500)
		}
	}))
	defer srv.Close()
	reqs := []Request{
		{Method: "GET", Path: "/a?x=1"},
		{Method: "POST", Path: "/b", Body: `{"k": 1}`, Headers: [][2]string{{"Content-Type", "application/json"}}},
	}
	s, err := List(context.Background(), srv.Client(), srv.URL, reqs, 5, 0)
	if err != nil {
		t.Fatal(err)
	}
	if s.Requests != 5 || s.Errors != 0 || len(s.Endpoints) != 2 || s.Endpoints[0].Status[200] != 3 || s.Endpoints[1].Status[200] != 2 {
		t.Errorf("stats %+v", s)
	}
	if seen[0] != "GET /a?x=1  " || seen[1] != `POST /b {"k": 1} application/json` || seen[2] != "GET /a?x=1  " {
		t.Errorf("server saw %q", seen)
	}
	reqs = append(reqs, Request{Method: "GET", Path: "/broken"})
	s, err = List(context.Background(), srv.Client(), srv.URL, reqs, 30, 0.05)
	if err == nil || !strings.Contains(err.Error(), "10 of 30 warmup requests failed") || !strings.Contains(err.Error(), "GET /broken: 500 x10") {
		t.Errorf("a third of the requests answered 500: %v", err)
	}
	if s.Endpoints[2].Errors != 10 {
		t.Errorf("broken endpoint %+v", s.Endpoints[2])
	}
	if _, err := List(context.Background(), srv.Client(), srv.URL, reqs, 30, 0.5); err != nil {
		t.Errorf("a third failed, 50%% allowed: %v", err)
	}
}
