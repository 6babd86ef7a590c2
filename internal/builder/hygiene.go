package builder

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/crac-build/crac-build/internal/checkpoint"
	"github.com/crac-build/crac-build/internal/contract"
	"github.com/crac-build/crac-build/internal/host"
	"github.com/crac-build/crac-build/internal/sandbox"
	"github.com/crac-build/crac-build/internal/secrets"
)

// hygieneDefaults checks the options about what goes into a checkpoint.
func (o *Options) hygieneDefaults() error {
	switch o.Network {
	case "", sandbox.NetworkNone:
		o.Network = sandbox.NetworkNone
	case sandbox.NetworkHost:
	default:
		return fmt.Errorf("--network %q: want none or host", o.Network)
	}
	if o.RestoreSignal != "" {
		name, _, err := contract.ParseRestoreSignal(o.RestoreSignal)
		if err != nil {
			return err
		}
		o.RestoreSignal = name
	}
	seen := map[string]bool{}
	for _, s := range o.Secrets {
		if seen[s.ID] {
			return fmt.Errorf("--secret %s given twice", s.ID)
		}
		seen[s.ID] = true
	}
	return nil
}

// secretsMount shows the staged secrets to the application, read-only.
func secretsMount(dir string) specs.Mount {
	return specs.Mount{
		Destination: contract.SecretsDir, Type: "bind", Source: dir,
		Options: []string{"rbind", "ro", "nosuid", "nodev", "noexec"},
	}
}

// skipSecretsDir leaves the mount point of the secrets out of the diff:
// runc creates it in the upper dir when the base has no /run/secrets.
func skipSecretsDir(rel string) bool {
	return rel == strings.TrimPrefix(contract.SecretsDir, "/")
}

// checkpointHygiene is what Build and Checkpoint make of the dump's
// report: the inventory (or at least its warnings), the check of the
// restore signal, and the scan of the CRIU images and of the application's
// files (upper: "" for none) for the build secrets (nil for none) and
// well-known secret formats.
func checkpointHygiene(rep *checkpoint.Report, restoreSignal, images, upper string, staged *secrets.Values, logf func(string, ...any)) (*contract.Hygiene, error) {
	hyg := rep.Hygiene
	if hyg == nil {
		hyg = &contract.Hygiene{Warnings: rep.Warnings}
	}
	if err := checkRestoreSignal(restoreSignal, hyg); err != nil {
		return nil, err
	}
	logf("scanning the checkpoint for secrets")
	files, err := scanFiles(images, upper)
	if err != nil {
		return nil, err
	}
	if err := scanCheckpoint(files, staged, hyg); err != nil {
		return nil, err
	}
	return hyg, nil
}

// scanFiles lists what a scan of the checkpoint covers: every CRIU image
// file (memory pages, but also pipe and socket buffers, deleted files) and
// every file the application wrote in the sandbox.
func scanFiles(images, upper string) ([]secrets.File, error) {
	var out []secrets.File
	ents, err := os.ReadDir(images)
	if err != nil {
		return nil, fmt.Errorf("listing checkpoint images %s: %w", images, err)
	}
	for _, e := range ents {
		if e.Type().IsRegular() {
			out = append(out, secrets.File{Path: filepath.Join(images, e.Name()), Name: e.Name()})
		}
	}
	if upper == "" {
		return out, nil // an in-build checkpoint: the build step's layer is not ours to scan
	}
	err = filepath.WalkDir(upper, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("listing the application's files %s: %w", p, err)
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(upper, p)
			out = append(out, secrets.File{Path: p, Name: "diff:/" + filepath.ToSlash(rel)})
		}
		return nil
	})
	return out, err
}

// scanCheckpoint searches the checkpoint and the diff for the build
// secrets' values and for well-known secret formats, records the scans in
// h, and fails naming each secret found (never its value).
func scanCheckpoint(files []secrets.File, staged *secrets.Values, h *contract.Hygiene) error {
	var needles []secrets.Needle
	if staged != nil {
		for _, id := range staged.IDs() {
			v := staged.Value(id)
			ns := secrets.Needles(id, v)
			sc := contract.SecretScan{ID: id, Bytes: len(v), Scanned: len(ns) > 0}
			if len(ns) == 0 {
				sc.Note = fmt.Sprintf("shorter than %d bytes: too short to tell from other data, not scanned", secrets.MinScanLen)
				h.Warnings = append(h.Warnings, fmt.Sprintf("secret %s is %s", id, sc.Note))
			}
			h.Secrets = append(h.Secrets, sc)
			needles = append(needles, ns...)
		}
	}
	hits, err := secrets.Scan(files, needles)
	if err != nil {
		return err
	}
	findings, err := secrets.ScanTokens(files)
	if err != nil {
		return err
	}
	h.Findings = findings
	byKind := map[string][]string{}
	var kinds []string
	for _, f := range findings {
		if byKind[f.Kind] == nil {
			kinds = append(kinds, f.Kind)
		}
		byKind[f.Kind] = append(byKind[f.Kind], fmt.Sprintf("%d in %s", f.Count, f.File))
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		h.Warnings = append(h.Warnings, fmt.Sprintf("%s found in the checkpoint (%s): every container restored from the image gets it; if it is a real secret, load it after the restore", k, strings.Join(byKind[k], ", ")))
	}
	if len(hits) == 0 {
		return nil
	}
	where := map[string][]string{}
	var ids []string
	for _, hit := range hits {
		if where[hit.ID] == nil {
			ids = append(ids, hit.ID)
		}
		where[hit.ID] = append(where[hit.ID], fmt.Sprintf("%s as %s", hit.File, hit.Encoding))
	}
	sort.Strings(ids)
	var lines []string
	for _, id := range ids {
		lines = append(lines, fmt.Sprintf("secret %q found in %s", id, strings.Join(where[id], ", ")))
	}
	return fmt.Errorf("build secrets are in the checkpoint, so every image and every container restored from it would hold them:\n  %s\nthe application keeps the value it read from %s/ID after the warmup (in memory, or in a file it wrote); read secrets after the restore instead (see docs/checkpoint-contents.md, \"Secrets\"), or drop every copy before the checkpoint",
		strings.Join(lines, "\n  "), contract.SecretsDir)
}

// checkRestoreSignal refuses a restore signal the application does not
// catch: sent after the restore, SIGUSR1 would end the JVM.
func checkRestoreSignal(name string, h *contract.Hygiene) error {
	if name == "" || h == nil || len(h.Processes) == 0 {
		return nil
	}
	_, sig, err := contract.ParseRestoreSignal(name)
	if err != nil {
		return err
	}
	caught, err := host.ParseCapMask(h.Processes[0].SigCgt) // same hex mask format
	if err != nil {
		return fmt.Errorf("reading the signals process %d catches: %w", h.Processes[0].PID, err)
	}
	if caught&(1<<(uint(sig)-1)) == 0 {
		effect := "be lost on it"
		if sig == syscall.SIGUSR1 {
			effect = "end it" // SIGUSR1's default action
		}
		return fmt.Errorf("--restore-signal %s: the application (process %d) does not catch %s, so the launcher's signal would %s; install a handler before the checkpoint (sun.misc.Signal.handle) or drop the option",
			name, h.Processes[0].PID, name, effect)
	}
	return nil
}
