#!/usr/bin/env bash
# base-image.sh OUTDIR TAG
#
# Builds a crac-build base image: Debian (mmdebstrap, minbase) with an OpenJDK
# headless JRE, and stores it as TAG in the OCI image layout OUTDIR (usable as
# oci-layout:OUTDIR:TAG). The flavor (BASE_FLAVOR, default: the TAG) chooses
# the JDK, the Debian suite that has it, and what else the image holds:
#
#   jre17     OpenJDK 17 from Debian 12 bookworm; CMD java -version
#   jre21     OpenJDK 21 from Debian 13 trixie; CMD java -version
#   jre25     OpenJDK 25 from Debian 13 trixie; CMD java -version
#   tomcat10  OpenJDK 17 (bookworm) + Debian's Apache Tomcat 10 (tomcat10)
#             with its examples webapp (tomcat10-examples, served at
#             /examples/ on port 8080); CMD catalina.sh run, the way Debian's
#             systemd unit starts it
#   tomcat10-jre25
#             the same Tomcat 10 from Debian 13 trixie on OpenJDK 25
#             (JAVA_HOME in the image's environment: catalina.sh runs it)
#
#   scripts/base-image.sh build/base jre17
#   scripts/base-image.sh build/base jre21
#   scripts/base-image.sh build/base-tomcat10 tomcat10
#   scripts/base-image.sh build/base-tomcat10 tomcat10-jre25
#
# Caching (under build/cache/ of the repository):
#   base-TAG.rootfs.tar       rootfs tarball written by mmdebstrap
#   base-TAG.rootfs.key       hash of the inputs that made it
#   base-TAG.packages.txt     dpkg-query listing of the rootfs (for reference)
#   base-TAG.image.key        hash of the inputs of the image + manifest digest
# The rootfs is rebuilt only when this script, the package list, the suite,
# the mirrors, the architecture or SOURCE_DATE_EPOCH change; the image only when
# additionally internal/tools/mkbase changed or OUTDIR no longer holds TAG with
# the recorded digest. Everything is written to temporary paths and renamed
# into place, so a failed run leaves the previous state intact.
#
# Environment:
#   SOURCE_DATE_EPOCH  timestamp for file mtimes and the image's created time
#                      (default: a fixed date, for reproducible output)
#   BASE_MIRROR        Debian mirror   (default http://deb.debian.org/debian)
#   BASE_SECURITY      security mirror (default http://deb.debian.org/debian-security)
#   BASE_ARCH          dpkg architecture (default: the host's; amd64 and arm64
#                      map 1:1 to OCI names; foreign ones need qemu binfmt)
#   BASE_FORCE=1       rebuild even if the cache is valid
#   BASE_FLAVOR        jre17, jre21, jre25, tomcat10 or tomcat10-jre25
#                      (default: TAG)
#   BASE_CACHE         cache directory (default: build/cache of the repository)
#
# Needs: mmdebstrap (as root it uses chroot; otherwise unshare), go, flock,
# sha256sum.
set -euo pipefail

