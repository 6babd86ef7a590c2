package contract

import (
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"time"
)

// Paths inside a warm image. The prefix is fixed: the CRIU bundle's wrapper
// and the launcher find each other through it, and the metadata records it.
const (
	Prefix        = "/opt/crac-build"
	LauncherPath  = Prefix + "/bin/crac-launch"
	CriuDir       = Prefix + "/criu"
	CriuPath      = CriuDir + "/criu"
	CheckpointDir = Prefix + "/checkpoint"
	ImagesDir     = CheckpointDir + "/images"
	MetadataPath  = CheckpointDir + "/metadata.json"
)

// FormatVersion is the version of the metadata format. The launcher refuses
// (and starts cold) on a version it does not know.
const FormatVersion = 1

// Label keys set on the image config, so that registries and `inspect` can
// show the same facts without reading the checkpoint layer.
const (
	LabelFormat      = "dev.crac-build.format"
	LabelVersion     = "dev.crac-build.version"
	LabelCriu        = "dev.crac-build.criu-version"
	LabelKernel      = "dev.crac-build.kernel"
	LabelJVM         = "dev.crac-build.jvm"
	LabelCaps        = "dev.crac-build.required-capabilities"
	LabelCPUFeatures = "dev.crac-build.cpu-features-sha256"
	// LabelCPUBaseline is the CPU level of an image built with
	// --cpu-baseline (absent: native, the build CPU's features).
	LabelCPUBaseline = "dev.crac-build.cpu-baseline"
	LabelCheckpoint  = "dev.crac-build.checkpoint-raw-bytes"
	LabelCreated     = "dev.crac-build.created"
	// LabelGC names the JVM's collector; LabelLimits the processor count
	// and memory (bytes) the JVM sized itself for: "cpus=2,memory=1073741824".
	LabelGC     = "dev.crac-build.gc"
	LabelLimits = "dev.crac-build.limits"
	// LabelUser is the application's user, "UID:GID" (Metadata.User), when
	// it is not root. The image's own User stays root: the launcher must
	// be root to restore (see User).
	LabelUser = "dev.crac-build.user"
)

// Environment variables the launcher reads at container start.
const (
	// EnvRestore=off forces a cold start.
	EnvRestore = "CRAC_RESTORE"
	// EnvRestoreTimeout bounds a restore (Go duration), after which criu is
	// SIGKILLed and the cold command runs.
	EnvRestoreTimeout = "CRAC_RESTORE_TIMEOUT"
	// EnvDebug makes the launcher print its checks and keep the CRIU log.
	EnvDebug = "CRAC_DEBUG"
	// EnvVerify=before checksums the CRIU image files (and probes criu)
	// before the restore starts, instead of while CRIU reads them.
	EnvVerify = "CRAC_VERIFY"
	// EnvPrefetch=on makes the launcher read the CRIU bundle and the files
	// the JVM maps into the page cache while it restores (off by default:
	// it helps on a quiet node and hurts on a busy one).
	EnvPrefetch = "CRAC_PREFETCH"
	// EnvVerifyFiles=full makes the launcher hash every file the JVM held
	// open in full, instead of sampling the large ones.
	EnvVerifyFiles = "CRAC_VERIFY_FILES"
	// EnvPages chooses how CRIU restores the checkpoint's memory pages
	// (docs/restore-speed.md): PagesAuto (default) maps the pages image
	// where the checkpoint allows it (Metadata.Pages) and copies every
	// page at once, in the kernel (fastest to the first answer); PagesShare
	// maps it there too but copies a page only when the JVM writes it, so
	// that the containers of one image on a node share the pages none of
	// them wrote; PagesRead reads the pages as stock CRIU does. PagesMap
	// and PagesMapLazy map even where the checkpoint does not allow it
	// (tests and measurements).
	EnvPages = "CRAC_PAGES"
	// EnvCPUMask names CPU features (comma-separated /proc/cpuinfo flags)
	// that the launcher's CPU check takes as missing on this host: to see
	// whether an image would restore on a CPU without them (e.g.
	// CRAC_CPU_MASK=avx512f,avx512bw).
	EnvCPUMask = "CRAC_CPU_MASK"
	// EnvBreakdown=1 makes the launcher print, after "restored in N ms",
	// where the time went (from the patched CRIU's timing markers):
	// "crac-launch: restore breakdown {JSON}" (checkpoint.Breakdown).
	EnvBreakdown = "CRAC_BREAKDOWN"
	// EnvFirstRequests sets the launcher's post-restore pass: "off", or
	// comma-separated paths (or http URLs) that the launcher requests once
	// each, on the container's loopback, after the restore and before it
	// reports it, in place of the image's (Metadata.FirstRequests).
	EnvFirstRequests = "CRAC_FIRST_REQUESTS"
)

