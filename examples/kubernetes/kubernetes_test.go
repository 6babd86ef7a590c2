// Package kubernetes_test checks the example manifests against the
// Kubernetes API types: they must parse strictly (no unknown or misspelt
// field) and ask for exactly the privileges a restore needs.
package kubernetes_test

import (
	"encoding/json"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/crac-build/crac-build/internal/sandbox"
)

// documents splits a multi-document YAML file.
func documents(t *testing.T, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var docs [][]byte
	for _, d := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(b), -1) {
		if strings.TrimSpace(regexp.MustCompile(`(?m)^#.*$`).ReplaceAllString(d, "")) != "" {
			docs = append(docs, []byte(d))
		}
	}
	return docs
}

func manifests(t *testing.T) (*appsv1.Deployment, *corev1.Service) {
	dep, svc, _ := manifestsNS(t)
	return dep, svc
}

func manifestsNS(t *testing.T) (*appsv1.Deployment, *corev1.Service, *corev1.Namespace) {
	t.Helper()
	var dep *appsv1.Deployment
	var svc *corev1.Service
	var ns *corev1.Namespace
	for _, d := range documents(t, "deployment.yaml") {
		var meta struct{ APIVersion, Kind string }
		if err := yaml.Unmarshal(d, &meta); err != nil {
			t.Fatal(err)
		}
		switch meta.APIVersion + "/" + meta.Kind {
		case "apps/v1/Deployment":
			dep = &appsv1.Deployment{}
			if err := yaml.UnmarshalStrict(d, dep); err != nil {
				t.Fatalf("deployment: %v", err)
			}
		case "v1/Namespace":
			ns = &corev1.Namespace{}
			if err := yaml.UnmarshalStrict(d, ns); err != nil {
				t.Fatalf("namespace: %v", err)
			}
		case "v1/Service":
			svc = &corev1.Service{}
			if err := yaml.UnmarshalStrict(d, svc); err != nil {
				t.Fatalf("service: %v", err)
			}
		default:
			t.Fatalf("unexpected %s %s", meta.APIVersion, meta.Kind)
		}
	}
	if dep == nil || svc == nil {
		t.Fatal("deployment.yaml must hold a Deployment and a Service")
	}
	return dep, svc, ns
}

// Pod Security Standards' Baseline level allows adding only these; a pod
// that adds another is rejected at admission unless its namespace enforces
// Privileged.
var baselineCaps = map[string]bool{
	"AUDIT_WRITE": true, "CHOWN": true, "DAC_OVERRIDE": true, "FOWNER": true, "FSETID": true,
	"KILL": true, "MKNOD": true, "NET_BIND_SERVICE": true, "SETFCAP": true, "SETGID": true,
	"SETPCAP": true, "SETUID": true, "SYS_CHROOT": true,
}

func TestNamespaceAdmitsThePod(t *testing.T) {
	dep, svc, ns := manifestsNS(t)
	beyond := false
	for _, a := range dep.Spec.Template.Spec.Containers[0].SecurityContext.Capabilities.Add {
		beyond = beyond || !baselineCaps[string(a)]
	}
	if !beyond {
		return // Baseline admits it anywhere
	}
	if ns == nil {
		t.Fatal("the pod adds a capability outside Baseline, and deployment.yaml holds no Namespace that admits it")
	}
	if got := ns.Labels["pod-security.kubernetes.io/enforce"]; got != "privileged" {
		t.Errorf("namespace %s enforces %q, want privileged: the pod adds CHECKPOINT_RESTORE", ns.Name, got)
	}
	if dep.Namespace != ns.Name || svc.Namespace != ns.Name {
		t.Errorf("deployment in %q, service in %q, want both in namespace %q", dep.Namespace, svc.Namespace, ns.Name)
	}
}

