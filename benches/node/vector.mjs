// Vector search in Node: remdb's wasm build against hnswlib-wasm, EdgeVec and PGlite + pgvector,
// in the same run on the same vectors. GloVe-50 (models/glove-6b-50d/vectors.f32, fetched by
// .ci/fetch-models): base rows 0..100k, 1000 queries from rows 300,000+, cosine, k = 10. Every
// vector is L2-normalised once up front and every system gets the same unit vectors (cosine
// order = dot order = l2 order on them). Ground truth: brute force in JS.
//
//   bash benches/node/build.sh && (cd benches/node && npm install --legacy-peer-deps --ignore-scripts) \
//     && node benches/node/vector.mjs [remdb] [remdb-wal] [hnswlib] [hnswlib32] [edgevec] [pglite]
//
// Environment: VEC_BASE (base size, default 100000), VEC_QUERIES (default 1000), VEC_EFS
// (default 10,20,40,80,160,320; empty: build only, no searches), VEC_MIN_MS (time per measured point, default 2000), GLOVE (path of
// vectors.f32). Build time and QPS are single-threaded wall time on whatever the machine is doing.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadRemDb, printTable, since, record } from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const DIM = 50;
const K = 10;
const N = Number(process.env.VEC_BASE ?? 100_000);
const NQ = Number(process.env.VEC_QUERIES ?? 1000);
const QUERY_START = 300_000;
const EFS = (process.env.VEC_EFS ?? '10,20,40,80,160,320').split(',').filter((ef) => ef.trim() !== '').map(Number);
const MIN_MS = Number(process.env.VEC_MIN_MS ?? 2000);
/** Vectors remdb inserts into its built index after the searches. */
const GROW = 10_000;
const GOAL_RECALL = 0.95;
const M = 16;
const EF_CONSTRUCTION = 200;
const systems = process.argv.slice(2).length ? process.argv.slice(2) : ['remdb', 'remdb-wal', 'hnswlib', 'hnswlib32', 'edgevec', 'pglite'];

// ---- data -------------------------------------------------------------------------------------

const glovePath = process.env.GLOVE ?? path.join(here, '..', '..', 'models', 'glove-6b-50d', 'vectors.f32');
if (!fs.existsSync(glovePath)) {
  console.error(`no ${glovePath}: run \`bash .ci/fetch-models\` first`);
  process.exit(1);
}
const raw = fs.readFileSync(glovePath);
const all = new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
if (N + GROW > QUERY_START) throw new Error(`VEC_BASE over ${QUERY_START - GROW} would overlap the queries`);
if (all.length < (QUERY_START + NQ) * DIM) throw new Error(`${glovePath} is too short`);

/** Unit-length copies of rows [from, from + n) as one flat array. */
function unitRows(from, n) {
  const out = new Float32Array(n * DIM);
  for (let r = 0; r < n; r++) {
    let s = 0;
    for (let d = 0; d < DIM; d++) s += all[(from + r) * DIM + d] ** 2;
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let d = 0; d < DIM; d++) out[r * DIM + d] = all[(from + r) * DIM + d] * inv;
  }
  return out;
}
const base = unitRows(0, N);
const queriesFlat = unitRows(QUERY_START, NQ);
const baseVec = (i) => base.subarray(i * DIM, (i + 1) * DIM);
const queries = Array.from({ length: NQ }, (_, q) => queriesFlat.subarray(q * DIM, (q + 1) * DIM));

let t0 = process.hrtime.bigint();
const truth = queries.map((q) => {
  const best = []; // [score, index], best first, at most K
  for (let i = 0; i < N; i++) {
    let s = 0;
    const o = i * DIM;
    for (let d = 0; d < DIM; d++) s += q[d] * base[o + d];
    if (best.length < K || s > best[best.length - 1][0]) {
      let j = Math.min(best.length, K - 1);
      best[j] = [s, i];
      while (j > 0 && best[j - 1][0] < s) {
        [best[j - 1], best[j]] = [best[j], best[j - 1]];
        j--;
      }
    }
  }
  return new Set(best.map((b) => b[1]));
});
console.error(`ground truth for ${NQ} queries over ${N} vectors (brute force) in ${since(t0).toFixed(1)} s`);

/** Mean recall@K of `results` (arrays of base indices per query). */
function recall(results) {
  let hit = 0;
  results.forEach((r, q) => r.forEach((i) => (hit += truth[q].has(i) ? 1 : 0)));
  return hit / (NQ * K);
}

/**
 * Runs `search(q)` (→ base indices) over all queries once for recall, then whole passes until
 * `MIN_MS` has gone by for QPS. `search(queries[0])` is called first as warm-up (not timed).
 */
