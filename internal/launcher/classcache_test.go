package launcher

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/crac-build/crac-build/internal/contract"
)

// cachePlan is a plan whose image has a class cache and a jar the cache
// was made with, both in a temporary directory.
func cachePlan(t *testing.T, cold []string) (*Plan, string) {
	dir := t.TempDir()
	cache, jar := filepath.Join(dir, "app.jsa"), filepath.Join(dir, "app.jar")
	for _, f := range []string{cache, jar} {
		if err := os.WriteFile(f, []byte("content of "+f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fi, err := os.Stat(jar)
	if err != nil {
		t.Fatal(err)
	}
	cc := &contract.ClassCache{Kind: contract.ClassCacheAppCDS, Path: cache, JDK: 17, Size: int64(len("content of " + cache)),
		JVMFlags: []string{"-XX:SharedArchiveFile=" + cache},
		Files:    []contract.StampedFile{{Path: jar, Size: fi.Size(), MTime: fi.ModTime().Unix()}}}
	m := &contract.Metadata{Cold: contract.Command{Args: cold}, ClassCache: cc}
	return &Plan{Meta: m, Cold: append([]string(nil), cold...)}, jar
}

func TestColdEnvAddsTheClassCache(t *testing.T) {
	p, _ := cachePlan(t, []string{"java", "-jar", "/app.jar"})
	env := ColdEnv(p, []string{"A=1"})
	flag := p.Meta.ClassCache.JVMFlags[0]
	if diff := cmp.Diff(p.Cold, []string{"java", flag, "-jar", "/app.jar"}); diff != "" {
		t.Errorf("cold command (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(env, []string{"A=1"}); diff != "" {
		t.Errorf("env (-got +want):\n%s", diff)
	}
	if p.ColdNote != "" {
		t.Errorf("note %q for a cache the JVM takes", p.ColdNote)
	}

	// A script: JAVA_TOOL_OPTIONS, which the JVM it starts reads.
	p, _ = cachePlan(t, []string{"/usr/share/tomcat10/bin/catalina.sh", "run"})
	env = ColdEnv(p, []string{"JAVA_TOOL_OPTIONS=-Xmx1g"})
	if diff := cmp.Diff(env, []string{"JAVA_TOOL_OPTIONS=" + p.Meta.ClassCache.JVMFlags[0] + " -Xmx1g"}); diff != "" {
		t.Errorf("env of a script (-got +want):\n%s", diff)
	}

	// The container's own command: no cache.
	p, _ = cachePlan(t, []string{"java", "-jar", "/app.jar"})
	p.Cold = []string{"java", "-version"}
	if ColdEnv(p, nil); len(p.Cold) != 2 || p.ColdNote != "" {
		t.Errorf("ColdEnv changed a replaced command: %q (%q)", p.Cold, p.ColdNote)
	}
}

func TestColdEnvLeavesARefusedClassCacheOut(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		change     func(p *Plan, jar string) error
	}{
		{"jar rewritten", "app.jar changed since the build", func(_ *Plan, jar string) error {
			return os.WriteFile(jar, []byte("another jar, another size"), 0o644)
		}},
		{"jar touched", "app.jar changed since the build", func(_ *Plan, jar string) error {
			t := time.Now().Add(time.Hour)
			return os.Chtimes(jar, t, t)
		}},
		{"jar gone", "app.jar: stat: no such file", func(_ *Plan, jar string) error { return os.Remove(jar) }},
		{"cache gone", "app.jsa: stat: no such file", func(p *Plan, _ string) error { return os.Remove(p.Meta.ClassCache.Path) }},
		{"cache truncated", "app.jsa has size 0", func(p *Plan, _ string) error { return os.Truncate(p.Meta.ClassCache.Path, 0) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, jar := cachePlan(t, []string{"java", "-jar", "/app.jar"})
			if err := tc.change(p, jar); err != nil {
				t.Fatal(err)
			}
			env := ColdEnv(p, []string{"A=1"})
			if len(p.Cold) != 3 || len(env) != 1 {
				t.Errorf("cold command %q, env %q: want them unchanged", p.Cold, env)
			}
			if !strings.HasPrefix(p.ColdNote, "class cache not used: ") || !strings.Contains(p.ColdNote, tc.want) {
				t.Errorf("note %q, want one that says %q", p.ColdNote, tc.want)
			}
		})
	}
}
