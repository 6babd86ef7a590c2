#!/bin/sh
# Builds examples/war/build/app.war: one servlet (src/Greeting.java), as a
# Maven or Gradle build of a web application would make it, compiled
# against the Jakarta Servlet API of the Tomcat it is dropped into. That
# API jar is "provided" by Tomcat, so it is not inside the war; this
# script takes it from the Tomcat base image (make base-tomcat) unless
# SERVLET_API names one. Idempotent; needs a JDK 11+ (javac, jar) and tar.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
out="$here/build"
layout=${TOMCAT_BASE_LAYOUT:-$here/../../build/base-tomcat10}

for tool in javac jar tar; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "build.sh: $tool not found; install a JDK 11+ and tar" >&2
		exit 1
	fi
done

mkdir -p "$out"
api=${SERVLET_API:-$out/servlet-api.jar}
if [ ! -s "$api" ]; then
	if [ ! -f "$layout/index.json" ]; then
		echo "build.sh: no servlet API jar: run make base-tomcat, or set SERVLET_API=FILE" >&2
		exit 1
	fi
	# The base is one image of a few layers; the jar is in one of them
	# (GNU tar detects the layer's compression itself). Other blobs
	# (manifests, the config) are not tarballs and are skipped.
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	for blob in "$layout"/blobs/sha256/*; do
		tar -xf "$blob" -C "$tmp" --wildcards --no-anchored 'usr/share/java/tomcat10-servlet-api-*.jar' 2>/dev/null || true
	done
	found=$(find "$tmp" -name 'tomcat10-servlet-api-*.jar' -type f | head -n 1)
	if [ -z "$found" ]; then
		echo "build.sh: usr/share/java/tomcat10-servlet-api-*.jar not found in $layout" >&2
		exit 1
	fi
	cp "$found" "$api"
fi

rm -rf "$out/war"
mkdir -p "$out/war/WEB-INF/classes"
javac --release 11 -Xlint:all -cp "$api" -d "$out/war/WEB-INF/classes" "$here"/src/*.java
rm -f "$out/app.war.tmp"
jar --create --file "$out/app.war.tmp" -C "$out/war" .
mv -f "$out/app.war.tmp" "$out/app.war"
echo "built $out/app.war"
