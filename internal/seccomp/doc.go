// Package seccomp holds the seccomp profiles a warm image meets at run time:
// Docker's default, under which CRIU cannot restore (clone3 fails with
// ENOSYS), and the project's restore profile, Docker's default with clone3
// allowed; and it turns Docker-format profiles into the OCI form runc reads.
package seccomp
