// Package launcher is what runs as PID 1 in a container: at build time it
// starts the application in its own session at a PID the restore can reuse
// (Init in the runc sandbox; NamespaceInit in the namespaces of an image
// build step, where it also dumps on request); at container start it checks
// whether a restore can work, restores, and supervises the restored JVM, or
// says why not so the caller can start the application cold (Check,
// Restore, Supervise).
package launcher
