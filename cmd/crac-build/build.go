package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/crac-build/crac-build/builder"
	"github.com/crac-build/crac-build/layers"
)

func buildCommand() *cli.Command {
	return &cli.Command{
		Name:      "build",
		Usage:     "build a warm image: run the app in a sandbox, warm it up, checkpoint it",
		ArgsUsage: " ",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "base", Required: true, Usage: "base image: REGISTRY/REPO:TAG, oci-layout:DIR[:TAG] or docker-archive:FILE[:TAG]"},
			&cli.StringSliceFlag{Name: "add", Usage: "copy a host file or dir into the image, SRC:DEST (repeatable)"},
			&cli.StringFlag{Name: "cmd", Usage: "the app's command, as a JSON array or a shell-like string (default: the base's ENTRYPOINT + CMD)"},
			&cli.StringFlag{Name: "workdir", Usage: "working directory of the app (default: the base's)"},
			&cli.StringSliceFlag{Name: "env", Usage: "environment variable K=V (repeatable)"},
			&cli.IntFlag{Name: "port", Usage: "the app's TCP port"},
			&cli.StringFlag{Name: "ready-url", Usage: "URL that answers 2xx/3xx once the app is ready, as seen inside the sandbox (default http://127.0.0.1:PORT/)"},
			&cli.DurationFlag{Name: "ready-timeout", Value: builder.DefaultReadyTimeout, Usage: "how long to wait for readiness"},
			&cli.StringFlag{Name: "warmup", Usage: "warmup program, run on the host in the sandbox's network with CRAC_APP_URL, CRAC_APP_HOST, CRAC_APP_PORT"},
			&cli.DurationFlag{Name: "warmup-timeout", Value: builder.DefaultWarmupTimeout, Usage: "bound on the warmup program"},
			&cli.IntFlag{Name: "warmup-requests", Usage: "built-in warmup: number of GET requests"},
			&cli.StringFlag{Name: "warmup-path", Value: "/", Usage: "built-in warmup: path to request"},
			&cli.BoolFlag{Name: "no-gc", Usage: "skip the GC and native heap trim before the dump"},
			&cli.DurationFlag{Name: "settle", Usage: "pause between the pre-dump GC and the dump, for the JVM to give memory back (default 6s)"},
			&cli.StringSliceFlag{Name: "output", Aliases: []string{"o"}, Usage: "write the image: oci-layout:DIR:TAG or docker-archive:FILE:REPO:TAG (repeatable)"},
			&cli.StringSliceFlag{Name: "push", Usage: "push the image to a registry reference (repeatable)"},
			&cli.BoolFlag{Name: "insecure", Usage: "allow plain-HTTP registries"},
			&cli.StringFlag{Name: "compression", Value: "zstd", Usage: "layer compression: zstd, or gzip for older runtimes"},
			&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "show the app's output while it runs in the sandbox"},
			&cli.BoolFlag{Name: "json", Usage: "print the result as JSON on stdout"},
		},
		Action: func(c *cli.Context) error {
			o := builder.Options{
				Base:           c.String("base"),
				WorkDir:        c.String("workdir"),
				Env:            c.StringSlice("env"),
				Port:           c.Int("port"),
				ReadyURL:       c.String("ready-url"),
				ReadyTimeout:   c.Duration("ready-timeout"),
				WarmupScript:   c.String("warmup"),
				WarmupTimeout:  c.Duration("warmup-timeout"),
				WarmupRequests: c.Int("warmup-requests"),
				WarmupPath:     c.String("warmup-path"),
				NoGC:           c.Bool("no-gc"),
				Settle:         c.Duration("settle"),
				Outputs:        c.StringSlice("output"),
				Push:           c.StringSlice("push"),
				Insecure:       c.Bool("insecure"),
				CriuBundle:     criuBundle(c),
				Launcher:       launcherPath(c),
				Runtime:        c.String("runtime"),
				CacheDir:       c.String("cache-dir"),
				Version:        version,
			}
			for _, e := range o.Env {
				if !strings.Contains(e, "=") {
					return fmt.Errorf("--env %q: want K=V", e)
				}
			}
			for _, a := range c.StringSlice("add") {
				add, err := builder.ParseAdd(a)
				if err != nil {
					return err
				}
				o.Adds = append(o.Adds, add)
			}
			if s := c.String("cmd"); s != "" {
				cmd, err := builder.ParseCommand(s)
				if err != nil {
					return err
				}
				o.Cmd = cmd
			}
			comp, err := layers.ParseCompression(c.String("compression"))
			if err != nil {
				return err
			}
			o.Compression = comp
			if !c.Bool("quiet") {
				o.Logf = func(f string, a ...any) { fmt.Fprintf(os.Stderr, "crac-build: "+f+"\n", a...) }
			}
			if c.Bool("verbose") {
				o.AppOutput = prefixWriter(os.Stderr, "  app| ")
			}
			res, err := builder.Build(c.Context, o)
			if err != nil {
				return err
			}
			for _, w := range res.Warnings {
				fmt.Fprintf(os.Stderr, "crac-build: warning: %s\n", w)
			}
			if c.Bool("json") {
				return json.NewEncoder(os.Stdout).Encode(map[string]any{
					"digest":                    res.Digest.String(),
					"checkpointRawBytes":        res.Checkpoint.RawBytes,
					"checkpointCompressedBytes": res.Checkpoint.CompressedBytes,
					"metadata":                  res.Metadata,
				})
			}
			fmt.Printf("%s checkpoint %s raw, %s compressed\n", res.Digest, humanBytes(res.Checkpoint.RawBytes), humanBytes(res.Checkpoint.CompressedBytes))
			return nil
		},
	}
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// prefixWriter prefixes every line written through it.
func prefixWriter(w io.Writer, prefix string) io.Writer {
	return &prefixed{w: w, prefix: prefix, bol: true}
}

type prefixed struct {
	w      io.Writer
	prefix string
	bol    bool
}

func (p *prefixed) Write(b []byte) (int, error) {
	var out []byte
	for _, c := range b {
		if p.bol {
			out = append(out, p.prefix...)
			p.bol = false
		}
		out = append(out, c)
		if c == '\n' {
			p.bol = true
		}
	}
	if _, err := p.w.Write(out); err != nil {
		return 0, err
	}
	return len(b), nil
}
