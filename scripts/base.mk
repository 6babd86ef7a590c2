# Base images: Debian + an OpenJDK headless JRE, built from Debian packages
# with mmdebstrap and stored as an OCI image layout:
#
#   make base          ->  oci-layout:build/base:jre17 (bookworm)
#   make base-jre21    ->  oci-layout:build/base:jre21 (trixie)
#   make base-jre25    ->  oci-layout:build/base:jre25 (trixie)
#   make bases         ->  all three (the support matrix's)
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

# The JDK follows the tag (scripts/base-image.sh: BASE_FLAVOR). One script
# run at a time per cache (it takes a lock), so -j is safe.
BASE_JDKS ?= jre17 jre21 jre25
.PHONY: bases $(addprefix base-,$(BASE_JDKS))
bases: $(addprefix base-,$(BASE_JDKS))
$(addprefix base-,$(BASE_JDKS)):
	bash scripts/base-image.sh $(BASE_LAYOUT) $(patsubst base-%,%,$@)