// BreakdownPrefix starts the launcher's breakdown line (EnvBreakdown);
// the JSON of a checkpoint.Breakdown follows.
const BreakdownPrefix = "crac-launch: restore breakdown "

// Values of EnvPages.
const (
	PagesAuto  = "auto"
	PagesShare = "share"
	PagesRead  = "read"
	PagesMap   = "map"
	// PagesMapLazy maps without filling the page tables: each page is
	// mapped when the JVM first touches it (measurements).
	PagesMapLazy = "map-lazy"
)

// Policies for a container whose environment differs from the build's
// (Metadata.OnEnvChange). The restored JVM keeps the environment it had at
// build time: the policy says whether to restore anyway, with a warning
// naming the variables, or to start cold so that the new values apply.
const (
	EnvChangeWarn = "warn"
	EnvChangeCold = "cold"
)

// Command is how to start the application cold.
type Command struct {
	Args    []string `json:"args"`
	Env     []string `json:"env"`
	WorkDir string   `json:"workdir"`
}

// FileSum is one CRIU image file with its checksum. The checksum is a
// CRC-32C: it detects damage (a truncated or corrupted file) at ~10 GB/s,
// where SHA-256 would add ~60 ms per 100 MB to every restore. Tampering is
// the registry's digests' job, not the launcher's.
type FileSum struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	CRC32C uint32 `json:"crc32c"`
}

// OpenFile is a file the checkpointed process held open (or mapped). CRIU
// checks only size and mode at restore; the digest lets the launcher do
// better for files that may differ from build time.
type OpenFile struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	Mode   uint32 `json:"mode"`
	SHA256 string `json:"sha256,omitempty"`
	// MTime (Unix seconds: what every layer tar keeps) and Fingerprint
	// (see contract.Fingerprint) let the launcher check the content of a
	// JDK's files in about a millisecond.
	MTime       *int64 `json:"mtime,omitempty"`
	Fingerprint string `json:"fingerprint,omitempty"`
	Writable    bool   `json:"writable,omitempty"`
	Append      bool   `json:"append,omitempty"`
	Mapped      bool   `json:"mapped,omitempty"`
	// Mount is the mount point of the file's filesystem when that is not
	// the image's root (a tmpfs, volume or bind mount of the sandbox):
	// such a file is in no layer, and a restore needs it provided.
	Mount string `json:"mount,omitempty"`
}

// Process describes the checkpointed process tree's root (the JVM).
type Process struct {
	PID     int   `json:"pid"`
	Threads int   `json:"threads"`
	RSSKiB  int64 `json:"rssKiB"`
	// Stdio holds readlink(/proc/PID/fd/{0,1,2}) at dump time, e.g.
	// "pipe:[1234]". The launcher hands its own fds to CRIU under these keys.
	Stdio [3]string `json:"stdio"`
	// Capabilities of the process at dump time (hex bit masks as in
	// /proc/PID/status): the restoring container must have at least these.
	CapEff string `json:"capEff"`
	CapBnd string `json:"capBnd"`
}

// Host describes the build machine as far as a restore depends on it.
type Host struct {
	Kernel      string   `json:"kernel"`
	Arch        string   `json:"arch"`
	CPUModel    string   `json:"cpuModel"`
	CPUFeatures []string `json:"cpuFeatures"`
	CriuVersion string   `json:"criuVersion"`
}

// Warmup holds statistics of the warmup that preceded the checkpoint.
type Warmup struct {
	ReadyAfterMs int64   `json:"readyAfterMs"`
	Requests     int     `json:"requests"`
	Errors       int     `json:"errors"`
	DurationMs   int64   `json:"durationMs"`
	Script       string  `json:"script,omitempty"`
	FirstMs      float64 `json:"firstRequestMs,omitempty"`
	LastMs       float64 `json:"lastRequestMs,omitempty"`
	// Endpoints count each endpoint's answers of a requests-file warmup
	// (--warmup-requests-file), in the file's order.
	Endpoints []WarmupEndpoint `json:"endpoints,omitempty"`
	// A warmup in rounds (--warmup-rounds; the default with a script, a
	// requests file or a warmup path and no --warmup-requests): Until is
	// "steady" (until the JVM settled, at most MaxRounds rounds) or
	// "rounds" (MaxRounds rounds); Rounds ran; Steady says it stopped
	// because the JVM had settled; Stopped says why it stopped, e.g.
	// "steady after 6 rounds: JIT quiet (...), latency flat (...)" or
	// "stopped at the bound: ...".
	Until     string `json:"until,omitempty"`
	Rounds    int    `json:"rounds,omitempty"`
	MaxRounds int    `json:"maxRounds,omitempty"`
	Steady    bool   `json:"steady,omitempty"`
	Stopped   string `json:"stopped,omitempty"`
	// Curve is each round's latency and the JIT after it.
	Curve []WarmupRound `json:"curve,omitempty"`
	// Reached is what the JVM had compiled and loaded when the warmup
	// ended (nil: not readable through the attach mechanism).
	Reached *WarmupReached `json:"reached,omitempty"`
}

