package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/urfave/cli/v2"

	"github.com/crac-build/crac-build/internal/builder"
	"github.com/crac-build/crac-build/internal/layers"
	"github.com/crac-build/crac-build/internal/runner"
	"github.com/crac-build/crac-build/internal/secrets"
)

// parseWith runs args (the command and its flags, without the program's
// name) through an app with the global flags and cmd, whose Action is
// replaced by fn: what fn makes of the parsed flags is returned.
func parseWith[T any](t *testing.T, cmd *cli.Command, fn func(*cli.Context) (T, error), args ...string) (T, error) {
	t.Helper()
	var got T
	var fnErr error
	c := *cmd
	c.Action = func(ctx *cli.Context) error {
		got, fnErr = fn(ctx)
		return nil
	}
	app := &cli.App{
		Name: "crac-build", Flags: globalFlags(), Commands: []*cli.Command{&c},
		Writer: io.Discard, ErrWriter: io.Discard,
		ExitErrHandler: func(*cli.Context, error) {},
	}
	if err := app.Run(append([]string{"crac-build"}, args...)); err != nil {
		return got, err
	}
	return got, fnErr
}

// optionFiles are the files the flags name, which must exist.
type optionFiles struct {
	jar, secret, warmup string
}

func newOptionFiles(t *testing.T) optionFiles {
	dir := t.TempDir()
	f := optionFiles{jar: filepath.Join(dir, "app.jar"), secret: filepath.Join(dir, "token"), warmup: filepath.Join(dir, "warm.sh")}
	for p, mode := range map[string]os.FileMode{f.jar: 0o644, f.secret: 0o600, f.warmup: 0o755} {
		if err := os.WriteFile(p, []byte("x"), mode); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// sharedArgs set every flag that build and checkpoint both take, with
// values other than the defaults; sharedWant is what they set.
func sharedArgs(f optionFiles) []string {
	return []string{
		"--user", "app:staff",
		"--secret", "token=" + f.secret,
		"--cpus", "1.5",
		"--memory", "512m",
		"--network", "host",
		"--combined-output",
		"--on-env-change", "cold",
		"--json",
		"--workdir", "/app",
		"--env", "A=1", "--env", "B=x=y",
		"--port", "8081",
		"--ready-url", "http://127.0.0.1:8081/health",
		"--ready-timeout", "30s",
		"--warmup", f.warmup,
		"--warmup-timeout", "1m",
		"--warmup-requests", "20",
		"--warmup-path", "/work?n=3",
		"--warmup-requests-file", "/requests.txt",
		"--warmup-rounds", "steady:5",
		"--no-gc",
		"--no-class-cache",
		"--settle", "2s",
		"--agent", "/agent.jar",
		"--no-agent",
		"--on-restore-error", "continue",
		"--allow-connections",
		"--on-limits-change", "cold",
		"--cpu-baseline", "x86-64-v3",
		"--restore-signal", "SIGUSR1",
		"--verbose",
	}
}

func sharedWant(f optionFiles) builder.Options {
	return builder.Options{
		Cmd:            []string{"java", "-Xmx1g", "-jar", "/app/app.jar"},
		WorkDir:        "/app",
		Env:            []string{"A=1", "B=x=y"},
		User:           "app:staff",
		Port:           8081,
		ReadyURL:       "http://127.0.0.1:8081/health",
		ReadyTimeout:   30 * time.Second,
		WarmupScript:   f.warmup,
		WarmupTimeout:  time.Minute,
		WarmupRequests: 20,
		WarmupPath:     "/work?n=3",
		NoGC:           true,
		NoClassCache:   true,

		WarmupRequestsFile: "/requests.txt",
		WarmupMaxErrors:    0.05,
		WarmupRounds:       "steady:5",
		CPUs:               1.5,
		MemoryBytes:        512 << 20,
		OnLimitsChange:     "cold",
		CPUBaseline:        "x86-64-v3",
		Settle:             2 * time.Second,
		OnEnvChange:        "cold",
		CombinedOutput:     true,
		CriuBundle:         "/bundle",
		Launcher:           "/crac-launch",
		Agent:              "/agent.jar",
		NoAgent:            true,
		OnRestoreError:     "continue",
		Version:            version,
		Secrets:            []secrets.Secret{{ID: "token", File: f.secret}},
		AllowConnections:   true,
		Network:            "host",
		RestoreSignal:      "SIGUSR1",
	}
}

var globalArgs = []string{"--criu-bundle", "/bundle", "--launcher", "/crac-launch", "--runtime", "runc-test", "--cache-dir", "/cache"}

// Every flag of build and checkpoint lands in its field of
// builder.Options: the flags were parsed by two copies of this code, and
// checkpoint lacked --on-env-change and --secret.
func TestImageOptions(t *testing.T) {
	f := newOptionFiles(t)
	buildArgs := append(append(append([]string{}, globalArgs...), "build",
		"--base", "oci-layout:/base:jre17",
		"--add", f.jar+":/app/app.jar",
		"--output", "oci-layout:/out:warm", "--output", "docker-archive:/out.tar:app:warm",
		"--push", "127.0.0.1:5000/app:warm",
		"--insecure",
		"--platform", "linux/amd64",
		"--compression", "gzip",
		"--cmd", "java -Xmx1g -jar /app/app.jar",
	), sharedArgs(f)...)
	buildWant := sharedWant(f)
	buildWant.Base = "oci-layout:/base:jre17"
	buildWant.Adds = []builder.Add{{Src: f.jar, Dest: "/app/app.jar"}}
	buildWant.Outputs = []string{"oci-layout:/out:warm", "docker-archive:/out.tar:app:warm"}
	buildWant.Push = []string{"127.0.0.1:5000/app:warm"}
	buildWant.Insecure = true
	buildWant.Platform = &v1.Platform{OS: "linux", Architecture: "amd64"}
	buildWant.Compression, buildWant.ArchiveCompression = layers.Gzip, layers.Gzip
	buildWant.Runtime, buildWant.CacheDir = "runc-test", "/cache"

	// checkpoint: the command after --; the global --runtime and
	// --cache-dir are the sandbox's, not a build step's.
	ckArgs := append(append(append(append([]string{}, globalArgs...), "checkpoint"), sharedArgs(f)...), "--", "java", "-Xmx1g", "-jar", "/app/app.jar")
	ckWant := sharedWant(f)
	ckCmdArgs := append(append(append(append([]string{}, globalArgs...), "checkpoint"), sharedArgs(f)...), "--cmd", `["java","-Xmx1g","-jar","/app/app.jar"]`)

	defaults := builder.Options{
		Base: "b", Outputs: []string{"o"}, CriuBundle: "/bundle", Launcher: "/crac-launch",
		ReadyTimeout: builder.DefaultReadyTimeout, WarmupTimeout: builder.DefaultWarmupTimeout, WarmupMaxErrors: 0.05,
		OnRestoreError: "cold", OnLimitsChange: "warn", OnEnvChange: "warn",
		Compression: layers.Zstd, Runtime: "runc", Version: version,
	}
	for _, tc := range []struct {
		name string
		cmd  *cli.Command
		args []string
		want builder.Options
	}{
		{"build, every flag", buildCommand(), buildArgs, buildWant},
		{"checkpoint, every flag, command after --", checkpointCommand(), ckArgs, ckWant},
		{"checkpoint, every flag, --cmd", checkpointCommand(), ckCmdArgs, ckWant},
		{"build, defaults", buildCommand(), []string{"--criu-bundle", "/bundle", "--launcher", "/crac-launch", "build", "--base", "b", "-o", "o"}, defaults},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseWith(t, tc.cmd, imageOptions, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(got, tc.want); diff != "" {
				t.Errorf("options (-got +want):\n%s", diff)
			}
		})
	}

	// Each flag of the two commands is in its "every flag" row, so none
	// can be added without a row that shows where it goes.
	for _, tc := range []struct {
		cmd  *cli.Command
		args []string
	}{{buildCommand(), buildArgs}, {checkpointCommand(), append(ckArgs, ckCmdArgs...)}} {
		given := map[string]bool{}
		for _, a := range tc.args {
			given[strings.TrimLeft(a, "-")] = strings.HasPrefix(a, "-")
		}
		for _, fl := range tc.cmd.Flags {
			if names := fl.Names(); !given[names[0]] && !(len(names) > 1 && given[names[1]]) {
				t.Errorf("%s --%s is not in the table", tc.cmd.Name, names[0])
			}
		}
	}
}

// Where a flag cannot apply to checkpoint, its help says so.
func TestCheckpointBuildOnlyHelp(t *testing.T) {
	for _, fl := range checkpointCommand().Flags {
		name := fl.Names()[0]
		usage := fl.(cli.DocGenerationFlag).GetUsage()
		switch name {
		case "user", "cpus", "memory", "network", "combined-output":
			if !strings.Contains(usage, "(build only: ") {
				t.Errorf("checkpoint --%s: help %q does not say it is build only", name, usage)
			}
		default:
			if strings.Contains(usage, "build only") {
				t.Errorf("checkpoint --%s: help %q says build only", name, usage)
			}
		}
	}
}

func TestImageOptionsErrors(t *testing.T) {
	f := newOptionFiles(t)
	build := func(extra ...string) []string {
		return append([]string{"build", "--base", "b", "-o", "o"}, extra...)
	}
	for _, tc := range []struct {
		name string
		cmd  *cli.Command
		args []string
		want string
	}{
		{"memory", buildCommand(), build("--memory", "lots"), "--memory"},
		{"env", buildCommand(), build("--env", "A"), `--env "A": want K=V`},
		{"secret file", buildCommand(), build("--secret", "token="+f.secret+".missing"), "--secret token"},
		{"secret form", checkpointCommand(), []string{"checkpoint", "--secret", f.secret}, "want ID=FILE"},
		{"add", buildCommand(), build("--add", f.jar+":app.jar"), "absolute"},
		{"compression", buildCommand(), build("--compression", "xz"), "unknown compression"},
		{"platform", buildCommand(), build("--platform", "amd64"), "platform"},
		{"cmd quoting", buildCommand(), build("--cmd", `java "-jar`), "unterminated"},
		{"command twice", checkpointCommand(), []string{"checkpoint", "--cmd", "java", "--", "java"}, "given twice"},
		{"no base", buildCommand(), []string{"build", "-o", "o"}, `"base" not set`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseWith(t, tc.cmd, imageOptions, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%v: error %v, want one containing %q", tc.args, err, tc.want)
			}
		})
	}
}

