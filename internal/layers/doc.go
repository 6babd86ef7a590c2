// Package layers writes every tar and layer crac-build makes: reproducible
// layers from host files (sorted entries, explicit parents, uid/gid 0,
// fixed times), the container diff taken from an overlay upper dir, zstd or
// gzip compression; and it extracts layers safely into a directory.
package layers
