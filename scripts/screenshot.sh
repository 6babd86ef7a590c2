#!/usr/bin/env bash
# screenshot.sh HTML PNG [WIDTH [HEIGHT]]
#
# Renders a local HTML file to a PNG with Debian's headless Chromium
# (installed if missing), with networking off: the report must not need it.
# Runs as root, so the sandbox is off; a fresh profile directory is made
# and removed every time.
set -euo pipefail
html=${1:?usage: screenshot.sh HTML PNG [WIDTH [HEIGHT]]}
png=${2:?usage: screenshot.sh HTML PNG [WIDTH [HEIGHT]]}
width=${3:-1450}
height=${4:-6400}
[[ -s $html ]] || { echo "screenshot: $html is missing or empty" >&2; exit 1; }

if ! command -v chromium >/dev/null; then
	echo "screenshot: installing chromium" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -q --no-install-recommends chromium >/dev/null ||
		{ apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends chromium >/dev/null; }
fi

profile=$(mktemp -d /tmp/crac-screenshot-XXXXXX)
trap 'rm -rf "$profile"' EXIT
abs=$(readlink -f "$html")
out=$(readlink -f "$(dirname "$png")")/$(basename "$png")
rm -f "$out"
# --proxy-server to a closed port and no DNS: any network fetch would fail.
timeout 120 chromium --headless --no-sandbox --disable-gpu --no-first-run \
	--disable-background-networking --disable-component-update --disable-sync \
	--disable-extensions --disable-default-apps --mute-audio \
	--proxy-server=127.0.0.1:9 --host-resolver-rules='MAP * ~NOTFOUND' \
	--user-data-dir="$profile" --hide-scrollbars \
	--window-size="$width,$height" --screenshot="$out" "file://$abs" >"$profile/chromium.log" 2>&1 ||
	{ cat "$profile/chromium.log" >&2; exit 1; }
[[ -s $out ]] || { echo "screenshot: chromium wrote no $out" >&2; cat "$profile/chromium.log" >&2; exit 1; }
echo "screenshot: $out ($(stat -c %s "$out") bytes)"
