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
	"runtime"
	"strings"
	"time"

	"github.com/crac-build/crac-build/internal/checkpoint"
	"github.com/crac-build/crac-build/internal/contract"
	"github.com/crac-build/crac-build/internal/environ"
	"github.com/crac-build/crac-build/internal/launcher"
)

// modeFlag selects an internal mode. It is a flag no application command
// would start with, because any other arguments replace the cold command.
const modeFlag = "--crac-mode="

// The main goroutine stays on the main thread: a time namespace for criu
// is created on it (see launcher.TimensExec).
func init() { runtime.LockOSThread() }

func main() {
	start := time.Now()
	if spec := os.Getenv(launcher.EnvTimensExec); spec != "" && len(os.Args) > 1 && os.Args[1] == "swrk" {
		os.Exit(launcher.TimensExec(spec, os.Args[1:]))
	}
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
	plan.Start = start
	if debug {
		var steps []string
		for _, s := range plan.Steps {
			steps = append(steps, fmt.Sprintf("%s %.2f", s.Name, float64(s.Took.Microseconds())/1000))
		}
		fmt.Fprintf(os.Stderr, "crac-launch: checks took %d ms (%s ms)\n", time.Since(start).Milliseconds(), strings.Join(steps, ", "))
		if plan.TimeNS != nil {
			fmt.Fprintf(os.Stderr, "crac-launch: restoring in a time namespace: monotonic clock continues from %s\n", plan.TimeNS.Monotonic)
		}
	}
	if plan.Reason == nil {
		// A read-only root filesystem leaves the application without the
		// file; the restore goes on.
		if _, err := launcher.MarkRestored(contract.RestoredPath, plan.Meta, time.Now()); err != nil && debug {
			fmt.Fprintf(os.Stderr, "crac-launch: %v\n", err)
		}
		pid, err := restore(plan, env)
		if err == nil {
			// The application re-seeds (its restore signal) before the
			// post-restore pass's requests reach it.
			if err := launcher.SignalRestored(pid, plan.Meta); err != nil {
				fmt.Fprintf(os.Stderr, "crac-launch: %v\n", err)
			}
			// The restore's time is the restore's: the pass runs while
			// the application already serves, and the breakdown has it.
			fmt.Fprintf(os.Stderr, "crac-launch: restored in %d ms\n", time.Since(start).Milliseconds())
			firstPass(plan, env, debug)
			if plan.Breakdown != nil {
				b, _ := json.Marshal(plan.Breakdown)
				fmt.Fprintf(os.Stderr, "%s%s\n", contract.BreakdownPrefix, b)
			}
			for _, w := range plan.Warnings {
				fmt.Fprintf(os.Stderr, "crac-launch: warning: %s\n", oneLine(w))
			}
			return launcher.Supervise(pid, sigs)
		}
		plan.Reason = err
	}
	if err := launcher.ClearRestored(contract.RestoredPath); err != nil && debug {
		fmt.Fprintf(os.Stderr, "crac-launch: %v\n", err)
	}
	fmt.Fprintf(os.Stderr, "crac-launch: cold start: %s\n", oneLine(plan.Reason.Error()))
	env = launcher.ColdEnv(plan, env)
	if plan.ColdNote != "" {
		fmt.Fprintf(os.Stderr, "crac-launch: %s\n", oneLine(plan.ColdNote))
	}
	err := launcher.ExecCold(plan, env)
	fmt.Fprintf(os.Stderr, "crac-launch: %s\n", oneLine(err.Error()))
	return 127
}

