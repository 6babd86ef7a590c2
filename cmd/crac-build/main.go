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
		&cli.StringFlag{Name: "criu-bundle", EnvVars: []string{"CRAC_CRIU_BUNDLE"}, Usage: "the CRIU bundle (default: build/criu or /opt/crac-build/criu)"},
		&cli.StringFlag{Name: "launcher", EnvVars: []string{"CRAC_LAUNCHER"}, Usage: "the launcher to put in images (default: beside this binary)"},
		&cli.StringFlag{Name: "runtime", EnvVars: []string{"CRAC_RUNTIME"}, Value: "runc", Usage: "OCI runtime of build and run"},
		&cli.StringFlag{Name: "cache-dir", EnvVars: []string{"CRAC_CACHE_DIR"}, Usage: "unpacked images (default: $XDG_CACHE_HOME/crac-build)"},
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only results and errors"},
	}
}

func main() {
	if err := newApp().Run(os.Args); err != nil {
		fmt.Fprintf(os.Stderr, "crac-build: %v\n", err)
		if ec, ok := err.(cli.ExitCoder); ok {
			os.Exit(ec.ExitCode())
		}
		os.Exit(1)
	}
}

// newApp is the command line: the commands, the global flags, and one
// line for a usage error (onUsageError) in each.
func newApp() *cli.App {
	app := &cli.App{
		Name:         "crac-build",
		Usage:        "build pre-warmed (checkpointed) JVM container images",
		Version:      version,
		Flags:        globalFlags(),
		Commands:     []*cli.Command{buildCommand(), checkpointCommand(), runCommand(), inspectCommand(), doctorCommand(), seccompProfileCommand()},
		OnUsageError: onUsageError,
	}
	for _, c := range app.Commands {
		if c.OnUsageError == nil {
			c.OnUsageError = onUsageError
		}
	}
	return app
}