async function measureEf(search) {
  await search(queries[0]);
  const results = [];
  let start = process.hrtime.bigint();
  for (const q of queries) results.push(await search(q));
  let done = NQ;
  while (Number(process.hrtime.bigint() - start) < MIN_MS * 1e6) {
    for (const q of queries) await search(q);
    done += NQ;
  }
  const secs = since(start);
  const out = { qps: done / secs, recall: recall(results) };
  console.error(`  ${Math.round(out.qps)} q/s, recall@${K} ${out.recall.toFixed(3)}`);
  return out;
}

// ---- systems ----------------------------------------------------------------------------------

/**
 * remdb (wasm build, memory backend): rows via insertMany, then the vectors — `putVectors` in
 * batches of 10,000 (`load = 'put'`: the face's API for caller-supplied vectors; each batch is
 * one write, and index maintenance runs inline after it) or all in one `applyWal` batch
 * of `vector` entries (`load = 'wal'`: one write, sealed once) — then `optimizeVectors` builds
 * one HNSW segment.
 */
async function remdb(load = 'put') {
  const { RemDb } = loadRemDb();
  const db = RemDb.openMemory();
  db.registerSchema({ title: 'Glove', type: 'object', properties: { i: { type: 'integer' } } });
  let t = process.hrtime.bigint();
  const ids = [];
  for (let start = 0; start < N; start += 10_000) {
    const items = [];
    for (let i = start; i < Math.min(N, start + 10_000); i++) items.push({ i });
    ids.push(...db.insertMany('glove', items));
  }
  const insertSecs = since(t);
  t = process.hrtime.bigint();
  if (load === 'put') {
    let lap = t;
    for (let start = 0; start < N; start += 10_000) {
      const items = [];
      for (let i = start; i < Math.min(N, start + 10_000); i++) items.push({ id: ids[i], vector: baseVec(i) });
      db.putVectors('glove', 'vec', 'glove', items);
      console.error(`  remdb putVectors ${Math.min(N, start + 10_000)}/${N}: last batch in ${since(lap).toFixed(1)} s`);
      lap = process.hrtime.bigint();
    }
  } else {
    const seq = db.walSeq();
    const ts = new Date().toISOString();
    const entries = ids.map((id, i) => ({
      seq: seq + 1 + i,
      ts,
      op: 'vector',
      table: 'glove',
      id,
      data: { field: 'vec', provider: 'glove', vector: Array.from(baseVec(i)) },
    }));
    db.applyWal(entries);
  }
  const vectorSecs = since(t);
  t = process.hrtime.bigint();
  const report = db.optimizeVectors('glove');
  const optimizeSecs = since(t);
  console.error(`  remdb optimizeVectors: ${JSON.stringify(report)}`);
  const how = load === 'put' ? 'putVectors' : 'applyWal';
  const build = `${(insertSecs + vectorSecs + optimizeSecs).toFixed(1)} s (insertMany ${insertSecs.toFixed(1)} + ${how} ${vectorSecs.toFixed(1)} + optimize ${optimizeSecs.toFixed(1)})`;
  console.error(`remdb (${how}): ${build}`);
  const rows = {};
  for (const ef of EFS) {
    t = process.hrtime.bigint();
    db.search('glove', queries[0], { topK: K, ef }); // first query at this ef (not timed)
    console.error(`  remdb ef=${ef}: first query ${(since(t) * 1e3).toFixed(0)} ms`);
    rows[ef] = await measureEf((q) => db.search('glove', q, { topK: K, ef }).map((r) => r.i));
  }
  // Growing the built index: 10k more rows (GloVe rows N..N+10k) and their vectors, one
  // putVectors call, then optimizeVectors (the pending vectors go into the live graph).
  const more = unitRows(N, GROW);
  const moreIds = db.insertMany('glove', Array.from({ length: GROW }, (_, r) => ({ i: N + r })));
  t = process.hrtime.bigint();
  db.putVectors('glove', 'vec', 'glove', moreIds.map((id, r) => ({ id, vector: more.subarray(r * DIM, (r + 1) * DIM) })));
  const grown = db.optimizeVectors('glove');
  const growSecs = since(t);
  console.error(`  remdb: ${GROW} more vectors into the built index in ${growSecs.toFixed(2)} s (${JSON.stringify(grown)})`);
  db.free();
  return {
    system: `remdb wasm, ${how} (M=32, efC=100)`,
    engine: load === 'put' ? 'remdb-wasm' : 'remdb-wasm-wal',
    build,
    buildSecs: insertSecs + vectorSecs + optimizeSecs,
    rows,
    grow: { seconds: growSecs, per_op: GROW },
    note: `${GROW} more vectors into the built ${N}: ${growSecs.toFixed(2)} s`,
  };
}

