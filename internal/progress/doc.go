// Package progress carries byte counts of long operations (pulls,
// compression, pushes) from the library packages, which never print, to
// whoever renders them: the CLI draws bars on a terminal.
package progress
