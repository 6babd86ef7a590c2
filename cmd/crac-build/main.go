// Command crac-build builds pre-warmed JVM container images: it starts the
// application in a sandbox, warms it up, checkpoints it with CRIU and ships
// the checkpoint as an extra layer that the in-image launcher restores.
package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"
)

// version is set at link time (-X main.version=...).
var version = "dev"

// globalFlags come before the command.
func globalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "criu-bundle", EnvVars: []string{"CRAC_CRIU_BUNDLE"}, Usage: "folder of the CRIU bundle (default: build/criu next to this binary's checkout, or " + "/opt/crac-build/criu)"},
		&cli.StringFlag{Name: "launcher", EnvVars: []string{"CRAC_LAUNCHER"}, Usage: "crac-launch binary to put in images (default: next to this binary)"},
		&cli.StringFlag{Name: "runtime", EnvVars: []string{"CRAC_RUNTIME"}, Value: "runc", Usage: "OCI runtime (build and run)"},
		&cli.StringFlag{Name: "cache-dir", EnvVars: []string{"CRAC_CACHE_DIR"}, Usage: "where unpacked images are cached, for build and run (default: $XDG_CACHE_HOME/crac-build)"},
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only results and errors"},
	}
}

func main() {
	app := &cli.App{
		Name:     "crac-build",
		Usage:    "build pre-warmed (checkpointed) JVM container images",
		Version:  version,
		Flags:    globalFlags(),
		Commands: []*cli.Command{buildCommand(), checkpointCommand(), runCommand(), inspectCommand(), doctorCommand(), seccompProfileCommand()},
	}
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintf(os.Stderr, "crac-build: %v\n", err)
		if ec, ok := err.(cli.ExitCoder); ok {
			os.Exit(ec.ExitCode())
		}
		os.Exit(1)
	}
}
