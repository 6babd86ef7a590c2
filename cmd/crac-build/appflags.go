package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/crac-build/crac-build/builder"
	"github.com/crac-build/crac-build/contract"
)

// appFlags are the flags of `build` and `checkpoint` that say how the
// application runs, when it is ready and how it is warmed up; where says
// where it runs ("sandbox"), scriptWhere where the warmup program runs.
func appFlags(where, scriptWhere string) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "workdir", Usage: "working directory of the app (default: the base image's for build, the current one for checkpoint)"},
		&cli.StringSliceFlag{Name: "env", Usage: "environment variable K=V (repeatable)"},
		&cli.IntFlag{Name: "port", Usage: "the app's TCP port"},
		&cli.StringFlag{Name: "ready-url", Usage: "URL that answers 2xx/3xx once the app is ready, as seen in the app's network (default http://127.0.0.1:PORT/)"},
		&cli.DurationFlag{Name: "ready-timeout", Value: builder.DefaultReadyTimeout, Usage: "how long to wait for readiness"},
		&cli.StringFlag{Name: "warmup", Usage: "warmup program, run " + scriptWhere + " with CRAC_APP_URL, CRAC_APP_HOST, CRAC_APP_PORT"},
		&cli.DurationFlag{Name: "warmup-timeout", Value: builder.DefaultWarmupTimeout, Usage: "bound on the warmup program"},
		&cli.IntFlag{Name: "warmup-requests", Usage: "built-in warmup: number of GET requests"},
		&cli.StringFlag{Name: "warmup-path", Value: "/", Usage: "built-in warmup: path (and query) to request"},
		&cli.BoolFlag{Name: "no-gc", Usage: "skip the GC and native heap trim before the dump"},
		&cli.DurationFlag{Name: "settle", Usage: "pause between the pre-dump GC and the dump, for the JVM to give memory back (default 6s)"},
		&cli.StringFlag{Name: "agent", EnvVars: []string{"CRAC_AGENT"}, Usage: "crac-agent.jar, the Java agent that notifies org.crac Resources (default: next to the launcher, or in the agent dir beside its bin dir)"},
		&cli.BoolFlag{Name: "no-agent", Usage: "run the app without the crac-build agent: org.crac Resources are not notified"},
		&cli.StringFlag{Name: "on-restore-error", Value: "cold", Usage: "when a Resource's afterRestore fails at container start: cold (kill the restored JVM, start cold) or continue"},
		&cli.BoolFlag{Name: "allow-connections", Usage: "checkpoint although the app holds TCP connections to peers outside its process tree (they are closed)"},
		&cli.StringFlag{Name: "on-limits-change", Value: "warn", Usage: "when a container's CPU or memory limits differ from the build's (the restored JVM keeps its sizing): warn (restore, say what differs) or cold (start cold)"},
		&cli.StringFlag{Name: "restore-signal", Usage: "signal the launcher sends to the app after each restore: SIGUSR1 or SIGWINCH (the app must catch it)"},
		&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "show the app's output while it runs in the " + where},
	}
}

func warmupOptions(c *cli.Context) builder.WarmupOptions {
	return builder.WarmupOptions{
		Port:          c.Int("port"),
		ReadyURL:      c.String("ready-url"),
		ReadyTimeout:  c.Duration("ready-timeout"),
		Script:        c.String("warmup"),
		ScriptTimeout: c.Duration("warmup-timeout"),
		Requests:      c.Int("warmup-requests"),
		Path:          c.String("warmup-path"),
		NoGC:          c.Bool("no-gc"),
		Settle:        c.Duration("settle"),
	}
}

func checkEnv(env []string) error {
	for _, e := range env {
		if !strings.Contains(e, "=") {
			return fmt.Errorf("--env %q: want K=V", e)
		}
	}
	return nil
}

// appOutput shows the app's output on stderr with --verbose.
func appOutput(c *cli.Context) io.Writer {
	if c.Bool("verbose") {
		return prefixWriter(os.Stderr, "  app| ")
	}
	return nil
}

// printHygiene shows on stderr what the checkpoint holds (unless --quiet)
// and the warnings.
func printHygiene(c *cli.Context, m *contract.Metadata, warnings []string) error {
	if !c.Bool("quiet") {
		fmt.Fprintln(os.Stderr, "crac-build: what the checkpoint holds:")
		if err := writeHygiene(os.Stderr, m); err != nil {
			return err
		}
	}
	for _, w := range warnings {
		fmt.Fprintf(os.Stderr, "crac-build: warning: %s\n", w)
	}
	return nil
}