func TestDeploymentLeastPrivilege(t *testing.T) {
	dep, _ := manifests(t)
	spec := dep.Spec.Template.Spec
	if len(spec.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(spec.Containers))
	}
	c := spec.Containers[0]
	sc := c.SecurityContext
	if sc == nil || sc.Capabilities == nil {
		t.Fatal("the container has no securityContext.capabilities")
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Error("privileged: a restore needs CAP_CHECKPOINT_RESTORE, not --privileged")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("allowPrivilegeEscalation must be false (the restore works with no_new_privs)")
	}
	if sc.RunAsUser == nil || *sc.RunAsUser != 0 {
		t.Error("runAsUser must be 0: the checkpointed JVM ran as root")
	}
	var drop []string
	for _, d := range sc.Capabilities.Drop {
		drop = append(drop, string(d))
	}
	if diff := cmp.Diff(drop, []string{"ALL"}); diff != "" {
		t.Errorf("capabilities.drop (-got +want):\n%s", diff)
	}
	// CRIU's two, and what the application had in the build: the
	// capabilities the sandbox and `crac-build checkpoint` give it.
	want := []string{"CHECKPOINT_RESTORE"}
	for _, c := range sandbox.DefaultCaps() {
		want = append(want, strings.TrimPrefix(c, "CAP_"))
	}
	var add []string
	for _, a := range sc.Capabilities.Add {
		add = append(add, string(a))
	}
	sort.Strings(add)
	sort.Strings(want)
	if diff := cmp.Diff(add, want); diff != "" {
		t.Errorf("capabilities.add (-got +want):\n%s", diff)
	}
}

func TestDeploymentSeccompProfile(t *testing.T) {
	dep, _ := manifests(t)
	spec := dep.Spec.Template.Spec
	p := spec.SecurityContext.SeccompProfile
	if c := spec.Containers[0].SecurityContext.SeccompProfile; c != nil {
		p = c
	}
	if p == nil {
		t.Fatal("no seccompProfile: the runtime default blocks clone3 and every pod would start cold")
	}
	if p.Type != corev1.SeccompProfileTypeLocalhost || p.LocalhostProfile == nil {
		t.Fatalf("seccompProfile %+v, want a Localhost profile", p)
	}
	if *p.LocalhostProfile != "profiles/crac-restore.json" {
		t.Errorf("localhostProfile %q, want profiles/crac-restore.json (the install path of docs/running.md)", *p.LocalhostProfile)
	}
	// The profile itself: default deny, clone3 allowed without condition.
	b, err := os.ReadFile("crac-restore-seccomp.json")
	if err != nil {
		t.Fatal(err)
	}
	var prof struct {
		DefaultAction string `json:"defaultAction"`
		Syscalls      []struct {
			Names    []string        `json:"names"`
			Action   string          `json:"action"`
			Includes json.RawMessage `json:"includes"`
			Excludes json.RawMessage `json:"excludes"`
		} `json:"syscalls"`
	}
	if err := json.Unmarshal(b, &prof); err != nil {
		t.Fatalf("crac-restore-seccomp.json: %v", err)
	}
	if prof.DefaultAction != "SCMP_ACT_ERRNO" {
		t.Errorf("defaultAction %q, want SCMP_ACT_ERRNO (an allow-list profile)", prof.DefaultAction)
	}
	unconditional := func(m json.RawMessage) bool {
		s := strings.TrimSpace(string(m))
		return s == "" || s == "{}" || s == "null"
	}
	allowed := false
	for _, r := range prof.Syscalls {
		for _, n := range r.Names {
			if n != "clone3" {
				continue
			}
			if r.Action != "SCMP_ACT_ALLOW" || !unconditional(r.Includes) || !unconditional(r.Excludes) {
				t.Errorf("clone3 has a rule %s with conditions %s %s; want an unconditional allow", r.Action, r.Includes, r.Excludes)
			}
			allowed = r.Action == "SCMP_ACT_ALLOW"
		}
	}
	if !allowed {
		t.Error("the profile does not allow clone3")
	}
}

func TestDeploymentProbesAndService(t *testing.T) {
	dep, svc := manifests(t)
	c := dep.Spec.Template.Spec.Containers[0]
	if len(c.Ports) != 1 || c.Ports[0].ContainerPort != 8080 {
		t.Fatalf("ports %+v, want examples/hello's 8080", c.Ports)
	}
	rp := c.ReadinessProbe
	if rp == nil || rp.HTTPGet == nil {
		t.Fatal("no HTTP readiness probe")
	}
	if rp.HTTPGet.Path != "/health" || rp.HTTPGet.Port.String() != c.Ports[0].Name {
		t.Errorf("readiness probe %s on %s, want /health on port %q", rp.HTTPGet.Path, rp.HTTPGet.Port.String(), c.Ports[0].Name)
	}
	sel := dep.Spec.Selector.MatchLabels
	for k, v := range sel {
		if dep.Spec.Template.Labels[k] != v || svc.Spec.Selector[k] != v {
			t.Errorf("label %s=%s not on the pod template and the Service selector", k, v)
		}
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].TargetPort.String() != c.Ports[0].Name {
		t.Errorf("service ports %+v, want the container's %q", svc.Spec.Ports, c.Ports[0].Name)
	}
}
