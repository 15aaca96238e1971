// Embeddings in Node: remdb's wasm build (tract + tokenizers inside the module, feature
// `embeddings`) against onnxruntime-web running the same all-MiniLM-L6-v2 int8 model.onnx in the
// same process, one thread each. The onnxruntime-web pipeline is the full one remdb runs:
// tokenize (the same tokenizer.json through @huggingface/tokenizers, pure JS), pad to the longest
// of the batch, infer, mean-pool over the attention mask, L2-normalise. Vectors are checked to
// agree (cosine) before anything is timed. Then inline embedding on insert: insertMany of 256
// `resources` rows ({name, content}) with the model loaded, against the same insert with no
// model (the embedding work then only waits in the queue).
//
//   bash .ci/fetch-models && bash benches/node/build.sh --embeddings \
//     && (cd benches/node && npm install --legacy-peer-deps --ignore-scripts) && node benches/node/embed.mjs
//
// REM_MODEL_DIR points at another model directory (default models/all-MiniLM-L6-v2).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadRemDb, printTable, since, record } from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const modelDir = process.env.REM_MODEL_DIR ?? path.join(here, '..', '..', 'models', 'all-MiniLM-L6-v2');
const modelPath = path.join(modelDir, 'model.onnx');
const tokenizerPath = path.join(modelDir, 'tokenizer.json');
if (!fs.existsSync(modelPath) || !fs.existsSync(tokenizerPath)) {
  console.error(`no model in ${modelDir}: run \`bash .ci/fetch-models\` first`);
  process.exit(1);
}
const modelBytes = fs.readFileSync(modelPath);
const tokenizerBytes = fs.readFileSync(tokenizerPath);

/** 12 word pieces, 14 tokens with [CLS] and [SEP] (the sentence of benches/embed.rs). */
const SENTENCE = 'The quick brown fox jumps over the lazy dog near the river';
const BATCHES = [1, 32];
const RUNS = { 1: 101, 32: 21 };
const ROWS = 256;

/** Median and mean (ms) of `runs` timed calls of `fn`, after 3 untimed ones. */
async function timeCalls(fn, runs) {
  for (let i = 0; i < 3; i++) await fn();
  const ms = [];
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint();
    await fn();
    ms.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  ms.sort((a, b) => a - b);
  return { median: ms[ms.length >> 1], mean: ms.reduce((a, b) => a + b, 0) / ms.length };
}

const cosine = (a, b) => {
  let d = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    d += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return d / Math.sqrt(na * nb);
};

/** Deterministic ~12-word sentences for the insert benchmark (distinct per row). */
const WORDS = ('river mountain quiet engine paper silver garden window market winter signal ' +
  'harbor violet copper forest lantern meadow rocket island canvas thunder pocket marble ' +
  'orchard velvet bridge falcon summer planet').split(' ');
const sentence = (i) =>
  Array.from({ length: 12 }, (_, k) => WORDS[(i * 7 + k * 13 + ((i * k) % 5)) % WORDS.length]).join(' ');

// ---- remdb ------------------------------------------------------------------------------------

const { RemDb } = loadRemDb('pkg-embeddings');
const db = RemDb.openMemory();
let t0 = process.hrtime.bigint();
db.loadModel(modelBytes, tokenizerBytes);
const remdbLoadMs = since(t0) * 1e3;
const MiB = (bytes) => (bytes / 1048576).toFixed(1);
const memoryAfterLoad = RemDb.linearMemoryBytes(); // high-water mark: the load's peak
console.error(`remdb loadModel: ${remdbLoadMs.toFixed(0)} ms, linear memory ${MiB(memoryAfterLoad)} MiB`);

// ---- onnxruntime-web --------------------------------------------------------------------------

const ort = await import('onnxruntime-web');
const { Tokenizer } = await import('@huggingface/tokenizers');
ort.env.wasm.numThreads = 1;
t0 = process.hrtime.bigint();
const tokenizer = new Tokenizer(JSON.parse(tokenizerBytes.toString('utf8')), {});
const session = await ort.InferenceSession.create(modelBytes, { graphOptimizationLevel: 'all' });
const ortLoadMs = since(t0) * 1e3;
console.error(`onnxruntime-web session + tokenizer: ${ortLoadMs.toFixed(0)} ms`);

/** Token ids of `texts`, truncated to 256 tokens and padded to the longest (as remdb does). */
function tokenize(texts) {
  const encoded = texts.map((t) => {
    const ids = tokenizer.encode(t).ids;
    return ids.length > 256 ? [...ids.slice(0, 255), ids[ids.length - 1]] : ids;
  });
  const len = Math.max(...encoded.map((e) => e.length));
  const ids = new BigInt64Array(texts.length * len);
  const mask = new BigInt64Array(texts.length * len);
  encoded.forEach((e, b) =>
    e.forEach((id, j) => {
      ids[b * len + j] = BigInt(id);
      mask[b * len + j] = 1n;
    }),
  );
  return { ids, mask, len };
}

/** Full onnxruntime-web pipeline: unit vectors for `texts`. */
async function ortEmbed(texts) {
  const { ids, mask, len } = tokenize(texts);
  const dims = [texts.length, len];
  const out = await session.run({
    input_ids: new ort.Tensor('int64', ids, dims),
    attention_mask: new ort.Tensor('int64', mask, dims),
    token_type_ids: new ort.Tensor('int64', new BigInt64Array(ids.length), dims),
  });
  const hidden = out.last_hidden_state;
  const [, , h] = hidden.dims;
  const data = hidden.data;
  return texts.map((_, b) => {
    const v = new Float32Array(h);
    let n = 0;
    for (let j = 0; j < len; j++) {
      if (mask[b * len + j] === 0n) continue;
      n++;
      const o = (b * len + j) * h;
      for (let d = 0; d < h; d++) v[d] += data[o + d];
    }
    let norm = 0;
    for (let d = 0; d < h; d++) norm += (v[d] /= n) ** 2;
    norm = Math.sqrt(norm) || 1;
    for (let d = 0; d < h; d++) v[d] /= norm;
    return v;
  });
}

