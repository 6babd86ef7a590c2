//go:build ignore

// gen writes the restore profile, RestoreProfile, where the project ships
// it (go generate).
package main

import (
	"log"
	"os"

	"github.com/crac-build/crac-build/internal/seccomp"
)

func main() {
	b, err := seccomp.Marshal(seccomp.RestoreProfile())
	if err != nil {
		log.Fatal(err)
	}
	for _, f := range []string{seccomp.ShippedProfileFile, seccomp.KubernetesProfileFile} {
		if err := os.WriteFile(f, b, 0o644); err != nil {
			log.Fatal(err)
		}
	}
}
