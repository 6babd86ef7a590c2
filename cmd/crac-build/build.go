package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/crac-build/crac-build/internal/builder"
)

func buildCommand() *cli.Command {
	c := &cli.Command{
		Name:      cmdBuild,
		Usage:     "build a warm image: run the app in a sandbox, warm it up, checkpoint it",
		ArgsUsage: "[-- CMD [ARGS...]]",
		Flags:     imageFlags(cmdBuild),
		Action: func(c *cli.Context) error {
			o, err := imageOptions(c)
			if err != nil {
				return err
			}
			if err := thisHost().checkBuild(o); err != nil {
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
				return explain(err)
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
		OnUsageError: onUsageError,
	}
	c.CustomHelpTemplate = categorizedHelp(c, imageCategories, "Every flag and what a build does: docs/building.md")
	return c
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
