// Shared helpers for Node benchmarks of the wasm build (see build.sh): load the bindings, time
// an operation, print a table. Kept generic so other benchmark scripts can reuse it.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));

/**
 * The wasm-bindgen module (`{ RemDb }`) built by build.sh: `pkg` (default build) or
 * `pkg-embeddings` (`build.sh --embeddings`). `REMDB_PKG=<dir>` swaps in another build, e.g.
 * `pkg-release-npm` (`build.sh --profile release-npm`: the optimisation levels of the published
 * npm package).
 */
export function loadRemDb(dir = 'pkg') {
  if (process.env.REMDB_PKG) dir = dir.replace(/^pkg/, process.env.REMDB_PKG);
  const require = createRequire(import.meta.url);
  try {
    return require(path.join(here, dir, 'remdb.js'));
  } catch (e) {
    const flag = dir.endsWith('-embeddings') ? ' --embeddings' : '';
    console.error(`cannot load benches/node/${dir}: run \`bash benches/node/build.sh${flag}\` first`);
    throw e;
  }
}

/** Deterministic xorshift64* generator (same sequence as benches/graph.rs). */
export class Rng {
  constructor(seed = 0x9e3779b97f4a7c15n) {
    this.s = BigInt.asUintN(64, seed);
  }
  next() {
    let s = this.s;
    s ^= s >> 12n;
    s = BigInt.asUintN(64, s ^ (s << 25n));
    s ^= s >> 27n;
    this.s = s;
    return BigInt.asUintN(64, s * 0x2545f4914f6cdd1dn);
  }
  below(n) {
    return Number(this.next() % BigInt(n));
  }
}

/** Runs `fn(i)` for at least `minMs` (after `warmup` calls) and returns the mean in ns. */
export function measure(fn, { minMs = 2000, warmup = 5, maxIterations = 1e6 } = {}) {
  for (let i = 0; i < warmup; i++) fn(i);
  let iterations = 0;
  const start = process.hrtime.bigint();
  let elapsed = 0n;
  while (elapsed < BigInt(minMs) * 1_000_000n && iterations < maxIterations) {
    fn(iterations++);
    elapsed = process.hrtime.bigint() - start;
  }
  return Number(elapsed) / iterations;
}

/** Human-readable time of a mean in ns. */
export function humanTime(ns) {
  if (ns < 1e3) return `${ns.toFixed(0)} ns`;
  if (ns < 1e6) return `${(ns / 1e3).toFixed(1)} µs`;
  if (ns < 1e9) return `${(ns / 1e6).toFixed(2)} ms`;
  return `${(ns / 1e9).toFixed(2)} s`;
}

/** Prints a Markdown table. */
export function printTable(headers, rows) {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => `| ${cells.map((c, i) => String(c).padEnd(widths[i])).join(' | ')} |`;
  console.log(line(headers));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const r of rows) console.log(line(r));
}

/** Seconds since `start` (a process.hrtime.bigint()). */
export function since(start) {
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/**
 * Appends `result` (an object; `env: 'node'` is added) as one JSON line to the file named by
 * `REM_BENCH_OUT`, which `benches/report.sh` sets and `benches/report.mjs` reads; does nothing
 * without it.
 */
export function record(result) {
  const out = process.env.REM_BENCH_OUT;
  if (!out) return;
  fs.appendFileSync(out, `${JSON.stringify({ ...result, env: 'node' })}\n`);
}
