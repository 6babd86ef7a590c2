// Package secrets keeps build secrets out of warm images: it hands them to
// the build sandbox on a private tmpfs (never on disk, in no layer), and
// scans a checkpoint's files for their values, in the encodings a JVM keeps
// strings in, and for well-known secret formats (private keys, tokens).
package secrets
