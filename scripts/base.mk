# Base images: Debian + an OpenJDK headless JRE (and, for the benchmark,
# + Debian's Tomcat 10 with its examples webapp), built from Debian packages
# with mmdebstrap and stored as OCI image layouts:
#
#   make base          ->  oci-layout:build/base:jre17 (bookworm)
#   make base-jre21    ->  oci-layout:build/base:jre21 (trixie)
#   make base-jre25    ->  oci-layout:build/base:jre25 (trixie)
#   make bases         ->  the three JREs (the support matrix's)
#   make base-tomcat   ->  oci-layout:build/base-tomcat10:tomcat10 (bookworm)
#   make base-tomcat-jre25 -> oci-layout:build/base-tomcat10:tomcat10-jre25
#                         (trixie, OpenJDK 25; the benchmark's Tomcat on JDK 25)
#
# Included by the main Makefile. scripts/base-image.sh caches the rootfs and
# the image under build/cache (BASE_CACHE) and returns quickly when its inputs
# (the script, the package list, internal/tools/mkbase, SOURCE_DATE_EPOCH) are
# unchanged, so the targets always run and the script decides. BASE_FORCE=1
# rebuilds. Needs root (or user namespaces) and the Debian mirror.

BASE_LAYOUT ?= build/base
BASE_TAG ?= jre17
BASE_IMAGE := oci-layout:$(BASE_LAYOUT):$(BASE_TAG)

TOMCAT_BASE_LAYOUT ?= build/base-tomcat10
TOMCAT_BASE_IMAGE := oci-layout:$(TOMCAT_BASE_LAYOUT):tomcat10
TOMCAT25_BASE_IMAGE := oci-layout:$(TOMCAT_BASE_LAYOUT):tomcat10-jre25

.PHONY: base base-tomcat base-tomcat-jre25
base:
	bash scripts/base-image.sh $(BASE_LAYOUT) $(BASE_TAG)

# The JDK follows the tag (scripts/base-image.sh: BASE_FLAVOR). One script
# run at a time per cache (it takes a lock), so -j is safe.
BASE_JDKS ?= jre17 jre21 jre25
.PHONY: bases $(addprefix base-,$(BASE_JDKS))
bases: $(addprefix base-,$(BASE_JDKS))
$(addprefix base-,$(BASE_JDKS)):
	bash scripts/base-image.sh $(BASE_LAYOUT) $(patsubst base-%,%,$@)

base-tomcat:
	bash scripts/base-image.sh $(TOMCAT_BASE_LAYOUT) tomcat10

base-tomcat-jre25:
	bash scripts/base-image.sh $(TOMCAT_BASE_LAYOUT) tomcat10-jre25
