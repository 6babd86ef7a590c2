package launcher

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/crac-build/crac-build/internal/contract"
)

func TestReasonsCatalogue(t *testing.T) {
	id := regexp.MustCompile(`^[a-z]+(-[a-z]+)*$`)
	seen := map[ReasonID]bool{}
	for _, r := range Reasons() {
		if !id.MatchString(string(r.ID)) {
			t.Errorf("reason ID %q: want lower-case words joined by '-'", r.ID)
		}
		if seen[r.ID] {
			t.Errorf("reason ID %q listed twice", r.ID)
		}
		seen[r.ID] = true
		if r.Summary == "" {
			t.Errorf("reason %q has no summary", r.ID)
		}
	}
	// Callers get a copy: the catalogue is not theirs to change.
	Reasons()[0].ID = "changed"
	if Reasons()[0].ID == "changed" {
		t.Error("Reasons returns the catalogue itself, not a copy")
	}
}

func TestReasonOf(t *testing.T) {
	inner := errors.New("missing capabilities CAP_CHECKPOINT_RESTORE")
	err := because(ReasonCapabilities, inner)
	if got := ReasonOf(err); got != ReasonCapabilities {
		t.Errorf("ReasonOf = %q, want %q", got, ReasonCapabilities)
	}
	if err.Error() != inner.Error() || !errors.Is(err, inner) {
		t.Errorf("filed reason %q does not read and unwrap as %q", err, inner)
	}
	// A reason keeps the first ID it was filed under.
	if got := ReasonOf(because(ReasonRestoreFailed, err)); got != ReasonCapabilities {
		t.Errorf("refiled reason: ReasonOf = %q, want %q", got, ReasonCapabilities)
	}
	if because(ReasonRestoreFailed, nil) != nil {
		t.Error("because(id, nil) is not nil")
	}
	if got := ReasonOf(inner); got != "" {
		t.Errorf("ReasonOf(an unfiled error) = %q, want none", got)
	}
}

// Each reason Check can give without CRIU is filed under its ID, and each
// ID it gives is in the catalogue.
func TestCheckReasonIDs(t *testing.T) {
	catalogued := map[ReasonID]bool{}
	for _, r := range Reasons() {
		catalogued[r.ID] = true
	}
	// The checks after the capabilities' need a process that could restore.
	canRestore := checkCaps(&contract.Metadata{}) == nil
	withCriu := func(o Options) Options {
		if err := os.WriteFile(o.CriuPath, []byte("#!/bin/false\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return o
	}
	for _, tc := range []struct {
		name      string
		opts      func() Options
		afterCaps bool
		want      ReasonID
	}{
		{name: "arguments", want: ReasonArguments, opts: func() Options {
			o := checkpointDir(t, nil)
			o.Args = []string{"sh"}
			return o
		}},
		{name: "no metadata", want: ReasonMetadata, opts: func() Options {
			return Options{MetadataPath: filepath.Join(t.TempDir(), "missing.json")}
		}},
		{name: "unknown format", want: ReasonMetadata, opts: func() Options {
			return checkpointDir(t, func(m *contract.Metadata) { m.FormatVersion = 99 })
		}},
		{name: "CRAC_RESTORE=off", want: ReasonRestoreOff, opts: func() Options {
			o := checkpointDir(t, nil)
			o.Env = []string{"CRAC_RESTORE=off"}
			return o
		}},
		{name: "bad timeout", want: ReasonTimeoutValue, opts: func() Options {
			o := checkpointDir(t, nil)
			o.Env = []string{"CRAC_RESTORE_TIMEOUT=soon"}
			return o
		}},
		{name: "environment, cold policy", want: ReasonEnvironment, opts: func() Options {
			o := checkpointDir(t, func(m *contract.Metadata) { m.OnEnvChange = contract.EnvChangeCold })
			o.Env = []string{"DB_URL=postgres://db"}
			return o
		}},
		{name: "limits, cold policy", want: ReasonLimits, opts: func() Options {
			build := contract.Limits{CPUs: 2, MemoryBytes: 1 << 30}
			o := checkpointDir(t, func(m *contract.Metadata) { m.Limits, m.OnLimitsChange = &build, contract.LimitsChangeCold })
			o.limits = func() (*contract.Limits, error) { return &contract.Limits{CPUs: 1, MemoryBytes: 1 << 30}, nil }
			return o
		}},
		{name: "architecture", want: ReasonArchitecture, opts: func() Options {
			return checkpointDir(t, func(m *contract.Metadata) { m.Host.Arch = "sparc64" })
		}},
		{name: "PID taken", want: ReasonPIDs, afterCaps: true, opts: func() Options {
			return checkpointDir(t, func(m *contract.Metadata) { m.Process.PID = os.Getpid() })
		}},
		{name: "no criu bundle", want: ReasonCriuBundle, afterCaps: true, opts: func() Options {
			return checkpointDir(t, nil)
		}},
		{name: "truncated image file", want: ReasonCheckpoint, afterCaps: true, opts: func() Options {
			return withCriu(checkpointDir(t, func(m *contract.Metadata) { m.Images[1].Size++ }))
		}},
		{name: "open file gone, CRAC_VERIFY=before", want: ReasonOpenFiles, afterCaps: true, opts: func() Options {
			o := withCriu(checkpointDir(t, func(m *contract.Metadata) {
				m.OpenFiles = []contract.OpenFile{{Path: "/nonexistent/app.jar", Size: 1, Mode: 0o644}}
			}))
			o.Env = []string{"CRAC_VERIFY=before"}
			return o
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.afterCaps && !canRestore {
				t.Skip("the test process lacks the capabilities a restore needs: the capability check comes first")
			}
			p := Check(tc.opts())
			got := ReasonOf(p.Reason)
			if got != tc.want {
				t.Errorf("reason %v filed under %q, want %q", p.Reason, got, tc.want)
			}
			if !catalogued[got] {
				t.Errorf("reason %v filed under %q, which is not in Reasons()", p.Reason, got)
			}
		})
	}
}
