#!/usr/bin/env bash
# npm run interop -- synapse|dendrite [--default-limits] [extra conformance flags]
# Installs the named homeserver into .cache/interop/<name>/ (pinned version),
# starts it on loopback with a fresh database, runs the whole suite against it
# with its committed expectations file, stops it, and exits with the suite's code.
#
# By default the server's rate limits are out of reach (Synapse: every rc_*
# set huge; Dendrite: its limiter off). --default-limits runs it with its own
# default rate limits instead (Synapse: no rc_* option written; Dendrite:
# DENDRITE_RATE_LIMITING=true), with the same expectations file: rate limits
# are waited out by the runner, so no verdict may change.
#
# Reports: .cache/interop/<name>/report.{json,xml}, or
# report-default-limits.{json,xml} with --default-limits (for `conformance compare`).
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
name="${1:-}"
case "$name" in
  synapse|dendrite) shift ;;
  *) echo "usage: npm run interop -- synapse|dendrite [--default-limits] [conformance flags]" >&2; exit 2 ;;
esac

# --default-limits is ours, wherever it is given; everything else goes to the suite.
limits=relaxed
args=()
for a in "$@"; do
  if [ "$a" = --default-limits ]; then limits=default; else args+=("$a"); fi
done
# The older switches still work: DENDRITE_RATE_LIMITING=true, SYNAPSE_RATE_LIMITS=default.
case "$name:${DENDRITE_RATE_LIMITING:-false}:${SYNAPSE_RATE_LIMITS:-relaxed}" in
  dendrite:true:*|synapse:*:default) limits=default ;;
  dendrite:false:*|synapse:*:relaxed) ;;
  dendrite:*) echo "interop: DENDRITE_RATE_LIMITING is true or false, got \"$DENDRITE_RATE_LIMITING\"" >&2; exit 2 ;;
  synapse:*) echo "interop: SYNAPSE_RATE_LIMITS is relaxed or default, got \"$SYNAPSE_RATE_LIMITS\"" >&2; exit 2 ;;
esac
case "$name" in
  synapse) export SYNAPSE_RATE_LIMITS="$limits" ;;
  dendrite) export DENDRITE_RATE_LIMITING="$([ "$limits" = default ] && echo true || echo false)" ;;
esac

script="$ROOT/scripts/interop/$name.sh"
out="$ROOT/.cache/interop/$name"
report="report$([ "$limits" = default ] && echo -default-limits)"
mkdir -p "$out"

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
bash "$script" install || { echo "interop: installing $name failed" >&2; exit 3; }
url="$(bash "$script" url)"

# One run per port at a time, across worktrees and checkouts: a second run
# waits (bounded) instead of testing, and then stopping, the first run's server.
if command -v flock >/dev/null; then
  lock="${TMPDIR:-/tmp}/matrix-pushers-interop-port-${url##*:}.lock"
  exec 9>>"$lock"
  if ! flock -n 9; then
    echo "interop: another interop run uses ${url}; waiting for it (at most ${INTEROP_LOCK_WAIT:-300} s, lock $lock)" >&2
    flock -w "${INTEROP_LOCK_WAIT:-300}" 9 || { echo "interop: ${url} still in use by another run" >&2; exit 3; }
  fi
fi

t0=$(now_ms)
bash "$script" start 9>&- || { echo "interop: starting $name failed" >&2; exit 3; }
t1=$(now_ms)
t2=
stop() {
  local t=$(now_ms)
  bash "$script" stop 9>&-
  echo "interop: $name timings: start $((t1 - t0)) ms, suite $(( ${t2:-$t} - t1 )) ms, stop $(( $(now_ms) - t )) ms" >&2
}
trap stop EXIT

# Dendrite refuses http:// push gateways: the mock gateway is served over TLS
# (its config sets push_gateway_disable_tls_validation for the run's certificate).
# Dendrite never retries a notification the gateway answered 500 (listed in its
# expectations file): a 10 s retry window leaves that case not judged (skipped)
# instead of waiting 65 s for a retry known not to come. --retry-window 65
# after the server's name judges it again (the last flag given wins).
gateway=()
[ "$name" = dendrite ] && gateway=(--gateway-tls --retry-window 10)
# --strict: every deviation, SHOULD included, must be listed in the expectations file.
node "$ROOT/dist/src/cli.js" --target "$url" --strict ${gateway[@]+"${gateway[@]}"} --expectations "$ROOT/expectations/$name.yaml" \
  --reporter spec --reporter "json:$out/$report.json" --reporter "junit:$out/$report.xml" ${args[@]+"${args[@]}"} 9>&-
code=$?
t2=$(now_ms)
echo "interop: $name ($limits rate limits) exit $code (report: ${out#$ROOT/}/$report.json)"
exit "$code"