// ---- agreement --------------------------------------------------------------------------------

const probe = [SENTENCE, 'a cat sits on the mat', '', sentence(3)];
const ours = db.embed(probe);
const theirs = await ortEmbed(probe);
const agreement = Math.min(...probe.map((_, i) => cosine(ours[i], theirs[i])));
console.error(`remdb vs onnxruntime-web vectors: min cosine ${agreement.toFixed(6)} over ${probe.length} texts`);
if (!(agreement > 0.999)) throw new Error(`the two pipelines disagree (cosine ${agreement})`);
const tokens = tokenizer.encode(SENTENCE).ids.length;

// ---- latency ----------------------------------------------------------------------------------

const latency = [];
for (const n of BATCHES) {
  const texts = Array(n).fill(SENTENCE);
  const r = await timeCalls(() => (n === 1 ? db.embed(SENTENCE) : db.embed(texts)), RUNS[n]);
  console.error(`remdb batch ${n}: median ${r.median.toFixed(1)} ms`);
  const o = await timeCalls(() => ortEmbed(texts), RUNS[n]);
  console.error(`onnxruntime-web batch ${n}: median ${o.median.toFixed(1)} ms`);
  const tok = await timeCalls(() => tokenize(texts), RUNS[n]);
  latency.push([n, r, o, tok]);
  const label = `embedding a batch of ${n} (all-MiniLM-L6-v2 int8, median per call)`;
  record({ suite: 'embed', case: `embed_batch_${n}`, engine: 'remdb-wasm', ns: r.median * 1e6, per_op: n, label });
  record({ suite: 'embed', case: `embed_batch_${n}`, engine: 'onnxruntime-web', ns: o.median * 1e6, per_op: n, label, peer: true });
}

// ---- insert with inline embedding -------------------------------------------------------------

const rowsOf = (round) =>
  Array.from({ length: ROWS }, (_, i) => ({ name: `resource ${round}-${i}`, content: sentence(round * ROWS + i) }));
const insertRounds = 3;
const withModel = [];
for (let round = 0; round < insertRounds; round++) {
  const rows = rowsOf(round);
  const t = process.hrtime.bigint();
  db.insertMany('resources', rows);
  withModel.push(since(t));
}
const status = db.embeddingStatus();
if (status.queuedRows !== 0) throw new Error(`rows left queued with the model loaded: ${JSON.stringify(status)}`);
const hit = db.search('resources', sentence(5), { topK: 1 })[0];
if (hit?.content !== sentence(5)) throw new Error(`search for an inserted row's text found ${JSON.stringify(hit)}`);
const plain = RemDb.openMemory();
const noModel = [];
for (let round = 0; round < insertRounds; round++) {
  const rows = rowsOf(round);
  const t = process.hrtime.bigint();
  plain.insertMany('resources', rows);
  noModel.push(since(t));
}
const ortRows = [];
for (let round = 0; round < insertRounds; round++) {
  const texts = rowsOf(round).map((r) => r.content);
  const t = process.hrtime.bigint();
  for (let i = 0; i < texts.length; i += 32) await ortEmbed(texts.slice(i, i + 32));
  ortRows.push(since(t));
}
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

// ---- report -----------------------------------------------------------------------------------

console.log(
  `\nEmbeddings in Node: all-MiniLM-L6-v2 int8, one thread, ${tokens}-token sentence` +
    ` (median of ${RUNS[1]} / ${RUNS[32]} calls; vectors agree to cosine ${agreement.toFixed(6)})\n`,
);
const fmt = (ms) => (ms >= 100 ? `${ms.toFixed(0)} ms` : `${ms.toFixed(1)} ms`);
printTable(
  ['batch', 'remdb wasm: per call', 'per text', 'texts/s', 'onnxruntime-web: per call', 'per text', 'texts/s', '(of which JS tokenizer)'],
  latency.map(([n, r, o, tok]) => [
    n,
    fmt(r.median),
    fmt(r.median / n),
    Math.round((1000 * n) / r.median),
    fmt(o.median),
    fmt(o.median / n),
    Math.round((1000 * n) / o.median),
    fmt(tok.median),
  ]),
);
console.log(`\nModel load: remdb loadModel ${remdbLoadMs.toFixed(0)} ms; onnxruntime-web session + tokenizer ${ortLoadMs.toFixed(0)} ms`);
console.log(`remdb wasm linear memory: ${MiB(memoryAfterLoad)} MiB after loadModel (goal < 100), ${MiB(RemDb.linearMemoryBytes())} MiB after every benchmark above (batches up to 32)\n`);
const ms = (s) => `${(s * 1e3).toFixed(0)} ms`;
const rate = (s) => `${Math.round(ROWS / s)}/s`;
printTable(
  [`${ROWS} rows ({name, content}), median of ${insertRounds}`, 'time', 'rows/s'],
  [
    ['remdb insertMany("resources"), model loaded (inline embedding)', ms(median(withModel)), rate(median(withModel))],
    ['remdb insertMany("resources"), no model (work queued)', ms(median(noModel)), rate(median(noModel))],
    ['onnxruntime-web embedding the same contents, batches of 32', ms(median(ortRows)), rate(median(ortRows))],
  ],
);
