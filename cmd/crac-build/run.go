package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/crac-build/crac-build/internal/bench"
	"github.com/crac-build/crac-build/internal/builder"
	"github.com/crac-build/crac-build/internal/inspect"
	"github.com/crac-build/crac-build/internal/registry"
	"github.com/crac-build/crac-build/internal/report"
	"github.com/crac-build/crac-build/internal/runner"
)

func runCommand() *cli.Command {
	return &cli.Command{
		Name:      "run",
		Usage:     "start an image locally (runc) and see it start warm or cold",
		ArgsUsage: "IMAGE",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "cold", Usage: "force a cold start (CRAC_RESTORE=off)"},
			&cli.StringSliceFlag{Name: "env", Aliases: []string{"e"}, Usage: "environment variable K=V (repeatable)"},
			&cli.IntFlag{Name: "port", Usage: "container port to publish (default: the image's exposed port)"},
			&cli.StringFlag{Name: "publish", Aliases: []string{"p"}, Usage: "host `ADDR` to publish on (default 127.0.0.1:PORT; port 0: any free)"},
			&cli.StringFlag{Name: "probe-url", Usage: "measure start to the first 2xx of this `URL` or path (e.g. /health)"},
			&cli.DurationFlag{Name: "probe-timeout", Value: time.Minute, Usage: "give up probing after this long"},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON result (mode, ready_ms, reason), stop the container"},
			&cli.BoolFlag{Name: "insecure", Usage: "allow plain-HTTP registries"},
			&cli.StringFlag{Name: "platform", Usage: "`OS/ARCH` to pick from a multi-platform image (default: this host's)"},
			&cli.Float64Flag{Name: "cpus", Usage: "CPU limit of the container (as docker run --cpus)"},
			&cli.StringFlag{Name: "memory", Usage: "memory limit of the container, e.g. 512m (as docker run --memory)"},
			&cli.DurationFlag{Name: "stop-timeout", Value: 10 * time.Second, Usage: "grace between SIGTERM and SIGKILL when stopping"},
			&cli.StringSliceFlag{Name: "cap-add", Usage: "add a `CAP` to Docker's defaults + CHECKPOINT_RESTORE (repeatable)"},
			&cli.StringSliceFlag{Name: "cap-drop", Usage: "drop a `CAP` from the defaults (repeatable)"},
			&cli.StringFlag{Name: "seccomp-profile", Usage: "a Docker-format seccomp profile `FILE` (default: none)"},
			&cli.StringFlag{Name: "report", Usage: "start it cold and restored, --runs times each: an HTML report to `FILE`"},
			&cli.IntFlag{Name: "runs", Value: 3, Usage: "with --report: starts of each kind (the median is shown)"},
			&cli.IntFlag{Name: "requests", Value: 500, Usage: "with --report: requests per start after the first"},
			&cli.StringSliceFlag{Name: "request-path", Usage: "with --report: `PATH`s to request, round-robin (default: the probe's)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return fmt.Errorf("run: want one IMAGE argument")
			}
			if c.String("report") != "" {
				return runReport(c)
			}
			jsonOut := c.Bool("json")
			if jsonOut && c.String("probe-url") == "" {
				return fmt.Errorf("run --json needs --probe-url")
			}
			o, err := runOptions(c)
			if err != nil {
				return err
			}
			o.Cold = c.Bool("cold")
			o.Stdout, o.Stderr = os.Stdout, os.Stderr
			u := newUI(c)
			defer u.done()
			o.Progress = u.progress()
			if jsonOut {
				// stdout carries the JSON result only.
				o.Stdout = os.Stderr
			}
			sigs := make(chan os.Signal, 2)
			signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
			defer signal.Stop(sigs)

			r, err := runner.Start(c.Context, o)
			if err != nil {
				return err
			}
			stop := func() int {
				st, err := r.Stop(c.Duration("stop-timeout"))
				if err != nil {
					fmt.Fprintf(os.Stderr, "crac-build: %v\n", err)
				}
				return st
			}
			if r.Addr != "" && !c.Bool("quiet") {
				fmt.Fprintf(os.Stderr, "crac-build: published on %s\n", r.Addr)
			}
			result := map[string]any{}
			if u := c.String("probe-url"); u != "" {
				if strings.HasPrefix(u, "/") {
					if r.Addr == "" {
						stop()
						return fmt.Errorf("--probe-url %s is a path but no port is published (--port)", u)
					}
					u = "http://" + r.Addr + u
				}
				ctx, cancel := context.WithTimeout(c.Context, c.Duration("probe-timeout"))
				d, err := r.Probe(ctx, u)
				cancel()
				mode, reason := r.WaitMode(2 * time.Second)
				result["mode"], result["reason"] = mode, reason
				if err != nil {
					result["error"] = err.Error()
				} else {
					result["ready_ms"] = float64(d.Microseconds()) / 1000
				}
				bd := r.Breakdown()
				if bd != nil {
					if err == nil {
						bd.Complete(r.Started, d)
					}
					result["breakdown"] = bd
				}
				if !jsonOut && err == nil && !c.Bool("quiet") {
					fmt.Fprintf(os.Stderr, "crac-build: %s, first answer after %.1f ms\n", mode, float64(d.Microseconds())/1000)
					if bd != nil {
						fmt.Fprintf(os.Stderr, "crac-build: restore: %s\n", bd)
					}
				}
				if jsonOut || err != nil {
					st := stop()
					result["exit_status"] = st
					if jsonOut {
						if err := json.NewEncoder(os.Stdout).Encode(result); err != nil {
							return err
						}
					}
					if err != nil {
						return err
					}
					return nil
				}
			}
			select {
			case <-r.Done():
				st := r.Wait()
				_, _ = r.Stop(0)
				if st != 0 {
					return cli.Exit(fmt.Sprintf("crac-build: container exited with status %d", st), st)
				}
				return nil
			case <-sigs:
				fmt.Fprintln(os.Stderr, "crac-build: stopping")
				stop()
				return nil
			}
		},
	}
}

