package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/crac-build/crac-build/internal/agent"
	"github.com/crac-build/crac-build/internal/launcher"
)

// restore restores the checkpoint and runs the Resources' afterRestore in
// the restored JVM (through the crac-build agent) before it returns: the
// restore is done when the application has reopened what it closed. A
// failed afterRestore is reported in full on stderr; the image's policy
// then keeps the restored JVM or kills it, and the error makes the
// launcher start cold.
func restore(plan *launcher.Plan, env []string) (int, error) {
	if err := launcher.PrepareAgents(plan); err != nil {
		return 0, &launcher.ColdStart{ID: launcher.ReasonRestoreFailed, Err: err}
	}
	pid, err := launcher.Restore(context.Background(), plan, [3]*os.File{os.Stdin, os.Stdout, os.Stderr})
	if err != nil {
		return 0, err
	}
	t0 := time.Now()
	_, err = launcher.NotifyRestored(context.Background(), plan, env)
	if plan.Breakdown != nil {
		plan.Breakdown.NotifyMs = float64(time.Since(t0).Microseconds()) / 1000
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "crac-launch: afterRestore failed: %v\n", err)
		if launcher.KeepAfterRestoreError(plan) {
			fmt.Fprintln(os.Stderr, "crac-launch: keeping the restored JVM (the image's policy on a failed afterRestore is \"continue\")")
			return pid, nil
		}
		if aerr := launcher.Abandon(pid); aerr != nil {
			fmt.Fprintf(os.Stderr, "crac-launch: %v\n", aerr)
		}
		return 0, &launcher.ColdStart{ID: launcher.ReasonAfterRestore,
			Err: fmt.Errorf("afterRestore failed, restored JVM killed: %s", summary(err))}
	}
	return pid, nil
}

// summary is a failure in one line, without stack traces.
func summary(err error) string {
	var ae *agent.Error
	if errors.As(err, &ae) {
		return ae.Summary()
	}
	return oneLine(err.Error())
}
