#!/usr/bin/env bash
# Runs the org.crac coordination tests on their own: the agent's protocol
# with a real JVM (agent/), then builds and restores with real runc, CRIU
# and JVMs (e2e/). Every test that checks the order of the notifications
# prints "coordination: before=N after=M in order"; this script ends with
# their sum in the same form.
set -euo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
CRAC_E2E=1 ${GO:-go} test -count=1 -timeout 30m -v -run 'Coordinat' ./internal/agent/ ./e2e/ 2>&1 | tee "$log"
summary=$(awk '/^coordination: before=[0-9]+ after=[0-9]+ in order$/ {
	split($2, b, "="); split($3, a, "="); before += b[2]; after += a[2]; n++
} END { if (n) printf "coordination: before=%d after=%d in order\n", before, after }' "$log")
if [[ -z $summary ]]; then
	echo "e2e-coordination: the tests printed no summary" >&2
	exit 1
fi
echo "$summary"
