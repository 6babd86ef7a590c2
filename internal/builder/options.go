package builder

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/crac-build/crac-build/internal/contract"
	"github.com/crac-build/crac-build/internal/layers"
	"github.com/crac-build/crac-build/internal/progress"
	"github.com/crac-build/crac-build/internal/registry"
	"github.com/crac-build/crac-build/internal/sandbox"
	"github.com/crac-build/crac-build/internal/secrets"
)

// Add copies a host file or directory into the image.
type Add struct {
	Src  string
	Dest string
}

// ParseAdd parses "SRC:DEST"; DEST must be absolute.
func ParseAdd(s string) (Add, error) {
	src, dest, ok := strings.Cut(s, ":")
	if !ok || src == "" || dest == "" {
		return Add{}, fmt.Errorf("--add %q: want SRC:DEST", s)
	}
	if !strings.HasPrefix(dest, "/") {
		return Add{}, fmt.Errorf("--add %q: DEST must be an absolute path in the image", s)
	}
	if _, err := os.Lstat(src); err != nil {
		return Add{}, fmt.Errorf("--add %q: %w", s, err)
	}
	return Add{Src: src, Dest: dest}, nil
}

// Options of a build (Build) or of a checkpoint in an image build step
// (Checkpoint): one type for both, so that a setting of one is a setting
// of the other. The fields marked "Build only" say where an image comes
// from and goes, or how the sandbox is limited; in a build step the image
// build tool decides those, and Checkpoint refuses them. Zero values mean
// the documented defaults.
type Options struct {
	// Base is the base image reference (registry, oci-layout:,
	// docker-archive:). Build only.
	Base string
	// Adds are host files copied into the image. Build only.
	Adds []Add
	// Cmd is the application's command; empty means the base's
	// ENTRYPOINT + CMD (Build), and is an error for Checkpoint.
	Cmd []string
	// WorkDir is the application's working directory (default: the
	// base's for Build, the current one for Checkpoint).
	WorkDir string
	// Env adds or replaces variables of the base's environment (Build)
	// or of the build step's (Checkpoint), K=V.
	Env []string
	// User runs the application as this user ("app", "1000", "app:staff",
	// "1000:1000"), as `docker run --user` does; empty means the base's
	// USER. Names resolve in the image's /etc/passwd and /etc/group.
	// Build only (a build step's application runs as the step's user).
	User string
	// Port is the application's TCP port inside the sandbox.
	Port int
	// ReadyURL is probed (inside the sandbox) until it answers 2xx/3xx;
	// default http://127.0.0.1:PORT/.
	ReadyURL     string
	ReadyTimeout time.Duration
	// WarmupScript runs with CRAC_APP_URL, CRAC_APP_HOST and CRAC_APP_PORT
	// set, in the application's network namespace: on the host for Build,
	// in the build step for Checkpoint.
	WarmupScript  string
	WarmupTimeout time.Duration
	// WarmupRequests GET requests to WarmupPath ("": /) follow the script.
	WarmupRequests int
	WarmupPath     string
	// WarmupRequestsFile lists the requests of the warmup instead
	// (warmup.ParseRequests: METHOD PATH [BODY], headers indented below),
	// sent in order, round after round, WarmupRequests in all (default:
	// 100 rounds). WarmupMaxErrors is the share of them (0 to 1) that may
	// fail (no answer, status >= 400) before the build fails.
	WarmupRequestsFile string
	WarmupMaxErrors    float64
	// WarmupRounds repeats the warmup (the script's run, then a round of
	// the requests file's requests or of GETs to WarmupPath) in rounds:
	// "steady" (the default when a script, a requests file or a warmup
	// path is given without WarmupRequests) until the JVM has settled
	// (warmup.Steadiness: its JIT quiet, the round latency flat), at most
	// DefaultMaxRounds rounds and WarmupTimeout; "steady:MAX" at most MAX
	// rounds; "N" exactly N rounds. WarmupRequests > 0 sends that many
	// requests after one run of the script instead.
	WarmupRounds string
	// NoGC skips the GC and native heap trim before the dump.
	NoGC bool
	// NoClassCache makes no JDK class cache (docs/class-cache.md): no
	// training run, no AppCDS archive or AOT cache in the image. Build
	// only (a build step's checkpoint makes none).
	NoClassCache bool
	// CPUs and MemoryBytes limit the sandbox as the target deployment
	// limits its container (`--cpus`, `--memory`): the JVM sizes its heap,
	// GC and compiler threads from them at start, and the checkpoint keeps
	// that. 0 means no limit (the build host's CPUs and memory). Build
	// only: in a build step the step's own limits apply (`buildah bud
	// --cpus --memory`).
	CPUs        float64
	MemoryBytes int64
	// OnLimitsChange is what the launcher does when a container's limits
	// differ from the build's: contract.LimitsChangeWarn (default) restores
	// and says what differs, contract.LimitsChangeCold starts cold.
	OnLimitsChange string
	// Settle is the pause between the pre-dump GC and the dump (0:
	// checkpoint.SettleTime).
	Settle time.Duration
	// OnEnvChange is what the launcher does when a container's
	// environment differs from the build's (the restored JVM keeps the
	// build's): contract.EnvChangeWarn (default) restores and names the
	// variables, contract.EnvChangeCold starts cold so the new values apply.
	OnEnvChange string
	// CombinedOutput gives the application one pipe for stdout and
	// stderr, as `2>&1` would; at restore both then go to the container's
	// stdout (CRIU restores one pipe as one file). Build only.
	CombinedOutput bool

	// Outputs are image references to write (oci-layout:, docker-archive:),
	// Push registry references to push to. Build only.
	Outputs []string
	Push    []string
	// Insecure allows plain-HTTP registries for Base and Push. Build only.
	Insecure bool
	// Platform selects the base from a multi-platform index (default: this
	// host's). Its architecture must be this host's: the build runs the
	// application here. Build only.
	Platform *v1.Platform

	// CPUBaseline limits the application to a CPU level (cpubaseline:
	// "x86-64-v2", "x86-64-v3", "x86-64-v4") so that the image restores
	// on any CPU of that level; "native": the build CPU's features; "":
	// DefaultCPUBaseline where this CPU has it.
	CPUBaseline string
	// Compression of the layers the build writes (default zstd). Build only.
	Compression layers.Compression
	// ArchiveCompression is the compression of every layer in a
	// docker-archive output: "" is gzip (any Docker loads it; Docker
	// before Engine 23 reads no zstd), layers.Zstd keeps the layers as
	// they are.
	ArchiveCompression layers.Compression
	// CriuBundle is the host folder holding the CRIU bundle (`make criu`).
	// Checkpoint installs it, the launcher and the agent under
	// contract.Prefix unless they are there already (as in the
	// crac-build image).
	CriuBundle string
	// Launcher is the host path of the crac-launch binary.
	Launcher string
	// Agent is the host path of crac-agent.jar (default: next to the
	// launcher). NoAgent runs the application without it: org.crac
	// Resources are then not notified.
	Agent   string
	NoAgent bool
	// OnRestoreError is the launcher's policy when a Resource's
	// afterRestore fails: contract.OnRestoreErrorCold (default) or
	// contract.OnRestoreErrorContinue.
	OnRestoreError string
	// Runtime is the OCI runtime (default runc). Build only.
	Runtime string
	// CacheDir keeps unpacked base images between builds. Build only.
	CacheDir string
	// TempDir holds the build's scratch files (default os.TempDir()).
	// Build only.
	TempDir string

	// AppOutput receives the application's stdout and stderr as it runs
	// in the sandbox (nil: kept only for error messages).
	AppOutput io.Writer
	// Logf reports the steps of the build (nil: silent).
	Logf func(format string, args ...any)
	// Progress receives byte counts of the base's pull or unpack, of the
	// layers' compression and of pushes (nil: none).
	Progress progress.Func
	// Version is the builder's version, recorded in the image.
	Version string

	// Secrets are given to the application during the build only, as
	// read-only files /run/secrets/ID; the checkpoint and the diff are
	// scanned for their values, and a value found fails the build.
	// Checkpoint gives nothing (the build step has its secrets already,
	// e.g. RUN --mount=type=secret): it scans the checkpoint for the value
	// of every file under /run/secrets and of each Secrets file.
	Secrets []secrets.Secret
	// AllowConnections lets the build go on when the application holds
	// established TCP connections to peers outside its process tree at
	// the checkpoint: they are closed at dump. Without it they fail it.
	AllowConnections bool
	// Network is the sandbox's network: "none" (default: loopback only)
	// or "host" (the build host's network: the application can reach
	// services during warmup; its port must be free on the host). Build
	// only: Checkpoint's application always has loopback only.
	Network string
	// RestoreSignal (SIGUSR1 or SIGWINCH) is sent by the launcher to the
	// restored application after each restore; the application must
	// catch it. Empty: none (the file contract.RestoredPath is always
	// written).
	RestoreSignal string
}

