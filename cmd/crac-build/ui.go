package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/crac-build/crac-build/internal/progress"
)

// ui renders on stderr what the library packages report: step lines, and
// byte progress as one bar at a time (operations do not overlap), only
// when stderr is a terminal and --quiet is off.
type ui struct {
	mu    sync.Mutex
	w     io.Writer
	quiet bool
	bars  bool
	key   string
	bar   *progressbar.ProgressBar
	max   int64
	// finished is the operation whose bar completed: late updates of it
	// (a push reports its last blob again as the manifest goes) must not
	// draw a second bar.
	finished string
}

func newUI(c *cli.Context) *ui {
	quiet := c.Bool("quiet")
	return &ui{w: os.Stderr, quiet: quiet, bars: !quiet && term.IsTerminal(int(os.Stderr.Fd()))}
}

// logf prints one step line (nothing with --quiet).
func (u *ui) logf(format string, a ...any) {
	if u.quiet {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.bar != nil {
		_ = u.bar.Clear() // redrawn by its next update
	}
	fmt.Fprintf(u.w, "crac-build: "+format+"\n", a...)
}

// progress returns the callback for the libraries, nil when no bars are
// drawn (so that they skip the counting).
func (u *ui) progress() progress.Func {
	if !u.bars {
		return nil
	}
	return u.update
}

var verbs = map[string]string{
	progress.Pull:     "pulling",
	progress.Unpack:   "unpacking",
	progress.Compress: "compressing",
	progress.Push:     "pushing",
}

func (u *ui) update(p progress.Update) {
	u.mu.Lock()
	defer u.mu.Unlock()
	key := p.Op + "\x00" + p.Name
	if key == u.finished && p.Total > 0 && p.Done >= p.Total {
		return
	}
	if key != u.key {
		u.finishLocked()
		u.key = key
		u.max = p.Total
		max := p.Total
		if max <= 0 {
			max = -1 // unknown: a spinner
		}
		verb := verbs[p.Op]
		if verb == "" {
			verb = p.Op
		}
		u.bar = progressbar.NewOptions64(max,
			progressbar.OptionSetWriter(u.w),
			progressbar.OptionSetDescription(verb+" "+p.Name),
			progressbar.OptionShowBytes(true),
			progressbar.OptionSetWidth(30),
			// Updates come per read or write; a redraw 10 times a second
			// is smooth and costs nothing.
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionUseIECUnits(true),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(u.w) }),
		)
	}
	if p.Total > 0 && p.Total != u.max {
		u.max = p.Total
		u.bar.ChangeMax64(p.Total)
	}
	_ = u.bar.Set64(p.Done)
	if p.Total > 0 && p.Done >= p.Total {
		u.finishLocked()
	}
}

func (u *ui) finishLocked() {
	if u.bar != nil {
		_ = u.bar.Finish()
		u.bar = nil
		u.finished = u.key
	}
	u.key = ""
}

// done ends a bar left open (an operation that failed half-way).
func (u *ui) done() {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.bar != nil {
		_ = u.bar.Exit()
		fmt.Fprintln(u.w)
		u.bar = nil
	}
	u.key = ""
}
