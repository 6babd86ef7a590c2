// Package environ works on environments as the kernel and the OCI config
// hold them: lists of KEY=VALUE strings. It is the one place that merges
// them (an image's environment and the user's, the JVM's option variables).
package environ
