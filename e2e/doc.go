// Package e2e holds the end-to-end tests: they build examples/hello into a
// warm image with the real CRIU bundle and runc, run it as a container
// runtime would, and check what a user relies on.
package e2e