// defaults checks and completes the options of a Build.
func (o *Options) defaults() error {
	if o.Base == "" {
		return fmt.Errorf("no base image (--base)")
	}
	if err := registry.CheckHostArch(o.Platform); err != nil {
		return err
	}
	if o.Compression == "" {
		o.Compression = layers.Zstd
	}
	if o.CPUs < 0 || o.MemoryBytes < 0 {
		return fmt.Errorf("--cpus and --memory must not be negative")
	}
	if o.MemoryBytes > 0 && o.MemoryBytes < MinMemory {
		return fmt.Errorf("--memory %d: a JVM needs at least %s", o.MemoryBytes, contract.HumanBytes(MinMemory))
	}
	if len(o.Outputs) == 0 && len(o.Push) == 0 {
		return fmt.Errorf("nowhere to put the image: give --output or --push")
	}
	if o.CriuBundle == "" || o.Launcher == "" {
		return fmt.Errorf("the CRIU bundle and the launcher are needed (see `crac-build doctor`)")
	}
	if err := o.sharedDefaults(); err != nil {
		return err
	}
	if err := o.hygieneDefaults(); err != nil {
		return err
	}
	if o.CacheDir == "" {
		d, err := os.UserCacheDir()
		if err != nil {
			d = os.TempDir()
		}
		o.CacheDir = filepath.Join(d, "crac-build")
	}
	return nil
}

