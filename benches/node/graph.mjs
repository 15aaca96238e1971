// Graph benchmarks of the wasm build in Node, the same graphs and operations as
// benches/graph.rs: 100k entities / 1M edges (10 out-edges each, relationships r0..r9,
// weights 1..10) and a 20k-entity / 100k-edge graph acyclic but for 5 back edges.
//
//   bash benches/node/build.sh && node benches/node/graph.mjs [memory|redb]
import { loadRemDb, Rng, measure, humanTime, printTable, since, record } from './harness.mjs';

const { RemDb } = loadRemDb();
const backend = process.argv[2] ?? 'memory';
const open = () => (backend === 'redb' ? RemDb.openRedbMemory() : RemDb.openMemory());

const NODES = 100_000;
const OUT_DEGREE = 10;
const CYCLE_NODES = 20_000;
const CYCLE_EDGES = 100_000;
const BATCH = 100_000;
const rng = new Rng();

function nodes(db, n) {
  db.registerSchema({ title: 'Node', type: 'object', properties: { i: { type: 'integer' } } });
  const ids = [];
  for (let start = 0; start < n; start += 10_000) {
    const items = [];
    for (let i = start; i < Math.min(start + 10_000, n); i++) items.push({ i });
    ids.push(...db.insertMany('node', items));
  }
  return ids;
}

function writeEdges(db, edges) {
  for (let i = 0; i < edges.length; i += BATCH) db.addEdges(edges.slice(i, i + BATCH));
}

let t0 = process.hrtime.bigint();
const db = open();
const ids = nodes(db, NODES);
const nodeSecs = since(t0);
const edges = [];
for (const src of ids) {
  for (let k = 0; k < OUT_DEGREE; k++) {
    const dst = ids[rng.below(NODES)];
    const rel = `r${rng.below(10)}`;
    edges.push({ src, dst, rel, properties: { weight: 1 + Number(rng.next() % 10n) } });
  }
}
t0 = process.hrtime.bigint();
writeEdges(db, edges);
const edgeSecs = since(t0);
edges.length = 0;
console.error(`${backend}: ${NODES} entities in ${nodeSecs.toFixed(1)} s, ${NODES * OUT_DEGREE} edges in ${edgeSecs.toFixed(1)} s`);
const engine = `remdb-wasm-${backend}`;
record({
  suite: 'graph', case: 'write_1m_edges', engine, seconds: edgeSecs, per_op: NODES * OUT_DEGREE, goal: '≤ 20 s (wasm)',
  label: `writing ${NODES * OUT_DEGREE} edges (addEdges, ${BATCH} per batch)`,
});

const cyc = open();
const cids = nodes(cyc, CYCLE_NODES);
const cedges = [];
while (cedges.length < CYCLE_EDGES - 5) {
  const a = rng.below(CYCLE_NODES);
  const b = rng.below(CYCLE_NODES);
  if (a < b) cedges.push({ src: cids[a], dst: cids[b], rel: 'dep' });
}
for (let k = 0; k < 5; k++) {
  const e = cedges[k * 1000];
  cedges.push({ src: e.dst, dst: e.src, rel: 'dep' });
}
writeEdges(cyc, cedges);

const starts = Array.from({ length: 1000 }, (_, i) => ids[(i * 7919) % NODES]);
const pairs = Array.from({ length: 1000 }, (_, i) => [ids[(i * 7919) % NODES], ids[(i * 104729 + 13) % NODES]]);
const hops = (rels, rows) => ({
  maxDepth: 3,
  relTypes: Array.from({ length: rels }, (_, r) => `r${r}`),
  includeRows: rows,
});
const reached = (opts) => {
  let total = 0;
  for (let i = 0; i < 200; i++) total += db.traverse(ids[i * 97], opts).paths.length;
  return (total / 200).toFixed(0);
};

const rows = [];
for (const [name, opts, goal] of [
  ['traverse_3hop_4rels', hops(4, false), '≤ 1 ms (native)'],
  ['traverse_3hop_4rels_rows', hops(4, true), '-'],
  ['traverse_3hop_all', hops(0, false), '-'],
]) {
  const ns = measure((i) => db.traverse(starts[i % starts.length], opts));
  const r = reached(opts);
  record({ suite: 'graph', case: name, engine, ns, reached: Number(r), goal });
  rows.push([name, `${humanTime(ns)} (${r} reached)`, goal]);
}
for (const [name, weighted, minMs] of [
  ['shortest_path', false, 3000],
  ['shortest_path_weighted', true, 10000],
]) {
  const opts = { weighted, includeRows: false };
  const ns = measure((i) => db.shortestPath(pairs[i % pairs.length][0], pairs[i % pairs.length][1], opts), { minMs, warmup: 1 });
  record({ suite: 'graph', case: name, engine, ns, goal: weighted ? '≤ 50 ms' : '-' });
  rows.push([name, humanTime(ns), '-']);
}
const found = cyc.cycles(undefined, { table: 'node', includeRows: false }).paths.length;
if (found < 1 || found > 5) throw new Error(`expected 1..5 cycles, found ${found}`);
const cyclesNs = measure(() => cyc.cycles(undefined, { table: 'node', includeRows: false }), { warmup: 1 });
record({ suite: 'graph', case: 'find_cycles_100k', engine, ns: cyclesNs, goal: '-' });
rows.push(['find_cycles_100k', humanTime(cyclesNs), '-']);

console.log(`\nremdb graph benchmarks, wasm in Node ${process.version} (${backend}): ${NODES} entities, ${NODES * OUT_DEGREE} edges\n`);
printTable(['operation', `wasm/${backend}`, 'goal'], rows);
