package launcher

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/crac-build/crac-build/internal/contract"
)

func coordinatedPlan(t *testing.T, cold []string) *Plan {
	jar := filepath.Join(t.TempDir(), "crac-agent.jar")
	if err := os.WriteFile(jar, []byte("jar"), 0o644); err != nil {
		t.Fatal(err)
	}
	m := &contract.Metadata{Cold: contract.Command{Args: cold}, Coordination: &contract.Coordination{Agent: jar}}
	return &Plan{Meta: m, Cold: append([]string(nil), cold...)}
}

func TestColdEnvAddsTheAgent(t *testing.T) {
	p := coordinatedPlan(t, []string{"java", "-jar", "/app.jar"})
	jar := p.Meta.Coordination.Agent
	env := ColdEnv(p, []string{"A=1"})
	if diff := cmp.Diff(p.Cold, []string{"java", "-javaagent:" + jar, "-jar", "/app.jar"}); diff != "" {
		t.Errorf("cold command (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(env, []string{"A=1"}); diff != "" {
		t.Errorf("env (-got +want):\n%s", diff)
	}

	p = coordinatedPlan(t, []string{"/app/start.sh"})
	env = ColdEnv(p, []string{"JAVA_TOOL_OPTIONS=-Xmx1g"})
	if diff := cmp.Diff(env, []string{"JAVA_TOOL_OPTIONS=-javaagent:" + p.Meta.Coordination.Agent + " -Xmx1g"}); diff != "" {
		t.Errorf("env of a script (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(p.Cold, []string{"/app/start.sh"}); diff != "" {
		t.Errorf("a script's command changed (-got +want):\n%s", diff)
	}
}

func TestColdEnvLeavesOthersAlone(t *testing.T) {
	// Arguments given to the container replace the command: no agent.
	p := coordinatedPlan(t, []string{"java", "-jar", "/app.jar"})
	p.Cold = []string{"java", "-version"}
	if env := ColdEnv(p, nil); len(env) != 0 || len(p.Cold) != 2 {
		t.Errorf("ColdEnv changed a replaced command: %q %q", p.Cold, env)
	}
	// A missing jar (a damaged image) must not break the cold start.
	p = coordinatedPlan(t, []string{"java", "-jar", "/app.jar"})
	p.Meta.Coordination.Agent = "/nonexistent/crac-agent.jar"
	if ColdEnv(p, nil); len(p.Cold) != 3 {
		t.Errorf("ColdEnv added a missing agent: %q", p.Cold)
	}
	// No coordination, no metadata.
	p = coordinatedPlan(t, []string{"java", "-jar", "/app.jar"})
	p.Meta.Coordination = nil
	if ColdEnv(p, nil); len(p.Cold) != 3 {
		t.Errorf("ColdEnv without coordination: %q", p.Cold)
	}
	p = &Plan{Cold: []string{"java"}}
	if ColdEnv(p, nil); len(p.Cold) != 1 {
		t.Errorf("ColdEnv without metadata: %q", p.Cold)
	}
}

func TestPrepareAgentsAndPolicy(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "shm", "crac-build-agent")
	p := coordinatedPlan(t, []string{"java"})
	p.Meta.Coordination.Endpoints = []contract.AgentEndpoint{
		{PID: 130, Network: "unix", Address: filepath.Join(dir, "130.sock")},
		{PID: 131, Network: "tcp", Address: "127.0.0.1:1"},
	}
	if err := PrepareAgents(p); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Errorf("socket dir %s: %v %v, want a 0700 directory", dir, fi, err)
	}
	if KeepAfterRestoreError(p) {
		t.Error("the default policy keeps a JVM whose afterRestore failed")
	}
	p.Meta.Coordination.OnRestoreError = contract.OnRestoreErrorContinue
	if !KeepAfterRestoreError(p) {
		t.Error("policy continue does not keep the JVM")
	}
	// Nothing to tell without coordination.
	if n, err := NotifyRestored(context.Background(), &Plan{Meta: &contract.Metadata{}}, nil); n != 0 || err != nil {
		t.Errorf("NotifyRestored without coordination = %d, %v", n, err)
	}
	if err := PrepareAgents(&Plan{}); err != nil {
		t.Errorf("PrepareAgents without metadata: %v", err)
	}
}

func TestNotifyRestoredUnreachable(t *testing.T) {
	p := coordinatedPlan(t, []string{"java"})
	p.Meta.Coordination.Endpoints = []contract.AgentEndpoint{{PID: 130, Network: "unix", Address: filepath.Join(t.TempDir(), "130.sock")}}
	_, err := NotifyRestored(context.Background(), p, nil)
	if err == nil {
		t.Fatal("NotifyRestored of an agent that is not there succeeded")
	}
	for _, want := range []string{"process 130", "130.sock"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}
