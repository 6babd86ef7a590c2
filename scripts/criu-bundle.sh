#!/usr/bin/env bash
# criu-bundle.sh [OUT_DIR] - assemble a self-contained CRIU (>= 4.2) bundle.
# OUT_DIR defaults to <repo>/build/criu.
#
# Two ways (CRIU_FROM):
#   source (default)  Debian sid's criu source (the upstream orig tarball, its
#                     sha256 checked against sid's signed Sources index), the
#                     patches in scripts/criu-patches/ applied, built on this
#                     host; the bundle carries this host's libraries and loader.
#                     Why patched: see the patches' headers (a restore that maps
#                     the pages image instead of reading it, opt-in per restore
#                     with CRIU_MMAP_PAGE_IMAGE=1; without it criu is stock).
#   deb               sid's criu binary package, unmodified, with sid's libc.
#
# Why: bookworm's criu 3.17 and trixie's 4.1 fail on this project's kernels
# (see shared docs, ENVIRONMENT.md "CRIU"); sid's 4.2.x works but needs
# glibc >= 2.38, so it travels with sid's libc and loader. The result runs on
# any x86-64 Linux userland, e.g. copied into an image at /opt/crac-build/criu.
#
# Layout of OUT_DIR:
#   criu                        static wrapper (scripts/criu-wrapper.c): execs
#                               lib/ld-linux-x86-64.so.2 --library-path lib bin/criu ARGS
#   bin/criu                    criu built from source (or sid's ELF, unmodified)
#   lib/ld-linux-x86-64.so.2    the loader of the libc criu was built against
#   lib/<soname>...             exactly the sonames bin/criu needs, transitively
#   VERSION                     criu upstream version, e.g. 4.2.1
#   PACKAGES                    package=version of every .deb a file came from
#                               (source: criu-source=VERSION, patches=..., the
#                               host's library packages)
#   .stamp                      hash of the inputs (this script, the wrapper source)
#
# Host packages it needs (bookworm; installed with apt-get when missing):
#   apt, dpkg (dpkg-deb, dpkg --compare-versions), debian-archive-keyring
#   (sid's signing keys), binutils (readelf), gcc + libc6-dev (static libc.a
#   for the wrapper), coreutils, findutils, util-linux (flock).
# Run it as root (it may install those packages).
#
# apt is used with a private configuration (APT_CONFIG, with the machine's
# /etc/apt config, sources, preferences and dpkg status all ignored), so the
# machine's own apt setup is untouched. Caches, kept between runs:
#   $CRIU_CACHE_DIR/criu-apt    private apt lists and caches
#   $CRIU_CACHE_DIR/criu-debs   downloaded sid .debs
# (CRIU_CACHE_DIR defaults to <repo>/build/cache.)
#
# Idempotent: if OUT_DIR already holds a working bundle built by the same
# script and wrapper source (any edit of either counts as a change), it only
# re-checks it, in ~50 ms and without network. Set CRIU_BUNDLE_FORCE=1 to
# rebuild anyway (e.g. to pick up a newer sid criu). A new bundle is assembled
# in a temporary folder beside OUT_DIR (.NAME.new.*) and renamed into place only
# once it passes its checks; a failed run leaves OUT_DIR as it was. Without
# network, a rebuild goes on with the apt lists and .debs cached by earlier runs.
#
# Other knobs: CRIU_FROM (source|deb), CRIU_MIN_VERSION (default 4.2), CRIU_SUITE (default sid),
# CRIU_MIRROR (default http://deb.debian.org/debian).
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
WRAPPER_SRC="$SCRIPT_DIR/criu-wrapper.c"
PATCH_DIR="$SCRIPT_DIR/criu-patches"
FROM=${CRIU_FROM:-source}
# CRIU_LEAN=1 (default) builds without TLS for the page server and without
# nftables network locking, features crac-build never uses: 7 shared objects
# instead of 22, half the start-up time (patch 0002). CRIU_LEAN=0: all of them.
LEAN=${CRIU_LEAN:-1}

