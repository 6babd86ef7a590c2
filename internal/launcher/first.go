package launcher

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/crac-build/crac-build/internal/contract"
)

// The post-restore pass. The first request after a restore takes several
// times as long as the same request a moment later, and most of that is
// not the restore's pages (they are in place) nor the CPU caches: the
// first run of each code path after the restore is slow, the second is
// not (docs/restore-speed.md, "The first request after a restore"). The
// launcher therefore sends the image's first requests itself, once each,
// after the restore and before it reports it: a user's request then finds
// its path run once.

// Bounds of the pass: a request that takes longer is not warming anything
// the user would not wait for anyway, and the pass must end.
const (
	firstRequestTimeout = 2 * time.Second
	firstRequestsBudget = 5 * time.Second
)

// FirstPass is what the post-restore pass did.
type FirstPass struct {
	// URLs are the requests, in order.
	URLs []string
	// Sent counts the requests sent, Failed those that got no answer or
	// an answer >= 500 (the pass goes on: it only warms).
	Sent, Failed int
	Took         time.Duration
	// LastError is the last failure, for the log.
	LastError error
}

// FirstRequestURLs are the URLs of the post-restore pass: the image's
// (m.FirstRequests), or those the container names in CRAC_FIRST_REQUESTS,
// separated by commas or spaces ("off": none; paths are relative to the
// image's address, URLs are taken as they are). An error says why a value cannot be used (no pass then).
func FirstRequestURLs(m *contract.Metadata, env map[string]string) ([]string, error) {
	var base string
	var paths []string
	if m != nil && m.FirstRequests != nil {
		base, paths = strings.TrimSuffix(m.FirstRequests.Base, "/"), m.FirstRequests.Paths
	}
	if v, ok := env[contract.EnvFirstRequests]; ok {
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "off", "0", "false", "":
			return nil, nil
		}
		paths = nil
		// Commas or spaces: a build's --env takes no commas.
		paths = strings.FieldsFunc(v, func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
	}
	var urls []string
	for _, p := range paths {
		switch {
		case strings.HasPrefix(p, "http://"), strings.HasPrefix(p, "https://"):
			urls = append(urls, p)
		case !strings.HasPrefix(p, "/"):
			return nil, fmt.Errorf("%s: %q is neither a path (/...) nor an http URL", contract.EnvFirstRequests, p)
		case base == "":
			return nil, fmt.Errorf("%s: path %s, but the image does not record the application's address (built before crac-build had the post-restore pass): give http://127.0.0.1:PORT%s", contract.EnvFirstRequests, p, p)
		default:
			urls = append(urls, base+p)
		}
	}
	return urls, nil
}

// FirstRequests sends a GET to each URL, once, in order, on one keep-alive
// connection, and reads each answer whole. It never fails: a request that
// fails is counted and the pass goes on, within its bounds.
func FirstRequests(ctx context.Context, urls []string) FirstPass {
	pass := FirstPass{URLs: urls}
	if len(urls) == 0 {
		return pass
	}
	ctx, cancel := context.WithTimeout(ctx, firstRequestsBudget)
	defer cancel()
	tr := &http.Transport{
		// The application itself, on loopback: its certificate (if it
		// has one) names its public name.
		TLSClientConfig:     &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // loopback to the restored application
		MaxIdleConnsPerHost: 1,
		DisableCompression:  true,
		Proxy:               nil,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: firstRequestTimeout}
	t0 := time.Now()
	for _, u := range urls {
		if ctx.Err() != nil {
			break
		}
		pass.Sent++
		if err := firstRequest(ctx, client, u); err != nil {
			pass.Failed++
			pass.LastError = err
		}
	}
	pass.Took = time.Since(t0)
	return pass
}

func firstRequest(ctx context.Context, client *http.Client, u string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("first request %s: %w", u, err)
	}
	req.Header.Set("User-Agent", "crac-launch (post-restore pass)")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("first request %s: %w", u, err)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("first request %s: reading the answer: %w", u, err)
	}
	if resp.StatusCode >= 500 {
		return fmt.Errorf("first request %s answered %s", u, resp.Status)
	}
	return nil
}
