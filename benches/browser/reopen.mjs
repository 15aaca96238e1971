// Reopening a persisted database in Chromium: N entities written through the package, the page
// reloaded, then the time to `RemDB.open` (load the stored image, open redb) and to answer the first
// queries. Peer in the same run: plain IndexedDB holding the same N objects, timed to `getAll()`
// them back (what any IndexedDB-backed store pays at least to get its data into memory).
import { chromium } from 'playwright-core';
import { serve } from '../../tests/npm/server.mjs';

const SIZES = (process.env.ROWS ?? '10000,100000').split(',').map(Number);
const server = await serve({ '/': new URL('../../tests/npm/pages', import.meta.url).pathname, '/node_modules/': './node_modules' });
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium' });

const SCHEMA = {
  title: 'Doc', type: 'object',
  properties: { slug: { type: 'string' }, title: { type: 'string' }, body: { type: 'string' }, tags: { type: 'array', items: { type: 'string' } }, n: { type: 'integer' } },
  required: ['slug'],
  json_schema_extra: { key_field: 'slug', indexed_fields: ['n'] },
};

function doc(i) {
  return { slug: `doc-${i}`, title: `Document number ${i}`, body: `Body of document ${i}: ${'lorem ipsum dolor sit amet '.repeat(4)}`, tags: ['bench', `t${i % 17}`], n: i % 1000 };
}

async function fill(page, storage, rows) {
  return page.evaluate(async ({ storage, rows, schema, docSrc }) => {
    const doc = new Function(`return ${docSrc}`)();
    if (storage === 'idb-plain') {
      const db = await new Promise((ok, err) => { const r = indexedDB.open(`plain-${rows}`, 1); r.onupgradeneeded = () => r.result.createObjectStore('docs', { keyPath: 'slug' }); r.onsuccess = () => ok(r.result); r.onerror = () => err(r.error); });
      for (let i = 0; i < rows; i += 5000) {
        const tx = db.transaction('docs', 'readwrite');
        for (let j = i; j < Math.min(rows, i + 5000); j++) tx.objectStore('docs').put(doc(j));
        await new Promise((ok, err) => { tx.oncomplete = ok; tx.onerror = () => err(tx.error); });
      }
      db.close();
      return 0;
    }
    const { RemDB } = await import('remdb');
    const db = await RemDB.open({ name: `bench-${rows}`, storage });
    await db.registerSchema(schema);
    for (let i = 0; i < rows; i += 5000) {
      await db.insertMany('doc', Array.from({ length: Math.min(5000, rows - i) }, (_, k) => doc(i + k)));
    }
    await db.close();
    return 0;
  }, { storage, rows, schema: SCHEMA, docSrc: doc.toString() });
}

async function reopen(page, storage, rows) {
  return page.evaluate(async ({ storage, rows }) => {
    if (storage === 'idb-plain') {
      const t0 = performance.now();
      const db = await new Promise((ok, err) => { const r = indexedDB.open(`plain-${rows}`, 1); r.onsuccess = () => ok(r.result); r.onerror = () => err(r.error); });
      const all = await new Promise((ok, err) => { const r = db.transaction('docs').objectStore('docs').getAll(); r.onsuccess = () => ok(r.result); r.onerror = () => err(r.error); });
      const open = performance.now() - t0;
      db.close();
      return { open, query: 0, count: all.length, bytes: null };
    }
    const { RemDB, init } = await import('remdb');
    await init();
    const t0 = performance.now();
    const db = await RemDB.open({ name: `bench-${rows}`, storage });
    const open = performance.now() - t0;
    const t1 = performance.now();
    const count = await db.count('doc');
    const hit = await db.sql('SELECT title FROM doc WHERE n = 7 LIMIT 5');
    const query = performance.now() - t1;
    const estimate = await navigator.storage.estimate();
    await db.close();
    return { open, query, count, hits: hit.length, bytes: estimate.usage };
  }, { storage, rows });
}

const results = [];
for (const rows of SIZES) {
  for (const storage of ['indexeddb', 'opfs', 'idb-plain']) {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${server.url}/`);
    const t0 = Date.now();
    await fill(page, storage, rows);
    const fillS = (Date.now() - t0) / 1000;
    const runs = [];
    for (let i = 0; i < 3; i++) {
      await page.reload();
      runs.push(await reopen(page, storage, rows));
    }
    if (runs.some((r) => r.count !== rows)) throw new Error(`${storage}: expected ${rows} rows, got ${runs.map((r) => r.count)}`);
    const best = runs.reduce((a, b) => (a.open <= b.open ? a : b));
    results.push({ rows, storage, fillS, ...best });
    await context.close();
  }
}
await browser.close();
await server.close();

const pad = (s, n) => String(s).padStart(n);
console.log('\nReopen after reload in Chromium (best of 3; "open" = RemDB.open incl. loading the stored image; plain IndexedDB = getAll of the same objects)\n');
console.log(`${'rows'.padEnd(8)} ${'storage'.padEnd(22)} ${pad('write s', 8)} ${pad('open ms', 9)} ${pad('1st queries ms', 15)} ${pad('origin MB', 10)}`);
for (const r of results) {
  const name = r.storage === 'idb-plain' ? 'IndexedDB getAll (peer)' : `remdb ${r.storage}`;
  console.log(`${String(r.rows).padEnd(8)} ${name.padEnd(22)} ${pad(r.fillS.toFixed(1), 8)} ${pad(r.open.toFixed(0), 9)} ${pad(r.storage === 'idb-plain' ? '-' : r.query.toFixed(1), 15)} ${pad(r.bytes ? (r.bytes / 1048576).toFixed(1) : '-', 10)}`);
}
