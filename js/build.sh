#!/usr/bin/env bash
# Assembles the publishable npm package into target/npm/package and packs it
# (target/npm/remdb-<version>.tgz):
#   core/  the build without ONNX (Workers, size-sensitive apps)     -> import 'remdb'
#   full/  the build with in-module embeddings (feature `embeddings`) -> import 'remdb/full'
# plus the hand-written entry points and types of js/ and pkg-templates/ (package.json, README).
#
#   bash js/build.sh                  # release builds (fat LTO; profiles release-npm-core and
#                                     # release-npm): what gets published
#   bash js/build.sh --profile dev    # the test build: reuses the wasm test suites' compiled deps
#
# Prints the raw and gzipped size of each .wasm. Needs the wasm32-unknown-unknown target and the
# wasm-bindgen CLI at the version in Cargo.lock (.ci/test-wasm installs both). Honours CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

profile=release
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) profile=$2; shift 2 ;;
    *) echo "usage: bash js/build.sh [--profile release|dev|bench]" >&2; exit 2 ;;
  esac
done
# profile_dir PROFILE: where cargo puts that profile's artifacts.
profile_dir() {
  case "$1" in
    dev | test) echo debug ;;
    bench) echo release ;;
    *) echo "$1" ;;
  esac
}
# Published builds favour size where it costs no speed that matters (see [profile.release-npm] in
# Cargo.toml) and drop the wasm name section (function names in stack traces: ~10 % of the size).
# They also compile out every crate's `log` calls (feature `strip-logs`): nothing in a wasm page or
# worker installs a logger, and the calls' `{:?}` formatting links Debug code for whole ASTs.
# The core build compiles remdb's own code for size too (profile release-npm-core: the size goal
# of a Workers build), with hand-written simd128 distance kernels and forced inlining on the hot
# paths; the full build keeps it at opt-level 3.
bindgen_flags=()
features=
core_profile=$profile
if [ "$profile" = release ]; then
  profile=release-npm
  core_profile=release-npm-core
  bindgen_flags=(--remove-name-section --remove-producers-section)
  features=strip-logs
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/remdb/target}"
target_dir=$CARGO_TARGET_DIR
out=target/npm
pkg=$out/package
version=$(awk -F'"' '/^version = / { print $2; exit }' Cargo.toml)
rm -rf "$pkg"
mkdir -p "$pkg"

# build NAME PROFILE [cargo args...]: one wasm build, bound for browsers/ESM (`--target web`).
build() {
  local name=$1 build_profile=$2
  shift 2
  echo "== $name: cargo build --target wasm32-unknown-unknown --lib --profile $build_profile $*" >&2
  cargo build --target wasm32-unknown-unknown --lib --profile "$build_profile" "$@" </dev/null
  wasm-bindgen --target web --no-typescript "${bindgen_flags[@]}" --out-dir "$pkg/$name" --out-name remdb \
    "$target_dir/wasm32-unknown-unknown/$(profile_dir "$build_profile")/remdb.wasm"
}
# The core build leaves out PDF extraction (cargo feature `pdf`, default natively): lopdf and what it
# links were a large part of its module.
build core "$core_profile" --no-default-features --features "wasm-allocator${features:+,$features}"
build full "$profile" --features "${features:+$features,}embeddings"

mkdir -p "$pkg/js/entry/full"
cp js/api.js js/calls.js js/idb.js js/tabs.js js/resources.js js/opfs.js js/opfs-worker.js "$pkg/js/"
cp js/entry/*.js "$pkg/js/entry/"
cp js/entry/full/*.js "$pkg/js/entry/full/"
cp js/index.d.ts "$pkg/index.d.ts"
sed "s/@VERSION@/$version/" pkg-templates/package.json > "$pkg/package.json"

size() { awk -v b="$1" 'BEGIN { printf "%.2f MB", b / 1048576 }'; }
sizes="| build | .wasm | gzipped |\n|---|---|---|"
for name in core full; do
  wasm="$pkg/$name/remdb_bg.wasm"
  raw=$(wc -c <"$wasm")
  gz=$(gzip -9 -c "$wasm" | wc -c)
  sizes="$sizes\n| \`$name\` | $(size "$raw") | $(size "$gz") |"
done
# awk -v turns the \n escapes into newlines.
profiles="cargo profile $profile"
if [ "$core_profile" != "$profile" ]; then profiles="cargo profiles $core_profile and $profile"; fi
awk -v sizes="$sizes\n\nThe sizes of this package's WebAssembly ($profiles)." \
  '{ if ($0 == "@SIZES@") print sizes; else print }' \
  pkg-templates/README.md > "$pkg/README.md"

(cd "$pkg" && npm pack --silent --pack-destination .. >/dev/null)
tarball="$out/remdb-$version.tgz"
[ -f "$tarball" ] || { echo "error: npm pack produced no $tarball" >&2; exit 1; }

{
  echo "remdb $version ($profiles): $tarball"
  echo -e "$sizes"
} >&2
