package checkpoint

import (
	"context"
	"fmt"
	"time"

	"github.com/crac-build/crac-build/internal/contract"
	"github.com/crac-build/crac-build/internal/host"
	"github.com/crac-build/crac-build/internal/hotspot"
)

// SettleTime is how long the pre-dump steps wait at least after the GC
// and heap trim, before they trim again and dump. G1 uncommits freed
// regions in the background (ENVIRONMENT.md measured ~1.5 s), and HotSpot
// frees the compilers' spare arena chunks (malloc) only on its ChunkPool
// cleaner's 5 s tick, which a trim must follow to give them back: with 6 s
// and the second trim the checkpoint measured ~10% smaller (hello: 88 vs
// 98 MB anonymous memory, median of 7) than with 1.5 s. After the floor
// they wait until the process's RSS stops falling (see settle), up to
// SettleMax.
const SettleTime = 6 * time.Second

// PrepareOptions select the pre-dump steps.
type PrepareOptions struct {
	PID int
	// GC runs a full GC and trims the native heap through the attach API.
	GC bool
	// Settle is a fixed pause after GC; 0 means at least SettleTime, then
	// until the RSS has settled.
	Settle time.Duration
	// AllowConnections lets the dump go ahead although the tree holds
	// established TCP connections to peers outside it (the dump closes
	// them, see DumpOptions.TCPClose); without it they fail the dump.
	AllowConnections bool
}

// Report is what the in-sandbox dump tells the builder.
type Report struct {
	Process    contract.Process    `json:"process"`
	OpenFiles  []contract.OpenFile `json:"openFiles"`
	Host       contract.Host       `json:"host"`
	Images     []contract.FileSum  `json:"images"`
	JVMVersion string              `json:"jvmVersion,omitempty"`
	Warnings   []string            `json:"warnings,omitempty"`
	TimingsMs  map[string]int64    `json:"timingsMs"`
	// Hygiene is the inventory taken just before the dump; its Warnings
	// are the same as the report's.
	Hygiene *contract.Hygiene `json:"hygiene,omitempty"`

	// JVM is what the JVM chose at start and what the pre-dump steps left
	// of its memory; Limits are the sandbox's, as seen inside it.
	JVM    *contract.JVMInfo `json:"jvm,omitempty"`
	Limits *contract.Limits  `json:"limits,omitempty"`
	// Pages: may a restore map the pages image (PagesPolicy)?
	Pages *contract.Pages `json:"pages,omitempty"`
}

// PrepareAndDump runs the pre-dump steps, records the process's facts,
// dumps it and checksums the images: everything the builder needs from
// inside the sandbox, in one go.
func PrepareAndDump(ctx context.Context, p PrepareOptions, d DumpOptions) (*Report, error) {
	r := &Report{TimingsMs: map[string]int64{}}
	step := func(name string, t0 time.Time) { r.TimingsMs[name] = time.Since(t0).Milliseconds() }

	t0 := time.Now()
	jvm := true
	if out, err := hotspot.Jcmd(ctx, p.PID, "VM.version"); err == nil {
		r.JVMVersion = firstLine(out)
	} else {
		r.Warnings = append(r.Warnings, fmt.Sprintf("attach to JVM %d failed, no GC before dump: %v", p.PID, err))
		p.GC, jvm = false, false
	}
	if r.JVMVersion != "" {
		var warns []string
		r.JVM, warns = describeJVM(ctx, p.PID)
		r.Warnings = append(r.Warnings, warns...)
	} else {
		r.JVM = &contract.JVMInfo{}
	}
	r.JVM.RSSBeforeKiB, _ = rssKiB(p.PID)
	if p.GC {
		for i := 0; i < gcRuns(r.JVM); i++ {
			if _, err := hotspot.Jcmd(ctx, p.PID, "GC.run"); err != nil {
				r.Warnings = append(r.Warnings, fmt.Sprintf("GC.run: %v", err))
				break
			}
		}
		if _, err := hotspot.Jcmd(ctx, p.PID, "System.trim_native_heap"); err != nil {
			r.Warnings = append(r.Warnings, fmt.Sprintf("System.trim_native_heap: %v", err))
		}
		var waited time.Duration
		if p.Settle > 0 {
			select {
			case <-time.After(p.Settle):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			waited = p.Settle
		} else {
			var err error
			waited, err = settle(ctx, func() (int64, error) { return rssKiB(p.PID) }, SettleTime, settleQuietFor(r.JVM), SettleMax)
			if err != nil {
				return nil, fmt.Errorf("waiting for the JVM's memory to settle: %w", err)
			}
		}
		r.JVM.SettleMs = waited.Milliseconds()
		// What was freed while settling goes back to the OS too.
		if _, err := hotspot.Jcmd(ctx, p.PID, "System.trim_native_heap"); err != nil {
			r.Warnings = append(r.Warnings, fmt.Sprintf("System.trim_native_heap: %v", err))
		}
	}
	r.JVM.RSSAfterKiB, _ = rssKiB(p.PID)
	if l, err := host.ReadLimits(); err == nil {
		r.Limits = l
		// The JVM computes its processor count from the same files
		// (JDK 17+: CPUs it may run on, capped by the quota rounded up),
		// unless told otherwise (-XX:ActiveProcessorCount).
		if r.JVMVersion != "" && r.JVM.ActiveProcessors <= 0 {
			r.JVM.ActiveProcessors = l.CPUs
		}
	} else {
		r.Warnings = append(r.Warnings, fmt.Sprintf("reading the sandbox's limits: %v", err))
	}
	// The JVM's own view of its memory, while the attach listener runs.
	var mem contract.Memory
	if jvm {
		if err := JVMMemory(ctx, p.PID, &mem); err != nil {
			r.Warnings = append(r.Warnings, fmt.Sprintf("reading the JVM's memory split: %v", err))
		}
	}
	// A stale attach socket makes every jcmd after a restore fail.
	if err := hotspot.RemoveAttachFiles(p.PID); err != nil {
		r.Warnings = append(r.Warnings, fmt.Sprintf("removing attach files: %v", err))
	}
	step("predump", t0)

	t0 = time.Now()
	proc, files, err := DescribeProcess(p.PID)
	if err != nil {
		return nil, err
	}
	r.Process, r.OpenFiles = *proc, files
	r.Pages = PagesPolicy("/", files)
	h, err := Inventory(p.PID)
	if err != nil {
		return nil, err
	}
	addJVMMemory(&h.Memory, mem)
	r.Hygiene = h
	if err := checkHygiene(r, p.AllowConnections); err != nil {
		return nil, err
	}
	flags, model, err := host.CPUFeatures()
	if err != nil {
		return nil, err
	}
	r.Host = contract.Host{Kernel: host.Kernel(), Arch: host.Arch(), CPUModel: model, CPUFeatures: flags}
	if v, err := Version(d.CriuPath); err == nil {
		r.Host.CriuVersion = VersionString(v)
	} else {
		return nil, err
	}
	step("inspect", t0)

	t0 = time.Now()
	d.PID = p.PID
	if err := Dump(d); err != nil {
		return nil, err
	}
	step("dump", t0)

	t0 = time.Now()
	if r.Images, err = SumImages(d.ImagesDir); err != nil {
		return nil, err
	}
	step("checksum", t0)
	return r, nil
}

func firstLine(s string) string {
	for i, c := range s {
		if c == '\n' {
			if i == 0 {
				return firstLine(s[1:])
			}
			return s[:i]
		}
	}
	return s
}
