#!/bin/sh
# Warm-up for examples/hello, run by crac-build on the host once the app is
# ready and before the checkpoint is taken. crac-build sets:
#   CRAC_APP_URL   base URL of the app, e.g. http://127.0.0.1:8080
#   CRAC_APP_HOST  host part, e.g. 127.0.0.1
#   CRAC_APP_PORT  port, e.g. 8080
# Sends ~200 requests to /work and / so class loading and JIT settle.
# Bounded in time (stops starting requests after ~15 s) and always exits 0.
set -u

url=${CRAC_APP_URL:-}
if [ -z "$url" ]; then
	url="http://${CRAC_APP_HOST:-127.0.0.1}:${CRAC_APP_PORT:-8080}"
fi
url=${url%/}

if ! command -v curl >/dev/null 2>&1; then
	echo "warmup: curl not found; skipping warm-up of $url (the image will start cold)" >&2
	exit 0
fi

budget=15 # seconds; each request is also capped at 2 s, so worst case < 20 s
start=$(date +%s)
sent=0
failed=0

get() {
	if ! curl -fsS --connect-timeout 2 --max-time 2 -o /dev/null "$1"; then
		failed=$((failed + 1))
	fi
	sent=$((sent + 1))
}

round=0
while [ "$round" -lt 20 ]; do
	now=$(date +%s)
	if [ $((now - start)) -ge "$budget" ]; then
		echo "warmup: time budget of ${budget}s used up" >&2
		break
	fi
	# 10 requests per round: 8 to /work with varying sizes, 2 to /.
	i=1
	while [ "$i" -le 8 ]; do
		get "$url/work?n=$((round * 8 + i))"
		i=$((i + 1))
	done
	get "$url/"
	get "$url/"
	round=$((round + 1))
	if [ "$failed" -eq "$sent" ]; then
		echo "warmup: $url is not answering; giving up" >&2
		break
	fi
done

now=$(date +%s)
echo "warmup: sent $sent requests to $url in $((now - start)) s ($failed failed)"
exit 0
