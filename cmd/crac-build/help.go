package main

import (
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"
)

// Help that fits on a screen: one line per flag ("--output, -o REF  what
// it does (default: x)"), the flags of build and checkpoint in their
// categories in a fixed order, and one line for a mistyped flag instead
// of the whole help.

func init() {
	// urfave/cli writes a repeatable flag as "--add value [ --add value ]"
	// and every default, false and 0 included: a help of 100-column lines.
	// Package main owns the command line, so it sets the stringer.
	cli.FlagStringer = flagLine
}

// flagLine is one flag's help line: names and placeholder, a tab (the
// help's tabwriter aligns the usages), the usage, the default if it is not
// the zero value, and the environment variable that sets it.
func flagLine(f cli.Flag) string {
	df, ok := f.(cli.DocGenerationFlag)
	if !ok {
		return ""
	}
	placeholder, usage := unquoteUsage(df.GetUsage())
	if df.TakesValue() && placeholder == "" {
		placeholder = flagPlaceholder(f)
	}
	var names []string
	for _, n := range df.Names() {
		if len(n) == 1 {
			names = append(names, "-"+n)
		} else {
			names = append(names, "--"+n)
		}
	}
	s := strings.Join(names, ", ")
	if placeholder != "" {
		s += " " + placeholder
	}
	if d := defaultText(f); d != "" {
		usage += " (default " + d + ")"
	}
	if env := df.GetEnvVars(); len(env) > 0 {
		usage += " [$" + strings.Join(env, ", $") + "]"
	}
	return s + "\t" + usage
}

// placeholders name the values of flags whose usage has no `NAME`.
var placeholders = map[string]string{
	"base": "REF", "add": "SRC:DEST", "platform": "OS/ARCH", "cmd": "CMD", "env": "K=V", "workdir": "DIR",
	"user": "USER[:GROUP]", "secret": "ID=FILE", "memory": "SIZE", "network": "MODE", "ready-url": "URL",
	"warmup": "PROGRAM", "warmup-path": "PATH", "agent": "JAR", "on-restore-error": "POLICY",
	"on-env-change": "POLICY", "on-limits-change": "POLICY", "restore-signal": "SIGNAL", "output": "REF",
	"push": "REF", "compression": "ALGO", "warmup-requests-file": "FILE", "warmup-rounds": "ROUNDS", "cpu-baseline": "LEVEL", "runtime": "NAME", "criu-bundle": "DIR", "launcher": "FILE",
	"cache-dir": "DIR",
}

// flagPlaceholder is a flag's value's name: from placeholders, else from
// its type.
func flagPlaceholder(f cli.Flag) string {
	if p, ok := placeholders[f.Names()[0]]; ok {
		return p
	}
	switch f.(type) {
	case *cli.DurationFlag:
		return "DURATION"
	case *cli.IntFlag, *cli.Float64Flag:
		return "N"
	}
	return "VALUE"
}

// unquoteUsage takes the placeholder out of a usage: "write to `REF`"
// gives ("REF", "write to REF"), as urfave/cli does.
func unquoteUsage(usage string) (string, string) {
	before, rest, ok := strings.Cut(usage, "`")
	if !ok {
		return "", usage
	}
	name, after, ok := strings.Cut(rest, "`")
	if !ok {
		return "", usage
	}
	return name, before + name + after
}

// defaultText is a flag's default as the help shows it, "" for a zero
// value (no default worth a word).
func defaultText(f cli.Flag) string {
	switch f := f.(type) {
	case *cli.StringFlag:
		return f.Value
	case *cli.IntFlag:
		if f.Value != 0 {
			return fmt.Sprint(f.Value)
		}
	case *cli.DurationFlag:
		if f.Value != 0 {
			return f.Value.String()
		}
	case *cli.Float64Flag:
		if f.Value != 0 {
			return fmt.Sprint(f.Value)
		}
	}
	return ""
}

// categorizedHelp is the help of a command whose flags have categories,
// listed in the order of categories (urfave/cli sorts them by name), as a
// help template without actions. hidden names the flags that are there to
// be refused, in one line.
func categorizedHelp(c *cli.Command, categories []string, hidden string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: crac-build %s [options] %s\n", c.Name, c.ArgsUsage)
	b.WriteString(strings.ToUpper(c.Usage[:1]) + c.Usage[1:] + ".\n")
	if c.Description != "" {
		b.WriteString("\n" + strings.TrimSpace(c.Description) + "\n")
	}
	byCat := map[string][]cli.Flag{}
	for _, f := range c.Flags {
		if vf, ok := f.(cli.VisibleFlag); ok && !vf.IsVisible() {
			continue
		}
		cat := ""
		if cf, ok := f.(cli.CategorizableFlag); ok {
			cat = cf.GetCategory()
		}
		byCat[cat] = append(byCat[cat], f)
	}
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, cat := range categories {
		if len(byCat[cat]) == 0 {
			continue
		}
		fmt.Fprintf(tw, "\n%s:\n", cat)
		for _, f := range byCat[cat] {
			fmt.Fprintf(tw, "  %s\n", flagLine(f))
		}
		delete(byCat, cat)
	}
	if len(byCat) > 0 {
		// A flag without a known category still shows, last.
		var rest []string
		for cat := range byCat {
			rest = append(rest, cat)
		}
		sort.Strings(rest)
		fmt.Fprintf(tw, "\nOther:\n")
		for _, cat := range rest {
			for _, f := range byCat[cat] {
				fmt.Fprintf(tw, "  %s\n", flagLine(f))
			}
		}
	}
	fmt.Fprintf(tw, "  --help, -h\tshow this help\n")
	tw.Flush()
	if hidden != "" {
		b.WriteString(hidden + "\n")
	}
	// A template: braces in the text must not start actions.
	return strings.ReplaceAll(b.String(), "{{", `{{"{{"}}`)
}

// onUsageError makes a parse error (an unknown flag, a flag without its
// value, a bad number) one line that says where the flags are listed,
// instead of the error followed by the whole help. A near flag name is
// suggested.
func onUsageError(c *cli.Context, err error, _ bool) error {
	cmd := "crac-build"
	flags := c.App.Flags
	if c.Command != nil && c.Command.Name != "" && c.Command.Name != c.App.Name {
		cmd += " " + c.Command.Name
		flags = c.Command.Flags
	}
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		name = strings.TrimLeft(name, "-")
		msg = "unknown flag --" + name
		if near := nearestFlag(name, flags); near != "" {
			msg += " (did you mean --" + near + "?)"
		}
	}
	return fmt.Errorf("%s; `%s --help` lists the flags", msg, cmd)
}

// nearestFlag is the flag name closest to name, if it is close: at most
// two edits away, or name abbreviates it.
func nearestFlag(name string, flags []cli.Flag) string {
	best, bestD := "", 3
	for _, f := range flags {
		for _, n := range f.Names() {
			if len(n) < 2 {
				continue
			}
			d := editDistance(name, n)
			if strings.HasPrefix(n, name) {
				d = min(d, 2) // an abbreviation
			}
			if d < bestD {
				best, bestD = n, d
			}
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
