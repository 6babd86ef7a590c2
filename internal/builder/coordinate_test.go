package builder

import (
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/crac-build/crac-build/internal/contract"
	"github.com/crac-build/crac-build/internal/proc"
)

func TestAgentDefaults(t *testing.T) {
	launcher, _ := fakeRuntime(t)
	o := validOptions(t)
	o.Launcher, o.Agent = launcher, ""
	if err := o.defaults(); err != nil {
		t.Fatal(err)
	}
	if o.Agent != agentNextTo(launcher) {
		t.Errorf("Agent %q, want the jar next to the launcher", o.Agent)
	}
	if o.OnRestoreError != contract.OnRestoreErrorCold {
		t.Errorf("OnRestoreError %q, want %q by default", o.OnRestoreError, contract.OnRestoreErrorCold)
	}
	// Without a jar anywhere, --no-agent builds without it.
	o = validOptions(t)
	o.Agent, o.NoAgent = "", true
	if err := o.defaults(); err != nil {
		t.Errorf("defaults with NoAgent and no jar: %v", err)
	}
}

func TestWithAgent(t *testing.T) {
	o := validOptions(t)
	opt := "-javaagent:" + contract.AgentPath + "=build"
	args, env := o.withAgent(withJVMFlags([]string{"java", "-jar", "/app.jar"}, jvmFlags), []string{"A=1"})
	want := append(append([]string{"java", opt}, jvmFlags...), "-jar", "/app.jar")
	if diff := cmp.Diff(args, want); diff != "" {
		t.Errorf("java command (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(env, []string{"A=1"}); diff != "" {
		t.Errorf("java env (-got +want):\n%s", diff)
	}
	cmd := []string{"/app/run.sh"}
	args, env = o.withAgent(cmd, jvmEnv(cmd, nil, jvmFlags))
	if diff := cmp.Diff(args, cmd); diff != "" {
		t.Errorf("script command (-got +want):\n%s", diff)
	}
	if len(env) != 1 || !strings.HasPrefix(env[0], "JAVA_TOOL_OPTIONS="+opt+" ") || !strings.Contains(env[0], "-XX:-UsePerfData") {
		t.Errorf("script env %q, want the agent and the JVM flags in JAVA_TOOL_OPTIONS", env)
	}
	o.NoAgent = true
	if args, _ := o.withAgent([]string{"java", "-jar", "x"}, nil); len(args) != 3 {
		t.Errorf("NoAgent still adds the agent: %q", args)
	}
}

func TestAppTree(t *testing.T) {
	// "init" (the outer shell) has one child, the application (the inner
	// shell), which has a child of its own.
	init := exec.Command("sh", "-c", `sh -c "sleep 60 & wait" & wait`)
	init.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := init.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-init.Process.Pid, syscall.SIGKILL)
		_ = init.Wait()
	})
	var tree map[int]bool
	for i := 0; i < 200; i++ {
		var err error
		if tree, err = appTree(init.Process.Pid); err == nil && len(tree) == 2 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	app := proc.Children(init.Process.Pid)
	if len(app) != 1 || len(tree) != 2 || !tree[app[0]] || tree[init.Process.Pid] {
		t.Fatalf("appTree = %v; init %d has children %v: want the application and its child, not init", tree, init.Process.Pid, app)
	}
	for _, k := range proc.Children(app[0]) {
		if !tree[k] {
			t.Errorf("appTree lacks the application's child %d", k)
		}
	}
	if _, err := appTree(app[0] + 1<<22); err == nil {
		t.Error("appTree of a missing process succeeded")
	}
}
