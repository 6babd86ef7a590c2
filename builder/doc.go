// Package builder makes a warm image: it unpacks the base and the
// application into a runc sandbox, starts the application, waits until it
// is ready, warms it up, checkpoints it with CRIU from inside the sandbox,
// and appends the application, runtime and checkpoint layers to the base.
package builder