// run and run --report share runOptions: --report once lost --cpus.
func TestRunOptions(t *testing.T) {
	want := runner.Options{
		Image: "oci-layout:/images:hello", Env: []string{"A=1"}, Port: 8080, HostAddr: "127.0.0.1:0",
		Runtime: "runc-test", CacheDir: "/cache", Insecure: true, CPUs: 2, MemoryBytes: 1 << 30,
		SeccompProfile: "/seccomp.json", Platform: &v1.Platform{OS: "linux", Architecture: "amd64"},
	}
	var err error
	if want.Caps, err = runner.Caps([]string{"SYS_ADMIN"}, []string{"NET_RAW"}); err != nil {
		t.Fatal(err)
	}
	flags := []string{"-e", "A=1", "--port", "8080", "-p", "127.0.0.1:0", "--insecure", "--cpus", "2", "--memory", "1g",
		"--cap-add", "SYS_ADMIN", "--cap-drop", "NET_RAW", "--seccomp-profile", "/seccomp.json", "--platform", "linux/amd64"}
	for name, extra := range map[string][]string{
		"run":          nil,
		"run --report": {"--report", "r.html", "--probe-url", "/health", "--runs", "1"},
	} {
		t.Run(name, func(t *testing.T) {
			args := append(append(append(append([]string{}, globalArgs...), "run"), flags...), extra...)
			got, err := parseWith(t, runCommand(), runOptions, append(args, "oci-layout:/images:hello")...)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(got, want); diff != "" {
				t.Errorf("options (-got +want):\n%s", diff)
			}
		})
	}
}
