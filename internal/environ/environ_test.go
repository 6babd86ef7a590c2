package environ_test

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/crac-build/crac-build/internal/environ"
)

func TestMerge(t *testing.T) {
	const jto = "JAVA_TOOL_OPTIONS"
	for _, tc := range []struct {
		name            string
		base, add, want []string
		join            []string
	}{
		{
			name: "replace in place, append new",
			base: []string{"PATH=/usr/bin", "JAVA_HOME=/opt/java", "LANG=C"},
			add:  []string{"LANG=C.UTF-8", "APP_MODE=warm", "PATH=/app/bin:/usr/bin", "EMPTY="},
			want: []string{"PATH=/app/bin:/usr/bin", "JAVA_HOME=/opt/java", "LANG=C.UTF-8", "APP_MODE=warm", "EMPTY="},
		},
		{
			name: "a key that is a prefix of another is another key",
			base: []string{"JAVA_OPTS=-Xmx1g"},
			add:  []string{"JAVA=/usr/bin/java"},
			want: []string{"JAVA_OPTS=-Xmx1g", "JAVA=/usr/bin/java"},
		},
		{name: "nothing", want: nil},
		{
			name: "joined key",
			base: []string{"A=1", jto + "=-Xss1m"},
			add:  []string{jto + "=-XX:+UseSerialGC", "A=2", "B=3"},
			join: []string{jto},
			want: []string{"A=2", jto + "=-Xss1m -XX:+UseSerialGC", "B=3"},
		},
		{
			name: "joined into an empty value, and a new joined key",
			base: []string{jto + "="},
			add:  []string{jto + "=-Xss1m", "JDK_JAVA_OPTIONS=-Xint"},
			join: []string{jto, "JDK_JAVA_OPTIONS"},
			want: []string{jto + "=-Xss1m", "JDK_JAVA_OPTIONS=-Xint"},
		},
		{
			name: "duplicates of a set key go, others stay",
			base: []string{"A=1", "B=1", "A=2", "B=2"},
			add:  []string{"A=3", "C=1", "C=2"},
			want: []string{"A=3", "B=1", "B=2", "C=2"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			orig := slices.Clone(tc.base)
			got := environ.Merge(tc.base, tc.add, tc.join...)
			if diff := cmp.Diff(got, tc.want); diff != "" {
				t.Errorf("Merge (-got +want):\n%s", diff)
			}
			if diff := cmp.Diff(tc.base, orig); diff != "" {
				t.Errorf("Merge changed its base (-got +want):\n%s", diff)
			}
		})
	}
}

func TestLookupMap(t *testing.T) {
	env := []string{"A=1", "B=x=y", "C=", "D", "A=2"}
	if v, ok := environ.Lookup(env, "A"); !ok || v != "1" {
		t.Errorf("Lookup(A) = %q, %v; want the first, 1", v, ok)
	}
	if v, ok := environ.Lookup(env, "C"); !ok || v != "" {
		t.Errorf("Lookup(C) = %q, %v; want empty and set", v, ok)
	}
	if _, ok := environ.Lookup(env, "B=x"); ok {
		t.Error("Lookup of a key with = found one")
	}
	if diff := cmp.Diff(environ.Map(env), map[string]string{"A": "2", "B": "x=y", "C": "", "D": ""}); diff != "" {
		t.Errorf("Map (-got +want):\n%s", diff)
	}
}
