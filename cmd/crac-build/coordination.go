package main

import (
	"fmt"
	"io"

	"github.com/crac-build/crac-build/internal/contract"
)

// printCoordination adds what inspect shows of the org.crac coordination.
func printCoordination(w io.Writer, co *contract.Coordination) {
	if co == nil {
		fmt.Fprintf(w, "org.crac\tnot coordinated (built without the agent)\n")
		return
	}
	by := "by the builder, after the warmup"
	if co.RequestedByApp {
		by = "asked for by the application"
	}
	fmt.Fprintf(w, "org.crac\t%d Resources notified in %d JVM(s); checkpoint %s; on a failed afterRestore: %s\n",
		co.Resources, len(co.Endpoints), by, co.OnRestoreError)
}
