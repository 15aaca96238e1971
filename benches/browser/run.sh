#!/usr/bin/env bash
# Browser benchmarks of the npm package in Debian's chromium (playwright-core): reopening a
# persisted database of 10k and 100k entities from IndexedDB and OPFS, against plain IndexedDB
# reading the same objects; then sync: a new device loading a 100k-row snapshot from a hub into
# IndexedDB, and a live query hearing a synced change. Builds the package (release profile
# unless --profile dev) and a release `rem` with the hub first.
#   bash benches/browser/run.sh [--profile dev]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
root=$PWD
bash js/build.sh "$@"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/remdb/target}"
cargo build --quiet --release --features server --bin rem </dev/null
export REM_BIN="$CARGO_TARGET_DIR/release/rem"   # the hub tests/npm/hub.mjs starts
version=$(awk -F'"' '/^version = / { print $2; exit }' Cargo.toml)
cd benches/browser
npm install --no-audit --no-fund --loglevel=error </dev/null
npm install --no-save --no-audit --no-fund --loglevel=error "$root/target/npm/remdb-$version.tgz" </dev/null
node reopen.mjs
node sync.mjs
