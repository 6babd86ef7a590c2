package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/crac-build/crac-build/internal/builder"
	"github.com/crac-build/crac-build/internal/contract"
)

func checkpointCommand() *cli.Command {
	c := &cli.Command{
		Name:  cmdCheckpoint,
		Usage: "in a RUN step of an image build: warm the app up and checkpoint it",
		Description: `Runs CMD in this root filesystem, in its own PID, mount and network
namespaces (loopback only), warms it up and dumps it into
` + contract.ImagesDir + `. The step's layer is a warm image once
ENTRYPOINT is ["` + contract.LauncherPath + `"].
Files under ` + contract.SecretsDir + ` and --secret files are secrets: the checkpoint fails
if it holds one. The step needs root, no seccomp filter, CAP_SYS_ADMIN,
CAP_NET_ADMIN and CAP_CHECKPOINT_RESTORE; without them it fails at once,
naming the image build tool's flags that give them.`,
		ArgsUsage: "-- CMD [ARGS...]",
		Flags:     imageFlags(cmdCheckpoint),
		Action: func(c *cli.Context) error {
			o, err := imageOptions(c)
			if err != nil {
				return err
			}
			o.AppOutput = appOutput(c)
			u := newUI(c)
			defer u.done()
			o.Logf = u.logf
			// Ctrl-C or SIGTERM end the checkpoint through its context, so
			// that it ends the application's namespaces on the way out.
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			res, err := builder.Checkpoint(ctx, o)
			if err != nil {
				return err
			}
			if err := printHygiene(c, res.Metadata, res.Warnings); err != nil {
				return err
			}
			if c.Bool("json") {
				return json.NewEncoder(os.Stdout).Encode(res.Metadata)
			}
			cache := ""
			if cc := res.Metadata.ClassCache; cc != nil {
				cache = "; class cache: " + classCacheWhat(cc)
			}
			fmt.Printf("checkpoint of %s (PID %d, %d threads): %s raw in %s%s\n", res.Metadata.JVMVersion, res.Metadata.Process.PID, res.Metadata.Process.Threads, humanBytes(res.RawBytes), contract.ImagesDir, cache)
			return nil
		},
		OnUsageError: onUsageError,
	}
	c.CustomHelpTemplate = categorizedHelp(c, imageCategories,
		"Refused here (build only): --user, --cpus, --memory, --network, --combined-output.\nMore: docs/containerfile.md")
	return c
}
