package checkpoint

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Breakdown is where a restore's time went, from CRIU's own log (the
// bundle's patched CRIU writes timing markers at warning level, in the log at
// its default level) and the launcher's clocks. Every duration is in
// milliseconds; a step whose markers are missing from the log is 0.
type Breakdown struct {
	// Checks: the launcher's checks before it started criu.
	ChecksMs float64 `json:"checksMs"`
	// CriuExecMs: starting criu and its RPC, and ending them, outside the
	// time criu's log covers (the bundle's loader, go-criu's socket).
	CriuExecMs float64 `json:"criuExecMs"`
	// StartupMs: criu's start-up and kernel feature probing, up to reading
	// the process tree ("Reading image tree").
	StartupMs float64 `json:"startupMs"`
	// TreeMs: namespaces, files, sockets and forking the tasks, up to the
	// first task's restorer ("Switched to the restorer").
	TreeMs float64 `json:"treeMs"`
	// MappingsMs: the restorer placing the memory areas, up to the pages.
	MappingsMs float64 `json:"mappingsMs"`
	// PagesMs: restoring the pages; PagesMapped and PagesRead are the bytes
	// mapped from the pages image and read from it.
	PagesMs     float64 `json:"pagesMs"`
	PagesMapped int64   `json:"pagesMappedBytes"`
	PagesRead   int64   `json:"pagesReadBytes"`
	// ResumeMs: threads, timers, credentials, the network unlock and the
	// resume, up to "Restore finished successfully"; GateMs of it is the
	// launcher's checks that ran beside the restore (the post-restore gate).
	ResumeMs float64 `json:"resumeMs"`
	GateMs   float64 `json:"gateMs"`
	// CriuMs is the whole criu call as the launcher timed it.
	CriuMs float64 `json:"criuMs"`
	// NotifyMs: after criu, the restored JVM's org.crac Resources'
	// afterRestore through the agent (the JVM serves meanwhile).
	NotifyMs float64 `json:"notifyMs"`
	// FirstRequests and FirstRequestsMs: the launcher's post-restore pass
	// after afterRestore (requests sent, and how long they took), before
	// it reported the restore; the JVM serves meanwhile.
	FirstRequests   int     `json:"firstRequests,omitempty"`
	FirstRequestsMs float64 `json:"firstRequestsMs,omitempty"`
	// LauncherStartUnixMs is when the launcher started (wall clock, ms
	// since the epoch), for a caller that knows when it started the
	// container (Complete).
	LauncherStartUnixMs float64 `json:"launcherStartUnixMs,omitempty"`
	// RuntimeMs: from the container's start (as its starter timed it) to
	// the launcher's start: the OCI runtime's work and the exec. AfterMs:
	// from criu's return to the first answer. Both are set by Complete.
	RuntimeMs float64 `json:"runtimeMs,omitempty"`
	AfterMs   float64 `json:"afterMs,omitempty"`
}

// Complete sets RuntimeMs and AfterMs from when the container was started
// and how long after that its first answer came.
func (b *Breakdown) Complete(started time.Time, firstAnswer time.Duration) {
	if b == nil || b.LauncherStartUnixMs <= 0 {
		return
	}
	b.RuntimeMs = math.Round((b.LauncherStartUnixMs-float64(started.UnixNano())/1e6)*1000) / 1000
	b.AfterMs = math.Round((float64(firstAnswer.Microseconds())/1000-b.RuntimeMs-b.ChecksMs-b.CriuMs)*1000) / 1000
}

// String is the breakdown on one line, for logs.
func (b Breakdown) String() string {
	mib := func(n int64) string { return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) }
	prefix, suffix := "", ""
	if b.RuntimeMs > 0 {
		prefix = fmt.Sprintf("container runtime %.0f ms, ", b.RuntimeMs)
		suffix = fmt.Sprintf("; first answer %.0f ms after criu", b.AfterMs)
	}
	return prefix + fmt.Sprintf("checks %.0f ms, criu exec %.0f ms, start-up and kernel probing %.0f ms, process tree %.0f ms, mappings %.0f ms, pages %.0f ms (%s MiB mapped, %s MiB read), threads and resume %.0f ms (checks beside the restore %.0f ms), afterRestore %.0f ms",
		b.ChecksMs, b.CriuExecMs, b.StartupMs, b.TreeMs, b.MappingsMs, b.PagesMs, mib(b.PagesMapped), mib(b.PagesRead), b.ResumeMs, b.GateMs, b.NotifyMs) + suffix
}

