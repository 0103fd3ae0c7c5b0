#!/usr/bin/env bash
# Times the interop runs: bench/interop-timings.sh [RUNS] [synapse|dendrite] [--default-limits]
#   RUNS (default 3, at most 10) runs of scripts/interop/run.sh, one after the
#   other, each bounded by INTEROP_RUN_TIMEOUT seconds (default 240). Needs a
#   build (npx tsc -p .) and the server installed (the first run installs it).
# Prints one Markdown row per run, then the medians: the whole run.sh (server
# start + suite + stop), its phases, and from the JSON report the run's own
# duration, users registered and time spent waiting out rate limits.
# Reports of every run are kept as .cache/interop/<name>/timings/<mode>-<i>.json.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
runs="${1:-3}"
name="${2:-synapse}"
shift $(( $# < 2 ? $# : 2 ))
mode=relaxed
[ "${1:-}" = --default-limits ] && mode=default
case "$runs" in [1-9]|10) ;; *) echo "RUNS is 1 to 10" >&2; exit 2 ;; esac
case "$name" in synapse|dendrite) ;; *) echo "usage: $0 [RUNS] [synapse|dendrite] [--default-limits]" >&2; exit 2 ;; esac
limit="${INTEROP_RUN_TIMEOUT:-240}"
report="$ROOT/.cache/interop/$name/report$([ "$mode" = default ] && echo -default-limits).json"
keep="$ROOT/.cache/interop/$name/timings"
mkdir -p "$keep"
rows="$(mktemp)"
trap 'rm -f "$rows"' EXIT

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
echo "| run | exit | run.sh wall ms | start ms | suite (CLI) ms | stop ms | report durationMs | users | rateLimitedMs | rateLimitedWallMs |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for i in $(seq 1 "$runs"); do
  rm -f "$report"
  log="$(mktemp)"
  t=$(now_ms)
  timeout --kill-after=30 "$limit" bash "$ROOT/scripts/interop/run.sh" "$name" $([ "$mode" = default ] && echo --default-limits) >"$log" 2>&1
  code=$?
  wall=$(( $(now_ms) - t ))
  phases="$(grep -o 'start [0-9]* ms, suite [0-9]* ms, stop [0-9]* ms' "$log" | tail -n1 | grep -o '[0-9]*' | tr '\n' ' ')"
  read -r start suite stop <<<"${phases:-- - -}"
  meta="-|-|-|-"
  if [ -f "$report" ]; then
    cp "$report" "$keep/$mode-$i.json"
    meta="$(node -e '
      const m = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).conformance.meta;
      console.log([m.durationMs, m.users ?? "-", m.rateLimitedMs ?? 0, m.rateLimitedWallMs ?? "-"].join("|"));' "$report")"
  fi
  grep -E 'closed before|cannot connect|ERROR' "$log" | head -n 3 >&2
  row="| $i | $code | $wall | $start | $suite | $stop | ${meta//|/ | } |"
  echo "$row"
  echo "$row" >>"$rows"
  rm -f "$log"
done
# Medians of the numeric columns (3..11 of the row split on "|").
node -e '
  const rows = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map((r) => r.split("|").slice(1, -1).map((c) => c.trim()));
  const med = (xs) => { const v = xs.map(Number).filter(Number.isFinite).sort((a, b) => a - b); return v.length ? (v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2) : "-"; };
  const cols = rows[0].map((_, j) => j);
  console.log("| median | " + cols.slice(1).map((j) => j === 1 ? rows.filter((r) => r[1] === "0").length + "/" + rows.length + " ok" : med(rows.map((r) => r[j]))).join(" | ") + " |");
' "$rows"
