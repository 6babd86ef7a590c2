package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/crac-build/crac-build/internal/builder"
	"github.com/crac-build/crac-build/internal/contract"
	"github.com/crac-build/crac-build/internal/cpubaseline"
	"github.com/crac-build/crac-build/internal/layers"
	"github.com/crac-build/crac-build/internal/registry"
	"github.com/crac-build/crac-build/internal/secrets"
)

// The two commands that make a checkpoint: `build` (in a runc sandbox,
// writes the image) and `checkpoint` (in a RUN step of an image build).
const (
	cmdBuild      = "build"
	cmdCheckpoint = "checkpoint"
)

// buildOnly ends the help of a flag that `checkpoint` has only to say why
// it does not apply there (imageOptions passes it on; builder.Checkpoint
// refuses it).
func buildOnly(usage, why string) string {
	return usage + " (build only: " + why + ")"
}

// imageFlags are the flags of `build` (cmd cmdBuild) or `checkpoint`
// (cmdCheckpoint): one list, so that a setting of one command is a setting
// of the other. The flags that say where the image comes from and goes
// (--base, --add, --output, --push, ...) are build's alone: in a build step
// the image build tool does that. The ones about how the application runs
// that cannot apply in a build step are on both, and checkpoint's help
// says why.
func imageFlags(cmd string) []cli.Flag {
	build := cmd == cmdBuild
	where, scriptWhere := "sandbox", "on the host in the sandbox's network"
	if !build {
		where, scriptWhere = "build step", "in the build step, in the app's network"
	}
	var out []cli.Flag
	if build {
		out = append(out,
			&cli.StringFlag{Name: "base", Required: true, Usage: "base image: REGISTRY/REPO:TAG, oci-layout:DIR[:TAG] or docker-archive:FILE[:TAG]"},
			&cli.StringSliceFlag{Name: "add", Usage: "copy a host file or dir into the image, SRC:DEST (repeatable)"},
			&cli.StringSliceFlag{Name: "output", Aliases: []string{"o"}, Usage: "write the image: oci-layout:DIR:TAG or docker-archive:FILE:REPO:TAG (repeatable)"},
			&cli.StringSliceFlag{Name: "push", Usage: "push the image to a registry reference (repeatable)"},
			&cli.BoolFlag{Name: "insecure", Usage: "allow plain-HTTP registries"},
			&cli.StringFlag{Name: "platform", Usage: "OS/ARCH[/VARIANT] to pick from a multi-platform base (default: this host's; another architecture is refused)"},
			&cli.StringFlag{Name: "compression", Value: "zstd", Usage: "layer compression: zstd, or gzip for Docker before 23 (docker-archive outputs are gzip unless this flag says zstd)"},
		)
	}
	cmdUsage := "the app's command, as a JSON array or a shell-like string (default: the base's ENTRYPOINT + CMD); or give it after --"
	secretUsage := "give the app a secret during the build only, as the file /run/secrets/ID: ID=FILE (repeatable); the build fails if the value is in the checkpoint"
	userUsage := "run the app as USER, UID, USER:GROUP or UID:GID, resolved in the image's /etc/passwd and /etc/group (default: the base's USER); the launcher stays root"
	cpusUsage := "run the app in the sandbox with this CPU limit (as docker run --cpus): the JVM sizes its threads for it"
	memoryUsage := "run the app in the sandbox with this memory limit, e.g. 512m or 2g (as docker run --memory): the JVM sizes its heap for it"
	networkUsage := "the sandbox's network: none (loopback only) or host (the build host's, to reach services during warmup)"
	combinedUsage := "give the app one pipe for stdout and stderr (2>&1); restored, both go to the container's stdout"
	if !build {
		cmdUsage = "the app's command, as a JSON array or a shell-like string; or give it after --"
		secretUsage = "a secret the build step holds outside /run/secrets (RUN --mount=type=secret,target=...), ID=FILE (repeatable): the checkpoint fails if it holds the value; every file under /run/secrets is checked anyway"
		userUsage = buildOnly(userUsage, "the app runs as the build step's user, root; use USER after the RUN step for the cold start")
		cpusUsage = buildOnly(cpusUsage, "the build step's own limits apply, e.g. buildah bud --cpus")
		memoryUsage = buildOnly(memoryUsage, "the build step's own limits apply, e.g. buildah bud --memory")
		networkUsage = buildOnly(networkUsage, "the app always has loopback only here")
		combinedUsage = buildOnly(combinedUsage, "the app gets the build step's stdout and stderr pipes")
	}
	return append(out,
		&cli.StringFlag{Name: "cmd", Usage: cmdUsage},
		&cli.StringFlag{Name: "user", Aliases: []string{"u"}, Usage: userUsage},
		&cli.StringSliceFlag{Name: "secret", Usage: secretUsage},
		&cli.Float64Flag{Name: "cpus", Usage: cpusUsage},
		&cli.StringFlag{Name: "memory", Usage: memoryUsage},
		&cli.StringFlag{Name: "network", Usage: networkUsage + " (default none)"},
		&cli.BoolFlag{Name: "combined-output", Usage: combinedUsage},
		&cli.StringFlag{Name: "on-env-change", Value: contract.EnvChangeWarn, Usage: "when a container's environment differs from the build's (the restored JVM keeps the build's): warn (restore, name the variables) or cold (start cold)"},
		&cli.BoolFlag{Name: "json", Usage: "print the result as JSON on stdout"},
		&cli.StringFlag{Name: "workdir", Usage: "working directory of the app (default: the base image's for build, the current one for checkpoint)"},
		&cli.StringSliceFlag{Name: "env", Usage: "environment variable K=V (repeatable)"},
		&cli.IntFlag{Name: "port", Usage: "the app's TCP port"},
		&cli.StringFlag{Name: "ready-url", Usage: "URL that answers 2xx/3xx once the app is ready, as seen in the app's network (default http://127.0.0.1:PORT/)"},
		&cli.DurationFlag{Name: "ready-timeout", Value: builder.DefaultReadyTimeout, Usage: "how long to wait for readiness"},
		&cli.StringFlag{Name: "warmup", Usage: "warmup program, run " + scriptWhere + " with CRAC_APP_URL, CRAC_APP_HOST, CRAC_APP_PORT"},
		&cli.DurationFlag{Name: "warmup-timeout", Value: builder.DefaultWarmupTimeout, Usage: "bound on the warmup program"},
		&cli.IntFlag{Name: "warmup-requests", Usage: "built-in warmup: number of GET requests"},
		&cli.StringFlag{Name: "warmup-path", Value: "/", Usage: "built-in warmup: path (and query) to request"},
		&cli.BoolFlag{Name: "no-gc", Usage: "skip the GC and native heap trim before the dump"},
		&cli.DurationFlag{Name: "settle", Usage: "pause between the pre-dump GC and the dump, for the JVM to give memory back (default 6s)"},
		&cli.StringFlag{Name: "agent", EnvVars: []string{"CRAC_AGENT"}, Usage: "crac-agent.jar, the Java agent that notifies org.crac Resources (default: next to the launcher, or in the agent dir beside its bin dir)"},
		&cli.BoolFlag{Name: "no-agent", Usage: "run the app without the crac-build agent: org.crac Resources are not notified"},
		&cli.StringFlag{Name: "on-restore-error", Value: contract.OnRestoreErrorCold, Usage: "when a Resource's afterRestore fails at container start: cold (kill the restored JVM, start cold) or continue"},
		&cli.BoolFlag{Name: "allow-connections", Usage: "checkpoint although the app holds TCP connections to peers outside its process tree (they are closed)"},
		&cli.StringFlag{Name: "cpu-baseline", Value: cpubaseline.Native, Usage: "CPU level the image restores on: native (every feature of this CPU), x86-64-v2, x86-64-v3 or x86-64-v4; the JVM and glibc are limited to it, warm and cold"},
		&cli.StringFlag{Name: "on-limits-change", Value: contract.LimitsChangeWarn, Usage: "when a container's CPU or memory limits differ from the build's (the restored JVM keeps its sizing): warn (restore, say what differs) or cold (start cold)"},
		&cli.StringFlag{Name: "restore-signal", Usage: "signal the launcher sends to the app after each restore: SIGUSR1 or SIGWINCH (the app must catch it)"},
		&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "show the app's output while it runs in the " + where},
	)
}

