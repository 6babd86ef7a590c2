// Command crac-launch is the ENTRYPOINT of a warm image. As PID 1 it
// restores the checkpointed JVM, or starts the application cold after one
// line saying why. The builder also runs it inside the build sandbox, as
// the sandbox's PID 1 (--crac-mode=init) and to dump (--crac-mode=dump).
//
// It is a static binary with few dependencies: it must run on any base.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/crac-build/crac-build/checkpoint"
	"github.com/crac-build/crac-build/contract"
	"github.com/crac-build/crac-build/launcher"
)

// modeFlag selects an internal mode. It is a flag no application command
// would start with, because any other arguments replace the cold command.
const modeFlag = "--crac-mode="

func main() {
	start := time.Now()
	if len(os.Args) > 1 && strings.HasPrefix(os.Args[1], modeFlag) {
		os.Exit(internal(strings.TrimPrefix(os.Args[1], modeFlag), os.Args[2:]))
	}
	os.Exit(launch(start))
}

func launch(start time.Time) int {
	sigs := launcher.Signals()
	env := os.Environ()
	debug := os.Getenv(contract.EnvDebug) != ""
	plan := launcher.Check(launcher.Options{Args: os.Args[1:], Env: env})
	if debug {
		fmt.Fprintf(os.Stderr, "crac-launch: checks took %d ms\n", time.Since(start).Milliseconds())
	}
	if plan.Reason == nil {
		pid, err := launcher.Restore(context.Background(), plan, [3]*os.File{os.Stdin, os.Stdout, os.Stderr})
		if err == nil {
			fmt.Fprintf(os.Stderr, "crac-launch: restored in %d ms\n", time.Since(start).Milliseconds())
			for _, w := range plan.Warnings {
				fmt.Fprintf(os.Stderr, "crac-launch: warning: %s\n", oneLine(w))
			}
			return launcher.Supervise(pid, sigs)
		}
		plan.Reason = err
	}
	fmt.Fprintf(os.Stderr, "crac-launch: cold start: %s\n", oneLine(plan.Reason.Error()))
	err := launcher.ExecCold(plan, env)
	fmt.Fprintf(os.Stderr, "crac-launch: %s\n", oneLine(err.Error()))
	return 127
}

func internal(mode string, args []string) int {
	switch mode {
	case "init":
		// PID 1 of the build sandbox: the application follows "--".
		if len(args) > 0 && args[0] == "--" {
			args = args[1:]
		}
		st, err := launcher.Init(args, nil)
		if err != nil {
			fmt.Fprintf(os.Stderr, "crac-launch: %v\n", err)
			return 127
		}
		return st
	case "dump":
		return dump(args)
	case "version":
		v, err := checkpoint.Version(contract.CriuPath)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println(checkpoint.VersionString(v))
		return 0
	}
	fmt.Fprintf(os.Stderr, "crac-launch: unknown mode %q\n", mode)
	return 2
}

// dump runs inside the build sandbox: pre-dump steps, facts, criu dump;
// it writes a checkpoint.Report as JSON on stdout.
func dump(args []string) int {
	fs := flag.NewFlagSet("dump", flag.ContinueOnError)
	pid := fs.Int("pid", 0, "PID of the process tree to dump")
	images := fs.String("images", contract.ImagesDir, "directory for the CRIU images")
	work := fs.String("work", "", "directory for the CRIU log")
	gc := fs.Bool("gc", true, "run GC and trim the native heap before the dump")
	settle := fs.Duration("settle", 0, "pause after GC (default checkpoint.SettleTime)")
	tcpClose := fs.Bool("tcp-close", true, "close established TCP connections")
	criuPath := fs.String("criu", contract.CriuPath, "criu executable")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *work == "" {
		fmt.Fprintln(os.Stderr, "crac-launch: dump needs --work")
		return 2
	}
	if err := os.MkdirAll(*work, 0o700); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	r, err := checkpoint.PrepareAndDump(ctx,
		checkpoint.PrepareOptions{PID: *pid, GC: *gc, Settle: *settle},
		checkpoint.DumpOptions{CriuPath: *criuPath, ImagesDir: *images, WorkDir: *work, TCPClose: *tcpClose})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := json.NewEncoder(os.Stdout).Encode(r); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
