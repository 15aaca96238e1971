// Sync in Chromium against a real hub (`rem serve`: REM_BIN, which run.sh sets to a release
// build, else the debug build `cargo test --features server` leaves): a device in Node (the package's wasm build) pushes N rows; then
// (1) a new device in a Chromium page with IndexedDB storage loads them with one `sync()` round
// (the hub's snapshot, page by page, every page committed to IndexedDB; and once more into OPFS,
// on a page of its own) and (2) a live query on a
// page following the hub (`live: true`, the hub's server-sent events) hears a row another
// device pushed, timed from the moment the hub acknowledged that push.
//   ROWS=100000 node sync.mjs   (run.sh installs the package first)
import { chromium } from 'playwright-core';
import { RemDB } from 'remdb';
import { serve } from '../../tests/npm/server.mjs';
import { startHub } from '../../tests/npm/hub.mjs';

const ROWS = Number(process.env.ROWS ?? 100000);
const SCHEMA = {
  title: 'Doc', type: 'object',
  properties: { slug: { type: 'string' }, title: { type: 'string' }, body: { type: 'string' }, n: { type: 'integer' } },
  required: ['slug'],
  json_schema_extra: { key_field: 'slug', indexed_fields: ['n'] },
};
const doc = (i) => ({ slug: `doc-${i}`, title: `Document number ${i}`, body: `Body of document ${i}: ${'lorem ipsum dolor sit amet '.repeat(4)}`, n: i % 1000 });

const hub = await startHub();
const server = await serve({ '/': new URL('../../tests/npm/pages', import.meta.url).pathname, '/node_modules/': './node_modules' });
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium' });
try {
  const writer = await RemDB.open();
  await writer.registerSchema(SCHEMA);
  for (let i = 0; i < ROWS; i += 10000) {
    await writer.insertMany('doc', Array.from({ length: Math.min(10000, ROWS - i) }, (_, k) => doc(i + k)));
  }
  let t = Date.now();
  const pushed = await writer.sync({ url: hub.url, token: hub.admin }).done;
  console.log(`hub filled: ${pushed.pushed} ops pushed from Node in ${((Date.now() - t) / 1000).toFixed(1)} s`);

  // (1) A new device in Chromium loads the hub's state: into IndexedDB on the page that then
  // follows the hub, and into OPFS (the database in a worker) on a page of its own.
  const load = async (page, storage) => {
    const out = await page.evaluate(async ({ url, token, storage }) => {
      const { RemDB } = await import('remdb');
      const db = await RemDB.open({ name: `snapshot-bench-${storage}`, storage });
      const t0 = performance.now();
      const report = await db.sync({ url, token }).done;
      const ms = performance.now() - t0;
      const count = await db.count('doc');
      if (storage === 'indexeddb') window.db = db; else await db.close();
      return { ms, report, count };
    }, { url: hub.url, token: hub.member, storage });
    if (out.count !== ROWS) throw new Error(`${storage}: the page holds ${out.count} rows, not ${ROWS}`);
    console.log(`snapshot into ${storage === 'opfs' ? 'OPFS' : 'IndexedDB'}: ${out.report.loaded} rows in ${(out.ms / 1000).toFixed(2)} s (${Math.round(out.report.loaded / (out.ms / 1000))} rows/s; goal <= 10 s for 100k)`);
  };
  const opfsPage = await (await browser.newContext()).newPage();
  await opfsPage.goto(`${server.url}/`);
  await load(opfsPage, 'opfs');
  await opfsPage.context().close();
  const page = await (await browser.newContext()).newPage();
  await page.goto(`${server.url}/`);
  await load(page, 'indexeddb');

  // (2) A live query on that page, following the hub, hears a row the Node device pushes.
  await page.evaluate(async ({ url, token }) => {
    window.heard = [];
    window.query = window.db.live('SELECT COUNT(*) AS n FROM doc', [], (rows) => window.heard.push({ n: rows[0].n, at: Date.now() }));
    window.following = window.db.sync({ url, token, live: true });
    await new Promise((ok) => window.following.on((state) => { if (state === 'idle') ok(); }));
  }, { url: hub.url, token: hub.member });
  const latencies = [];
  for (let i = 0; i < 10; i++) {
    await new Promise((ok) => setTimeout(ok, 300)); // the page is back on the stream
    await writer.insert('doc', doc(ROWS + i));
    await writer.sync({ url: hub.url, token: hub.admin }).done;
    const acked = Date.now();
    const want = ROWS + i + 1;
    const heardAt = await page.evaluate(async (want) => {
      for (let k = 0; k < 500; k++) {
        const hit = window.heard.find((h) => h.n === want);
        if (hit) return hit.at;
        await new Promise((ok) => setTimeout(ok, 5));
      }
      return null;
    }, want);
    if (heardAt === null) throw new Error(`the live query never saw ${want} rows`);
    latencies.push(heardAt - acked);
  }
  latencies.sort((a, b) => a - b);
  console.log(`live query after a synced change: median ${latencies[5]} ms, max ${latencies[9]} ms from the hub's acknowledgement (goal <= 50 ms)`);
  await page.evaluate(async () => { window.query.unsubscribe(); await window.following.stop(); await window.db.close(); });
  await writer.close();
} finally {
  await browser.close();
  await server.close();
  hub.stop();
}
