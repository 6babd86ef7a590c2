package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/crac-build/crac-build/inspect"
	"github.com/crac-build/crac-build/registry"
)

func inspectCommand() *cli.Command {
	return &cli.Command{
		Name:      "inspect",
		Usage:     "show what a warm image holds and needs",
		ArgsUsage: "IMAGE",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print JSON"},
			&cli.BoolFlag{Name: "insecure", Usage: "allow plain-HTTP registries"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return fmt.Errorf("inspect: want one IMAGE argument")
			}
			info, err := inspect.Image(c.Context, c.Args().First(), registry.Options{Insecure: c.Bool("insecure")})
			if err != nil {
				return err
			}
			if c.Bool("json") {
				enc := json.NewEncoder(os.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(info)
			}
			tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "image\t%s\n", info.Ref)
			fmt.Fprintf(tw, "digest\t%s\n", info.Digest)
			if m := info.Metadata; m != nil {
				fmt.Fprintf(tw, "built by\t%s at %s\n", m.Builder, m.Created.Format("2006-01-02 15:04:05Z"))
				fmt.Fprintf(tw, "JVM\t%s\n", m.JVMVersion)
				fmt.Fprintf(tw, "CRIU\t%s\n", m.Host.CriuVersion)
				fmt.Fprintf(tw, "build host\t%s %s, %s\n", m.Host.Arch, m.Host.Kernel, m.Host.CPUModel)
				fmt.Fprintf(tw, "cold command\t%s\n", strings.Join(m.Cold.Args, " "))
				fmt.Fprintf(tw, "needs capabilities\t%s\n", strings.Join(m.RequiredCaps, ","))
				fmt.Fprintf(tw, "checkpoint\t%s raw in %d files, PID %d, %d threads, RSS %s\n", humanBytes(info.CheckpointRawBytes), len(m.Images), m.Process.PID, m.Process.Threads, humanBytes(m.Process.RSSKiB*1024))
				fmt.Fprintf(tw, "warmup\tready after %d ms, %d requests (%d errors) in %d ms\n", m.Warmup.ReadyAfterMs, m.Warmup.Requests, m.Warmup.Errors, m.Warmup.DurationMs)
				printCoordination(tw, m.Coordination)
			} else {
				fmt.Fprintf(tw, "warm\tno (no crac-build checkpoint)\n")
			}
			fmt.Fprintln(tw, "layers:")
			for _, l := range info.Layers {
				fmt.Fprintf(tw, "  %s\t%s\t%s\n", l.Digest[:19], humanBytes(l.Size), l.CreatedBy)
			}
			return tw.Flush()
		},
	}
}
