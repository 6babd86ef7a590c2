package builder

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crac-build/crac-build/internal/contract"
)

func TestFeatureOf(t *testing.T) {
	for v, want := range map[string]int{"17.0.15": 17, "21.0.2": 21, "25": 25, "25-ea": 25, "1.8.0_402": 8, "11.0.22+7": 11} {
		if got, err := featureOf(v); err != nil || got != want {
			t.Errorf("featureOf(%q) = %d, %v; want %d", v, got, err, want)
		}
	}
	for _, v := range []string{"", "abc"} {
		if _, err := featureOf(v); err == nil {
			t.Errorf("featureOf(%q): no error", v)
		}
	}
}

func TestClassCacheKindFor(t *testing.T) {
	for jdk, want := range map[int]string{13: contract.ClassCacheAppCDS, 17: contract.ClassCacheAppCDS, 21: contract.ClassCacheAppCDS, 24: contract.ClassCacheAppCDS, 25: contract.ClassCacheAOT, 26: contract.ClassCacheAOT} {
		if k, err := classCacheKindFor(jdk); err != nil || k.kind != want {
			t.Errorf("JDK %d: %+v, %v; want %s", jdk, k, err, want)
		}
	}
	if _, err := classCacheKindFor(11); err == nil || !strings.Contains(err.Error(), "JDK 11 makes no class cache") {
		t.Errorf("JDK 11: %v, want no cache", err)
	}
}

// layered writes files (path -> content, "->target" for a symlink) into
// the layer directories, upper first, and returns them.
func layered(t *testing.T, layers ...map[string]string) []string {
	var roots []string
	for _, files := range layers {
		root := t.TempDir()
		for p, c := range files {
			h := filepath.Join(root, p)
			if err := os.MkdirAll(filepath.Dir(h), 0o755); err != nil {
				t.Fatal(err)
			}
			var err error
			if target, ok := strings.CutPrefix(c, "->"); ok {
				err = os.Symlink(target, h)
			} else {
				err = os.WriteFile(h, []byte(c), 0o644)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		roots = append(roots, root)
	}
	return roots
}

// The JDK as Debian installs it: /usr/bin/java -> /etc/alternatives/java
// -> the JDK's bin/java, its release file next to bin/.
func TestJDKFeature(t *testing.T) {
	base := map[string]string{
		"usr/bin/java":                               "->/etc/alternatives/java",
		"etc/alternatives/java":                      "->/usr/lib/jvm/java-17-openjdk-amd64/bin/java",
		"usr/lib/jvm/java-17-openjdk-amd64/bin/java": "ELF",
		"usr/lib/jvm/java-17-openjdk-amd64/release":  "IMPLEMENTOR=\"Debian\"\nJAVA_VERSION=\"17.0.15\"\n",
		"usr/lib/jvm/java-25-openjdk-amd64/bin/java": "ELF",
		"usr/lib/jvm/java-25-openjdk-amd64/release":  "JAVA_VERSION=\"25.0.1\"\n",
	}
	roots := layered(t, map[string]string{"app/app.jar": "jar"}, base)
	for _, tc := range []struct {
		name     string
		cmd, env []string
		want     int
	}{
		{"java on PATH", []string{"java", "-jar", "/app/app.jar"}, []string{"PATH=/usr/local/bin:/usr/bin"}, 17},
		{"java, default PATH", []string{"java", "-jar", "/app/app.jar"}, nil, 17},
		{"java by its path", []string{"/usr/lib/jvm/java-25-openjdk-amd64/bin/java", "-jar", "/app/app.jar"}, nil, 25},
		{"JAVA_HOME wins", []string{"/usr/share/tomcat10/bin/catalina.sh", "run"}, []string{"JAVA_HOME=/usr/lib/jvm/java-25-openjdk-amd64"}, 25},
		{"a script, java on PATH", []string{"/app/start.sh"}, []string{"PATH=/usr/bin"}, 17},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := jdkFeature(roots, tc.cmd, tc.env)
			if err != nil || got != tc.want {
				t.Errorf("jdkFeature = %d, %v; want %d", got, err, tc.want)
			}
		})
	}
	if _, err := jdkFeature(layered(t, map[string]string{"app/app.jar": "jar"}), []string{"java"}, nil); err == nil || !strings.Contains(err.Error(), "finding the JDK") {
		t.Errorf("an image without java: %v", err)
	}
}

func TestResolveInFollowsLinksAcrossLayers(t *testing.T) {
	roots := layered(t,
		map[string]string{"opt/java": "->jdk-17"}, // relative, in the upper layer
		map[string]string{"opt/jdk-17/bin/java": "ELF", "loop": "->/loop"})
	if got, err := resolveIn(roots, "/opt/java/bin/java"); err != nil || got != "/opt/jdk-17/bin/java" {
		t.Errorf("resolveIn = %q, %v", got, err)
	}
	if _, err := resolveIn(roots, "/loop/x"); err == nil {
		t.Error("a symlink loop resolved")
	}
}