// WarmupRound is one round of a warmup in rounds.
type WarmupRound struct {
	// LatencyMs is the round's median request latency, or the script's
	// run time for a round of a script alone.
	LatencyMs  float64 `json:"latencyMs"`
	DurationMs int64   `json:"durationMs"`
	// Requests the round sent (0: a script's run alone).
	Requests int `json:"requests,omitempty"`
	// The JIT after the round (0: not readable).
	CompiledMethods int   `json:"compiledMethods,omitempty"`
	CodeCacheKiB    int64 `json:"codeCacheKiB,omitempty"`
}

// WarmupReached is what the JVM had compiled and loaded at the end of
// the warmup.
type WarmupReached struct {
	CompiledMethods int   `json:"compiledMethods"`
	CodeCacheKiB    int64 `json:"codeCacheKiB"`
	// ClassesLoaded: 0 when unknown.
	ClassesLoaded int `json:"classesLoaded,omitempty"`
}

// String is "1234 compiled methods, code cache 12.3 MiB, 5678 classes loaded".
func (r *WarmupReached) String() string {
	s := fmt.Sprintf("%d compiled methods, code cache %s", r.CompiledMethods, HumanBytes(r.CodeCacheKiB*1024))
	if r.ClassesLoaded > 0 {
		s += fmt.Sprintf(", %d classes loaded", r.ClassesLoaded)
	}
	return s
}

// WarmupEndpoint is what one endpoint answered during the warmup.
type WarmupEndpoint struct {
	// Endpoint is "METHOD PATH".
	Endpoint string `json:"endpoint"`
	// Status counts the answers by HTTP status (0: no answer).
	Status map[int]int `json:"status"`
	// Errors are the requests with no answer or a status >= 400.
	Errors int `json:"errors"`
}

// Metadata is the file at MetadataPath.
type Metadata struct {
	FormatVersion int       `json:"formatVersion"`
	Builder       string    `json:"builder"`
	Created       time.Time `json:"created"`
	Cold          Command   `json:"cold"`
	JVMVersion    string    `json:"jvmVersion,omitempty"`
	Process       Process   `json:"process"`
	Host          Host      `json:"host"`
	// RequiredCaps names the capabilities the launcher needs to restore
	// (CRIU's own plus the process's), e.g. "CAP_CHECKPOINT_RESTORE".
	RequiredCaps []string   `json:"requiredCapabilities"`
	Images       []FileSum  `json:"images"`
	OpenFiles    []OpenFile `json:"openFiles"`
	Warmup       Warmup     `json:"warmup"`
	// TCPClose is true when the dump closed established TCP connections
	// (--tcp-close); the restore must use the same option.
	TCPClose bool `json:"tcpClose"`
	// JVM is what the JVM chose at its start (collector, processors, heap)
	// and what the pre-dump steps left of its memory.
	JVM *JVMInfo `json:"jvm,omitempty"`
	// Limits are the build sandbox's CPU and memory limits, as seen inside
	// it; OnLimitsChange is what the launcher does when a container's
	// differ: LimitsChangeWarn (also when empty) or LimitsChangeCold.
	Limits         *Limits `json:"limits,omitempty"`
	OnLimitsChange string  `json:"onLimitsChange,omitempty"`
	// OnEnvChange is EnvChangeWarn (also when empty) or EnvChangeCold.
	OnEnvChange string `json:"onEnvChange,omitempty"`
	// User is who the application runs as, restored or cold (the base
	// image's USER or the build's --user); nil: root, as the launcher.
	User *User `json:"user,omitempty"`
	// Timings of the build steps, in milliseconds, by step name.
	Timings map[string]int64 `json:"timingsMs,omitempty"`
	// Coordination is nil when the JVM ran without the crac-build agent.
	Coordination *Coordination `json:"coordination,omitempty"`

	// Base is the image the build started from (provenance).
	Base *BaseImage `json:"base,omitempty"`
	// Hygiene is the pre-dump inventory and the scans of the checkpoint.
	Hygiene *Hygiene `json:"hygiene,omitempty"`
	// RestoreSignal, if set (e.g. "SIGUSR1"), is sent by the launcher to
	// the restored process right after the restore, after RestoredPath is
	// written: the application asked for it to re-seed at once.
	RestoreSignal string `json:"restoreSignal,omitempty"`
	// Pages says whether a restore may map the pages image instead of
	// reading it (the bundle's patched CRIU, CRIU_MMAP_PAGE_IMAGE=1); nil
	// (images of older builders): read.
	Pages *Pages `json:"pages,omitempty"`
	// CPUBaseline, if set, is the CPU level the application was limited
	// to (build --cpu-baseline): a restoring CPU needs its Needs, not every
	// feature of the build CPU (Host.CPUFeatures). nil: native.
	CPUBaseline *CPUBaseline `json:"cpuBaseline,omitempty"`
	// ClassCache, if set, is the JDK's start-up cache in the application
	// layer (docs/class-cache.md): the checkpointed JVM ran with it, and
	// a cold start gets its JVMFlags while the JVM would accept it.
	ClassCache *ClassCache `json:"classCache,omitempty"`
	// FirstRequests is the post-restore pass: requests the launcher sends
	// to the restored application right after the restore, so that
	// the first requests of users find the code paths they take warm
	// (docs/restore-speed.md). nil (images of older builders): none.
	FirstRequests *FirstRequests `json:"firstRequests,omitempty"`
}

