package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/crac-build/crac-build/internal/contract"
	"github.com/crac-build/crac-build/internal/inspect"
	"github.com/crac-build/crac-build/internal/registry"
	"github.com/crac-build/crac-build/internal/warmup"
)

func inspectCommand() *cli.Command {
	return &cli.Command{
		Name:      "inspect",
		Usage:     "show what a warm image holds and needs",
		ArgsUsage: "IMAGE",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print JSON: the facts below and the whole checkpoint metadata"},
			&cli.BoolFlag{Name: "insecure", Usage: "allow plain-HTTP registries"},
			&cli.StringFlag{Name: "platform", Usage: "`OS/ARCH` to pick from a multi-platform image (default: this host's)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return fmt.Errorf("inspect: want one IMAGE argument")
			}
			pl, err := registry.ParsePlatform(c.String("platform"))
			if err != nil {
				return err
			}
			info, err := inspect.Image(c.Context, c.Args().First(), registry.Options{Insecure: c.Bool("insecure"), Platform: pl})
			if err != nil {
				return err
			}
			if c.Bool("json") {
				enc := json.NewEncoder(os.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(info)
			}
			return writeInspect(os.Stdout, info)
		},
	}
}

// writeInspect prints info for a person: what the image needs to restore
// first, then its sizes.
func writeInspect(w io.Writer, info *inspect.Info) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "image\t%s\n", info.Ref)
	fmt.Fprintf(tw, "digest\t%s\n", info.Digest)
	fmt.Fprintf(tw, "platform\t%s\n", info.Platform)
	if !info.Warm {
		fmt.Fprintf(tw, "warm\tno (no crac-build checkpoint)\n")
	} else {
		fmt.Fprintf(tw, "built by\t%s at %s\n", info.Builder, info.Created.UTC().Format("2006-01-02 15:04:05Z"))
		fmt.Fprintf(tw, "JVM\t%s\n", orUnknown(info.JVMVersion))
		fmt.Fprintf(tw, "CRIU\t%s\n", orUnknown(info.CriuVersion))
		fmt.Fprintf(tw, "build kernel\t%s (%s, %s)\n", orUnknown(info.BuildKernel), info.BuildArch, info.BuildCPU)
		fmt.Fprintf(tw, "cold command\t%s\n", strings.Join(info.ColdCommand, " "))
		if info.User != nil {
			fmt.Fprintf(tw, "user\t%s; the launcher runs as root\n", info.User)
		} else {
			fmt.Fprintf(tw, "user\troot\n")
		}
		fmt.Fprintf(tw, "restore needs\t%s\n", strings.Join(info.RequiredCapabilities, ","))
		fmt.Fprintf(tw, "pages\t%s\n", pagesLine(info.Metadata))
		if info.CPUBaseline != "" && info.CPUBaseline != "native" {
			fmt.Fprintf(tw, "CPU baseline\t%s: %s\n", info.CPUBaseline, info.CPUBaselineCPUs)
			fmt.Fprintf(tw, "CPU features\t%d instruction-set features needed on the restoring CPU:\n", len(info.CPUFeatures))
		} else {
			fmt.Fprintf(tw, "CPU baseline\tnative: the build CPU's features, all needed on the restoring CPU (--cpu-baseline x86-64-v3 restores on more CPUs)\n")
			fmt.Fprintf(tw, "CPU features\t%d instruction-set features:\n", len(info.CPUFeatures))
		}
		for _, line := range wrapWords(info.CPUFeatures, 72) {
			fmt.Fprintf(tw, "\t  %s\n", line)
		}
		if ck := info.Checkpoint; ck != nil {
			fmt.Fprintf(tw, "checkpoint\t%s compressed (%s), %s raw; CRIU images %s in %d files\n",
				humanBytes(ck.CompressedBytes), ck.Compression, humanBytes(ck.RawBytes), humanBytes(ck.ImagesBytes), ck.ImageFiles)
		}
		if m := info.Metadata; m != nil {
			fmt.Fprintf(tw, "process\tPID %d, %d threads, RSS %s\n", m.Process.PID, m.Process.Threads, humanBytes(m.Process.RSSKiB*1024))
		}
		writeJVM(tw, info)
		fmt.Fprintf(tw, "class cache\t%s\n", classCacheLine(info.ClassCache))
		if wu := info.Warmup; wu != nil {
			s := fmt.Sprintf("ready after %d ms; warmup %d ms", wu.ReadyAfterMs, wu.DurationMs)
			if wu.Script != "" {
				s += ", script " + wu.Script
			}
			if wu.Requests > 0 {
				s += fmt.Sprintf(", %d requests (%d errors), first %.1f ms, last %.1f ms", wu.Requests, wu.Errors, wu.FirstMs, wu.LastMs)
			}
			fmt.Fprintf(tw, "warmup\t%s\n", s)
			for _, e := range wu.Endpoints {
				fmt.Fprintf(tw, "\t  %s\n", warmup.Endpoint{Key: e.Endpoint, Status: e.Status, Errors: e.Errors})
			}
			writeWarmupRounds(tw, wu)
		}
		if m := info.Metadata; m != nil && m.FirstRequests != nil {
			s := "none (the warmup's requests are not known: CRAC_FIRST_REQUESTS=/path,... names them)"
			if p := m.FirstRequests.Paths; len(p) > 0 {
				s = fmt.Sprintf("GET %s, once each after a restore (CRAC_FIRST_REQUESTS=off: none)", strings.Join(p, ", "))
			}
			fmt.Fprintf(tw, "first requests\t%s\n", s)
		}
		if m := info.Metadata; m != nil {
			printCoordination(tw, m.Coordination)
		}
		writeProvenance(tw, info.Base, info.Metadata)
	}
	fmt.Fprintf(tw, "layers\t%d, %s compressed\n", len(info.Layers), humanBytes(info.TotalBytes))
	for _, l := range info.Layers {
		d := l.Digest
		if len(d) > 19 {
			d = d[:19]
		}
		fmt.Fprintf(tw, "  %s\t%10s  %-11s  %s\n", d, humanBytes(l.Size), l.Role, l.CreatedBy)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if m := info.Metadata; m != nil {
		fmt.Fprintln(w, "what the checkpoint holds:")
		if err := writeHygiene(w, m); err != nil {
			return err
		}
		for _, warning := range hygieneWarnings(m) {
			fmt.Fprintf(w, "warning: %s\n", warning)
		}
	}
	return nil
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// wrapWords joins words into lines of at most width characters.
func wrapWords(words []string, width int) []string {
	var lines []string
	var cur string
	for _, w := range words {
		if cur != "" && len(cur)+1+len(w) > width {
			lines = append(lines, cur)
			cur = ""
		}
		if cur != "" {
			cur += " "
		}
		cur += w
	}
	if cur != "" {
		lines = append(lines, cur)
	}
	return lines
}

// writeJVM prints what the JVM sized at its start, under which limits, and
// what the pre-dump steps left of its memory.
func writeJVM(w io.Writer, info *inspect.Info) {
	if j := info.JVM; j != nil && j.GC != "" {
		s := j.GC
		if j.ActiveProcessors > 0 {
			s += fmt.Sprintf(", %d processors", j.ActiveProcessors)
		}
		if j.MaxHeapBytes > 0 {
			s += ", max heap " + contract.HumanBytes(j.MaxHeapBytes)
		}
		fmt.Fprintf(w, "GC\t%s\n", s)
		if j.RSSBeforeKiB > 0 {
			s := fmt.Sprintf("RSS %s -> %s", humanBytes(j.RSSBeforeKiB*1024), humanBytes(j.RSSAfterKiB*1024))
			if m := info.Metadata; m != nil && m.Hygiene != nil && m.Hygiene.Memory.HeapCommittedKiB > 0 {
				s += fmt.Sprintf("; heap %s used, %s committed", humanBytes(m.Hygiene.Memory.HeapUsedKiB<<10), humanBytes(m.Hygiene.Memory.HeapCommittedKiB<<10))
			}
			if j.SettleMs > 0 {
				s += fmt.Sprintf("; settled in %.1f s", float64(j.SettleMs)/1000)
			}
			fmt.Fprintf(w, "pre-dump\t%s\n", s)
		}
	}
	if l := info.Limits; l != nil {
		cpus := fmt.Sprintf("%d CPUs", l.CPUs)
		if l.CPUQuota > 0 {
			cpus += fmt.Sprintf(" (--cpus %g)", l.CPUQuota)
		} else {
			cpus += " (no limit)"
		}
		mem := contract.HumanBytes(l.MemoryBytes)
		if l.MemoryLimitBytes > 0 {
			mem += " (--memory)"
		} else {
			mem += " (no limit: the build host's)"
		}
		fmt.Fprintf(w, "limits\t%s, memory %s; when a container's differ: %s\n", cpus, mem, info.OnLimitsChange)
	}
}

// pagesLine says how a restore brings the checkpoint's pages back.
func pagesLine(m *contract.Metadata) string {
	switch {
	case m == nil || m.Pages == nil:
		return "read (built before direct-mapped restores)"
	case m.Pages.Map:
		return "mapped from the pages image (CRAC_PAGES=read reads them)"
	default:
		return "read: " + m.Pages.Reason
	}
}

// classCacheLine says whether the image carries the JDK's class cache,
// which, for which JDK and how big.
func classCacheLine(cc *contract.ClassCache) string {
	if cc == nil {
		return "none"
	}
	return fmt.Sprintf("%s, %s (the checkpointed JVM maps it; cold starts use it)", classCacheWhat(cc), cc.Path)
}

// classCacheWhat is a class cache's kind, JDK and size.
func classCacheWhat(cc *contract.ClassCache) string {
	kind := "dynamic AppCDS archive"
	if cc.Kind == contract.ClassCacheAOT {
		kind = "AOT cache with profiles"
	}
	return fmt.Sprintf("%s of JDK %d, %s", kind, cc.JDK, humanBytes(cc.Size))
}

// writeWarmupRounds prints a warmup's rounds (why it stopped, the latency
// of each round) and what it reached.
func writeWarmupRounds(w io.Writer, wu *contract.Warmup) {
	if wu.Rounds > 0 {
		fmt.Fprintf(w, "warmup rounds\t%s\n", wu.Stopped)
		var lat []string
		for _, r := range wu.Curve {
			lat = append(lat, strconv.FormatFloat(r.LatencyMs, 'g', 3, 64))
		}
		for i, line := range wrapWords(lat, 64) {
			label := "round latency (ms): "
			if i > 0 {
				label = strings.Repeat(" ", len(label))
			}
			fmt.Fprintf(w, "\t  %s%s\n", label, line)
		}
	}
	if wu.Reached != nil {
		fmt.Fprintf(w, "warmup reached\t%s\n", wu.Reached)
	}
}
