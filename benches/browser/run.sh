#!/usr/bin/env bash
# Browser benchmarks of the npm package in Debian's chromium (playwright-core): reopening a
# persisted database of 10k and 100k entities from IndexedDB and OPFS, against plain IndexedDB
# reading the same objects. Builds the package first (release profile unless --profile dev).
#   bash benches/browser/run.sh [--profile dev]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
root=$PWD
bash js/build.sh "$@"
version=$(awk -F'"' '/^version = / { print $2; exit }' Cargo.toml)
cd benches/browser
npm install --no-audit --no-fund --loglevel=error </dev/null
npm install --no-save --no-audit --no-fund --loglevel=error "$root/target/npm/remdb-$version.tgz" </dev/null
node reopen.mjs
