// Package contract is the agreement between the builder and the in-image
// launcher: where things live under the image prefix, and the metadata file
// (versioned JSON) that tells the launcher how to restore or start cold.
package contract
