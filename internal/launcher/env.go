package launcher

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/crac-build/crac-build/internal/contract"
	"github.com/crac-build/crac-build/internal/environ"
)

// The restored JVM keeps the environment it had at build time (it lives in
// the checkpointed memory), so a variable set at run time reaches only a
// cold start. checkEnv compares the container's environment with the
// build's (Metadata.Cold.Env) and applies the build's policy: warn and
// restore, or start cold.
func (p *Plan) checkEnv(env map[string]string) error {
	diff := EnvDiff(p.Meta.Cold.Env, env)
	if len(diff) == 0 {
		return nil
	}
	if p.Meta.OnEnvChange == contract.EnvChangeCold {
		return fmt.Errorf("environment differs from the build's (policy %s): %s", contract.EnvChangeCold, strings.Join(diff, ", "))
	}
	p.Warnings = append(p.Warnings, fmt.Sprintf("environment differs from the build's; the restored JVM keeps the build's values (policy %s): %s", contract.EnvChangeWarn, strings.Join(diff, ", ")))
	return nil
}

// runtimeSet are variables a container runtime adds to every container
// that the image does not define: Docker and podman set HOME (from the
// user's passwd entry) and PATH (a default), TERM=xterm with a TTY;
// podman sets container=podman (systemd's convention, also used by
// systemd-nspawn and LXC). Their values describe the container, not a
// choice of the operator's, and the JVM does not act on them. They count
// only if the build's environment had them (then the image defines them
// and a new value is the operator's).
var runtimeSet = map[string]bool{"HOME": true, "PATH": true, "TERM": true, "container": true}

// kubeServiceEnv matches the variables Kubernetes injects for every
// service in the namespace (enableServiceLinks, on by default):
// FOO_SERVICE_HOST, FOO_SERVICE_PORT[_NAME], FOO_PORT_80_TCP[_PROTO|_PORT|
// _ADDR]; FOO_PORT itself only with a tcp://, udp:// or sctp:// value (a
// plain PORT=8080 is the operator's). They differ per namespace and would
// otherwise make every pod look changed.
var (
	kubeServiceEnv = regexp.MustCompile(`^[A-Z0-9_]+_(SERVICE_HOST|SERVICE_PORT(_[A-Z0-9_]+)?|PORT_[0-9]+_(TCP|UDP|SCTP)(_PROTO|_PORT|_ADDR)?)$`)
	kubePortEnv    = regexp.MustCompile(`^[A-Z0-9_]+_PORT$`)
	kubePortValue  = regexp.MustCompile(`^(tcp|udp|sctp)://`)
)

// ignoredEnv says whether a variable is left out of the comparison.
// HOSTNAME: every runtime sets it to the container's name, different in
// every container. CRAC_*: the launcher's own settings (contract.Env*).
func ignoredEnv(name, value string, inBuild bool) bool {
	switch {
	case name == "HOSTNAME", strings.HasPrefix(name, "CRAC_"):
		return true
	case inBuild:
		return false
	case runtimeSet[name], kubeServiceEnv.MatchString(name):
		return true
	case kubePortEnv.MatchString(name) && kubePortValue.MatchString(value):
		return true
	}
	return false
}

// EnvDiff returns the variables (names only: values may be secrets) whose
// value at run differs from the build's, sorted, each with what changed:
// "DB_URL (set at run time)", "PORT (changed)", "DEBUG (unset at run time)".
func EnvDiff(build []string, run map[string]string) []string {
	b := environ.Map(build)
	var out []string
	for k, v := range run {
		bv, inBuild := b[k]
		if ignoredEnv(k, v, inBuild) {
			continue
		}
		switch {
		case !inBuild:
			out = append(out, k+" (set at run time)")
		case bv != v:
			out = append(out, k+" (changed)")
		}
	}
	for k, v := range b {
		if _, ok := run[k]; !ok && !ignoredEnv(k, v, true) {
			out = append(out, k+" (unset at run time)")
		}
	}
	sort.Strings(out)
	return out
}