/** hnswlib-wasm (browser package: load its emscripten factory directly, no IDBFS). */
async function hnswlib(m = M, efc = EF_CONSTRUCTION) {
  // Its emscripten glue wants `window`; PGlite takes `window` to mean a browser, so drop it again.
  const hadWindow = 'window' in globalThis;
  globalThis.window ??= globalThis;
  const { default: factory } = await import('hnswlib-wasm/dist/hnswlib-317962d7.js');
  const lib = await factory();
  if (!hadWindow) delete globalThis.window;
  const t = process.hrtime.bigint();
  const index = new lib.HierarchicalNSW('cosine', DIM, '');
  index.initIndex(N, m, efc, 100);
  for (let i = 0; i < N; i++) index.addPoint(baseVec(i), i, false);
  const buildSecs = since(t);
  const build = `${buildSecs.toFixed(1)} s`;
  console.error(`hnswlib-wasm (M=${m}, efC=${efc}): ${build}`);
  const rows = {};
  for (const ef of EFS) {
    console.error(`  ef=${ef}`);
    index.setEfSearch(ef);
    rows[ef] = await measureEf((q) => index.searchKnn(q, K, undefined).neighbors);
  }
  const engine = m === M ? 'hnswlib-wasm' : `hnswlib-wasm-m${m}`;
  return { system: `hnswlib-wasm (M=${m}, efC=${efc})`, engine, build, buildSecs, rows };
}

/** EdgeVec: metric l2 on unit vectors (its cosine returns farthest first); ef fixed per build. */
async function edgevec() {
  const ev = await import('edgevec/edgevec.js');
  const wasmPath = path.join(here, 'node_modules/edgevec/edgevec_bg.wasm');
  ev.initSync({ module: fs.readFileSync(wasmPath) });
  const rows = {};
  const builds = [];
  for (const ef of EFS.length ? EFS : [EF_CONSTRUCTION]) {
    const cfg = new ev.EdgeVecConfig(DIM);
    cfg.metric = 'l2';
    cfg.m = M;
    cfg.m0 = 2 * M;
    cfg.ef_construction = EF_CONSTRUCTION;
    cfg.ef_search = ef;
    const t = process.hrtime.bigint();
    const db = new ev.EdgeVec(cfg);
    const assigned = db.insertBatchFlat(base, N);
    const secs = since(t);
    builds.push(secs);
    console.error(`EdgeVec build for ef=${ef}: ${secs.toFixed(1)} s`);
    const index = new Int32Array(N + 2).fill(-1); // EdgeVec ids → base index
    assigned.forEach((id, i) => (index[id] = i));
    if (EFS.length) rows[ef] = await measureEf((q) => db.search(q, K).map((r) => index[r.id]));
    db.free();
  }
  const mean = builds.reduce((a, b) => a + b, 0) / builds.length;
  return { system: `EdgeVec (M=${M}, efC=${EF_CONSTRUCTION}, l2)`, engine: 'edgevec', build: `${mean.toFixed(1)} s (one build per ef)`, buildSecs: mean, rows };
}

/** PGlite + pgvector: HNSW index with vector_cosine_ops, `SET hnsw.ef_search`. */
async function pglite() {
  const { PGlite } = await import('@electric-sql/pglite');
  const { vector } = await import('@electric-sql/pglite-pgvector');
  const pg = await PGlite.create({ extensions: { vector } });
  await pg.exec(`CREATE EXTENSION vector; CREATE TABLE v (id int PRIMARY KEY, e vector(${DIM}));`);
  const text = (v) => `[${Array.from(v).join(',')}]`;
  let t = process.hrtime.bigint();
  for (let start = 0; start < N; start += 5000) {
    const idsBatch = [];
    const vecs = [];
    for (let i = start; i < Math.min(N, start + 5000); i++) {
      idsBatch.push(i);
      vecs.push(text(baseVec(i)));
    }
    await pg.query('INSERT INTO v SELECT * FROM unnest($1::int[], $2::text[]::vector[])', [idsBatch, vecs]);
  }
  const insertSecs = since(t);
  t = process.hrtime.bigint();
  await pg.exec(`SET maintenance_work_mem = '1GB';
    CREATE INDEX ON v USING hnsw (e vector_cosine_ops) WITH (m = ${M}, ef_construction = ${EF_CONSTRUCTION}); ANALYZE v;`);
  const indexSecs = since(t);
  const build = `${(insertSecs + indexSecs).toFixed(1)} s (INSERT ${insertSecs.toFixed(1)} + CREATE INDEX ${indexSecs.toFixed(1)})`;
  console.error(`PGlite + pgvector: ${build}`);
  const sql = 'SELECT id FROM v ORDER BY e <=> $1 LIMIT 10';
  const plan = (await pg.query(`EXPLAIN ${sql}`, [text(queries[0])])).rows.map((r) => r['QUERY PLAN']).join(' / ');
  if (!plan.includes('Index Scan')) throw new Error(`pgvector does not use its index: ${plan}`);
  const rows = {};
  for (const ef of EFS) {
    console.error(`  ef=${ef}`);
    await pg.exec(`SET hnsw.ef_search = ${ef}`);
    rows[ef] = await measureEf(async (q) => (await pg.query(sql, [text(q)])).rows.map((r) => r.id));
  }
  await pg.close();
  return { system: `PGlite + pgvector (M=${M}, efC=${EF_CONSTRUCTION})`, engine: 'pglite-pgvector', build, buildSecs: insertSecs + indexSecs, rows };
}

