package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/crac-build/crac-build/builder"
	"github.com/crac-build/crac-build/layers"
	"github.com/crac-build/crac-build/registry"
	"github.com/crac-build/crac-build/secrets"
)

func buildCommand() *cli.Command {
	return &cli.Command{
		Name:      "build",
		Usage:     "build a warm image: run the app in a sandbox, warm it up, checkpoint it",
		ArgsUsage: " ",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "base", Required: true, Usage: "base image: REGISTRY/REPO:TAG, oci-layout:DIR[:TAG] or docker-archive:FILE[:TAG]"},
			&cli.StringSliceFlag{Name: "add", Usage: "copy a host file or dir into the image, SRC:DEST (repeatable)"},
			&cli.StringFlag{Name: "cmd", Usage: "the app's command, as a JSON array or a shell-like string (default: the base's ENTRYPOINT + CMD)"},
			&cli.StringFlag{Name: "user", Aliases: []string{"u"}, Usage: "run the app as USER, UID, USER:GROUP or UID:GID, resolved in the image's /etc/passwd and /etc/group (default: the base's USER); the launcher stays root"},
			&cli.StringSliceFlag{Name: "output", Aliases: []string{"o"}, Usage: "write the image: oci-layout:DIR:TAG or docker-archive:FILE:REPO:TAG (repeatable)"},
			&cli.StringSliceFlag{Name: "push", Usage: "push the image to a registry reference (repeatable)"},
			&cli.BoolFlag{Name: "insecure", Usage: "allow plain-HTTP registries"},
			&cli.StringFlag{Name: "platform", Usage: "OS/ARCH[/VARIANT] to pick from a multi-platform base (default: this host's; another architecture is refused)"},
			&cli.StringFlag{Name: "compression", Value: "zstd", Usage: "layer compression: zstd, or gzip for Docker before 23 (docker-archive outputs are gzip unless this flag says zstd)"},
			&cli.StringSliceFlag{Name: "secret", Usage: "give the app a secret during the build only, as the file /run/secrets/ID: ID=FILE (repeatable); the build fails if the value is in the checkpoint"},
			&cli.Float64Flag{Name: "cpus", Usage: "run the app in the sandbox with this CPU limit (as docker run --cpus): the JVM sizes its threads for it"},
			&cli.StringFlag{Name: "memory", Usage: "run the app in the sandbox with this memory limit, e.g. 512m or 2g (as docker run --memory): the JVM sizes its heap for it"},
			&cli.StringFlag{Name: "network", Value: "none", Usage: "the sandbox's network: none (loopback only) or host (the build host's, to reach services during warmup)"},
			&cli.StringFlag{Name: "on-env-change", Value: "warn", Usage: "when a container's environment differs from the build's (the restored JVM keeps the build's): warn (restore, name the variables) or cold (start cold)"},
			&cli.BoolFlag{Name: "combined-output", Usage: "give the app one pipe for stdout and stderr (2>&1); restored, both go to the container's stdout"},
			&cli.BoolFlag{Name: "json", Usage: "print the result as JSON on stdout"},
		}, appFlags("sandbox", "on the host in the sandbox's network")...),
		Action: func(c *cli.Context) error {
			o := builder.Options{
				Base:           c.String("base"),
				WorkDir:        c.String("workdir"),
				Env:            c.StringSlice("env"),
				User:           c.String("user"),
				Outputs:        c.StringSlice("output"),
				Push:           c.StringSlice("push"),
				Insecure:       c.Bool("insecure"),
				CriuBundle:     criuBundle(c),
				Launcher:       launcherPath(c),
				Agent:          c.String("agent"),
				NoAgent:        c.Bool("no-agent"),
				OnRestoreError: c.String("on-restore-error"),
				Runtime:        c.String("runtime"),
				CacheDir:       c.String("cache-dir"),
				Version:        version,

				AllowConnections: c.Bool("allow-connections"),
				Network:          c.String("network"),
				RestoreSignal:    c.String("restore-signal"),

				OnEnvChange:    c.String("on-env-change"),
				CombinedOutput: c.Bool("combined-output"),

				CPUs:           c.Float64("cpus"),
				OnLimitsChange: c.String("on-limits-change"),
			}
			if m := c.String("memory"); m != "" {
				n, err := builder.ParseMemory(m)
				if err != nil {
					return fmt.Errorf("--memory: %w", err)
				}
				o.MemoryBytes = n
			}
			for _, sec := range c.StringSlice("secret") {
				s, err := secrets.Parse(sec)
				if err != nil {
					return err
				}
				o.Secrets = append(o.Secrets, s)
			}
			o.SetWarmup(warmupOptions(c))
			if err := checkEnv(o.Env); err != nil {
				return err
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
			if c.IsSet("compression") {
				o.ArchiveCompression = comp
			}
			if o.Platform, err = registry.ParsePlatform(c.String("platform")); err != nil {
				return err
			}
			u := newUI(c)
			defer u.done()
			o.Logf, o.Progress, o.AppOutput = u.logf, u.progress(), appOutput(c)
			// Ctrl-C or SIGTERM end the build through its context, so that
			// it removes its sandbox and its secrets' tmpfs on the way out.
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			res, err := builder.Build(ctx, o)
			if err != nil {
				if ctx.Err() != nil && c.Context.Err() == nil {
					return fmt.Errorf("interrupted: %w", err)
				}
				return err
			}
			if err := printHygiene(c, res.Metadata, res.Warnings); err != nil {
				return err
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
