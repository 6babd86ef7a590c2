package builder

import (
	"strings"
	"testing"
)

func TestCheckpointFlags(t *testing.T) {
	base := strings.Join(jvmFlags, " ")
	for _, tc := range []struct {
		name     string
		cmd, env []string
		want     string
	}{
		{"default collector", []string{"java", "-jar", "a.jar"}, nil, base + " -Xms8m"},
		{"G1", []string{"java", "-XX:+UseG1GC", "-jar", "a.jar"}, nil, base + " -Xms8m"},
		{"Serial", []string{"java", "-XX:+UseSerialGC", "-jar", "a.jar"}, nil, base + " -Xms8m -XX:-ShrinkHeapInSteps"},
		{"Parallel", []string{"java", "-XX:+UseParallelGC", "-jar", "a.jar"}, nil, base + " -Xms8m -XX:+UseAdaptiveSizePolicyWithSystemGC"},
		{"ZGC", []string{"java", "-XX:+UseZGC", "-jar", "a.jar"}, nil, base + " -Xms8m -XX:ZUncommitDelay=1"},
		{"Shenandoah", []string{"java", "-XX:+UseShenandoahGC", "-jar", "a.jar"}, nil, base + " -Xms8m"},
		{"the last selection wins", []string{"java", "-XX:+UseZGC", "-XX:+UseSerialGC", "-jar", "a.jar"}, nil, base + " -Xms8m -XX:-ShrinkHeapInSteps"},
		{"collector in JAVA_TOOL_OPTIONS", []string{"/app/run.sh"}, []string{"JAVA_TOOL_OPTIONS=-Xss1m -XX:+UseZGC"}, base + " -Xms8m -XX:ZUncommitDelay=1"},
		{"collector in JDK_JAVA_OPTIONS", []string{"java", "-jar", "a.jar"}, []string{"JDK_JAVA_OPTIONS=-XX:+UseParallelGC"}, base + " -Xms8m -XX:+UseAdaptiveSizePolicyWithSystemGC"},
		{"own -Xms", []string{"java", "-Xms1g", "-jar", "a.jar"}, nil, base},
		{"own initial heap in the environment", []string{"catalina.sh", "run"}, []string{"JAVA_TOOL_OPTIONS=-XX:InitialRAMPercentage=50"}, base},
		{"own MinHeapSize", []string{"java", "-XX:MinHeapSize=64m", "-XX:+UseZGC"}, nil, base + " -XX:ZUncommitDelay=1"},
		{"-Xmx alone keeps -Xms8m", []string{"java", "-Xmx512m", "-jar", "a.jar"}, nil, base + " -Xms8m"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := strings.Join(checkpointFlags(tc.cmd, tc.env), " "); got != tc.want {
				t.Errorf("checkpointFlags(%q, %q) = %q, want %q", tc.cmd, tc.env, got, tc.want)
			}
		})
	}
	// The command's own flags come after the builder's and win.
	got := withJVMFlags([]string{"java", "-XX:ZUncommitDelay=300", "-XX:+UseZGC"}, checkpointFlags([]string{"java", "-XX:ZUncommitDelay=300", "-XX:+UseZGC"}, nil))
	if got[len(got)-2] != "-XX:ZUncommitDelay=300" || got[1] != "-XX:-UsePerfData" {
		t.Errorf("withJVMFlags order: %q", got)
	}
}

func TestParseMemory(t *testing.T) {
	for in, want := range map[string]int64{
		"1073741824": 1 << 30, "512m": 512 << 20, "512M": 512 << 20, "1g": 1 << 30, "1.5g": 3 << 29,
		"2GiB": 2 << 30, "64mb": 64 << 20, "100k": 100 << 10, "7b": 7, " 1G ": 1 << 30,
	} {
		got, err := ParseMemory(in)
		if err != nil || got != want {
			t.Errorf("ParseMemory(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "m", "1x", "-1g", "one", "1gg", "inf"} {
		if _, err := ParseMemory(in); err == nil || !strings.Contains(err.Error(), "512m") {
			t.Errorf("ParseMemory(%q): error %v, want one with an example", in, err)
		}
	}
}

func TestLimitsOptions(t *testing.T) {
	ok := func() Options { return validOptions(t) }
	o := ok()
	if err := o.defaults(); err != nil || o.OnLimitsChange != "warn" {
		t.Fatalf("defaults: %v, policy %q", err, o.OnLimitsChange)
	}
	for _, tc := range []struct {
		change func(*Options)
		want   string
	}{
		{func(o *Options) { o.CPUs = -1 }, "negative"},
		{func(o *Options) { o.MemoryBytes = 1 << 20 }, "at least 64 MiB"},
		{func(o *Options) { o.OnLimitsChange = "ignore" }, "--on-limits-change"},
	} {
		o := ok()
		tc.change(&o)
		if err := o.defaults(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("defaults: %v, want an error with %q", err, tc.want)
		}
	}
}
