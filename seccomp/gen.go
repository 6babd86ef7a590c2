//go:build ignore

// gen writes crac-restore.json from RestoreProfile (go generate).
package main

import (
	"log"
	"os"

	"github.com/crac-build/crac-build/seccomp"
)

func main() {
	b, err := seccomp.Marshal(seccomp.RestoreProfile())
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(seccomp.RestoreProfileFile, b, 0o644); err != nil {
		log.Fatal(err)
	}
}
