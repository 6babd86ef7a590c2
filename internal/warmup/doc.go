// Package warmup decides when an application is ready and warm: it probes a
// readiness URL, drives a built-in HTTP warmup, and runs user warmup
// scripts with the application's address in their environment.
package warmup