func TestClassCacheMeta(t *testing.T) {
	file := filepath.Join(t.TempDir(), "app.jsa")
	if err := os.WriteFile(file, make([]byte, 1000), 0o444); err != nil {
		t.Fatal(err)
	}
	k, _ := classCacheKindFor(17)
	r := &classCacheRun{kind: k, jdk: 17}
	mt := int64(1747699200)
	open := []contract.OpenFile{
		{Path: "/app/app.jar", Size: 10, MTime: &mt},
		{Path: "/usr/lib/jvm/java-17-openjdk-amd64/lib/modules", Size: 20, MTime: &mt, Mapped: true},
		{Path: "/usr/lib/jvm/java-17-openjdk-amd64/lib/server/libjvm.so", Size: 30, MTime: &mt, Mapped: true},
		{Path: "/var/log/app.log", Size: 40, Writable: true},
	}
	if _, err := classCacheMeta(r, file, open); err == nil || !strings.Contains(err.Error(), "did not map") {
		t.Errorf("a cache the JVM did not map: %v", err)
	}
	open = append(open, contract.OpenFile{Path: contract.ClassCacheDir + "/app.jsa", Size: 1000, MTime: &mt, Mapped: true})
	cc, err := classCacheMeta(r, file, open)
	if err != nil {
		t.Fatal(err)
	}
	want := []contract.StampedFile{{Path: "/app/app.jar", Size: 10, MTime: mt}, {Path: "/usr/lib/jvm/java-17-openjdk-amd64/lib/modules", Size: 20, MTime: mt}}
	if cc.Kind != contract.ClassCacheAppCDS || cc.JDK != 17 || cc.Size != 1000 || len(cc.Files) != 2 || cc.Files[0] != want[0] || cc.Files[1] != want[1] {
		t.Errorf("class cache %+v, files want %+v", cc, want)
	}
	if len(cc.JVMFlags) != 1 || cc.JVMFlags[0] != "-XX:SharedArchiveFile="+contract.ClassCacheDir+"/app.jsa" {
		t.Errorf("flags %q", cc.JVMFlags)
	}
}

func TestClassPathDir(t *testing.T) {
	roots := layered(t, map[string]string{"app/classes/Main.class": "x", "app/app.jar": "jar", "app/lib": "->/app/classes"})
	for _, tc := range []struct {
		cmd  []string
		want string
	}{
		{[]string{"java", "-cp", "/app", "Main"}, "/app"},
		{[]string{"java", "-Xmx1g", "-classpath", "/app/app.jar:/app/lib", "Main"}, "/app/lib"},
		{[]string{"java", "--class-path", "/app/app.jar", "Main"}, ""},
		{[]string{"java", "-jar", "/app/app.jar"}, ""},
		{[]string{"java", "-cp", "classes", "Main"}, ""},
		{[]string{"/app/start.sh", "-cp", "/app"}, ""},
	} {
		if got := classPathDir(roots, tc.cmd); got != tc.want {
			t.Errorf("classPathDir(%q) = %q, want %q", tc.cmd, got, tc.want)
		}
	}
}

// The training run (Build's and the build step's) has the builder's
// flags, in place of the agent what it changes, and the flag that writes
// the cache; a JDK that makes none, or a class path with a directory,
// makes no training run.
func TestPlanClassCache(t *testing.T) {
	roots := layered(t, map[string]string{"app/classes/Main.class": "x", "app/app.jar": "jar"})
	jar := []string{"java", "-jar", "/app/app.jar"}
	jflags := []string{"-XX:-UsePerfData"}
	r, flags, err := planClassCache(&Options{Agent: "/agent.jar"}, 17, nil, roots, jar, jflags, "/dir")
	if err != nil {
		t.Fatal(err)
	}
	want := append(append(append([]string{}, jflags...), agentTrainingFlags()...), "-XX:ArchiveClassesAtExit="+contract.ClassCacheDir+"/app.jsa")
	if strings.Join(flags, " ") != strings.Join(want, " ") {
		t.Errorf("training flags %q, want %q", flags, want)
	}
	if r.dir != "/dir" || r.jdk != 17 || r.kind.kind != contract.ClassCacheAppCDS {
		t.Errorf("run %+v, kind %+v", r, r.kind)
	}
	if _, flags, _ := planClassCache(&Options{NoAgent: true}, 25, nil, roots, jar, jflags, "/dir"); strings.Join(flags, " ") != "-XX:-UsePerfData -XX:AOTCacheOutput="+contract.ClassCacheDir+"/app.aot" {
		t.Errorf("without the agent: training flags %q", flags)
	}
	if len(jflags) != 1 {
		t.Errorf("planClassCache changed the builder's flags: %q", jflags)
	}
	for _, tc := range []struct {
		jdk    int
		jdkErr error
		cmd    []string
		want   string
	}{
		{11, nil, jar, "JDK 11 makes no class cache"},
		{0, os.ErrNotExist, jar, os.ErrNotExist.Error()},
		{21, nil, []string{"java", "-cp", "/app/classes", "Main"}, "the class path has the directory /app/classes"},
	} {
		if _, _, err := planClassCache(&Options{}, tc.jdk, tc.jdkErr, roots, tc.cmd, jflags, "/dir"); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("JDK %d, %q: error %v, want %q", tc.jdk, tc.cmd, err, tc.want)
		}
	}
}
