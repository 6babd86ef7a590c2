#!/bin/sh
# Builds examples/hello/build/hello.jar (runs as: java -jar hello.jar).
# Idempotent; needs a JDK 17+ (javac, jar) on PATH. Run from anywhere.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
out="$here/build"

for tool in javac jar; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "build.sh: $tool not found; install a JDK 17+" >&2
		exit 1
	fi
done

rm -rf "$out/classes"
mkdir -p "$out/classes"
javac --release 17 -Xlint:all -d "$out/classes" "$here"/src/*.java
rm -f "$out/hello.jar.tmp"
jar --create --file "$out/hello.jar.tmp" --main-class Hello -C "$out/classes" .
mv -f "$out/hello.jar.tmp" "$out/hello.jar"
echo "built $out/hello.jar"
