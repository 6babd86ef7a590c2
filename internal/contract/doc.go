// Package contract is the agreement between the builder and the in-image
// launcher: where things live under the image prefix, the labels and
// environment variables, and the metadata file (versioned JSON) that tells
// the launcher how to restore or start cold. Probing the host it runs on is
// package host's job.
package contract
