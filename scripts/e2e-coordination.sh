#!/usr/bin/env bash
# Runs the org.crac coordination tests (agent protocol with a real JVM, then
# builds and restores with real runc and CRIU) and ends with their summary:
#   coordination: before=<N> after=<N> in order
set -euo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
CRAC_E2E=1 ${GO:-go} test -count=1 -timeout 30m -v -run 'Coordinat' ./agent/ ./e2e/ 2>&1 | tee "$log"
summary=$(grep -h '^coordination: ' "$log" | tail -n 1 || true)
if [[ -z $summary ]]; then
	echo "e2e-coordination: the tests printed no summary" >&2
	exit 1
fi
echo "$summary"