OUT=${1:-$REPO_ROOT/build/criu}
MIN_VERSION=${CRIU_MIN_VERSION:-4.2}
SUITE=${CRIU_SUITE:-sid}
MIRROR=${CRIU_MIRROR:-http://deb.debian.org/debian}
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
CACHE=${CRIU_CACHE_DIR:-$REPO_ROOT/build/cache}
APT_DIR="$CACHE/criu-apt"
DEBS="$CACHE/criu-debs"
ARCH=amd64
MULTIARCH=x86_64-linux-gnu
LOADER=ld-linux-x86-64.so.2

log() { printf 'criu-bundle: %s\n' "$*" >&2; }
die() { printf 'criu-bundle: ERROR: %s\n' "$*" >&2; exit 1; }

[ "$(uname -m)" = x86_64 ] || die "only x86_64 is supported (got $(uname -m))"
case "$OUT" in /*) ;; *) OUT="$PWD/$OUT" ;; esac
OUT=${OUT%/}

# ---------------------------------------------------------------- host tools
ensure_host_tools() {
	local missing=()
	command -v apt-get >/dev/null || die "apt-get not found: a Debian host is required"
	command -v dpkg-deb >/dev/null || missing+=(dpkg)
	command -v readelf >/dev/null || missing+=(binutils)
	command -v gcc >/dev/null || missing+=(gcc)
	command -v flock >/dev/null || missing+=(util-linux)
	[ -f "/usr/lib/$MULTIARCH/libc.a" ] || missing+=(libc6-dev)
	[ -f "$KEYRING" ] || missing+=(debian-archive-keyring)
	if [ "$FROM" = source ]; then
		# criu's build dependencies (bookworm names)
		local p
		for p in make patch pkg-config xz-utils libprotobuf-c-dev protobuf-c-compiler protobuf-compiler \
			python3-protobuf libprotobuf-dev libnl-3-dev libnet1-dev libcap-dev libbsd-dev \
			libaio-dev uuid-dev $([ "$LEAN" = 0 ] && echo libnftables-dev libgnutls28-dev); do
			dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
		done
	fi
	[ ${#missing[@]} -eq 0 ] && return 0
	[ "$(id -u)" = 0 ] || die "missing host packages (${missing[*]}); run as root or install them"
	log "installing host packages: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >&2; then
		apt-get update -q >&2
		apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
	fi
}

# -------------------------------------------------------------- small helpers
inputs_hash() {
	{
		cat "${BASH_SOURCE[0]}" "$WRAPPER_SRC"
		printf '%s\n' "$FROM" "$LEAN" "$MIN_VERSION" "$SUITE" "$MIRROR"
		[ "$FROM" != source ] || cat "$PATCH_DIR"/*.patch
	} | sha256sum | cut -d' ' -f1
}

# upstream version printed by "<bundle>/criu --version" ("Version: 4.2.1")
bundle_version() {
	"$1/criu" --version 2>/dev/null | sed -n 's/^Version: *\([^ ]*\).*/\1/p' | head -n1
}

summary() {
	local dir=$1 note=$2
	printf 'criu bundle: criu %s (%s), %s on disk, %s libs, at %s%s\n' \
		"$(cat "$dir/VERSION")" "$(grep -E '^(criu|criu-source)=' "$dir/PACKAGES" | head -n1)" \
		"$(du -sh "$dir" | cut -f1)" "$(find "$dir/lib" -type f | wc -l)" "$dir" "$note"
}

# Is $1 a complete, working bundle built from the current inputs?
bundle_ok() {
	local dir=$1 v
	[ -x "$dir/criu" ] && [ -x "$dir/bin/criu" ] && [ -f "$dir/lib/$LOADER" ] &&
		[ -s "$dir/VERSION" ] && [ -s "$dir/PACKAGES" ] && [ -f "$dir/.stamp" ] || return 1
	[ "$(cat "$dir/.stamp")" = "$(inputs_hash)" ] || return 1
	v=$(bundle_version "$dir") || return 1
	[ -n "$v" ] && [ "$v" = "$(cat "$dir/VERSION")" ] || return 1
	dpkg --compare-versions "$v" ge "$MIN_VERSION"
}

