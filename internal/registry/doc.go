// Package registry reads and writes images wherever they live: remote
// registries, OCI image layouts (oci-layout:DIR[:TAG]) and docker-archive
// tarballs (docker-archive:FILE[:TAG]), through one reference syntax.
package registry
