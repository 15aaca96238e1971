// BM25 top-10 in the wasm build (Node): the corpus and queries of benches/fulltext.rs (the same
// generator, so the same chunks), loaded with insertMany of 1,000 rows, then each query run
// 20 times after a warm-up; median and mean per query. Compare with the native run of
// `cargo bench --profile dev --bench fulltext`, which has SQLite FTS5 beside it.
//
//   bash benches/node/build.sh && node benches/node/fulltext.mjs [memory|redb|memory,redb]
//
// REM_FT_CHUNKS=20000 for a quicker run (default 100,000).
import { loadRemDb, Rng, printTable, since, record } from './harness.mjs';

const { RemDb } = loadRemDb();
const backends = (process.argv[2] ?? 'memory').split(',');
const N = Number(process.env.REM_FT_CHUNKS ?? 100_000);
const VOCAB = 20_000;
const ROUNDS = 20;

/** Word `i` of the vocabulary: pronounceable, distinct (as in benches/fulltext.rs). */
function word(i) {
  const SYL = ['ka', 'lo', 'mi', 'ne', 'ru', 'sa', 'te', 'vo', 'zi', 'pa', 'do', 'fe', 'gu', 'hi', 'jo', 'be'];
  let out = '';
  let n = i + 16;
  while (n > 0) {
    out += SYL[n % 16];
    n = Math.floor(n / 16);
  }
  return out;
}

function corpus(n) {
  const cdf = new Float64Array(VOCAB);
  let sum = 0;
  for (let r = 0; r < VOCAB; r++) {
    sum += 1 / (r + 1);
    cdf[r] = sum;
  }
  for (let r = 0; r < VOCAB; r++) cdf[r] /= sum;
  const words = Array.from({ length: VOCAB }, (_, i) => word(i));
  const rng = new Rng(0x9e3779b97f4a7c15n);
  const zipf = () => {
    const x = Number(rng.next() >> 11n) / 2 ** 53;
    let lo = 0;
    let hi = VOCAB;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid] < x) lo = mid + 1;
      else hi = mid;
    }
    return Math.min(lo, VOCAB - 1);
  };
  const chunks = [];
  for (let c = 0; c < n; c++) {
    const len = 60 + rng.below(81);
    const picked = new Array(len);
    for (let w = 0; w < len; w++) picked[w] = words[zipf()];
    chunks.push(picked.join(' '));
  }
  const queries = [];
  for (let q = 0; q < 20; q++) {
    const terms = 2 + (q % 2);
    const picks = [];
    for (let t = 0; t < terms; t++) picks.push(words[[10, 50, 200, 1000, 5000][(q + t * 2) % 5] + q * 7 + t]);
    queries.push(picks.join(' '));
  }
  return { chunks, queries };
}

const started = process.hrtime.bigint();
const { chunks, queries } = corpus(N);
const mb = chunks.reduce((s, c) => s + c.length, 0) / 1e6;
console.log(`corpus: ${N} chunks, ${mb.toFixed(1)} MB of text (built in ${since(started).toFixed(1)} s), ${queries.length} queries × ${ROUNDS} rounds`);

const rows = [];
for (const backend of backends) {
  const db = backend === 'redb' ? RemDb.openRedbMemory() : RemDb.openMemory();
  db.registerSchema({
    title: 'Chunk', type: 'object', properties: { content: { type: 'string' } },
    json_schema_extra: { fulltext_fields: ['content'], fulltext_stemmer: 'none' },
  });
  const loadStart = process.hrtime.bigint();
  for (let i = 0; i < N; i += 1000) db.insertMany('chunk', chunks.slice(i, i + 1000).map((content) => ({ content })));
  const loadS = since(loadStart);
  const opts = { topK: 10, mode: 'keyword' };
  let hits = 0;
  for (const q of queries) hits += db.search('chunk', q, opts).length; // warm
  const times = [];
  for (let r = 0; r < ROUNDS; r++) {
    for (const q of queries) {
      const t = process.hrtime.bigint();
      db.search('chunk', q, opts);
      times.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
  }
  times.sort((a, b) => a - b);
  const median = times[times.length >> 1];
  const mean = times.reduce((s, t) => s + t, 0) / times.length;
  rows.push([`remdb-wasm (${backend})`, `${loadS.toFixed(1)} s`, `${median.toFixed(2)} ms`, `${mean.toFixed(2)} ms`, hits]);
  record({ suite: 'fulltext', case: `bm25_top10_of_${N}`, label: 'BM25 top-10, 2–3 terms', engine: `remdb-wasm-${backend}`, ns: median * 1e6, goal: '≤ 5 ms' });
  db.free?.();
}
printTable(['engine', `load ${N} chunks`, 'BM25 top-10 median', 'mean', 'hits (warm-up)'], rows);