# --------------------------------------------------------------- private apt
setup_apt() {
	mkdir -p "$APT_DIR/etc" "$APT_DIR/lists/partial" "$APT_DIR/cache/archives/partial" "$DEBS"
	: >"$APT_DIR/status" # empty dpkg status: nothing is "installed"
	{
		printf 'deb [arch=%s signed-by=%s] %s %s main\n' "$ARCH" "$KEYRING" "$MIRROR" "$SUITE"
		[ "$FROM" != source ] || printf 'deb-src [signed-by=%s] %s %s main\n' "$KEYRING" "$MIRROR" "$SUITE"
	} >"$APT_DIR/etc/sources.list"
	cat >"$APT_DIR/apt.conf" <<-EOF
		// Generated by scripts/criu-bundle.sh: private apt setup for sid.
		Dir::Etc::Main "/dev/null";
		Dir::Etc::Parts "/dev/null";
		Dir::Etc::SourceList "$APT_DIR/etc/sources.list";
		Dir::Etc::SourceParts "/dev/null";
		Dir::Etc::Preferences "/dev/null";
		Dir::Etc::PreferencesParts "/dev/null";
		Dir::Etc::Trusted "/dev/null";
		Dir::Etc::TrustedParts "/dev/null";
		Dir::State "$APT_DIR";
		Dir::State::Lists "$APT_DIR/lists";
		Dir::State::status "$APT_DIR/status";
		Dir::Cache "$APT_DIR/cache";
		Dir::Cache::srcpkgcache "";
		Dir::Log "$APT_DIR";
		APT::Architecture "$ARCH";
		APT::Architectures { "$ARCH"; };
		APT::Sandbox::User "root";
		APT::Get::AllowUnauthenticated "false";
		Acquire::Languages "none";
		Acquire::GzipIndexes "true";
		Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled "false";
		// Some mirrors serve a frozen copy of sid whose Valid-Until has passed;
		// signatures are still checked.
		Acquire::Check-Valid-Until "false";
		Acquire::Retries "3";
	EOF
	export APT_CONFIG="$APT_DIR/apt.conf"
}

apt_update() {
	log "apt-get update ($SUITE, private lists in $APT_DIR)"
	if ! apt-get update -q </dev/null >"$APT_DIR/update.log" 2>&1 ||
		grep -q '^[EW]: ' "$APT_DIR/update.log"; then
		cat "$APT_DIR/update.log" >&2
		if ls "$APT_DIR/lists/"*_Packages* >/dev/null 2>&1; then
			log "WARNING: apt-get update failed; going on with the lists from an earlier run"
		else
			die "apt-get update for $SUITE failed and no earlier lists exist"
		fi
	fi
}

# Print "package version filename sha256" for each name in $@ that sid has
# (the candidate version; names that are purely virtual are left out).
pkg_records() {
	apt-cache show --no-all-versions "$@" 2>/dev/null </dev/null | awk '
		/^Package: / { p = $2 } /^Version: / { v = $2 }
		/^Filename: / { f = $2 } /^SHA256: / { h = $2 }
		/^$/ { if (p != "" && f != "") print p, v, f, h; p = v = f = h = "" }
		END { if (p != "" && f != "") print p, v, f, h }'
}

# First package providing virtual package $1 (empty if none).
virtual_provider() {
	apt-cache showpkg "$1" 2>/dev/null </dev/null |
		sed -n '/^Reverse Provides:/,$p' | sed -n '2{s/ .*//;p}'
}

# Names of the packages a .deb depends on: Depends and Pre-Depends, every
# alternative, without version constraints or architecture qualifiers.
deb_deps() {
	dpkg-deb -f "$1" Depends Pre-Depends | sed 's/^[A-Za-z-]*: //' | tr ',|' '\n' |
		sed 's/(.*)//; s/\[.*\]//; s/<.*>//; s/:.*//; s/[[:space:]]//g' | sed '/^$/d' | sort -u
}

