package main

import (
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/crac-build/crac-build/internal/contract"
)

// criuBundle finds the CRIU bundle: the flag or $CRAC_CRIU_BUNDLE, then
// build/criu of the checkout this binary was built in (bin/../build/criu),
// then criu beside this binary's bin dir (the crac-build image's layout,
// wherever it is mounted), then ./build/criu, then the prefix of a
// crac-build image.
func criuBundle(c *cli.Context) string {
	if v := c.String("criu-bundle"); v != "" {
		return v
	}
	var cands []string
	if exe, err := os.Executable(); err == nil {
		cands = append(cands, filepath.Join(filepath.Dir(exe), "..", "build", "criu"), filepath.Join(filepath.Dir(exe), "..", "criu"))
	}
	cands = append(cands, filepath.Join("build", "criu"), contract.CriuDir)
	for _, d := range cands {
		if _, err := os.Stat(filepath.Join(d, "criu")); err == nil {
			abs, err := filepath.Abs(d)
			if err == nil {
				return abs
			}
			return d
		}
	}
	return ""
}

// launcherPath finds crac-launch: the flag or $CRAC_LAUNCHER, then next to
// this binary, then the prefix of a crac-build image.
func launcherPath(c *cli.Context) string {
	if v := c.String("launcher"); v != "" {
		return v
	}
	var cands []string
	if exe, err := os.Executable(); err == nil {
		cands = append(cands, filepath.Join(filepath.Dir(exe), "crac-launch"))
	}
	cands = append(cands, contract.LauncherPath)
	for _, p := range cands {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}
