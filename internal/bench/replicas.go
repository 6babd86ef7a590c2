package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/crac-build/crac-build/internal/checkpoint"
	"github.com/crac-build/crac-build/internal/contract"
	"github.com/crac-build/crac-build/internal/proc"
	"github.com/crac-build/crac-build/internal/runner"
)

// ReplicaConfig configures Replicas.
type ReplicaConfig struct {
	Image    string
	CacheDir string
	Runtime  string
	Port     int
	Probe    string
	Paths    []string
	// N containers of the image run side by side; each answers Requests
	// requests (round-robin over Paths) before the memory is read, so that
	// the pages written under load count.
	N        int
	Requests int
	Logf     func(format string, args ...any)
}

// ReplicaRow is the memory of N replicas started one way.
type ReplicaRow struct {
	Name string `json:"name"`
	Note string `json:"note"`
	// PSSKiB and RSSKiB are summed over every process of the N containers
	// (the launcher and the JVM); PSS shares a page among the processes
	// that map it, so pages the replicas share count once in the sum.
	PSSKiB     int64     `json:"pssKiB"`
	RSSKiB     int64     `json:"rssKiB"`
	PerReplica []int64   `json:"perReplicaPssKiB"`
	ReadyMs    []float64 `json:"readyMs"`
	Error      string    `json:"error,omitempty"`
}

// replicaModes: how the replicas start, the reference (cold) first.
var replicaModes = []struct {
	name, note string
	cold       bool
	env        []string
}{
	{"cold", "CRAC_RESTORE=off: each JVM starts from scratch", true, nil},
	{"stock read", "CRAC_PAGES=read: CRIU reads the pages into each container's own memory", false, []string{contract.EnvPages + "=" + contract.PagesRead}},
	{"direct map (default)", "the pages image mapped, every page copied at once (MAP_POPULATE): as fast as it gets, nothing shared", false, nil},
	{"direct map, share", "CRAC_PAGES=share: page tables filled read-only; a page is copied when written, the rest shared through the page cache", false, []string{contract.EnvPages + "=" + contract.PagesShare}},
	{"direct map, lazy", "CRAC_PAGES=map-lazy: mapped, page tables filled on touch", false, []string{contract.EnvPages + "=" + contract.PagesMapLazy}},
}

// Replicas starts N containers of the image for each mode in turn, sends
// each Requests requests, and sums the PSS and RSS of their processes.
func Replicas(ctx context.Context, c ReplicaConfig) []ReplicaRow {
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	var rows []ReplicaRow
	for _, m := range replicaModes {
		row := ReplicaRow{Name: m.name, Note: m.note}
		if err := replicas(ctx, c, m.cold, m.env, &row); err != nil {
			row.Error = err.Error()
			c.Logf("replicas %s: %v", m.name, err)
		} else {
			c.Logf("replicas %s: %d containers, PSS %.1f MiB, RSS %.1f MiB", m.name, c.N, float64(row.PSSKiB)/1024, float64(row.RSSKiB)/1024)
		}
		rows = append(rows, row)
	}
	return rows
}

func replicas(ctx context.Context, c ReplicaConfig, cold bool, env []string, row *ReplicaRow) error {
	var runs []*runner.Run
	defer func() {
		for _, r := range runs {
			_, _ = r.Stop(10 * time.Second)
		}
	}()
	want := "restored"
	if cold {
		want = "cold"
	}
	for i := 0; i < c.N; i++ {
		r, err := runner.Start(ctx, runner.Options{
			Image: c.Image, Cold: cold, Env: env, Port: c.Port, HostAddr: "127.0.0.1:0",
			Runtime: c.Runtime, CacheDir: c.CacheDir,
		})
		if err != nil {
			return err
		}
		runs = append(runs, r)
		pctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		d, err := r.Probe(pctx, "http://"+r.Addr+c.Probe)
		cancel()
		if err != nil {
			return fmt.Errorf("replica %d: %w", i+1, err)
		}
		if mode, reason := r.WaitMode(2 * time.Second); mode != want {
			return fmt.Errorf("replica %d started %q, want %q (%s)", i+1, mode, want, reason)
		}
		row.ReadyMs = append(row.ReadyMs, ms(d))
	}
	client := &http.Client{Timeout: 30 * time.Second}
	for i, r := range runs {
		for k := 0; k < c.Requests; k++ {
			resp, err := client.Get("http://" + r.Addr + c.Paths[k%len(c.Paths)])
			if err != nil {
				return fmt.Errorf("replica %d, request %d: %w", i+1, k+1, err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	for _, r := range runs {
		var pss int64
		pids, err := checkpoint.Tree(r.Container().InitPID())
		if err != nil {
			return fmt.Errorf("processes of a replica: %w", err)
		}
		for _, pid := range pids {
			p, rss, err := proc.SmapsRollup(pid)
			if err != nil {
				continue // a process that just ended
			}
			pss += p
			row.RSSKiB += rss
		}
		row.PerReplica = append(row.PerReplica, pss)
		row.PSSKiB += pss
	}
	return nil
}