needed_of() { readelf -d "$1" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p'; }

# ------------------------------------------------------------------ the build
declare -A PKG_DIR=()   # package -> folder it was extracted into
declare -A PKG_VER=()   # package -> version
declare -A PKG_DEB=()   # package -> .deb file
declare -A SONAME_AT=() # soname -> "package<TAB>path" (first package providing it)
STAGE=""

# Download (or take from the cache, checked by sha256) the sid .debs of the
# packages named in $@, extract each into its own folder under $STAGE/pkgs and
# index the shared objects it ships.
add_packages() {
	local name pkg ver file sha deb dir f tmp got
	local -a records=() todo=() fetch=()
	local -A want_sha=() want_deb=() want_ver=()
	for name in "$@"; do
		[ -n "$name" ] && [ -z "${PKG_DIR[$name]:-}" ] && todo+=("$name")
	done
	[ ${#todo[@]} -gt 0 ] || return 0
	local -A real=()
	mapfile -t records < <(pkg_records "${todo[@]}")
	for f in "${records[@]}"; do real[${f%% *}]=1; done
	for name in "${todo[@]}"; do
		[ -z "${real[$name]:-}" ] || continue
		# not a real package: take a provider of the virtual one
		pkg=$(virtual_provider "$name")
		[ -n "$pkg" ] || die "package $name not found in $SUITE"
		[ -n "${PKG_DIR[$pkg]:-}" ] && continue
		log "$name is virtual; using $pkg"
		mapfile -t -O "${#records[@]}" records < <(pkg_records "$pkg")
	done
	for f in "${records[@]}"; do
		read -r pkg ver file sha <<<"$f"
		if [ -n "${PKG_DIR[$pkg]:-}" ] || [ -n "${want_sha[$pkg]:-}" ]; then continue; fi
		want_sha[$pkg]=$sha
		want_ver[$pkg]=$ver
		want_deb[$pkg]="$DEBS/$(basename "$file")"
		if [ ! -f "${want_deb[$pkg]}" ] ||
			[ "$(sha256sum "${want_deb[$pkg]}" | cut -d' ' -f1)" != "$sha" ]; then
			fetch+=("$pkg")
		fi
	done
	if [ ${#fetch[@]} -gt 0 ]; then
		log "downloading: ${fetch[*]}"
		tmp=$(mktemp -d "$DEBS/.dl.XXXXXX")
		if ! (cd "$tmp" && apt-get download -q "${fetch[@]}" </dev/null >&2); then
			rm -rf "$tmp"
			die "apt-get download failed"
		fi
		for pkg in "${fetch[@]}"; do
			got=""
			for f in "$tmp/${pkg}"_*.deb; do
				[ -f "$f" ] && [ "$(sha256sum "$f" | cut -d' ' -f1)" = "${want_sha[$pkg]}" ] && got=$f
			done
			[ -n "$got" ] || { rm -rf "$tmp"; die "no .deb with the expected sha256 for $pkg"; }
			mv -f "$got" "${want_deb[$pkg]}"
		done
		rm -rf "$tmp"
	fi
	for pkg in "${!want_sha[@]}"; do
		deb=${want_deb[$pkg]}
		dir="$STAGE/pkgs/$pkg"
		mkdir -p "$dir"
		dpkg-deb -x "$deb" "$dir"
		PKG_DIR[$pkg]=$dir
		PKG_VER[$pkg]=${want_ver[$pkg]}
		PKG_DEB[$pkg]=$deb
		# index the shared objects (files or symlinks) in the library folders
		while IFS= read -r f; do
			local base=${f##*/}
			[ -n "${SONAME_AT[$base]:-}" ] || SONAME_AT[$base]="$pkg"$'\t'"$f"
		done < <(find "$dir/usr/lib/$MULTIARCH" "$dir/lib/$MULTIARCH" "$dir/usr/lib64" \
			"$dir/lib64" -maxdepth 1 \( -type f -o -type l \) -name '*.so*' 2>/dev/null)
	done
}

# Walk NEEDED from bin/criu. Sets CLOSURE (soname -> real file),
# CONTRIB (packages providing a file of the closure) and UNRESOLVED.
declare -A CLOSURE=() CONTRIB=()
UNRESOLVED=()
walk_closure() {
	local criu_elf=$1 so entry pkg path real
	CLOSURE=() CONTRIB=([criu]=1) UNRESOLVED=()
	local queue=() seen_unres=()
	mapfile -t queue < <(needed_of "$criu_elf")
	while [ ${#queue[@]} -gt 0 ]; do
		so=${queue[0]}
		queue=("${queue[@]:1}")
		[ -n "${CLOSURE[$so]:-}" ] && continue
		entry=${SONAME_AT[$so]:-}
		if [ -z "$entry" ]; then
			case " ${seen_unres[*]:-} " in *" $so "*) ;; *) seen_unres+=("$so") ;; esac
			continue
		fi
		pkg=${entry%%$'\t'*}
		path=${entry#*$'\t'}
		real=$(readlink -f "$path")
		case "$real" in "${PKG_DIR[$pkg]}"/*) ;; *) die "$so in $pkg points outside its package: $real" ;; esac
		CLOSURE[$so]=$real
		CONTRIB[$pkg]=1
		mapfile -t -O "${#queue[@]}" queue < <(needed_of "$real")
	done
	UNRESOLVED=("${seen_unres[@]}")
	return 0
}

# sid's criu binary package and its library closure, from sid's packages.
# Sets CRIU_ELF, SRC_VERSION, CLOSURE and CONTRIB.
deb_closure() {
	local deb_v v round p
	deb_v=$(pkg_records criu | cut -d' ' -f2)
	[ -n "$deb_v" ] || die "no criu package in $SUITE"
	v=${deb_v#*:}
	v=${v%-*}
	dpkg --compare-versions "$v" ge "$MIN_VERSION" ||
		die "$SUITE has criu $deb_v, older than the wanted $MIN_VERSION"
	log "$SUITE has criu $deb_v"

	add_packages criu libc6
	CRIU_ELF="${PKG_DIR[criu]}/usr/sbin/criu"
	[ -f "$CRIU_ELF" ] || CRIU_ELF="${PKG_DIR[criu]}/sbin/criu"
	[ -f "$CRIU_ELF" ] || die "criu package has no sbin/criu"

	# Grow the package set until every NEEDED soname is found: each round adds
	# the dependencies of the packages that provide the closure found so far.
	round=0
	while walk_closure "$CRIU_ELF" && [ ${#UNRESOLVED[@]} -gt 0 ]; do
		round=$((round + 1))
		[ $round -le 20 ] || die "closure did not converge: ${UNRESOLVED[*]}"
		log "round $round: unresolved: ${UNRESOLVED[*]}"
		local deps=() before=${#PKG_DIR[@]}
		for p in "${!CONTRIB[@]}"; do
			mapfile -t -O "${#deps[@]}" deps < <(deb_deps "${PKG_DEB[$p]}")
		done
		add_packages "${deps[@]}"
		[ "${#PKG_DIR[@]}" -gt "$before" ] || die "cannot find packages for: ${UNRESOLVED[*]}"
	done
	[ -n "${CLOSURE[$LOADER]:-}" ] || die "$LOADER is not in the closure (no libc6?)"
	CONTRIB[libc6]=1

	SRC_VERSION=$v
}

# sid's criu source: the upstream tarball that sid's criu source package
# names, its sha256 checked against sid's Sources index (signed, checked by
# apt-get update); Debian's packaging is not needed. The patches of
# $PATCH_DIR are applied in name order, then criu is built against this
# host's libraries. Sets CRIU_ELF, SRC_VERSION and SRC_DEB_VERSION.
build_source() {
	local rec dir orig sha tarball src p
	rec=$(apt-cache showsrc --only-source criu 2>/dev/null </dev/null | awk '
		/^Version: / { v = $2 } /^Directory: / { d = $2 }
		/^Checksums-Sha256:/ { c = 1; next }
		c && /^ / { if ($3 ~ /\.orig\.tar\./) o = $3 " " $1; next }
		{ c = 0 }
		/^$/ { if (o != "") { print v, d, o; exit } }
		END { if (o != "") print v, d, o }' | head -n1)
	read -r SRC_DEB_VERSION dir orig sha <<<"$rec"
	[ -n "${sha:-}" ] || die "no criu source package with an orig tarball in $SUITE"
	SRC_VERSION=${SRC_DEB_VERSION#*:}
	SRC_VERSION=${SRC_VERSION%-*}
	dpkg --compare-versions "$SRC_VERSION" ge "$MIN_VERSION" ||
		die "$SUITE has criu $SRC_DEB_VERSION, older than the wanted $MIN_VERSION"
	log "$SUITE has criu source $SRC_DEB_VERSION ($orig)"
	mkdir -p "$CACHE/criu-src"
	tarball="$CACHE/criu-src/$orig"
	if [ ! -f "$tarball" ] || [ "$(sha256sum <"$tarball" | cut -d' ' -f1)" != "$sha" ]; then
		log "downloading $MIRROR/$dir/$orig"
		rm -f "$tarball"
		/usr/lib/apt/apt-helper download-file "$MIRROR/$dir/$orig" "$tarball.part" "SHA256:$sha" </dev/null >&2 ||
			die "downloading $orig failed"
		mv "$tarball.part" "$tarball"
	fi
	[ "$(sha256sum <"$tarball" | cut -d' ' -f1)" = "$sha" ] || die "$tarball: sha256 is not sid's $sha"
	src="$STAGE/src"
	mkdir -p "$src"
	tar -xf "$tarball" -C "$src" --strip-components=1
	for p in "$PATCH_DIR"/*.patch; do
		[ -f "$p" ] || continue
		log "applying $(basename "$p")"
		patch -d "$src" -p1 --forward --batch --quiet <"$p" >&2 || die "patch $p does not apply to criu $SRC_VERSION"
	done
	local flags=()
	[ "$LEAN" = 0 ] || flags=(NO_GNUTLS=1 NO_NFTABLES=1)
	log "building criu $SRC_VERSION (make -C $src ${flags[*]} criu; log in $STAGE/make.log)"
	if ! make -C "$src" -j"$(nproc)" "${flags[@]}" criu >"$STAGE/make.log" 2>&1; then
		tail -n 40 "$STAGE/make.log" >&2
		die "building criu $SRC_VERSION failed"
	fi
	CRIU_ELF="$src/criu/criu"
	[ -x "$CRIU_ELF" ] || die "the build made no criu/criu"
}

# Copy into $2 the libraries $1 needs as this host's loader resolves them,
# and the loader; print package=version of the host packages they came from.
host_libs() {
	local elf=$1 dst=$2 so arrow path rest real pkg loader
	loader=$(readlink -f "/lib64/$LOADER")
	[ -f "$loader" ] || die "no /lib64/$LOADER on this host"
	while read -r so arrow path rest; do
		[ "$arrow" = "=>" ] || continue
		case $so in */*) continue ;; esac # the loader itself, installed below
		[ -f "$path" ] || die "$so: not found on this host (needed by criu)"
		real=$(readlink -f "$path")
		install -m 0755 "$real" "$dst/$so"
		pkg=$(dpkg -S "$path" 2>/dev/null || dpkg -S "$real" 2>/dev/null || dpkg -S "/usr$path" 2>/dev/null || true)
		pkg=${pkg%%:*}
		[ -z "$pkg" ] || printf '%s=%s\n' "$pkg" "$(dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null)"
	done < <("$loader" --list "$elf")
	install -m 0755 "$loader" "$dst/$LOADER"
	printf 'libc6=%s\n' "$(dpkg-query -W -f='${Version}' libc6:"$ARCH" 2>/dev/null || dpkg-query -W -f='${Version}' libc6)"
}

build() {
	local parent base tmp_out criu_elf v p so
	parent=$(dirname "$OUT")
	base=$(basename "$OUT")
	mkdir -p "$parent"
	# leftovers of a run that was killed (we hold the lock)
	rm -rf "$parent/.$base".stage.* "$parent/.$base".new.* "$parent/.$base".old.*
	STAGE=$(mktemp -d "$parent/.$base.stage.XXXXXX")
	tmp_out=$(mktemp -d "$parent/.$base.new.XXXXXX")
	# (expanded now: the trap runs after this function's locals are gone)
	trap "rm -rf '$STAGE' '$tmp_out'" EXIT
	trap 'exit 130' INT TERM HUP

	setup_apt
	apt_update

	mkdir -p "$tmp_out/bin" "$tmp_out/lib"
	if [ "$FROM" = source ]; then
		build_source
		criu_elf=$CRIU_ELF
		v=$SRC_VERSION
		host_libs "$criu_elf" "$tmp_out/lib" >"$STAGE/PACKAGES"
		{
			printf 'criu-source=%s\n' "$SRC_DEB_VERSION"
			printf 'patches=%s\n' "$(cd "$PATCH_DIR" && ls -- *.patch | tr '\n' ' ' | sed 's/ $//')"
			printf 'lean=%s\n' "$LEAN"
			sort -u "$STAGE/PACKAGES"
		} >"$tmp_out/PACKAGES"
	else
		deb_closure
		criu_elf=$CRIU_ELF
		v=$SRC_VERSION
		for so in "${!CLOSURE[@]}"; do
			install -m 0755 "${CLOSURE[$so]}" "$tmp_out/lib/$so"
		done
		for p in "${!CONTRIB[@]}"; do printf '%s=%s\n' "$p" "${PKG_VER[$p]}"; done |
			sort >"$tmp_out/PACKAGES"
	fi

	# Assemble the bundle.
	install -m 0755 "$criu_elf" "$tmp_out/bin/criu"
	[ "$FROM" != source ] || strip --strip-unneeded "$tmp_out/bin/criu"
	gcc -static -Os -s -Wall -Wextra -o "$tmp_out/criu" "$WRAPPER_SRC"
	printf '%s\n' "$v" >"$tmp_out/VERSION"
	inputs_hash >"$tmp_out/.stamp"
	chmod 0755 "$tmp_out"

	# Check it: every library resolves inside the bundle, and it runs.
	local list
	list=$("$tmp_out/lib/$LOADER" --inhibit-cache --library-path "$tmp_out/lib" \
		--list "$tmp_out/bin/criu") || die "loader --list failed: $list"
	if grep -q 'not found' <<<"$list" || grep -v -e "$tmp_out/lib/" -e 'linux-vdso' <<<"$list" | grep -q '/'; then
		printf '%s\n' "$list" >&2
		die "some library does not resolve inside the bundle"
	fi
	local got
	got=$(bundle_version "$tmp_out")
	[ "$got" = "$v" ] || die "$tmp_out/criu --version gave '$got', expected '$v'"
	dpkg --compare-versions "$got" ge "$MIN_VERSION" || die "criu $got < $MIN_VERSION"

	# Swap it into place.
	if [ -e "$OUT" ]; then
		local old
		old=$(mktemp -d "$parent/.$base.old.XXXXXX")
		mv "$OUT" "$old/"
		mv "$tmp_out" "$OUT"
		rm -rf "$old"
	else
		mv "$tmp_out" "$OUT"
	fi
	rm -rf "$STAGE"
	trap - EXIT INT TERM HUP
}

main() {
	ensure_host_tools
	mkdir -p "$CACHE"
	exec 9>"$CACHE/.criu-bundle.lock"
	flock 9
	if [ "${CRIU_BUNDLE_FORCE:-0}" != 1 ] && bundle_ok "$OUT"; then
		summary "$OUT" " (up to date)"
		return 0
	fi
	build
	bundle_ok "$OUT" || die "the new bundle in $OUT fails its checks"
	summary "$OUT" ""
}

main "$@"
