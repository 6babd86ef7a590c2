#!/bin/sh
# Builds examples/coordinated/build/coordinated.jar (java -jar coordinated.jar):
# the application and, inside the jar as a real application would ship it,
# the org.crac API (a minimal stand-in, src/org/crac; see Core.java there).
# Idempotent; needs a JDK 11+ (javac, jar). Run from anywhere.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
out="$here/build"

for tool in javac jar; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "build.sh: $tool not found; install a JDK 11+" >&2
		exit 1
	fi
done

rm -rf "$out/classes"
mkdir -p "$out/classes"
javac --release 11 -Xlint:all -d "$out/classes" "$here"/src/*.java "$here"/src/org/crac/*.java
rm -f "$out/coordinated.jar.tmp"
jar --create --file "$out/coordinated.jar.tmp" --main-class Coordinated -C "$out/classes" .
mv -f "$out/coordinated.jar.tmp" "$out/coordinated.jar"
echo "built $out/coordinated.jar"
