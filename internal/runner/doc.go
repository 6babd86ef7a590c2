// Package runner starts an image locally the way a container runtime
// would (unpacked once, overlay per run, runc, Docker's default
// capabilities plus CAP_CHECKPOINT_RESTORE, the app's port published on the
// host's loopback), and measures how soon it answers and whether the
// launcher restored it or started it cold.
package runner