// FirstRequests are the GET requests of the post-restore pass.
type FirstRequests struct {
	// Base is the application's address inside the container, e.g.
	// "http://127.0.0.1:8080": what paths are relative to.
	Base string `json:"base"`
	// Paths are requested once each, in order (path and query). Empty:
	// no pass unless the container's EnvFirstRequests names paths.
	Paths []string `json:"paths,omitempty"`
}

// CPUBaseline is the level a checkpoint was made at (package cpubaseline).
type CPUBaseline struct {
	// Name is the level, e.g. "x86-64-v3".
	Name string `json:"name"`
	// Needs are the /proc/cpuinfo flags a restoring CPU must have.
	Needs []string `json:"needs"`
	// Env are KEY=VALUE additions the application started with and a cold
	// start gets too (GLIBC_TUNABLES, JAVA_TOOL_OPTIONS for a command
	// that is not java itself), appended to the container's value.
	Env []string `json:"env,omitempty"`
	// CPUs says which processors have the level, for people.
	CPUs string `json:"cpus,omitempty"`
}

// Pages is the build's decision on direct-mapped restores (see
// docs/restore-speed.md): Map is false when the process uses memory in a
// way that a private file mapping would change, and Reason says which.
type Pages struct {
	Map    bool   `json:"map"`
	Reason string `json:"reason,omitempty"`
}

// Read loads and validates the metadata file at path.
func Read(path string) (*Metadata, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading checkpoint metadata: %w", err)
	}
	return Parse(b)
}

// Parse decodes metadata and checks its format version.
func Parse(b []byte) (*Metadata, error) {
	var m Metadata
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("decoding checkpoint metadata: %w", err)
	}
	if m.FormatVersion != FormatVersion {
		return nil, fmt.Errorf("checkpoint metadata format %d, this launcher reads format %d", m.FormatVersion, FormatVersion)
	}
	if len(m.Cold.Args) == 0 {
		return nil, fmt.Errorf("checkpoint metadata has no cold command")
	}
	if err := CheckLimitsPolicy(m.OnLimitsChange); err != nil {
		return nil, fmt.Errorf("checkpoint metadata: %w", err)
	}
	if err := CheckEnvPolicy(m.OnEnvChange); err != nil {
		return nil, fmt.Errorf("checkpoint metadata: %w", err)
	}
	return &m, nil
}

// Marshal encodes metadata as indented JSON.
func (m *Metadata) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// FileCRC32C returns the CRC-32C of a file's content.
func FileCRC32C(path string) (uint32, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	h := crc32.New(castagnoli)
	if _, err := io.CopyBuffer(h, f, make([]byte, 1<<20)); err != nil {
		return 0, err
	}
	return h.Sum32(), nil
}

// CheckEnvPolicy accepts the values of Metadata.OnEnvChange.
func CheckEnvPolicy(p string) error {
	switch p {
	case "", EnvChangeWarn, EnvChangeCold:
		return nil
	}
	return fmt.Errorf("environment policy %q: want %s or %s", p, EnvChangeWarn, EnvChangeCold)
}
