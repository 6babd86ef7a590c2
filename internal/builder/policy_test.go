package builder

import (
	"strings"
	"testing"

	"github.com/crac-build/crac-build/internal/contract"
)

func TestOnEnvChangeDefault(t *testing.T) {
	o := Options{Base: "b", Port: 8080, Outputs: []string{"oci-layout:x:y"}, CriuBundle: "c", Launcher: "l", NoAgent: true}
	if err := o.defaults(); err != nil {
		t.Fatal(err)
	}
	if o.OnEnvChange != contract.EnvChangeWarn {
		t.Errorf("default policy %q, want %q", o.OnEnvChange, contract.EnvChangeWarn)
	}
	o.OnEnvChange = "maybe"
	if err := o.defaults(); err == nil || !strings.Contains(err.Error(), "--on-env-change") {
		t.Errorf("policy maybe: %v", err)
	}
	o.OnEnvChange = contract.EnvChangeCold
	if err := o.defaults(); err != nil || o.OnEnvChange != contract.EnvChangeCold {
		t.Errorf("policy cold: %v, %q", err, o.OnEnvChange)
	}
}