// ---- run --------------------------------------------------------------------------------------

const runners = {
  remdb: () => remdb('put'),
  'remdb-wal': () => remdb('wal'),
  hnswlib: () => hnswlib(M, EF_CONSTRUCTION),
  hnswlib32: () => hnswlib(32, 100), // remdb's own build parameters
  edgevec: () => edgevec(),
  pglite: () => pglite(),
};
const results = [];
for (const name of systems) {
  if (!runners[name]) throw new Error(`unknown system ${name}; known: ${Object.keys(runners).join(', ')}`);
  try {
    results.push(await runners[name]());
  } catch (e) {
    console.error(`${name} failed: ${e.stack ?? e}`);
    results.push({ system: name, build: `failed: ${e.message}`, rows: {} });
  }
}

for (const r of results) {
  if (r.buildSecs === undefined) continue;
  const peer = !r.engine.startsWith('remdb');
  record({ suite: 'vector', case: 'build', engine: r.engine, seconds: r.buildSecs, size: N, peer, label: `HNSW index of ${N} GloVe-50 vectors, loaded and built` });
  for (const [ef, x] of Object.entries(r.rows)) {
    record({ suite: 'vector', case: 'vector_hnsw', engine: r.engine, ef: Number(ef), ns: 1e9 / x.qps, recall: x.recall, size: N, peer });
  }
  if (r.grow) record({ suite: 'vector', case: 'grow_10k', engine: r.engine, seconds: r.grow.seconds, per_op: r.grow.per_op, size: N, goal: '≤ 3 s', label: `${GROW} more vectors into the built ${N}-vector index` });
}

const cell = (r) => (r ? `${Math.round(r.qps)} q/s · ${r.recall.toFixed(3)}` : '-');
console.log(
  `\nVector search in Node: GloVe-50, ${N} base vectors, ${NQ} queries, cosine, k=${K}` +
    ` (single thread; each cell: QPS · recall@${K})\n`,
);
printTable(
  ['system', 'build', ...EFS.map((ef) => `ef=${ef}`)],
  results.map((r) => [r.system, r.build, ...EFS.map((ef) => cell(r.rows[ef]))]),
);

/** Highest QPS among the ef points that reach the recall goal. */
const atGoal = (r) =>
  Object.entries(r.rows)
    .filter(([, x]) => x.recall >= GOAL_RECALL)
    .map(([ef, x]) => ({ ef, ...x }))
    .sort((a, b) => b.qps - a.qps)[0];
console.log(`\nBest QPS at recall@${K} ≥ ${GOAL_RECALL}:`);
for (const r of results) {
  const g = atGoal(r);
  console.log(`  ${r.system}: ${g ? `${Math.round(g.qps)} q/s (ef=${g.ef}, recall ${g.recall.toFixed(3)})` : 'goal recall not reached'}`);
}
for (const r of results) if (r.note) console.log(`  ${r.system}: ${r.note}`);
const ours = results.find((r) => r.system.startsWith('remdb'));
const peers = results.filter((r) => /^(hnswlib|EdgeVec)/.test(r.system));
if (ours && peers.length) {
  const o = atGoal(ours);
  for (const p of peers) {
    const g = atGoal(p);
    const ratio = o && g ? o.qps / g.qps : NaN;
    console.log(
      `  goal remdb ≥ 2× ${p.system}: ${Number.isNaN(ratio) ? 'n/a' : `${ratio.toFixed(2)}× → ${ratio >= 2 ? 'met' : 'not met'}`}`,
    );
  }
}
