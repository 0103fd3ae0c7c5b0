#!/usr/bin/env bash
# The package `npx` fetches, checked as a user gets it: `npm pack`, installed
# into an empty project from the tarball (its dependencies from the registry),
# then `npx conformance --list` and the embedded run there.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$ROOT"
tarball="$(npm pack --silent --pack-destination "$work" | tail -1)"
echo "pack-check: packed $tarball ($(du -h "$work/$tarball" | cut -f1))"
mkdir "$work/project"
cd "$work/project"
npm init -y >/dev/null
npm install --no-audit --no-fund --silent "$work/$tarball"
npx --no-install conformance --version
n="$(npx --no-install conformance --list | tail -1)"
echo "pack-check: --list: $n"
npx --no-install conformance --reporter spec > run.txt || { tail -30 run.txt; echo "pack-check: the embedded run failed"; exit 1; }
tail -3 run.txt
echo "pack-check: ok"
