#!/usr/bin/env bash
# npm run interop -- synapse|dendrite [extra conformance flags]
# Installs the named homeserver into .cache/interop/<name>/ (pinned version),
# starts it on loopback with a fresh database, runs the whole suite against it
# with its committed expectations file, stops it, and exits with the suite's code.
# Reports: .cache/interop/<name>/report.{json,xml} (for `conformance compare`).
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
name="${1:-}"
case "$name" in
  synapse|dendrite) shift ;;
  *) echo "usage: npm run interop -- synapse|dendrite [conformance flags]" >&2; exit 2 ;;
esac
script="$ROOT/scripts/interop/$name.sh"
out="$ROOT/.cache/interop/$name"
mkdir -p "$out"

bash "$script" install || { echo "interop: installing $name failed" >&2; exit 3; }
bash "$script" start || { echo "interop: starting $name failed" >&2; exit 3; }
trap 'bash "$script" stop' EXIT
url="$(bash "$script" url)"

# --strict: every deviation, SHOULD included, must be listed in the expectations file.
node "$ROOT/dist/src/cli.js" --target "$url" --strict --expectations "$ROOT/expectations/$name.yaml" \
  --reporter spec --reporter "json:$out/report.json" --reporter "junit:$out/report.xml" "$@"
code=$?
echo "interop: $name exit $code (report: ${out#$ROOT/}/report.json)"
exit "$code"
