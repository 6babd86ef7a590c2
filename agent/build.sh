#!/usr/bin/env bash
# Builds the crac-build Java agent: agent/build.sh OUT.jar
#
# Bytecode for Java 11 (--release 11), so the agent runs on any JDK from 11
# on. The jar is reproducible (it goes into the runtime layer, which must be
# byte-identical for identical inputs): entries in sorted order, every
# timestamp fixed by `jar --date` (JDK 17+), a manifest without the JDK's
# version. The class files depend only on the sources and javac's version.
set -euo pipefail

out=${1:?usage: agent/build.sh OUT.jar}
here=$(cd "$(dirname "$0")" && pwd)
for tool in javac jar; do
	command -v "$tool" >/dev/null 2>&1 || { echo "agent/build.sh: $tool not found; install a JDK 17+ (make deps)" >&2; exit 1; }
done
# The zip format cannot hold times before 1980; any fixed time will do.
date=1980-01-01T00:00:02Z

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mapfile -t srcs < <(cd "$here/java" && find . -name '*.java' | LC_ALL=C sort)
(cd "$here/java" && javac --release 11 -encoding UTF-8 -Xlint:all -Werror -d "$tmp/classes" "${srcs[@]}")
mapfile -t classes < <(cd "$tmp/classes" && find . -type f | sed 's|^\./||' | LC_ALL=C sort)
args=()
for c in "${classes[@]}"; do
	args+=(-C "$tmp/classes" "$c")
done
mkdir -p "$(dirname "$out")"
jar --create --file "$tmp/agent.jar" --manifest "$here/java/MANIFEST.MF" --date "$date" "${args[@]}"
mv -f "$tmp/agent.jar" "$out"
echo "built $out"
