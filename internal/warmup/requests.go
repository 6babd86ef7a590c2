package warmup

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Request is one line of a requests file: a method, a path (and query),
// an optional body, optional headers.
type Request struct {
	Method  string
	Path    string
	Body    string
	Headers [][2]string
}

// Key names a request's endpoint in the statistics: "METHOD PATH".
func (r Request) Key() string { return r.Method + " " + r.Path }

var methods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodOptions: true,
}

// ParseRequests reads a requests file: one request a line,
//
//	METHOD PATH [BODY]
//
// where BODY is the rest of the line (it may hold spaces, e.g. JSON), and
// the indented lines below a request are its headers ("Name: value").
// Blank lines and lines starting with # are skipped. Errors name the line.
func ParseRequests(r io.Reader, name string) ([]Request, error) {
	var out []Request
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			if len(out) == 0 {
				return nil, fmt.Errorf("%s:%d: a header line (indented) before any request", name, n)
			}
			k, v, ok := strings.Cut(trimmed, ":")
			if !ok || strings.TrimSpace(k) == "" || strings.ContainsAny(k, " \t") {
				return nil, fmt.Errorf("%s:%d: header %q: want Name: value", name, n, trimmed)
			}
			last := &out[len(out)-1]
			last.Headers = append(last.Headers, [2]string{strings.TrimSpace(k), strings.TrimSpace(v)})
			continue
		}
		fields := strings.SplitN(trimmed, " ", 3)
		if len(fields) < 2 {
			return nil, fmt.Errorf("%s:%d: %q: want METHOD PATH [BODY]", name, n, trimmed)
		}
		m := strings.ToUpper(fields[0])
		if !methods[m] {
			return nil, fmt.Errorf("%s:%d: method %q: want GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS", name, n, fields[0])
		}
		if !strings.HasPrefix(fields[1], "/") {
			return nil, fmt.Errorf("%s:%d: path %q must start with /", name, n, fields[1])
		}
		req := Request{Method: m, Path: fields[1]}
		if len(fields) == 3 {
			req.Body = strings.TrimSpace(fields[2])
		}
		out = append(out, req)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s holds no request", name)
	}
	return out, nil
}

// ReadRequests is ParseRequests of a file.
func ReadRequests(path string) ([]Request, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("warmup requests file: %w", err)
	}
	defer f.Close()
	return ParseRequests(f, path)
}

// Endpoint is what one endpoint of a request list answered.
type Endpoint struct {
	Key string `json:"endpoint"`
	// Status counts the answers by HTTP status; a request that got no
	// answer (connection refused, timeout) counts under 0.
	Status map[int]int `json:"status"`
	// Errors are the requests with no answer or a status >= 400.
	Errors int `json:"errors"`
}

// Requests counts an endpoint's requests.
func (e Endpoint) Requests() int {
	n := 0
	for _, c := range e.Status {
		n += c
	}
	return n
}

// String is "GET /orders: 200 x98, 500 x2".
func (e Endpoint) String() string {
	codes := make([]int, 0, len(e.Status))
	for c := range e.Status {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	parts := make([]string, len(codes))
	for i, c := range codes {
		label := strconv.Itoa(c)
		if c == 0 {
			label = "no answer"
		}
		parts[i] = fmt.Sprintf("%s x%d", label, e.Status[c])
	}
	return e.Key + ": " + strings.Join(parts, ", ")
}

// ListStats summarise a request-list warmup.
type ListStats struct {
	Stats
	Endpoints []Endpoint
}

// List sends n requests of reqs, in order and round after round, to base
// (http://HOST:PORT), and counts each endpoint's answers. It fails when
// more than maxErrors (a share, 0 to 1) of the requests got no answer or a
// status >= 400: a warmup that warms an error page makes a broken image.
func List(ctx context.Context, c *http.Client, base string, reqs []Request, n int, maxErrors float64) (ListStats, error) {
	var s ListStats
	eps := map[string]*Endpoint{}
	lat := make([]time.Duration, 0, n)
	start := time.Now()
	for i := 0; i < n; i++ {
		r := reqs[i%len(reqs)]
		ep := eps[r.Key()]
		if ep == nil {
			ep = &Endpoint{Key: r.Key(), Status: map[int]int{}}
			eps[r.Key()] = ep
		}
		t0 := time.Now()
		status, err := do(ctx, c, base, r)
		d := time.Since(t0)
		if i == 0 {
			s.First = d
		}
		s.Last = d
		lat = append(lat, d)
		s.Requests++
		ep.Status[status]++
		if err == nil && status >= 400 {
			err = fmt.Errorf("%s answered %d %s", r.Key(), status, http.StatusText(status))
		}
		if err != nil {
			s.Errors++
			ep.Errors++
			s.LastError = err.Error()
		}
		if ctx.Err() != nil {
			return s, ctx.Err()
		}
	}
	s.Duration = time.Since(start)
	s.Median = median(lat)
	// In the list's order.
	seen := map[string]bool{}
	for _, r := range reqs {
		if e := eps[r.Key()]; e != nil && !seen[r.Key()] {
			seen[r.Key()] = true
			s.Endpoints = append(s.Endpoints, *e)
		}
	}
	if s.Requests > 0 && float64(s.Errors) > maxErrors*float64(s.Requests) {
		var bad []string
		for _, e := range s.Endpoints {
			if e.Errors > 0 {
				bad = append(bad, e.String())
			}
		}
		return s, fmt.Errorf("%d of %d warmup requests failed (more than %.0f%%): %s; fix the requests file or the application (a warmup that warms an error page makes a broken image)",
			s.Errors, s.Requests, maxErrors*100, strings.Join(bad, "; "))
	}
	return s, nil
}

// Add counts o's requests into s (rounds of one warmup): the endpoints
// in s's order, then o's new ones; First stays s's, Last and Median
// become o's.
func (s *ListStats) Add(o ListStats) {
	if s.Requests == 0 {
		s.First = o.First
	}
	s.Requests += o.Requests
	s.Errors += o.Errors
	s.Duration += o.Duration
	s.Last, s.Median = o.Last, o.Median
	if o.LastError != "" {
		s.LastError = o.LastError
	}
	for _, e := range o.Endpoints {
		found := false
		for i := range s.Endpoints {
			if s.Endpoints[i].Key == e.Key {
				for c, k := range e.Status {
					s.Endpoints[i].Status[c] += k
				}
				s.Endpoints[i].Errors += e.Errors
				found = true
				break
			}
		}
		if !found {
			st := make(map[int]int, len(e.Status))
			for c, k := range e.Status {
				st[c] = k
			}
			s.Endpoints = append(s.Endpoints, Endpoint{Key: e.Key, Status: st, Errors: e.Errors})
		}
	}
}

func do(ctx context.Context, c *http.Client, base string, r Request) (int, error) {
	var body io.Reader
	if r.Body != "" {
		body = strings.NewReader(r.Body)
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, base+r.Path, body)
	if err != nil {
		return 0, fmt.Errorf("warmup request %s: %w", r.Key(), err)
	}
	for _, h := range r.Headers {
		if strings.EqualFold(h[0], "Host") {
			req.Host = h[1]
			continue
		}
		req.Header.Add(h[0], h[1])
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}
