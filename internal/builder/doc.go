// Package builder makes a warm image: it unpacks the base and the
// application into a runc sandbox, starts the application, waits until it
// is ready, warms it up, checkpoints it with CRIU from inside the sandbox,
// and appends the application, runtime and checkpoint layers to the base
// (Build). Checkpoint does the same inside an image build's RUN step, in
// namespaces of the step's own root filesystem.
package builder