func internal(mode string, args []string) int {
	switch mode {
	case "init":
		// PID 1 of the build sandbox: the application follows "--".
		// --combined-output gives it one pipe for stdout and stderr (2>&1):
		// the runtime's own pipes are always three.
		if len(args) > 0 && args[0] == "--combined-output" {
			os.Stderr = os.Stdout
			args = args[1:]
		}
		// --user UID:GID[:GROUPS] runs the application as that user.
		var user *contract.User
		if len(args) > 1 && args[0] == "--user" {
			u, err := contract.ParseCreds(args[1])
			if err != nil {
				fmt.Fprintf(os.Stderr, "crac-launch: %v\n", err)
				return 2
			}
			user, args = u, args[2:]
		}
		if len(args) > 0 && args[0] == "--" {
			args = args[1:]
		}
		st, err := launcher.Init(args, user, nil)
		if err != nil {
			fmt.Fprintf(os.Stderr, "crac-launch: %v\n", err)
			return 127
		}
		return st
	case "nsinit":
		return nsinit(args)
	case "exec":
		// Started by nsinit: cut the capabilities, then become the
		// application (same PID, same session).
		fs := flag.NewFlagSet("exec", flag.ContinueOnError)
		caps := fs.String("caps", "", "capabilities to keep, comma-separated")
		if err := fs.Parse(args); err != nil {
			return 2
		}
		err := launcher.ExecWithCaps(strings.Split(*caps, ","), fs.Args(), os.Environ())
		fmt.Fprintf(os.Stderr, "crac-launch: %v\n", err)
		return 127
	case "dump":
		return dump(args)
	case launcher.ModeProbeClone3:
		return launcher.ProbeClone3()
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

// nsinit is PID 1 of the namespaces `crac-build checkpoint` makes in an
// image build step; the control socket is fd 3, the application follows
// "--".
func nsinit(args []string) int {
	fs := flag.NewFlagSet("nsinit", flag.ContinueOnError)
	caps := fs.String("caps", "", "capabilities the application keeps, comma-separated")
	ctl := fs.Int("control-fd", 3, "control socket to crac-build")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "crac-launch: %v\n", err)
		return 127
	}
	st, err := launcher.NamespaceInit(launcher.NamespaceOptions{
		App:     fs.Args(),
		Caps:    strings.Split(*caps, ","),
		Control: os.NewFile(uintptr(*ctl), "control"),
		Self: func(mode string, a ...string) []string {
			return append([]string{exe, modeFlag + mode}, a...)
		},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "crac-launch: %v\n", err)
		return 127
	}
	return st
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
	allowConns := fs.Bool("allow-connections", false, "dump although TCP connections to peers outside the tree are established")
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
	if err := launcher.TakeRealIDs(*pid); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	r, err := checkpoint.PrepareAndDump(ctx,
		checkpoint.PrepareOptions{PID: *pid, GC: *gc, Settle: *settle, AllowConnections: *allowConns},
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

// firstPass runs the post-restore pass (launcher.FirstRequests): the
// image's first requests, or CRAC_FIRST_REQUESTS's, once each, right after
// the restore (the breakdown line, printed after it, has its time).
func firstPass(plan *launcher.Plan, env []string, debug bool) {
	urls, err := launcher.FirstRequestURLs(plan.Meta, environ.Map(env))
	if err != nil {
		fmt.Fprintf(os.Stderr, "crac-launch: warning: no post-restore pass: %v\n", err)
		return
	}
	if len(urls) == 0 {
		return
	}
	pass := launcher.FirstRequests(context.Background(), urls)
	if plan.Breakdown != nil {
		plan.Breakdown.FirstRequests = pass.Sent
		plan.Breakdown.FirstRequestsMs = float64(pass.Took.Microseconds()) / 1000
	}
	if debug || pass.Failed > 0 {
		msg := fmt.Sprintf("crac-launch: post-restore pass: %d requests in %.1f ms", pass.Sent, float64(pass.Took.Microseconds())/1000)
		if pass.Failed > 0 {
			msg += fmt.Sprintf(", %d failed (last: %s)", pass.Failed, oneLine(pass.LastError.Error()))
		}
		fmt.Fprintln(os.Stderr, msg)
	}
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