// checkpointDefaults checks and completes the options of a Checkpoint,
// which refuses the fields that only a Build uses: set, they would be
// silently ignored.
func (o *Options) checkpointDefaults() error {
	if len(o.Cmd) == 0 {
		return fmt.Errorf("no command: give it after -- (or as --cmd), e.g. crac-build checkpoint --port 8080 -- java -jar /app/app.jar")
	}
	var buildOnly []string
	for _, f := range []struct {
		flag string
		set  bool
	}{
		{"--base", o.Base != ""},
		{"--add", len(o.Adds) > 0},
		{"--user", o.User != ""},
		{"--output", len(o.Outputs) > 0},
		{"--push", len(o.Push) > 0},
		{"--insecure", o.Insecure},
		{"--platform", o.Platform != nil},
		{"--compression", o.Compression != ""},
		{"--cpus", o.CPUs != 0},
		{"--memory", o.MemoryBytes != 0},
		{"--network", o.Network != "" && o.Network != sandbox.NetworkNone},
		{"--combined-output", o.CombinedOutput},
		{"--runtime", o.Runtime != ""},
		{"--cache-dir", o.CacheDir != ""},
	} {
		if f.set {
			buildOnly = append(buildOnly, f.flag)
		}
	}
	if len(buildOnly) > 0 {
		return fmt.Errorf("%s: only for crac-build build; in a build step the image build tool decides the image, its user and the step's limits (e.g. buildah bud --cpus --memory)", strings.Join(buildOnly, ", "))
	}
	if o.CriuBundle == "" || o.Launcher == "" {
		return fmt.Errorf("the CRIU bundle and the launcher are needed: copy /opt/crac-build from the crac-build image, or give --criu-bundle and --launcher")
	}
	if err := o.sharedDefaults(); err != nil {
		return err
	}
	return o.hygieneDefaults()
}

