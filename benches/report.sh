#!/usr/bin/env bash
# One benchmark report: remdb and its peers measured in one run on this machine, written into
# docs/BENCHMARKS.md (the summary between its `report:begin` and `report:end` markers) with SVG
# charts in docs/bench/.
#
#   bash benches/report.sh                 # every suite
#   bash benches/report.sh sql vector      # some of: sql store graph vector embed
#
# Peers: SQLite (rusqlite, bundled) and instant-distance natively; PGlite (+ pgvector),
# hnswlib-wasm, EdgeVec and onnxruntime-web in the same Node process as remdb's wasm build. They
# are dev/bench dependencies (Cargo dev-dependencies, benches/node/package.json), never runtime
# ones. Installs what it needs, only when missing: the wasm toolchain, the models and GloVe
# vectors, the Node peers.
#
# Time budget: the measurements take under 20 minutes on a 2-core machine (the report lists
# each step's time). Compiling comes first and is not in that budget: about 2 minutes when
# `bash .ci/run` has built the dependencies, ~20 minutes from nothing (tract for wasm is most
# of it). Shorter criterion windows than the benches' own defaults keep to the budget; the
# detailed sections below the summary come from the longer runs they describe.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/remdb/target}"

all=(sql store graph vector embed)
suites=("$@")
[ ${#suites[@]} -eq 0 ] && suites=("${all[@]}")
for s in "${suites[@]}"; do
    case " ${all[*]} " in *" $s "*) ;; *) echo "unknown suite $s; known: ${all[*]}" >&2; exit 2 ;; esac
done
wants() { case " ${suites[*]} " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

log() { printf '\n== %s\n' "$*" >&2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export REM_BENCH_OUT=$work/results.jsonl
: >"$REM_BENCH_OUT"
steps=()
started=$(date +%s)

# step NAME COMMAND...: runs and times one step (kept for the report).
step() {
    local name=$1 t
    shift
    log "$name: $*"
    t=$(date +%s)
    "$@"
    steps+=("$name=$(($(date +%s) - t))")
}

# --- what the run needs ------------------------------------------------------------------------

bash .ci/setup-native
bash .ci/setup-wasm
bash .ci/fetch-models
for peer in @electric-sql/pglite @electric-sql/pglite-pgvector hnswlib-wasm edgevec onnxruntime-web @huggingface/tokenizers; do
    if [ ! -f "benches/node/node_modules/$peer/package.json" ]; then
        log "npm install (benches/node: the Node peers)"
        (cd benches/node && npm install --no-audit --no-fund --loglevel=error --legacy-peer-deps --ignore-scripts </dev/null)
        break
    fi
done

native=()
for s in sql store graph vector; do wants "$s" && native+=(--bench "$s"); done
build_started=$(date +%s)
[ ${#native[@]} -gt 0 ] && cargo bench "${native[@]}" --no-run
bash benches/node/build.sh
wants embed && bash benches/node/build.sh --embeddings
build_seconds=$(($(date +%s) - build_started))
measure_started=$(date +%s)

# --- the measurements --------------------------------------------------------------------------

# Criterion's windows, shorter than each bench's defaults (see the budget above).
window=(-- --warm-up-time 0.3 --measurement-time 1)
if wants sql; then
    step "native SQL" cargo bench --bench sql "${window[@]}"
    step "Node SQL" node benches/node/sql.mjs memory,redb
fi
if wants store; then
    step "native store" cargo bench --bench store "${window[@]}"
fi
if wants graph; then
    step "native graph" env REM_BENCH_BACKENDS=memory cargo bench --bench graph "${window[@]}"
    step "Node graph" node benches/node/graph.mjs memory
fi
if wants vector; then
    step "native vector" env REM_BENCH_BACKENDS=memory cargo bench --bench vector "${window[@]}"
    step "Node vector 100k" env VEC_EFS=20,40,80,160 VEC_MIN_MS=1500 node benches/node/vector.mjs remdb hnswlib
    step "Node vector 50k (builds)" env VEC_BASE=50000 VEC_EFS= node benches/node/vector.mjs remdb hnswlib
    step "Node vector 20k (every peer)" env VEC_BASE=20000 VEC_EFS=40,80,160 VEC_MIN_MS=1000 \
        node benches/node/vector.mjs remdb hnswlib edgevec pglite
fi
if wants embed; then
    step "Node embeddings" node benches/node/embed.mjs
fi

# --- the report ----------------------------------------------------------------------------------

finished=$(date +%s)
node_version() { node -p "require('./benches/node/node_modules/$1/package.json').version" 2>/dev/null || echo '?'; }
crate_version() { awk -v n="$1" '$0 == "name = \"" n "\"" { getline; gsub(/"/, "", $3); print $3; exit }' Cargo.lock; }
export REPORT_STEPS="$(IFS=";"; echo "${steps[*]}")" REPORT_STARTED=$started REPORT_FINISHED=$finished \
    REPORT_MEASURE_SECONDS=$((finished - measure_started)) REPORT_BUILD_SECONDS=$build_seconds \
    REPORT_COMMIT="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src benches || echo ' (with local changes)')" \
    REPORT_CPU="$(lscpu | sed -n 's/^Model name: *//p' | head -1)" REPORT_CORES="$(nproc)" \
    REPORT_MEMORY="$(free -g | awk '/^Mem:/ { print $2 " GB" }')" \
    REPORT_OS="$(. /etc/os-release && echo "$PRETTY_NAME"), Linux $(uname -r)" \
    REPORT_RUSTC="$(rustc --version | cut -d' ' -f2)" REPORT_NODE="$(node --version)" \
    REPORT_PGLITE="$(node_version @electric-sql/pglite)" REPORT_PGVECTOR="$(node_version @electric-sql/pglite-pgvector)" \
    REPORT_HNSWLIB="$(node_version hnswlib-wasm)" REPORT_EDGEVEC="$(node_version edgevec)" \
    REPORT_ORT="$(node_version onnxruntime-web)" REPORT_INSTANT="$(crate_version instant-distance)" \
    REPORT_REDB="$(crate_version redb)"
node -e '
const e = process.env;
const meta = {
  commit: e.REPORT_COMMIT,
  finished: new Date(Number(e.REPORT_FINISHED) * 1000).toISOString().slice(0, 16).replace("T", " ") + " UTC",
  seconds: Number(e.REPORT_MEASURE_SECONDS),
  buildSeconds: Number(e.REPORT_BUILD_SECONDS),
  steps: e.REPORT_STEPS.split(";").filter(Boolean).map((s) => s.split("=")).map(([n, v]) => [n, Number(v)]),
  machine: { cpu: e.REPORT_CPU, cores: e.REPORT_CORES, memory: e.REPORT_MEMORY, os: e.REPORT_OS },
  versions: {
    rustc: e.REPORT_RUSTC, Node: e.REPORT_NODE, redb: e.REPORT_REDB, "instant-distance": e.REPORT_INSTANT,
    PGlite: e.REPORT_PGLITE, "pglite-pgvector": e.REPORT_PGVECTOR, "hnswlib-wasm": e.REPORT_HNSWLIB,
    EdgeVec: e.REPORT_EDGEVEC, "onnxruntime-web": e.REPORT_ORT,
  },
};
process.stdout.write(JSON.stringify(meta));
' >"$work/meta.json"
node benches/report.mjs "$REM_BENCH_OUT" "$work/meta.json"
cp "$REM_BENCH_OUT" "$work/meta.json" docs/bench/ 2>/dev/null || true
log "report written: docs/BENCHMARKS.md, docs/bench/ (measurements $((finished - measure_started)) s, builds $build_seconds s)"