// timingMarker starts the patched CRIU's timing lines.
const timingMarker = "crac-build: timing: "

// ParseRestoreLog fills the CRIU part of a breakdown from a restore log;
// criuMs is the launcher's time for the whole
// criu call. With several tasks the steps run from the first task's start
// marker to the last task's end marker, and the bytes are summed.
func ParseRestoreLog(log []byte, criuMs float64) Breakdown {
	var (
		b                                              = Breakdown{CriuMs: criuMs}
		tree, restorer, pagesStart, pagesEnd, finished float64
		last                                           float64
		haveTree, haveRestorer                         bool
		havePages, havePagesEnd                        bool
	)
	sc := bufio.NewScanner(bytes.NewReader(log))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		ts, msg, ok := logLine(sc.Text())
		if !ok {
			continue
		}
		last = ts
		// The patched CRIU's markers are warnings ("crac-build: timing:
		// ..."), in the log at every level; at level 3 and more CRIU's own
		// info lines mark the same points.
		if i := strings.Index(msg, timingMarker); i >= 0 {
			msg = msg[i+len(timingMarker):]
		}
		switch {
		case msg == "tree", strings.HasPrefix(msg, "Reading image tree"):
			if !haveTree {
				tree, haveTree = ts, true
			}
		case msg == "restorer", strings.HasPrefix(msg, "Switched to the restorer"):
			if !haveRestorer {
				restorer, haveRestorer = ts, true
			}
		case strings.HasPrefix(msg, "pages: restoring"):
			if !havePages {
				pagesStart, havePages = ts, true
			}
		case strings.HasPrefix(msg, "pages: mapped "), strings.HasPrefix(msg, "pages: read "):
			// "pages: mapped N bytes in M mappings, read K bytes" or
			// "pages: read K bytes"
			pagesEnd, havePagesEnd = ts, true
			var mapped, maps, read int64
			if _, err := fmt.Sscanf(msg, "pages: mapped %d bytes in %d mappings, read %d bytes", &mapped, &maps, &read); err == nil {
				b.PagesMapped += mapped
				b.PagesRead += read
			} else if _, err := fmt.Sscanf(msg, "pages: read %d bytes", &read); err == nil {
				b.PagesRead += read
			}
		case msg == "finished", strings.HasPrefix(msg, "Restore finished successfully"):
			if finished == 0 {
				finished = ts
			}
		}
	}
	if finished == 0 {
		finished = last
	}
	if haveTree {
		b.StartupMs = tree
	}
	if haveTree && haveRestorer {
		b.TreeMs = restorer - tree
	}
	if haveRestorer && havePages {
		b.MappingsMs = pagesStart - restorer
	}
	if havePages && havePagesEnd {
		b.PagesMs = pagesEnd - pagesStart
		b.ResumeMs = finished - pagesEnd
	}
	if criuMs > finished {
		b.CriuExecMs = criuMs - finished
	}
	for _, f := range []*float64{&b.CriuExecMs, &b.StartupMs, &b.TreeMs, &b.MappingsMs, &b.PagesMs, &b.ResumeMs} {
		*f = math.Round(*f*1000) / 1000
	}
	return b
}

// logLine splits "(00.052291) message" into milliseconds and message.
func logLine(s string) (float64, string, bool) {
	if len(s) < 3 || s[0] != '(' {
		return 0, "", false
	}
	end := strings.IndexByte(s, ')')
	if end < 0 {
		return 0, "", false
	}
	sec, err := strconv.ParseFloat(strings.TrimSpace(s[1:end]), 64)
	if err != nil {
		return 0, "", false
	}
	msg := strings.TrimSpace(s[end+1:])
	// "pie: 129: ..." and "129: ..." prefixes
	msg = strings.TrimSpace(strings.TrimPrefix(msg, "pie:"))
	if i := strings.Index(msg, ": "); i > 0 {
		if _, err := strconv.Atoi(msg[:i]); err == nil {
			msg = msg[i+2:]
		}
	}
	return sec * 1000, msg, true
}
