package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/crac-build/crac-build/internal/contract"
)

// writeHygiene prints what a checkpoint holds (contract.Hygiene and the open
// files), for `build` and `inspect`.
func writeHygiene(w io.Writer, m *contract.Metadata) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	h := m.Hygiene
	if h == nil {
		fmt.Fprintf(tw, "  inventory\tnone (image built before crac-build recorded one)\n")
		return tw.Flush()
	}
	for i, p := range h.Processes {
		fmt.Fprintf(tw, "  %s\t%d %s (parent %d), %d threads, RSS %s\n", label(i, "processes"), p.PID, p.Command, p.PPID, p.Threads, humanBytes(p.RSSKiB*1024))
	}
	var total int
	var groups []string
	for _, g := range h.Threads {
		total += g.Count
		groups = append(groups, fmt.Sprintf("%s x%d", g.Name, g.Count))
	}
	fmt.Fprintf(tw, "  threads\t%d: %s\n", total, strings.Join(groups, ", "))
	fmt.Fprintf(tw, "  memory\t%s\n", memoryLine(h.Memory))
	if len(h.Sockets) == 0 {
		fmt.Fprintf(tw, "  sockets\tnone\n")
	}
	for i, s := range h.Sockets {
		fmt.Fprintf(tw, "  %s\t%s\n", label(i, "sockets"), socketLine(s))
	}
	var inImage, writable int
	var notable []string
	for _, f := range m.OpenFiles {
		if f.Mount == "" {
			inImage++
		}
		if f.Writable {
			writable++
		}
		var notes []string
		if f.Writable {
			notes = append(notes, "writable")
			if !f.Append {
				notes = append(notes, "without O_APPEND")
			}
		}
		if f.Mount != "" {
			notes = append(notes, "on "+f.Mount+", not in the image")
		}
		if len(notes) > 0 {
			notable = append(notable, fmt.Sprintf("%s (%s)", f.Path, strings.Join(notes, ", ")))
		}
	}
	fmt.Fprintf(tw, "  open files\t%d open or mapped: %d in the image, %d outside it, %d writable\n", len(m.OpenFiles), inImage, len(m.OpenFiles)-inImage, writable)
	for _, n := range notable {
		fmt.Fprintf(tw, "  \t%s\n", n)
	}
	for _, f := range h.DeletedFiles {
		fmt.Fprintf(tw, "  \t%s (deleted; its content is in the checkpoint)\n", f)
	}
	for i, s := range h.Secrets {
		what := "scanned for, not found"
		if !s.Scanned {
			what = s.Note
		}
		fmt.Fprintf(tw, "  %s\t%s (%d bytes): %s\n", label(i, "build secrets"), s.ID, s.Bytes, what)
	}
	if len(h.Findings) == 0 {
		fmt.Fprintf(tw, "  secret formats\tnone found (private keys, AWS, GitHub, Slack, Google, Stripe tokens, JWTs)\n")
	}
	for i, f := range h.Findings {
		fmt.Fprintf(tw, "  %s\t%s: %d in %s\n", label(i, "secret formats"), f.Kind, f.Count, f.File)
	}
	return tw.Flush()
}

// label returns name for the first line of a list and "" for the others.
func label(i int, name string) string {
	if i == 0 {
		return name
	}
	return ""
}

func memoryLine(m contract.Memory) string {
	kb := func(n int64) string { return humanBytes(n * 1024) }
	s := fmt.Sprintf("RSS %s: anonymous %s, files %s", kb(m.RSSKiB), kb(m.AnonKiB), kb(m.FileKiB))
	if m.ShmemKiB > 0 {
		s += ", shared " + kb(m.ShmemKiB)
	}
	var jvm []string
	if m.HeapCommittedKiB > 0 {
		jvm = append(jvm, fmt.Sprintf("heap %s committed (%s used)", kb(m.HeapCommittedKiB), kb(m.HeapUsedKiB)))
	}
	if m.MetaspaceCommittedKiB > 0 {
		jvm = append(jvm, "metaspace "+kb(m.MetaspaceCommittedKiB))
	}
	if m.CodeCacheUsedKiB > 0 {
		jvm = append(jvm, "code cache "+kb(m.CodeCacheUsedKiB))
	}
	if m.OtherAnonKiB > 0 {
		jvm = append(jvm, "other ~"+kb(m.OtherAnonKiB)+" (malloc, thread stacks, GC and compiler data)")
	}
	if len(jvm) > 0 {
		s += "; JVM: " + strings.Join(jvm, ", ")
	}
	if len(m.NMTCommittedKiB) > 0 {
		var cats []string
		for k := range m.NMTCommittedKiB {
			cats = append(cats, k)
		}
		sort.Strings(cats)
		var parts []string
		for _, k := range cats {
			parts = append(parts, k+" "+kb(m.NMTCommittedKiB[k]))
		}
		s += "; NMT committed: " + strings.Join(parts, ", ")
	}
	return s
}

func socketLine(s contract.Socket) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", s.Proto, s.State)
	if s.Proto == "unix" {
		fmt.Fprintf(&b, " %s", s.Type)
		if s.Path != "" {
			fmt.Fprintf(&b, " %s", s.Path)
		}
	} else {
		fmt.Fprintf(&b, " %s", s.Local)
		if s.Remote != "" {
			arrow := "->"
			if s.Direction == "in" {
				arrow = "<-"
			}
			fmt.Fprintf(&b, " %s %s", arrow, s.Remote)
		}
	}
	fmt.Fprintf(&b, " (process %d %s", s.PID, s.Command)
	switch s.Peer {
	case contract.PeerTree:
		b.WriteString("; peer in the process tree")
	case contract.PeerSandbox:
		b.WriteString("; peer: process " + s.PeerProcess + " of the sandbox")
	case contract.PeerOutside:
		b.WriteString("; peer outside the sandbox")
	}
	b.WriteString(")")
	return b.String()
}

// writeProvenance prints where an image comes from (the builder, kernel,
// CPU and time are printed with the other facts) and how the launcher
// tells the application it was restored.
func writeProvenance(tw io.Writer, base *contract.BaseImage, m *contract.Metadata) {
	if base != nil {
		fmt.Fprintf(tw, "base\t%s@%s\n", base.Name, base.Digest)
	}
	if m != nil {
		notice := contract.RestoredPath
		if m.RestoreSignal != "" {
			notice += ", then " + m.RestoreSignal
		}
		fmt.Fprintf(tw, "restore notice\t%s\n", notice)
	}
}

func hygieneWarnings(m *contract.Metadata) []string {
	if m.Hygiene == nil {
		return nil
	}
	return m.Hygiene.Warnings
}
