#!/usr/bin/env bash
# Builds remdb for wasm32 with the `bench` profile (opt-level 3, no fat LTO: seconds instead of
# minutes; +simd128 comes from .cargo/config.toml) and generates Node bindings with
# `wasm-bindgen --target nodejs` into benches/node/pkg (git-ignored). Reusable by any Node
# benchmark script in this directory: `import { loadRemDb } from './harness.mjs'`.
#
#   bash benches/node/build.sh && node benches/node/graph.mjs
#   bash benches/node/build.sh --embeddings && node benches/node/embed.mjs
#
# `--profile release-npm` builds with the published npm package's optimisation levels instead
# (fat LTO, minutes) into benches/node/pkg-release-npm[-embeddings]; run a benchmark on it with
# `REMDB_PKG=pkg-release-npm node benches/node/<bench>.mjs`. `--profile release-npm-core` is the
# published core build's (remdb itself at opt-level "z") into benches/node/pkg-release-npm-core.
#
# `--embeddings` builds with the `embeddings` feature (tract + tokenizers in the module; ~6 min
# cold on 2 cores) into benches/node/pkg-embeddings, so both builds can sit side by side.
#
# Honours CARGO_TARGET_DIR. Needs the wasm32-unknown-unknown target and the wasm-bindgen CLI at
# the version in Cargo.lock (.ci/test-wasm installs both).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/remdb/target}"
target_dir=$CARGO_TARGET_DIR
profile=bench
suffix=
while [ $# -gt 0 ]; do
  case "$1" in
    --embeddings) suffix=-embeddings; shift ;;
    --profile) profile=$2; shift 2 ;;
    *) echo "usage: bash benches/node/build.sh [--embeddings] [--profile bench|release-npm|release-npm-core]" >&2; exit 2 ;;
  esac
done
out=benches/node/pkg$suffix
profile_dir=release
if [ "$profile" != bench ]; then
  out=benches/node/pkg-$profile$suffix
  profile_dir=$profile
fi
features=${suffix:+embeddings}
# The published profiles' builds also compile logging out, as js/build.sh does.
if [ "${profile#release-npm}" != "$profile" ]; then
  features=strip-logs${features:+,$features}
fi

cargo build --target wasm32-unknown-unknown --lib --profile "$profile" ${features:+--features "$features"}
wasm-bindgen --target nodejs --out-dir "$out" "$target_dir/wasm32-unknown-unknown/$profile_dir/remdb.wasm"
echo "built $out ($(du -h "$out/remdb_bg.wasm" | cut -f1) wasm)" >&2
