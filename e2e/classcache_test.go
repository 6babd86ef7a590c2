package e2e

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crac-build/crac-build/internal/contract"
	"github.com/crac-build/crac-build/internal/layers"
	"github.com/crac-build/crac-build/internal/proc"
)

// mapsFile says whether the process maps the file.
func mapsFile(t *testing.T, pid int, file string) bool {
	t.Helper()
	files, err := proc.MappedFiles(pid)
	if err != nil {
		t.Fatal(err)
	}
	return slices.Contains(files, file)
}

// coldServes starts ref cold and checks that it serves; it returns the
// start and the JVM's PID on the host.
func coldServes(t *testing.T, ref string) (*started, int) {
	t.Helper()
	s := startRef(t, ref, "CRAC_RESTORE=off")
	if mode, reason := s.r.WaitMode(5 * time.Second); mode != "cold" {
		t.Fatalf("launcher mode %q (%s), want cold", mode, reason)
	}
	if body := get(t, s.url+"/"); !strings.Contains(body, "hello from crac-build") {
		t.Errorf("cold GET / = %q", body)
	}
	// The launcher execs the cold command: the container's init is the JVM.
	return s, s.r.Container().InitPID()
}

// The hello image (JDK 17) carries a dynamic AppCDS archive in its
// application layer; a cold start maps it. When the application's jar
// changed after the build (a layer on top of the image), the JVM would
// refuse the archive: the launcher starts cold without it and says why in
// one line, and the application serves. If the launcher's check did not
// see the change (metadata without the files), the JVM itself refuses the
// archive and still starts.
func TestClassCacheRefusedStartsCold(t *testing.T) {
	m := meta(t)
	cc := m.ClassCache
	if cc == nil {
		t.Fatal("the hello image has no class cache in its metadata")
	}
	if cc.Kind != contract.ClassCacheAppCDS || cc.JDK != 17 || cc.Path != contract.ClassCacheDir+"/app.jsa" || cc.Size == 0 {
		t.Errorf("class cache %+v, want an AppCDS archive of JDK 17 at %s/app.jsa", cc, contract.ClassCacheDir)
	}
	var jar bool
	for _, f := range cc.Files {
		jar = jar || f.Path == "/app/hello.jar"
	}
	if !jar {
		t.Errorf("class cache files %+v lack /app/hello.jar", cc.Files)
	}
	var mapped bool
	for _, f := range m.OpenFiles {
		mapped = mapped || f.Path == cc.Path && f.Mapped
	}
	if !mapped {
		t.Errorf("the checkpointed JVM did not map %s", cc.Path)
	}

	t.Run("unchanged", func(t *testing.T) {
		s, pid := coldServes(t, helloImage(t))
		if strings.Contains(s.stderr.String(), "class cache not used") {
			t.Errorf("launcher refused the cache of an unchanged image:\n%s", s.stderr)
		}
		if !mapsFile(t, pid, cc.Path) {
			t.Errorf("the cold JVM does not map %s", cc.Path)
		}
	})

	changedJar := func(root string, tr *layers.Tar) {
		jar := jarWithComment(t, readFile(t, filepath.Join(root, "app/hello.jar")), "changed after the build")
		add(t, tr.AddBytes("/app/hello.jar", jar, 0o644))
	}
	t.Run("jar changed", func(t *testing.T) {
		ref := derive(t, "classcache-jar", func(root string, tr *layers.Tar, _ *contract.Metadata) bool {
			changedJar(root, tr)
			return false
		})
		s, pid := coldServes(t, ref)
		line := firstLine(s.stderr.String(), "crac-launch: class cache not used:")
		if !strings.Contains(line, "/app/hello.jar changed since the build") {
			t.Errorf("launcher line %q, want the changed jar named; stderr:\n%s", line, s.stderr)
		}
		if mapsFile(t, pid, cc.Path) {
			t.Errorf("the cold JVM maps %s, which the launcher left out", cc.Path)
		}
	})
	t.Run("jar changed, unchecked", func(t *testing.T) {
		ref := derive(t, "classcache-unchecked", func(root string, tr *layers.Tar, m *contract.Metadata) bool {
			changedJar(root, tr)
			m.ClassCache.Files = nil
			return true
		})
		s, pid := coldServes(t, ref)
		if strings.Contains(s.stderr.String(), "class cache not used") {
			t.Errorf("launcher refused the cache without files to check:\n%s", s.stderr)
		}
		if mapsFile(t, pid, cc.Path) {
			t.Errorf("the cold JVM maps %s although its jar changed", cc.Path)
		}
	})
}
