#!/usr/bin/env bash
# Builds remdb for wasm32 with the `bench` profile (opt-level 3, no fat LTO: seconds instead of
# minutes; +simd128 comes from .cargo/config.toml) and generates Node bindings with
# `wasm-bindgen --target nodejs` into benches/node/pkg (git-ignored). Reusable by any Node
# benchmark script in this directory: `import { loadRemDb } from './harness.mjs'`.
#
#   bash benches/node/build.sh && node benches/node/graph.mjs
#   bash benches/node/build.sh --embeddings && node benches/node/embed.mjs
#
# `--embeddings` builds with the `embeddings` feature (tract + tokenizers in the module; ~6 min
# cold on 2 cores) into benches/node/pkg-embeddings, so both builds can sit side by side.
#
# Honours CARGO_TARGET_DIR. Needs the wasm32-unknown-unknown target and the wasm-bindgen CLI at
# the version in Cargo.lock (.ci/test-wasm installs both).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
target_dir=${CARGO_TARGET_DIR:-target}
out=benches/node/pkg
features=()
if [[ "${1:-}" == "--embeddings" ]]; then
  out=benches/node/pkg-embeddings
  features=(--features embeddings)
fi

cargo build --target wasm32-unknown-unknown --lib --profile bench "${features[@]}"
wasm-bindgen --target nodejs --out-dir "$out" "$target_dir/wasm32-unknown-unknown/release/remdb.wasm"
echo "built $out ($(du -h "$out/remdb_bg.wasm" | cut -f1) wasm)" >&2
