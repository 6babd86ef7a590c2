package checkpoint

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// An excerpt of a real restore log (CRIU 4.2.1 with the crac-build patch,
// level 4, examples/hello), with the lines the breakdown reads.
const mappedLog = `(00.000000) CRIU run id = c687d64c-c621-4d20-b1b4-e371d1b04555
(00.000127) Version: 4.2.1 (gitid 0)
(00.040636) Reading image tree
(00.046542) Forking task with 129 pid (flags 0x8000)
(00.052291)    129: nr_restored_pages: 21576
(00.067675) pie: 129: Switched to the restorer 129
(00.068794) pie: 129: pages: restoring 61 runs
(00.074787) pie: 129: pages: mapped 87928832 bytes in 324 mappings, read 446464 bytes
(00.088407) net: Unlock network
(00.098842) Restore finished successfully. Tasks resumed.
(00.099177) Running post-resume scripts
`

func TestParseRestoreLog(t *testing.T) {
	got := ParseRestoreLog([]byte(mappedLog), 110)
	want := Breakdown{
		StartupMs: 40.636, TreeMs: 67.675 - 40.636, MappingsMs: 68.794 - 67.675,
		PagesMs: 74.787 - 68.794, PagesMapped: 87928832, PagesRead: 446464,
		ResumeMs: 98.842 - 74.787, CriuMs: 110, CriuExecMs: 110 - 98.842,
	}
	if d := cmp.Diff(want, got, cmp.Comparer(func(a, b float64) bool { return a-b < 1e-6 && b-a < 1e-6 })); d != "" {
		t.Errorf("breakdown (-want +got):\n%s", d)
	}
}

// The same restore at the launcher's default level 2: only the patched
// CRIU's warning-level markers.
const markerLog = `(00.000000) CRIU run id = c687d64c-c621-4d20-b1b4-e371d1b04555
(00.000185) Warn  (criu/kerndat.c:1200): $XDG_RUNTIME_DIR not set. Cannot find location for kerndat file
(00.040640) Warn  (criu/pstree.c:653): crac-build: timing: tree
(00.067680) pie: 129: Warn  (criu/pie/restorer.c:1902): crac-build: timing: restorer
(00.068800) pie: 129: Warn  (criu/pie/restorer.c:2024): crac-build: timing: pages: restoring 61 runs
(00.074790) pie: 129: Warn  (criu/pie/restorer.c:2035): crac-build: timing: pages: mapped 87928832 bytes in 324 mappings, read 446464 bytes
(00.098850) Warn  (criu/cr-restore.c:2288): crac-build: timing: finished
`

func TestParseRestoreLogMarkers(t *testing.T) {
	got := ParseRestoreLog([]byte(markerLog), 110)
	want := Breakdown{
		StartupMs: 40.64, TreeMs: 67.68 - 40.64, MappingsMs: 68.8 - 67.68,
		PagesMs: 74.79 - 68.8, PagesMapped: 87928832, PagesRead: 446464,
		ResumeMs: 98.85 - 74.79, CriuMs: 110, CriuExecMs: 110 - 98.85,
	}
	if d := cmp.Diff(want, got, cmp.Comparer(func(a, b float64) bool { return a-b < 1e-6 && b-a < 1e-6 })); d != "" {
		t.Errorf("breakdown (-want +got):\n%s", d)
	}
}

func TestParseRestoreLogStockRead(t *testing.T) {
	log := "(00.010000) Reading image tree\n(00.020000) pie: 7: Switched to the restorer 7\n(00.021000) pie: 7: pages: restoring 3 runs\n" +
		"(00.241000) pie: 7: pages: read 94371840 bytes\n(00.260000) Restore finished successfully. Tasks resumed.\n"
	got := ParseRestoreLog([]byte(log), 0)
	if got.PagesRead != 94371840 || got.PagesMapped != 0 || got.PagesMs < 219.9 || got.PagesMs > 220.1 {
		t.Errorf("stock read: %+v", got)
	}
}

func TestParseRestoreLogWithoutMarkers(t *testing.T) {
	// A stock CRIU at level 2 writes none of the markers: nothing is made up.
	got := ParseRestoreLog([]byte("(00.001000) Warn  (criu/kerndat.c:1200): $XDG_RUNTIME_DIR not set\n"), 50)
	if got.StartupMs != 0 || got.PagesMs != 0 || got.TreeMs != 0 || got.CriuExecMs < 48.9 {
		t.Errorf("no markers: %+v", got)
	}
}
