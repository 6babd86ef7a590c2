// Package inspect reads what a warm image says about itself: its labels,
// its layers, and the checkpoint metadata in its checkpoint layer. It
// returns facts; the CLI renders them.
package inspect
