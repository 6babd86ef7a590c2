# Base image: Debian bookworm + OpenJDK 17 headless JRE, built from Debian
# packages with mmdebstrap and stored as an OCI image layout:
#
#   make base   ->  oci-layout:build/base:jre17
#
# Included by the main Makefile. scripts/base-image.sh caches the rootfs and
# the image under build/cache and returns quickly when its inputs (the script,
# the package list, internal/tools/mkbase, SOURCE_DATE_EPOCH) are unchanged,
# so the target is always run and the script decides. BASE_FORCE=1 rebuilds.
# Needs root (or user namespaces) and network access to the Debian mirror.

BASE_LAYOUT ?= build/base
BASE_TAG ?= jre17
BASE_IMAGE := oci-layout:$(BASE_LAYOUT):$(BASE_TAG)

.PHONY: base
base:
	bash scripts/base-image.sh $(BASE_LAYOUT) $(BASE_TAG)
