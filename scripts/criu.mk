# criu.mk - include from the main Makefile:  include scripts/criu.mk
#
# make criu        assemble (or re-check) the self-contained CRIU bundle in
#                  $(CRIU_BUNDLE_DIR); quick no-op when it is already there.
# make criu-clean  remove the bundle and its download caches.
#
# Run as root on a Debian host: the script may apt-get install gcc, libc6-dev,
# binutils, ... (see the top of scripts/criu-bundle.sh).

CRIU_BUNDLE_DIR ?= build/criu

.PHONY: criu criu-clean
criu:
	bash scripts/criu-bundle.sh $(CRIU_BUNDLE_DIR)

criu-clean:
	rm -rf $(CRIU_BUNDLE_DIR) build/cache/criu-apt build/cache/criu-debs
