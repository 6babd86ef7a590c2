#!/usr/bin/env bash
# Runs a warm image cold and warm, side by side, with `crac-build run`, and
# prints the median time from container start to the first answer of each.
# Usage: scripts/demo.sh IMAGE [RUNS]
set -euo pipefail
image=${1:?usage: demo.sh IMAGE [RUNS]}
runs=${2:-5}
cb=${CRAC_BUILD:-./bin/crac-build}

median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
field() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p"; }
mode() { sed -n 's/.*"mode":"\([a-z]*\)".*/\1/p'; }

cold=() warm=()
for i in $(seq "$runs"); do
  # Alternate cold and warm so that machine noise hits both alike.
  c=$($cb -q run --cold --json --probe-url /health --publish 127.0.0.1:0 "$image" 2>/dev/null)
  w=$($cb -q run --json --probe-url /health --publish 127.0.0.1:0 "$image" 2>/dev/null)
  [[ $(mode <<<"$c") == cold ]] || { echo "demo: run $i: expected a cold start: $c" >&2; exit 1; }
  [[ $(mode <<<"$w") == restored ]] || { echo "demo: run $i: expected a restore: $w" >&2; exit 1; }
  cold+=("$(field ready_ms <<<"$c")") warm+=("$(field ready_ms <<<"$w")")
  printf 'demo: run %d: cold %7.1f ms, warm %6.1f ms\n' "$i" "${cold[-1]}" "${warm[-1]}"
done
c=$(printf '%s\n' "${cold[@]}" | median)
w=$(printf '%s\n' "${warm[@]}" | median)
awk -v c="$c" -v w="$w" 'BEGIN { printf "cold %d ms -> warm %d ms (%.1fx)\n", c, w, c / w }'
