#!/bin/sh
# Warm-up for Debian's Tomcat 10 serving its examples webapp (the base made
# by `make base-tomcat`), run by crac-build before the checkpoint. Requests
# every JSP page of the benchmark's set (pages.txt) and a few servlets,
# 20 rounds: Jasper compiles each JSP on its first request and the JIT
# compiles the request path over the following ones. crac-build sets
# CRAC_APP_URL (e.g. http://127.0.0.1:8080). Bounded in time; exits 0.
set -u

here=$(cd "$(dirname "$0")" && pwd)
url=${CRAC_APP_URL:-http://${CRAC_APP_HOST:-127.0.0.1}:${CRAC_APP_PORT:-8080}}
url=${url%/}
rounds=${WARMUP_ROUNDS:-20}
budget=60 # seconds; each request is capped at 10 s (a JSP's first compile)

command -v curl >/dev/null 2>&1 || { echo "warmup: curl not found; skipping" >&2; exit 0; }

start=$(date +%s)
sent=0
failed=0
round=0
while [ "$round" -lt "$rounds" ]; do
	if [ $(($(date +%s) - start)) -ge "$budget" ]; then
		echo "warmup: time budget of ${budget}s used up" >&2
		break
	fi
	while read -r path; do
		case $path in '' | '#'*) continue ;; esac
		# No cookies: every request is a new client, as in the benchmark.
		curl -fsS --connect-timeout 2 --max-time 10 -o /dev/null "$url$path" || failed=$((failed + 1))
		sent=$((sent + 1))
	done <"$here/pages.txt"
	round=$((round + 1))
done
echo "warmup: sent $sent requests to $url in $(($(date +%s) - start)) s ($failed failed)"
exit 0
