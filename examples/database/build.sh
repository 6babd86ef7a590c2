#!/bin/sh
# Builds examples/database/build/inventory.jar (java -jar inventory.jar): a
# service that needs a database at start (src/Inventory.java) with, inside
# the jar as a real application would ship it, the org.crac API (the
# stand-in of examples/coordinated/src/org/crac). Idempotent; needs a JDK
# 11+ (javac, jar). Run from anywhere.
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
javac --release 11 -Xlint:all -d "$out/classes" "$here"/src/*.java "$here"/../coordinated/src/org/crac/*.java
rm -f "$out/inventory.jar.tmp"
jar --create --file "$out/inventory.jar.tmp" --main-class Inventory -C "$out/classes" .
mv -f "$out/inventory.jar.tmp" "$out/inventory.jar"
echo "built $out/inventory.jar"
