package launcher

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/crac-build/crac-build/internal/contract"
)

// A restored JVM cannot learn from its environment that it was restored:
// its environment is the one it had at the checkpoint, in its own memory.
// So the launcher tells it through a file, written before the restore so
// that it is there from the restored process's first instruction on (an
// application checks it, or its id, before it uses what must differ between
// copies), and, if the image asks for it, with a signal right after.

// MarkRestored writes the file at path (contract.RestoredPath) for a
// restore about to happen: a fresh random id, the time, and when the
// checkpoint was made, in Java properties format. It returns the id.
func MarkRestored(path string, m *contract.Metadata, now time.Time) (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("making a restore id: %w", err)
	}
	id := hex.EncodeToString(b)
	content := fmt.Sprintf("# crac-launch restored this process from a checkpoint; id changes with every restore\nid=%s\ntime=%s\ncheckpoint=%s\n",
		id, now.UTC().Format(time.RFC3339Nano), m.Created.UTC().Format(time.RFC3339))
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("writing %s: %w", path, err)
	}
	// Written aside and renamed: a reader never sees half of it.
	tmp, err := os.CreateTemp(dir, ".restored-")
	if err != nil {
		return "", fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(content); err != nil {
		tmp.Close()
		return "", fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return "", fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", fmt.Errorf("writing %s: %w", path, err)
	}
	return id, nil
}

// ClearRestored removes the file at path before a cold start, so that a
// cold application (after a failed restore, or in a restarted container
// whose filesystem kept it) does not believe it was restored.
func ClearRestored(path string) error {
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("removing %s: %w", path, err)
	}
	return nil
}

// SignalRestored sends the image's restore signal, if it has one, to the
// restored process.
func SignalRestored(pid int, m *contract.Metadata) error {
	if m == nil || m.RestoreSignal == "" {
		return nil
	}
	name, sig, err := contract.ParseRestoreSignal(m.RestoreSignal)
	if err != nil {
		return err
	}
	if err := syscall.Kill(pid, sig); err != nil {
		return fmt.Errorf("sending %s to restored process %d: %w", name, pid, err)
	}
	return nil
}