// runOptions is the container setup that `run` and `run --report` share,
// from the command's flags.
func runOptions(c *cli.Context) (runner.Options, error) {
	o := runner.Options{
		Image:    c.Args().First(),
		Env:      c.StringSlice("env"),
		Port:     c.Int("port"),
		HostAddr: c.String("publish"),
		Runtime:  c.String("runtime"),
		CacheDir: c.String("cache-dir"),
		Insecure: c.Bool("insecure"),
		CPUs:     c.Float64("cpus"),

		SeccompProfile: c.String("seccomp-profile"),
	}
	if len(c.StringSlice("cap-add")) > 0 || len(c.StringSlice("cap-drop")) > 0 {
		caps, err := runner.Caps(c.StringSlice("cap-add"), c.StringSlice("cap-drop"))
		if err != nil {
			return o, err
		}
		o.Caps = caps
	}
	if m := c.String("memory"); m != "" {
		n, err := builder.ParseMemory(m)
		if err != nil {
			return o, fmt.Errorf("--memory: %w", err)
		}
		o.MemoryBytes = n
	}
	pl, err := registry.ParsePlatform(c.String("platform"))
	if err != nil {
		return o, err
	}
	o.Platform = pl
	return o, nil
}

// runReport is `run --report FILE`: cold and restored starts side by side,
// written as an HTML report (and a summary on stderr).
func runReport(c *cli.Context) error {
	if c.String("probe-url") == "" {
		return fmt.Errorf("run --report needs --probe-url (what counts as the first response)")
	}
	o, err := runOptions(c)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := bench.Compare(ctx, bench.CompareOptions{
		Run: o,
		Measure: runner.MeasureOptions{
			ProbeURL:     c.String("probe-url"),
			ProbeTimeout: c.Duration("probe-timeout"),
			Requests:     c.Int("requests"),
			Paths:        c.StringSlice("request-path"),
			StopTimeout:  c.Duration("stop-timeout"),
		},
		Rounds: c.Int("runs"),
		Logf: func(f string, a ...any) {
			if !c.Bool("quiet") {
				fmt.Fprintf(os.Stderr, "crac-build: "+f+"\n", a...)
			}
		},
	})
	if res == nil {
		return err
	}
	page := bench.Page(res)
	// The warmup the image was built with: its rounds and what it reached.
	if info, ierr := inspect.Image(ctx, o.Image, registry.Options{Insecure: o.Insecure, Platform: o.Platform}); ierr == nil {
		if s := bench.WarmupSection(o.Image, info.Warmup); s != nil {
			page.Sections = append(page.Sections, *s)
		}
	}
	var b strings.Builder
	if rerr := report.Render(&b, page); rerr != nil {
		return rerr
	}
	if werr := os.WriteFile(c.String("report"), []byte(b.String()), 0o644); werr != nil {
		return werr
	}
	fmt.Fprint(os.Stderr, bench.AppTable(&res.Apps[0], res.Settings))
	fmt.Fprintf(os.Stderr, "crac-build: wrote %s\n", c.String("report"))
	if err != nil {
		return err
	}
	if c.Bool("json") {
		a := res.Apps[0]
		return json.NewEncoder(os.Stdout).Encode(map[string]any{"cold_ms": a.ColdMs, "restored_ms": a.WarmMs, "ratio": a.Ratio, "report": c.String("report")})
	}
	return nil
}