// sharedDefaults checks and completes what Build and Checkpoint share:
// the warmup, the launcher's policies and the agent.
func (o *Options) sharedDefaults() error {
	if err := o.warmupDefaults(); err != nil {
		return err
	}
	if o.OnLimitsChange == "" {
		o.OnLimitsChange = contract.LimitsChangeWarn
	}
	if err := contract.CheckLimitsPolicy(o.OnLimitsChange); err != nil {
		return fmt.Errorf("--on-limits-change: %w", err)
	}
	if o.OnEnvChange == "" {
		o.OnEnvChange = contract.EnvChangeWarn
	}
	if err := contract.CheckEnvPolicy(o.OnEnvChange); err != nil {
		return fmt.Errorf("--on-env-change: %w", err)
	}
	if err := o.agentDefaults(); err != nil {
		return err
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	return nil
}

// Defaults of the time bounds.
const (
	// DefaultReadyTimeout: the slowest servers measured here started in
	// 3.6 s cold; two minutes leaves room for big applications.
	DefaultReadyTimeout = 2 * time.Minute
	// DefaultWarmupTimeout bounds a warmup program.
	DefaultWarmupTimeout = 10 * time.Minute
)

// MinMemory is the least --memory accepted: below it a JVM with a warmed
// up application does not fit (HotSpot refuses heaps under 2 MB, and its
// code cache, metaspace and thread stacks take tens of MB more).
const MinMemory = 64 << 20

// ParseMemory parses a memory size as `docker run --memory` takes it: a
// number of bytes with an optional unit b, k, m or g (powers of 1024,
// case-insensitive; "kb", "mib" and the like too), e.g. "512m", "1.5g".
func ParseMemory(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	num := strings.TrimRightFunc(t, func(r rune) bool { return r >= 'a' && r <= 'z' })
	unit := strings.TrimSuffix(strings.TrimSuffix(t[len(num):], "ib"), "b")
	mult := map[string]float64{"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}[unit]
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || mult == 0 || v < 0 || math.IsInf(v, 0) {
		return 0, fmt.Errorf("memory size %q: want a number with an optional unit b, k, m or g (e.g. 512m)", s)
	}
	return int64(v * mult), nil
}

// ParseCommand parses a command given as a JSON array (["java","-jar",
// "app.jar"]) or as a string split like a shell would (quotes and
// backslashes, no expansions).
func ParseCommand(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "[") {
		var out []string
		if err := json.Unmarshal([]byte(s), &out); err != nil {
			return nil, fmt.Errorf("command %q: %w", s, err)
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("command %q is empty", s)
		}
		return out, nil
	}
	var out []string
	var cur strings.Builder
	inWord := false
	var quote rune
	esc := false
	for _, r := range s {
		switch {
		case esc:
			// Inside double quotes a backslash escapes only $ ` " \ and
			// newline; before anything else it stays, as in sh.
			if quote == '"' && !strings.ContainsRune("$`\"\\\n", r) {
				cur.WriteRune('\\')
			}
			cur.WriteRune(r)
			esc = false
		case r == '\\' && quote != '\'':
			esc, inWord = true, true
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t' || r == '\n':
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 || esc {
		return nil, fmt.Errorf("command %q: unterminated quote or escape", s)
	}
	if inWord {
		out = append(out, cur.String())
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("command is empty")
	}
	return out, nil
}
