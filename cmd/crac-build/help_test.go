package main

import (
	"strings"
	"testing"
)

// Limits of a help that fits on a screen: a terminal of 50 lines, and
// lines that a terminal of 110 columns shows unwrapped.
const (
	helpLines   = 50
	helpColumns = 110
)

func help(t *testing.T, args ...string) string {
	t.Helper()
	var out strings.Builder
	if err := testApp(&out).Run(append(append([]string{"crac-build"}, args...), "--help")); err != nil {
		t.Fatalf("%v --help: %v", args, err)
	}
	return out.String()
}

// `crac-build --help` and each command's help fit on a screen.
func TestHelpFitsOnAScreen(t *testing.T) {
	for _, cmd := range append([]string{""}, commandNames()...) {
		t.Run("crac-build "+cmd, func(t *testing.T) {
			var args []string
			if cmd != "" {
				args = []string{cmd}
			}
			h := help(t, args...)
			lines := strings.Split(strings.TrimRight(h, "\n"), "\n")
			if len(lines) > helpLines {
				t.Errorf("%d lines, want at most %d:\n%s", len(lines), helpLines, h)
			}
			for _, l := range lines {
				if len(l) > helpColumns {
					t.Errorf("a line of %d columns, want at most %d: %q", len(l), helpColumns, l)
				}
			}
		})
	}
}

func commandNames() []string {
	var out []string
	for _, c := range newApp().Commands {
		out = append(out, c.Name)
	}
	return out
}

// build's and checkpoint's flags are grouped, in the order of a build:
// the image, the application, its warmup, the checkpoint, the output.
// Every flag is in a group; checkpoint names the flags it refuses.
func TestHelpGroups(t *testing.T) {
	for cmd, want := range map[string][]string{
		"build":      {"Image:", "Application:", "Warmup:", "Checkpoint:", "Output:"},
		"checkpoint": {"Application:", "Warmup:", "Checkpoint:", "Output:"},
	} {
		h := help(t, cmd)
		at := -1
		for _, g := range want {
			i := strings.Index(h, "\n"+g+"\n")
			if i < at {
				t.Errorf("%s --help: %q missing or out of order:\n%s", cmd, g, h)
			}
			at = i
		}
		if strings.Contains(h, "\nOther:\n") {
			t.Errorf("%s --help: flags without a group:\n%s", cmd, h)
		}
	}
	if h := help(t, "checkpoint"); !strings.Contains(h, "Refused here (build only): --user, --cpus, --memory, --network, --combined-output.") {
		t.Errorf("checkpoint --help does not name the flags it refuses:\n%s", h)
	}
	for _, fl := range checkpointCommand().Flags {
		switch fl.Names()[0] {
		case "no-agent", "no-class-cache":
			continue // hidden in both: --agent's usage and the docs name them
		}
		if name := fl.Names()[0]; fl.(interface{ IsVisible() bool }).IsVisible() == (name == "user" || name == "cpus" || name == "memory" || name == "network" || name == "combined-output") {
			t.Errorf("checkpoint --%s: shown %v", name, fl.(interface{ IsVisible() bool }).IsVisible())
		}
	}
}

// One line per flag: names, value, usage and the default that is not a
// zero value.
func TestFlagLine(t *testing.T) {
	h := help(t, "build")
	for _, want := range []string{
		"  --output, -o REF ",
		"  --ready-timeout DURATION ",
		"(default 2m0s)",
		"  --agent JAR ",
		"[$CRAC_AGENT]",
	} {
		if !strings.Contains(h, want) {
			t.Errorf("build --help lacks %q:\n%s", want, h)
		}
	}
	for _, bad := range []string{"(default: false)", "(default: 0)", "[ --", "value"} {
		if strings.Contains(h, bad) {
			t.Errorf("build --help has %q:\n%s", bad, h)
		}
	}
}
