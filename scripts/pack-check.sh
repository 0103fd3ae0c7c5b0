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
# What the build kept ships, and is taken where the package is installed (a run would otherwise compile and parse again, only slower).
node --input-type=module -e "
const pkg = './node_modules/matrix-pushers-conformance/dist';
const { validatorSources } = await import(pkg + '/src/schemas.js');
const server = await import(pkg + '/reference-server/validate.js');
const { keptSuite } = await import(pkg + '/src/cases/kept.js');
const { allKinds } = await import(pkg + '/src/kinds.js');
const missing = [['runner validators (all)', validatorSources('all').kept], ['runner validators (first)', validatorSources('first').kept], ['server validators', server.validatorSources().kept], ['suite', keptSuite(allKinds)]].filter(([, v]) => v === undefined).map(([n]) => n);
if (missing.length) { console.error('pack-check: not taken from the build in the installed package: ' + missing.join(', ')); process.exit(1); }
console.log('pack-check: the kept suite and validators are taken');
"
n="$(npx --no-install conformance --list | tail -1)"
echo "pack-check: --list: $n"
npx --no-install conformance --reporter spec > run.txt || { tail -30 run.txt; echo "pack-check: the embedded run failed"; exit 1; }
tail -3 run.txt
echo "pack-check: ok"
