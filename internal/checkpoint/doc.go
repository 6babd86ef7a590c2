// Package checkpoint runs CRIU (through go-criu's swrk RPC) from inside a
// container: Dump at build time, in the sandbox next to the application, and
// Restore at container start, from the launcher. It also records the facts
// about the dumped process that a later restore depends on, and the
// inventory of what the checkpoint will hold (processes, threads, sockets
// and their peers, memory, deleted files), refusing what cannot restore.
package checkpoint
