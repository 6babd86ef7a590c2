package contract_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/crac-build/crac-build/internal/contract"
)

func TestLimitsDiff(t *testing.T) {
	build := contract.Limits{CPUQuota: 2, CPUs: 2, MemoryLimitBytes: 1 << 30, MemoryBytes: 1 << 30}
	host := contract.Limits{CPUs: 2, MemoryBytes: 24 << 30}
	for _, tc := range []struct {
		name        string
		build, here contract.Limits
		want        []string
	}{
		{"same", build, build, nil},
		{"same counts from other limits", build, contract.Limits{CPUQuota: 1.5, CPUs: 2, MemoryLimitBytes: 1 << 30, MemoryBytes: 1 << 30}, nil},
		{"memory within 1/64", host, contract.Limits{CPUs: 2, MemoryBytes: 24<<30 - 100<<20}, nil},
		{"fewer CPUs", build, contract.Limits{CPUQuota: 1, CPUs: 1, MemoryLimitBytes: 1 << 30, MemoryBytes: 1 << 30}, []string{"1 CPU here, 2 at build"}},
		{"more CPUs", build, contract.Limits{CPUs: 16, MemoryLimitBytes: 1 << 30, MemoryBytes: 1 << 30}, []string{"16 CPUs here, 2 at build"}},
		{"no limit here", build, host, []string{"memory 24 GiB (no limit: the host's) here, 1 GiB at build"}},
		{"a limit here", host, contract.Limits{CPUs: 2, MemoryLimitBytes: 512 << 20, MemoryBytes: 512 << 20}, []string{"memory 512 MiB here, 24 GiB (no limit: the host's) at build"}},
		{"both", build, contract.Limits{CPUs: 4, MemoryLimitBytes: 2 << 30, MemoryBytes: 2 << 30}, []string{"4 CPUs here, 2 at build", "memory 2 GiB here, 1 GiB at build"}},
		{"unknown here", build, contract.Limits{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(contract.LimitsDiff(tc.build, tc.here), tc.want); diff != "" {
				t.Errorf("LimitsDiff (-got +want):\n%s", diff)
			}
		})
	}
}

func TestLimitsPolicy(t *testing.T) {
	for _, p := range []string{"", "warn", "cold"} {
		if err := contract.CheckLimitsPolicy(p); err != nil {
			t.Errorf("CheckLimitsPolicy(%q) = %v", p, err)
		}
	}
	if err := contract.CheckLimitsPolicy("ignore"); err == nil || !strings.Contains(err.Error(), "warn or cold") {
		t.Errorf("CheckLimitsPolicy(ignore) = %v, want an error naming the choices", err)
	}
	// Metadata with an unknown policy is refused (the launcher starts cold).
	_, err := contract.Parse([]byte(`{"formatVersion":1,"cold":{"args":["java"]},"onLimitsChange":"maybe"}`))
	if err == nil || !strings.Contains(err.Error(), "maybe") {
		t.Errorf("Parse with policy maybe: %v", err)
	}
}

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{
		512: "512 B", 2048: "2 KiB", 256 << 20: "256 MiB", 1 << 30: "1 GiB", 3 << 29: "1.5 GiB", 24 << 30: "24 GiB",
	} {
		if got := contract.HumanBytes(n); got != want {
			t.Errorf("HumanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestGCOf(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"java", "-jar", "x.jar"}, ""},
		{[]string{"java", "-XX:+UseZGC", "-jar", "x.jar"}, contract.GCZ},
		{[]string{"-XX:+UseSerialGC", "-XX:+UseParallelGC"}, contract.GCParallel},
		{[]string{"-XX:+UseShenandoahGC"}, contract.GCShenandoah},
		{[]string{"-XX:+UseG1GC", "-XX:-UseZGC"}, contract.GCG1},
	} {
		if got := contract.GCOf(tc.args); got != tc.want {
			t.Errorf("GCOf(%q) = %q, want %q", tc.args, got, tc.want)
		}
	}
	if v, ok := contract.FlagValue([]string{"-XX:MaxHeapSize=1", "-XX:MaxHeapSize=2"}, "MaxHeapSize"); !ok || v != "2" {
		t.Errorf("FlagValue = %q %v, want the last value", v, ok)
	}
	if _, ok := contract.FlagValue([]string{"-XX:MaxHeapSizeX=1"}, "MaxHeapSize"); ok {
		t.Error("FlagValue matched another flag's prefix")
	}
}
