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
	return &cli.Command{
		Name:  cmdCheckpoint,
		Usage: "in an image build step (RUN): run the app, warm it up and checkpoint it into " + contract.Prefix,
		Description: `Runs CMD in this root filesystem, in its own PID, mount and network
namespaces (loopback only), waits until it is ready, warms it up and dumps
it with CRIU into ` + contract.ImagesDir + `, with the metadata, the
launcher and the CRIU bundle under ` + contract.Prefix + `. The step's layer
is a warm image once ENTRYPOINT is ["` + contract.LauncherPath + `"].

It takes build's flags about the app, its warmup and the launcher's
policies; the image build tool makes the image, so --base, --add, --output
and --push are not here, and the flags marked "build only" are refused.
Every file under ` + contract.SecretsDir + ` (RUN --mount=type=secret) and
each --secret file is a secret: the checkpoint fails if it holds one.

The build step needs root, no seccomp filter, CAP_SYS_ADMIN, CAP_NET_ADMIN
and CAP_CHECKPOINT_RESTORE: ` + builder.BuildStepFlags,
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
			fmt.Printf("checkpoint of %s (PID %d, %d threads): %s raw in %s\n", res.Metadata.JVMVersion, res.Metadata.Process.PID, res.Metadata.Process.Threads, humanBytes(res.RawBytes), contract.ImagesDir)
			return nil
		},
	}
}