// imageOptions turns the flags of `build` or `checkpoint` (imageFlags) and
// the global ones into builder.Options, without running anything: what is
// not the command's (reporting, output, signals) its Action adds. Flags
// that checkpoint has only to refuse are passed on for builder.Checkpoint
// to refuse with its reason. Files named by --add, --secret and --warmup
// are checked to exist, no more.
func imageOptions(c *cli.Context) (builder.Options, error) {
	o := builder.Options{
		Base:             c.String("base"),
		WorkDir:          c.String("workdir"),
		Env:              c.StringSlice("env"),
		User:             c.String("user"),
		Outputs:          c.StringSlice("output"),
		Push:             c.StringSlice("push"),
		Insecure:         c.Bool("insecure"),
		CriuBundle:       criuBundle(c),
		Launcher:         launcherPath(c),
		Agent:            c.String("agent"),
		NoAgent:          c.Bool("no-agent"),
		OnRestoreError:   c.String("on-restore-error"),
		Version:          version,
		AllowConnections: c.Bool("allow-connections"),
		Network:          c.String("network"),
		RestoreSignal:    c.String("restore-signal"),
		OnEnvChange:      c.String("on-env-change"),
		CombinedOutput:   c.Bool("combined-output"),
		CPUs:             c.Float64("cpus"),
		OnLimitsChange:   c.String("on-limits-change"),
		CPUBaseline:      c.String("cpu-baseline"),

		Port:           c.Int("port"),
		ReadyURL:       c.String("ready-url"),
		ReadyTimeout:   c.Duration("ready-timeout"),
		WarmupScript:   c.String("warmup"),
		WarmupTimeout:  c.Duration("warmup-timeout"),
		WarmupRequests: c.Int("warmup-requests"),
		WarmupPath:     c.String("warmup-path"),
		NoGC:           c.Bool("no-gc"),
		Settle:         c.Duration("settle"),
	}
	// The OCI runtime and the cache of unpacked bases are the sandbox's:
	// global flags, which a build step has no use for.
	if c.Command.Name == cmdBuild {
		o.Runtime, o.CacheDir = c.String("runtime"), c.String("cache-dir")
	}
	if err := checkEnv(o.Env); err != nil {
		return o, err
	}
	if m := c.String("memory"); m != "" {
		n, err := builder.ParseMemory(m)
		if err != nil {
			return o, fmt.Errorf("--memory: %w", err)
		}
		o.MemoryBytes = n
	}
	for _, sec := range c.StringSlice("secret") {
		s, err := secrets.Parse(sec)
		if err != nil {
			return o, err
		}
		o.Secrets = append(o.Secrets, s)
	}
	for _, a := range c.StringSlice("add") {
		add, err := builder.ParseAdd(a)
		if err != nil {
			return o, err
		}
		o.Adds = append(o.Adds, add)
	}
	switch s, args := c.String("cmd"), c.Args().Slice(); {
	case s != "" && len(args) > 0:
		return o, fmt.Errorf("the command is given twice: as --cmd and after --")
	case s != "":
		cmd, err := builder.ParseCommand(s)
		if err != nil {
			return o, err
		}
		o.Cmd = cmd
	case len(args) > 0:
		o.Cmd = args
	}
	if s := c.String("compression"); s != "" {
		comp, err := layers.ParseCompression(s)
		if err != nil {
			return o, err
		}
		o.Compression = comp
		if c.IsSet("compression") {
			o.ArchiveCompression = comp
		}
	}
	var err error
	if o.Platform, err = registry.ParsePlatform(c.String("platform")); err != nil {
		return o, err
	}
	return o, nil
}

func checkEnv(env []string) error {
	for _, e := range env {
		if !strings.Contains(e, "=") {
			return fmt.Errorf("--env %q: want K=V", e)
		}
	}
	return nil
}

// appOutput shows the app's output on stderr with --verbose.
func appOutput(c *cli.Context) io.Writer {
	if c.Bool("verbose") {
		return prefixWriter(os.Stderr, "  app| ")
	}
	return nil
}

// printHygiene shows on stderr what the checkpoint holds (unless --quiet)
// and the warnings.
func printHygiene(c *cli.Context, m *contract.Metadata, warnings []string) error {
	if !c.Bool("quiet") {
		fmt.Fprintln(os.Stderr, "crac-build: what the checkpoint holds:")
		if err := writeHygiene(os.Stderr, m); err != nil {
			return err
		}
	}
	for _, w := range warnings {
		fmt.Fprintf(os.Stderr, "crac-build: warning: %s\n", w)
	}
	return nil
}
