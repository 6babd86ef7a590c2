package launcher

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/crac-build/crac-build/internal/contract"
	"github.com/crac-build/crac-build/internal/environ"
)

func TestEnvDiff(t *testing.T) {
	build := []string{"PATH=/usr/bin:/bin", "JAVA_HOME=/opt/java", "LANG=C.UTF-8", "APP_MODE=prod"}
	for _, tc := range []struct {
		name string
		run  []string
		want []string
	}{
		{"same", build, nil},
		{"same, other order", []string{"LANG=C.UTF-8", "APP_MODE=prod", "JAVA_HOME=/opt/java", "PATH=/usr/bin:/bin"}, nil},
		{"set, changed, unset", []string{"PATH=/usr/bin:/bin", "JAVA_HOME=/opt/jdk21", "LANG=C.UTF-8", "DB_URL=postgres://x"},
			[]string{"APP_MODE (unset at run time)", "DB_URL (set at run time)", "JAVA_HOME (changed)"}},
		{"set to empty", append(append([]string{}, build...), "DEBUG="), []string{"DEBUG (set at run time)"}},
		{"runtime-set variables", append(append([]string{}, build...),
			"HOSTNAME=3f2a9c0d1e7b", "HOME=/root", "TERM=xterm", "container=podman",
			"CRAC_RESTORE_TIMEOUT=5s", "CRAC_DEBUG=1"), nil},
		{"PATH is the image's: a new one counts", []string{"PATH=/custom", "JAVA_HOME=/opt/java", "LANG=C.UTF-8", "APP_MODE=prod"},
			[]string{"PATH (changed)"}},
		{"Kubernetes service links", append(append([]string{}, build...),
			"KUBERNETES_SERVICE_HOST=10.96.0.1", "KUBERNETES_SERVICE_PORT=443", "KUBERNETES_SERVICE_PORT_HTTPS=443",
			"KUBERNETES_PORT=tcp://10.96.0.1:443", "KUBERNETES_PORT_443_TCP=tcp://10.96.0.1:443",
			"KUBERNETES_PORT_443_TCP_PROTO=tcp", "KUBERNETES_PORT_443_TCP_PORT=443", "KUBERNETES_PORT_443_TCP_ADDR=10.96.0.1",
			"REDIS_PORT=tcp://10.0.0.11:6379", "REDIS_PORT_6379_UDP_ADDR=10.0.0.11"), nil},
		{"a port of the operator's counts", append(append([]string{}, build...), "PORT=9090", "APP_PORT=8081"),
			[]string{"APP_PORT (set at run time)", "PORT (set at run time)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(EnvDiff(build, environ.Map(tc.run)), tc.want); diff != "" {
				t.Errorf("EnvDiff (-got +want):\n%s", diff)
			}
		})
	}
	// A runtime-set variable the image defines is the operator's to change.
	if got := EnvDiff([]string{"HOME=/app"}, environ.Map([]string{"HOME=/root"})); len(got) != 1 || got[0] != "HOME (changed)" {
		t.Errorf("HOME defined by the image, changed at run: %q", got)
	}
	if got := EnvDiff([]string{"HOSTNAME=build"}, environ.Map([]string{"HOSTNAME=other"})); got != nil {
		t.Errorf("HOSTNAME: %q, want it ignored always", got)
	}
}

func TestCheckEnvPolicy(t *testing.T) {
	run := environ.Map([]string{"PATH=/bin", "DB_URL=secret-value"})
	for _, tc := range []struct {
		policy   string
		reason   string
		warnings int
	}{
		{"", "", 1},
		{contract.EnvChangeWarn, "", 1},
		{contract.EnvChangeCold, "environment differs from the build's (policy cold): DB_URL (set at run time)", 0},
	} {
		p := &Plan{Meta: &contract.Metadata{Cold: contract.Command{Env: []string{"PATH=/bin"}}, OnEnvChange: tc.policy}}
		err := p.checkEnv(run)
		switch {
		case tc.reason == "" && err != nil:
			t.Errorf("policy %q: %v", tc.policy, err)
		case tc.reason != "" && (err == nil || err.Error() != tc.reason):
			t.Errorf("policy %q: %v, want %q", tc.policy, err, tc.reason)
		}
		if len(p.Warnings) != tc.warnings {
			t.Errorf("policy %q: warnings %q", tc.policy, p.Warnings)
		}
		for _, w := range p.Warnings {
			if !strings.Contains(w, "DB_URL (set at run time)") || strings.Contains(w, "secret-value") {
				t.Errorf("policy %q: warning %q, want the name and not the value", tc.policy, w)
			}
		}
	}
	// No difference: nothing to say.
	p := &Plan{Meta: &contract.Metadata{Cold: contract.Command{Env: []string{"PATH=/bin"}}, OnEnvChange: contract.EnvChangeCold}}
	if err := p.checkEnv(environ.Map([]string{"PATH=/bin", "HOSTNAME=x"})); err != nil || len(p.Warnings) != 0 {
		t.Errorf("same environment: %v, %q", err, p.Warnings)
	}
}
