// A Cloudflare Worker over the remdb package, bundled by workerd.test.mjs with esbuild (conditions
// workerd, worker, browser: `remdb` resolves to js/entry/workerd.js, whose `.wasm` import stays a
// separate CompiledWasm module) and run in workerd. Each request opens a memory database and
// answers with JSON: GET /run exercises the API, GET /errors returns the error codes it gets,
// GET /sync?hub=&admin=&member= pushes to and pulls from a `rem serve` hub.
import { RemDB, RemDBError } from 'remdb';

const NOTE = {
  title: 'Note',
  type: 'object',
  properties: {
    title: { type: 'string' },
    tag: { type: 'string' },
    stars: { type: 'integer', minimum: 0 },
  },
  required: ['title'],
  json_schema_extra: { key_field: 'title', indexed_fields: ['tag'] },
};

const NOTES = [
  { title: 'alpha', tag: 'db', stars: 5 },
  { title: 'beta', tag: 'db', stars: 3 },
  { title: 'gamma', tag: 'web', stars: 4 },
];
// Vectors the test knows the similarities of (cosine with [1, 0, 0]: 1, 0.6, 0).
const VECTORS = { alpha: [1, 0, 0], beta: [0.6, 0.8, 0], gamma: [0, 0, 1] };

async function run() {
  const db = await RemDB.open({ name: 'worker' });
  const table = await db.registerSchema(NOTE);
  const ids = await db.insertMany('note', NOTES);
  const byTitle = Object.fromEntries(NOTES.map((n, i) => [n.title, ids[i]]));
  for (const [title, vector] of Object.entries(VECTORS)) {
    await db.putVector('note', byTitle[title], 'body', 'test', vector);
  }
  const got = await db.get(byTitle.beta);
  const updated = await db.update(byTitle.gamma, { stars: 6 });
  const sql = await db.sql('SELECT title, stars FROM note WHERE stars >= $1 ORDER BY stars DESC', [4]);
  const groups = await db.sql('SELECT tag, COUNT(*) AS n, SUM(stars) AS total FROM note GROUP BY tag ORDER BY tag');
  const hits = await db.search('note', new Float32Array([1, 0, 0]), { topK: 2 });
  const filtered = await db.search('note', [1, 0, 0], { where: { tag: 'web' } });
  await db.addEdge(byTitle.alpha, byTitle.beta, 'next');
  await db.addEdge(byTitle.beta, byTitle.gamma, 'next');
  const walk = await db.traverse(byTitle.alpha, { direction: 'out', maxDepth: 3 });
  // The offline planner in the Worker: a group count, and a key lookup.
  const perTag = await db.ask('how many notes per tag');
  const lookup = await db.ask('alpha');
  const walSeq = await db.walSeq();
  await db.close();
  return {
    table,
    role: db.role,
    storage: db.storage,
    ids,
    got: { title: got.title, tag: got.tag, stars: got.stars, id: got.id },
    updatedStars: updated.stars,
    sql,
    groups,
    hits: hits.map((h) => ({ title: h.title, score: h._score })),
    filtered: filtered.map((h) => ({ title: h.title, score: h._score })),
    walk: walk.paths.map((p) => ({ depth: p.depth, end: walk.rows[p.nodes[p.nodes.length - 1]].title })),
    asked: {
      perTag: { status: perTag.status, intent: perTag.intent, rows: perTag.rows },
      lookup: { status: lookup.status, intent: lookup.intent, titles: lookup.rows.map((r) => r.title) },
    },
    walSeq,
    // 'Cloudflare-Workers' in workerd: proof of where this ran.
    userAgent: globalThis.navigator?.userAgent ?? null,
  };
}

async function errors() {
  const db = await RemDB.open({ name: 'errors' });
  await db.registerSchema(NOTE);
  const codes = {};
  const attempt = async (label, f) => {
    try {
      await f();
      codes[label] = 'no error';
    } catch (e) {
      codes[label] = {
        isRemDBError: e instanceof RemDBError,
        code: e.code,
        issues: e.issues ?? null,
      };
    }
  };
  await attempt('validation', () => db.insert('note', { title: 'x', stars: -1 }));
  await attempt('unknownTable', () => db.insert('nope', { title: 'x' }));
  await attempt('syntax', () => db.sql('SELEC title FROM note'));
  await attempt('option', () => db.search('note', [1, 0, 0], { top_k: 1 }));
  await attempt('indexeddb', () => RemDB.open({ storage: 'indexeddb' }));
  await db.close();
  await attempt('closed', () => db.count('note'));
  return codes;
}

/** Pushes the notes to the hub from one database and pulls them into another (fetch only). */
async function sync(params) {
  const hub = params.get('hub');
  const pusher = await RemDB.open({ name: 'pusher' });
  await pusher.registerSchema(NOTE);
  await pusher.insertMany('note', NOTES);
  const pushed = await pusher.sync({ url: hub, token: params.get('admin') }).done;
  const puller = await RemDB.open({ name: 'puller' });
  const pulled = await puller.sync({ url: hub, token: params.get('member') }).done;
  const rows = await puller.sql('SELECT title, stars FROM note ORDER BY title');
  const status = await puller.syncStatus();
  await pusher.close();
  await puller.close();
  return { pushed: pushed.pushed, pulled: pulled.pulled, loaded: pulled.loaded, rows, outbox: status.outbox };
}

export default {
  async fetch(request) {
    const { pathname, searchParams } = new URL(request.url);
    try {
      if (pathname === '/run') return Response.json(await run());
      if (pathname === '/sync') return Response.json(await sync(searchParams));
      if (pathname === '/errors') return Response.json(await errors());
      return new Response('not found', { status: 404 });
    } catch (e) {
      return Response.json({ error: String(e && e.stack || e), code: e && e.code }, { status: 500 });
    }
  },
};
