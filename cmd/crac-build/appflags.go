package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/crac-build/crac-build/internal/builder"
	"github.com/crac-build/crac-build/internal/contract"
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

// The categories of imageFlags, in the order the help lists them.
const (
	catImage       = "Image"
	catApplication = "Application"
	catWarmup      = "Warmup"
	catCheckpoint  = "Checkpoint"
	catOutput      = "Output"
)

var imageCategories = []string{catImage, catApplication, catWarmup, catCheckpoint, catOutput}

// imageFlags are the flags of `build` (cmd cmdBuild) or `checkpoint`
// (cmdCheckpoint): one list, so that a setting of one command is a setting
// of the other. The flags that say where the image comes from and goes
// (--base, --add, --output, --push, ...) are build's alone: in a build step
// the image build tool does that. The ones about how the application runs
// that cannot apply in a build step are on checkpoint too, hidden from its
// help (which names them in one line), so that it refuses them with the
// reason. Usage texts stay short: every flag fills one line of a help that
// fits on a screen; docs/building.md says the rest.
func imageFlags(cmd string) []cli.Flag {
	build := cmd == cmdBuild
	var out []cli.Flag
	if build {
		out = append(out,
			&cli.StringFlag{Name: "base", Category: catImage, Required: true, Usage: "REGISTRY/REPO:TAG, oci-layout:DIR[:TAG] or docker-archive:FILE[:TAG]"},
			&cli.StringSliceFlag{Name: "add", Category: catImage, Usage: "copy a host file or directory into the image (repeatable)"},
			&cli.StringFlag{Name: "platform", Category: catImage, Usage: "to pick from a multi-platform base (default: this host's)"},
		)
	}
	cmdUsage := "the app's command: a JSON array or shell words (default: the base's)"
	workdirUsage := "the app's working directory (default: the base's)"
	secretUsage := "a secret for the build only, at /run/secrets/ID; fails if checkpointed"
	warmupUsage := "a warmup to run on the host in the sandbox's network (CRAC_APP_URL)"
	verboseUsage := "show the app's output while it runs in the sandbox"
	userUsage := "run the app as this user of the image (default: the base's USER)"
	cpusUsage := "CPU limit of the sandbox (as docker run --cpus): the JVM sizes for it"
	memoryUsage := "memory limit of the sandbox, e.g. 512m (as docker run --memory)"
	networkUsage := "none (loopback only, the default) or host (to reach the host's services)"
	combinedUsage := "one pipe for the app's stdout and stderr (2>&1)"
	if !build {
		cmdUsage = "the app's command: a JSON array or shell words; or give it after --"
		workdirUsage = "the app's working directory (default: the current one)"
		secretUsage = "a secret mounted outside /run/secrets; fails if checkpointed"
		warmupUsage = "a warmup to run in the app's network (CRAC_APP_URL)"
		verboseUsage = "show the app's output while it runs"
		userUsage = buildOnly(userUsage, "the app runs as the build step's user, root; use USER after the RUN step for the cold start")
		cpusUsage = buildOnly(cpusUsage, "the build step's own limits apply, e.g. buildah bud --cpus")
		memoryUsage = buildOnly(memoryUsage, "the build step's own limits apply, e.g. buildah bud --memory")
		networkUsage = buildOnly(networkUsage, "the app always has loopback only here")
		combinedUsage = buildOnly(combinedUsage, "the app gets the build step's stdout and stderr pipes")
	}
	out = append(out,
		&cli.StringFlag{Name: "cmd", Category: catApplication, Usage: cmdUsage},
		&cli.StringSliceFlag{Name: "env", Category: catApplication, Usage: "an environment variable of the app (repeatable)"},
		&cli.StringFlag{Name: "workdir", Category: catApplication, Usage: workdirUsage},
		&cli.StringFlag{Name: "user", Aliases: []string{"u"}, Category: catApplication, Hidden: !build, Usage: userUsage},
		&cli.IntFlag{Name: "port", Category: catApplication, Usage: "the TCP port the app listens on"},
		&cli.StringSliceFlag{Name: "secret", Category: catApplication, Usage: secretUsage},
		&cli.Float64Flag{Name: "cpus", Category: catApplication, Hidden: !build, Usage: cpusUsage},
		&cli.StringFlag{Name: "memory", Category: catApplication, Hidden: !build, Usage: memoryUsage},
		&cli.StringFlag{Name: "network", Category: catApplication, Hidden: !build, Usage: networkUsage},
		&cli.BoolFlag{Name: "combined-output", Category: catApplication, Hidden: !build, Usage: combinedUsage},

		&cli.StringFlag{Name: "ready-url", Category: catWarmup, Usage: "answers 2xx/3xx once the app is ready (default http://127.0.0.1:PORT/)"},
		&cli.DurationFlag{Name: "ready-timeout", Category: catWarmup, Value: builder.DefaultReadyTimeout, Usage: "how long to wait for the ready URL"},
		&cli.StringFlag{Name: "warmup", Category: catWarmup, Usage: warmupUsage},
		&cli.DurationFlag{Name: "warmup-timeout", Category: catWarmup, Value: builder.DefaultWarmupTimeout, Usage: "bound on the warmup (its script's run, or its rounds)"},
		&cli.IntFlag{Name: "warmup-requests", Category: catWarmup, Usage: "built-in warmup: send N GET requests to the warmup path"},
		&cli.StringFlag{Name: "warmup-path", Category: catWarmup, Value: "/", Usage: "built-in warmup: the path (and query) to request"},
		&cli.StringFlag{Name: "warmup-requests-file", Category: catWarmup, Usage: "requests a line (METHOD PATH [BODY]), in rounds; > 5% errors fail"},
		&cli.StringFlag{Name: "warmup-rounds", Category: catWarmup, Usage: "steady (default: until the JIT and latency settle, at most 30), steady:MAX or N"},

		&cli.BoolFlag{Name: "no-gc", Category: catCheckpoint, Usage: "skip the GC and native heap trim before the dump"},
		&cli.DurationFlag{Name: "settle", Category: catCheckpoint, Usage: "pause after the pre-dump GC, for memory to be given back (default 6s)"},
		&cli.BoolFlag{Name: "allow-connections", Category: catCheckpoint, Usage: "close TCP connections to outside peers at the dump instead of failing"},
		&cli.StringFlag{Name: "agent", Category: catCheckpoint, EnvVars: []string{"CRAC_AGENT"}, Usage: "the org.crac agent (default: by the launcher; --no-agent: none)"},
		&cli.BoolFlag{Name: "no-agent", Category: catCheckpoint, Hidden: true, Usage: "run without the agent: org.crac Resources are not notified"},
		&cli.StringFlag{Name: "on-restore-error", Category: catCheckpoint, Value: contract.OnRestoreErrorCold, Usage: "if an afterRestore fails: cold or continue"},
		&cli.StringFlag{Name: "on-env-change", Category: catCheckpoint, Value: contract.EnvChangeWarn, Usage: "if the environment at run time differs: warn or cold"},
		&cli.StringFlag{Name: "on-limits-change", Category: catCheckpoint, Value: contract.LimitsChangeWarn, Usage: "if CPU or memory limits at run time differ: warn or cold"},
		&cli.StringFlag{Name: "restore-signal", Category: catCheckpoint, Usage: "send SIGUSR1 or SIGWINCH to the app after each restore"},
		&cli.StringFlag{Name: "cpu-baseline", Category: catCheckpoint, Usage: "CPUs it restores on: x86-64-v3 (default), -v2, -v4 or native"},
		// Not in the help (a screen): docs/building.md, docs/containerfile.md and docs/class-cache.md.
		&cli.BoolFlag{Name: "no-class-cache", Category: catCheckpoint, Hidden: true, Usage: "no JDK class cache (AppCDS archive, AOT cache) from a training run"},
	)
	if build {
		out = append(out,
			&cli.StringSliceFlag{Name: "output", Aliases: []string{"o"}, Category: catOutput, Usage: "write the image: oci-layout:DIR:TAG, docker-archive:FILE:REPO:TAG"},
			&cli.StringSliceFlag{Name: "push", Category: catOutput, Usage: "push the image to a registry (repeatable)"},
			&cli.BoolFlag{Name: "insecure", Category: catOutput, Usage: "allow plain-HTTP registries (the base's and --push's)"},
			&cli.StringFlag{Name: "compression", Category: catOutput, Value: "zstd", Usage: "zstd, or gzip for Docker < 23 (docker-archive: gzip unless given)"},
		)
	}
	return append(out,
		&cli.BoolFlag{Name: "json", Category: catOutput, Usage: "print the result as JSON on stdout"},
		&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Category: catOutput, Usage: verboseUsage},
	)
}

// imageOptions turns the flags of `build` or `checkpoint` (imageFlags) and
// the global ones into builder.Options, without running anything: what is
// not the command's (reporting, output, signals) its Action adds. Flags
// that checkpoint has only to refuse are passed on for builder.Checkpoint
// to refuse with its reason. Files named by --add, --secret and --warmup
// warmupMaxErrors is the share of a requests file's warmup requests that
// may fail before the build does.
const warmupMaxErrors = 0.05

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
		WarmupPath:     ifSet(c, "warmup-path"),
		WarmupRounds:   c.String("warmup-rounds"),

		WarmupRequestsFile: c.String("warmup-requests-file"),
		WarmupMaxErrors:    warmupMaxErrors,
		NoGC:               c.Bool("no-gc"),
		NoClassCache:       c.Bool("no-class-cache"),
		Settle:             c.Duration("settle"),
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

// ifSet is a string flag's value when given, else "" (not its default):
// a warmup path given makes a warmup, the default does not.
func ifSet(c *cli.Context, name string) string {
	if !c.IsSet(name) {
		return ""
	}
	return c.String(name)
}