log() { printf 'base-image: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Internal entry point: mmdebstrap's customize hook calls the script again
# with "--customize ROOT" and the flavor in the environment; see customize()
# below. Build mode takes the flavor from the TAG argument.
if [[ ${1:-} == --customize ]]; then
	MODE=customize
else
	MODE=build
	[[ $# -eq 2 ]] || { echo "usage: $0 OUTDIR TAG" >&2; exit 2; }
	BASE_FLAVOR=${BASE_FLAVOR:-$2}
fi

# The flavor picks the JDK, the Debian suite that has it, the packages,
# and the image's extra environment (K=V) and CMD (JSON).
case $BASE_FLAVOR in
jre17 | jre21 | jre25)
	JDK=${BASE_FLAVOR#jre}
	SUITE=trixie
	[[ $JDK == 17 ]] && SUITE=bookworm
	PACKAGES=("openjdk-$JDK-jre-headless")
	IMAGE_ENV=()
	IMAGE_CMD='["java","-version"]'
	;;
tomcat10 | tomcat10-jre25)
	JDK=17 SUITE=bookworm
	[[ $BASE_FLAVOR == tomcat10-jre25 ]] && JDK=25 SUITE=trixie
	# tomcat10 depends on "systemd | systemd-sysusers" (its postinst
	# creates the tomcat user with systemd-sysusers): the standalone
	# sysusers/tmpfiles packages satisfy that without systemd itself.
	PACKAGES=("openjdk-$JDK-jre-headless" tomcat10 tomcat10-examples
		systemd-standalone-sysusers systemd-standalone-tmpfiles)
	# What /lib/systemd/system/tomcat10.service sets, minus systemd.
	IMAGE_ENV=(CATALINA_HOME=/usr/share/tomcat10 CATALINA_BASE=/var/lib/tomcat10
		CATALINA_TMPDIR=/tmp JAVA_OPTS=-Djava.awt.headless=true)
	IMAGE_CMD='["/usr/share/tomcat10/bin/catalina.sh","run"]'
	;;
*) die "unknown flavor $BASE_FLAVOR (want jre17, jre21, jre25, tomcat10 or tomcat10-jre25; set BASE_FLAVOR)" ;;
esac
VARIANT=minbase
# Fixed default so that two runs against the same mirror state give the same
# bytes. 2025-05-20T00:00:00Z.
: "${SOURCE_DATE_EPOCH:=1747699200}"
export SOURCE_DATE_EPOCH
BASE_MIRROR=${BASE_MIRROR:-http://deb.debian.org/debian}
BASE_SECURITY=${BASE_SECURITY:-http://deb.debian.org/debian-security}
ARCH=${BASE_ARCH:-$(dpkg --print-architecture)}
JAVA_HOME_IN_IMAGE=/usr/lib/jvm/java-$JDK-openjdk-${ARCH}
IMAGE_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# dpkg filters: no documentation (except copyright notices), man/info pages or
# translations. They end up in /etc/dpkg/dpkg.cfg.d/99mmdebstrap of the image,
# so images derived from it stay small too.
DPKG_OPTS=(
	'path-exclude=/usr/share/man/*'
	'path-exclude=/usr/share/info/*'
	'path-exclude=/usr/share/locale/*'
	'path-include=/usr/share/locale/locale.alias'
	'path-exclude=/usr/share/doc/*'
	'path-include=/usr/share/doc/*/copyright'
	'path-exclude=/usr/share/lintian/*'
	'path-exclude=/usr/share/linda/*'
)

# customize ROOT: runs inside mmdebstrap after all packages are installed,
# with ROOT being the (still mounted) chroot directory.
customize() {
	local root=$1
	[[ -d $root ]] || die "customize: no such directory: $root"

	# /etc/hosts: bookworm's minbase ships none; a checkpointed JVM resolves
	# localhost, and plain chroots do not get one from a container runtime.
	if ! grep -Eqs '^[[:space:]]*127\.0\.0\.1[[:space:]].*\blocalhost\b' "$root/etc/hosts"; then
		printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
		chmod 0644 "$root/etc/hosts"
	fi
	# mmdebstrap copies the build host's resolv.conf and hostname; both are
	# host specific (container runtimes provide their own), so make them
	# reproducible.
	rm -f "$root/etc/resolv.conf"
	echo localhost >"$root/etc/hostname"

	# Leftovers that only make the image bigger or unreproducible.
	rm -f "$root"/var/cache/debconf/*-old "$root"/var/lib/dpkg/*-old
	rm -rf "$root"/var/cache/apt/*.bin

	# The JRE must be reachable as /usr/bin/java (alternatives symlink) and run.
	local target
	target=$(chroot "$root" readlink -f /usr/bin/java) || die "customize: /usr/bin/java missing"
	[[ $target == "$JAVA_HOME_IN_IMAGE/bin/java" ]] ||
		die "customize: /usr/bin/java resolves to $target, want $JAVA_HOME_IN_IMAGE/bin/java"
	chroot "$root" /usr/bin/java -version || die "customize: java -version failed in the chroot"
	# ca-certificates-java (a dependency of the JRE) must have built the
	# Java trust store, or TLS fails at run time.
	[[ -s $root/etc/ssl/certs/java/cacerts ]] || die "customize: /etc/ssl/certs/java/cacerts missing"

	# keytool stamps every entry with the current time, so the store differs
	# from run to run; pin the stamps to SOURCE_DATE_EPOCH and sort the
	# entries, then check that the JRE still accepts it.
	normalize_jks "$root/etc/ssl/certs/java/cacerts" "$SOURCE_DATE_EPOCH" changeit
	chmod 0644 "$root/etc/ssl/certs/java/cacerts"
	chroot "$root" keytool -list -cacerts -storepass changeit >/dev/null ||
		die "customize: normalised cacerts does not load"

	if [[ ${BASE_FLAVOR:-} == tomcat10* ]]; then
		local f
		for f in /usr/share/tomcat10/bin/catalina.sh /etc/tomcat10/server.xml \
			/etc/tomcat10/Catalina/localhost/examples.xml \
			/usr/share/tomcat10-examples/examples/WEB-INF/web.xml; do
			[[ -e $root$f ]] || die "customize: $f missing"
		done
		# The postinst copies the default ROOT webapp; keep it (a plain
		# Tomcat serves it) but drop files that only systemd or cron use.
		rm -f "$root/etc/cron.daily/tomcat10"
	fi

	if [[ -n ${BASE_PACKAGES_OUT:-} ]]; then
		# shellcheck disable=SC2016 # dpkg-query format, not shell
		chroot "$root" dpkg-query -W -f '${Package}\t${Version}\t${Architecture}\n' >"$BASE_PACKAGES_OUT"
	fi
}

# normalize_jks FILE EPOCH STOREPASS: rewrites a JKS keystore of trusted
# certificates (as ca-certificates-java writes it) with all creation times set
# to EPOCH and the entries sorted by alias, and recomputes its integrity hash.
# Runs with the host's perl (mmdebstrap itself needs perl, so it is there).
normalize_jks() {
	perl - "$@" <<'PERL'
use strict; use warnings; use Digest::SHA qw(sha1);
my ($file, $epoch, $pass) = @ARGV;
open(my $fh, '<:raw', $file) or die "open $file: $!";
my $d = do { local $/; <$fh> }; close $fh;
length($d) > 32 or die "$file: too short\n";
my $body = substr($d, 0, -20);
my $want = substr($d, -20);
my $pw = join '', map { pack 'n', ord } split //, $pass;
sha1($pw . 'Mighty Aphrodite' . $body) eq $want or die "$file: integrity check failed (wrong password or not JKS)\n";
my ($magic, $ver, $n) = unpack 'N N N', $body;
$magic == 0xFEEDFEED && $ver == 2 or die "$file: not a JKS v2 keystore\n";
my $p = 12; my %e;
for (1 .. $n) {
	my ($tag) = unpack "\@$p N", $body; $p += 4;
	$tag == 2 or die "$file: entry type $tag is not a trusted certificate\n";
	my ($alias) = unpack "\@$p n/a", $body; $p += 2 + length $alias;
	$p += 8; # creation time
	my ($type) = unpack "\@$p n/a", $body; $p += 2 + length $type;
	my ($cert) = unpack "\@$p N/a", $body; $p += 4 + length $cert;
	$e{$alias} = pack('n/a', $type) . pack('N/a', $cert);
}
$p == length $body or die "$file: trailing data\n";
my $ms = $epoch * 1000;
my $out = pack 'N N N', $magic, $ver, $n;
$out .= pack('N n/a', 2, $_) . pack('N N', int($ms / 2**32), $ms % 2**32) . $e{$_} for sort keys %e;
$out .= sha1($pw . 'Mighty Aphrodite' . $out);
open($fh, '>:raw', "$file.tmp") or die "write $file.tmp: $!"; print $fh $out; close $fh or die "write $file.tmp: $!";
rename "$file.tmp", $file or die "rename $file.tmp: $!";
printf STDERR "normalised %s: %d certificates\n", $file, $n;
PERL
}

if [[ $MODE == customize ]]; then
	customize "${2:?usage: $0 --customize ROOT}"
	exit 0
fi

# ---------------------------------------------------------------------------
# build mode

OUTDIR=$1
TAG=$2
[[ $TAG =~ ^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$ ]] || die "invalid tag: $TAG"
command -v mmdebstrap >/dev/null || die "mmdebstrap not found (apt-get install mmdebstrap)"
command -v go >/dev/null || die "go not found"
MERGED_USR_HOOK=/usr/share/mmdebstrap/hooks/merged-usr
[[ -d $MERGED_USR_HOOK ]] || die "$MERGED_USR_HOOK missing (mmdebstrap too old?)"

SCRIPT=$(readlink -f "${BASH_SOURCE[0]}")
REPO=$(cd "$(dirname "$SCRIPT")/.." && pwd)
mkdir -p "$(dirname "$OUTDIR")"
# Physical path: when OUTDIR is a symlink (a git worktree sharing another
# checkout's build/base), write through it rather than replacing the link.
OUTDIR=$(readlink -f "$(cd "$(dirname "$OUTDIR")" && pwd)/$(basename "$OUTDIR")")
CACHE=${BASE_CACHE:-$REPO/build/cache}
mkdir -p "$CACHE"
CACHE=$(cd "$CACHE" && pwd -P)

ROOTFS=$CACHE/base-$TAG.rootfs.tar
ROOTFS_KEY=$CACHE/base-$TAG.rootfs.key
PACKAGES_TXT=$CACHE/base-$TAG.packages.txt
IMAGE_KEY=$CACHE/base-$TAG.image.key

# One build per cache at a time.
exec 9>"$CACHE/.base-image.lock"
flock 9

SOURCES=(
	"deb $BASE_MIRROR $SUITE main"
	"deb $BASE_MIRROR $SUITE-updates main"
	"deb $BASE_SECURITY $SUITE-security main"
)

rootfs_key=$(
	{
		echo "rootfs v1"
		sha256sum <"$SCRIPT"
		echo "$BASE_FLAVOR"
		printf '%s\n' "$SUITE" "$VARIANT" "$ARCH" "$SOURCE_DATE_EPOCH" "${PACKAGES[@]}" "${SOURCES[@]}"
	} | sha256sum | cut -d' ' -f1
)

started=$SECONDS
if [[ -z ${BASE_FORCE:-} && -s $ROOTFS && -s $ROOTFS_KEY && $(<"$ROOTFS_KEY") == "$rootfs_key" ]]; then
	log "rootfs up to date: $ROOTFS"
else
	log "building rootfs with mmdebstrap ($SUITE/$VARIANT/$ARCH: ${PACKAGES[*]})"
	tmp_tar=$(mktemp "$CACHE/.base-$TAG.rootfs.XXXXXX")
	tmp_pkgs=$(mktemp "$CACHE/.base-$TAG.packages.XXXXXX")
	trap 'rm -f "$tmp_tar" "$tmp_pkgs"' EXIT
	mm_args=(
		--variant="$VARIANT"
		--architectures="$ARCH"
		--format=tar
		--include="$(IFS=,; echo "${PACKAGES[*]}")"
		--aptopt='APT::Install-Recommends "false"'
		--aptopt='APT::Install-Suggests "false"'
		--aptopt='Acquire::Languages "none"'
	)
	for o in "${DPKG_OPTS[@]}"; do
		mm_args+=(--dpkgopt="$o")
	done
	# bookworm's init-system-helpers depends on "usrmerge | usr-is-merged";
	# usrmerge drags in perl (~50 MB). This hook makes the /usr symlinks the
	# debootstrap way and installs usr-is-merged instead.
	mm_args+=(--hook-dir="$MERGED_USR_HOOK")
	# update-alternatives fails on slave links into directories dpkg never
	# created (the JRE's postinst links /usr/share/man/man1/java.1.gz).
	# shellcheck disable=SC2016 # $1 is expanded by the hook shell
	mm_args+=(--essential-hook='mkdir -p "$1/usr/share/man/man1"')
	# The hook re-enters this script; variables it needs go via the env.
	mm_args+=(--customize-hook="BASE_PACKAGES_OUT='$tmp_pkgs' BASE_ARCH='$ARCH' BASE_FLAVOR='$BASE_FLAVOR' bash '$SCRIPT' --customize \"\$1\"")
	mmdebstrap "${mm_args[@]}" "$SUITE" "$tmp_tar" "${SOURCES[@]}"
	[[ -s $tmp_tar ]] || die "mmdebstrap produced no tarball"
	chmod 0644 "$tmp_tar" "$tmp_pkgs"
	# Invalidate the key first: a crash between the renames must not leave
	# a new key next to an old tarball (or the reverse).
	rm -f "$ROOTFS_KEY" "$IMAGE_KEY"
	mv -f "$tmp_pkgs" "$PACKAGES_TXT"
	mv -f "$tmp_tar" "$ROOTFS"
	printf '%s\n' "$rootfs_key" >"$ROOTFS_KEY.tmp" && mv -f "$ROOTFS_KEY.tmp" "$ROOTFS_KEY"
	trap - EXIT
	log "rootfs built in $((SECONDS - started))s: $ROOTFS ($(du -h "$ROOTFS" | cut -f1))"
fi

image_key=$(
	{
		echo "image v1"
		echo "$rootfs_key" "$TAG" "$OUTDIR" "$JAVA_HOME_IN_IMAGE" "$IMAGE_PATH"
		printf '%s\n' "$IMAGE_CMD" "${IMAGE_ENV[@]}"
		cat "$REPO"/internal/tools/mkbase/*.go | sha256sum
	} | sha256sum | cut -d' ' -f1
)

# The layout is current if the recorded key matches and OUTDIR's index.json
# still lists the recorded manifest under TAG with its blob present.
layout_has() {
	local digest=$1 index=$OUTDIR/index.json
	[[ -s $index && -s $OUTDIR/blobs/${digest/://} ]] || return 1
	if command -v jq >/dev/null; then
		jq -e --arg t "$TAG" --arg d "$digest" \
			'any(.manifests[]?; .digest == $d and .annotations["org.opencontainers.image.ref.name"] == $t)' \
			"$index" >/dev/null
	else
		grep -q "\"$digest\"" "$index" && grep -q "\"org.opencontainers.image.ref.name\": *\"$TAG\"" "$index"
	fi
}

if [[ -z ${BASE_FORCE:-} && -s $IMAGE_KEY ]]; then
	read -r key digest <"$IMAGE_KEY" || true
	if [[ $key == "$image_key" ]] && layout_has "$digest"; then
		log "image up to date: oci-layout:$OUTDIR:$TAG ($digest)"
		exit 0
	fi
fi

log "writing image oci-layout:$OUTDIR:$TAG"
rm -f "$IMAGE_KEY"
digest_file=$(mktemp "$CACHE/.base-$TAG.digest.XXXXXX")
trap 'rm -f "$digest_file"' EXIT
image_env_args=()
for e in "${IMAGE_ENV[@]}"; do
	image_env_args+=(-env "$e")
done
(
	cd "$REPO"
	go run ./internal/tools/mkbase \
		-rootfs "$ROOTFS" \
		-layout "$OUTDIR" \
		-tag "$TAG" \
		-arch "$ARCH" \
		-env "PATH=$IMAGE_PATH" \
		-env "JAVA_HOME=$JAVA_HOME_IN_IMAGE" \
		"${image_env_args[@]}" \
		-cmd "$IMAGE_CMD" \
		-label "org.crac-build.java-home=$JAVA_HOME_IN_IMAGE" \
		-label "org.crac-build.base.packages=${PACKAGES[*]}" \
		-label "org.crac-build.base.suite=$SUITE" \
		-created-by "scripts/base-image.sh: mmdebstrap --variant=$VARIANT $SUITE --include=$(IFS=,; echo "${PACKAGES[*]}")" \
		-digest-file "$digest_file"
)
digest=$(<"$digest_file")
[[ $digest == sha256:* ]] || die "mkbase did not report a manifest digest"
printf '%s %s\n' "$image_key" "$digest" >"$IMAGE_KEY.tmp" && mv -f "$IMAGE_KEY.tmp" "$IMAGE_KEY"
log "done in $((SECONDS - started))s: oci-layout:$OUTDIR:$TAG ($digest)"
