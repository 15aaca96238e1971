// The www/ demo app in Chromium (Debian's chromium driven by playwright-core), on the packed
// remdb package as installed in this folder: open (IndexedDB + the embedding model), ingest the
// sample, SQL, semantic search, the graph view, WAL export, the Sync panel (with a `rem serve`
// hub), the drop zone for the user's own
// files (ingested, then found by keyword search), persistence across a reload (model
// from the Cache API), a non-blank screenshot; then the app without a usable model.
// Run from target/npm-test with REMDB_ROOT set (see .ci/test-npm).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { inflateSync } from 'node:zlib';
import { chromium } from 'playwright-core';
import { serve } from './server.mjs';
import { startHub } from './hub.mjs';
import { RemDB } from 'remdb';

const root = process.env.REMDB_ROOT;
assert.ok(root, 'set REMDB_ROOT to the repository (the demo is in $REMDB_ROOT/www)');
const www = join(root, 'www');
const models = join(root, 'models');
assert.ok(existsSync(join(models, 'all-MiniLM-L6-v2', 'model.onnx')), 'no embedding model: run .ci/fetch-models');
const sample = JSON.parse(await readFile(join(www, 'sample-docs.json'), 'utf8'));
const SCREENSHOT = resolve('demo-screenshot.png');

// The dev wasm build embeds the 40 documents in several seconds; leave plenty of room.
const SLOW = { timeout: 180_000 };

let server;
let browser;
let context;
let page;

before(async () => {
  server = await serve({ '/': www, '/node_modules/': resolve('node_modules'), '/models/': models });
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium' });
  context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  page = await openDemo(context);
});

after(async () => {
  await browser?.close();
  await server?.close();
});

/** A page of the demo that records every uncaught error and console error. */
async function openDemo(ctx, { ignoreConsole = () => false } = {}) {
  const p = await ctx.newPage();
  p.errors = [];
  p.on('pageerror', (e) => p.errors.push(`pageerror: ${e.stack ?? e}`));
  p.on('console', (m) => {
    if (m.type() === 'error' && !ignoreConsole(m)) p.errors.push(`console.error: ${m.text()} (${m.location().url})`);
  });
  p.setDefaultTimeout(SLOW.timeout);
  await p.goto(`${server.url}/`);
  await ready(p);
  return p;
}

async function ready(p) {
  await p.waitForSelector('body[data-ready="true"]');
}

function noErrors(p) {
  assert.deepEqual(p.errors, [], 'errors in the page');
}

async function counts(p) {
  return p.evaluate(() => ({
    docs: Number(document.querySelector('#count-docs').textContent),
    topics: Number(document.querySelector('#count-topics').textContent),
    wal: Number(document.querySelector('#count-wal').textContent),
  }));
}

async function ingest(p) {
  await p.click('#ingest');
  await p.waitForFunction((n) => document.querySelector('#count-docs').textContent === String(n)
    && !document.querySelector('#ingest').disabled, sample.docs.length);
}

/** Runs `query` in the SQL box: `{columns, rows}` of the results table, or `{error}`. */
async function runSql(p, query) {
  await p.fill('#sql-input', query);
  await p.evaluate(() => { document.querySelector('#sql-summary').textContent = ''; });
  await p.click('#sql-run');
  await p.waitForFunction(() => document.querySelector('#sql-summary').textContent !== ''
    || !document.querySelector('#sql-error').hidden);
  return p.evaluate(() => {
    const error = document.querySelector('#sql-error');
    if (!error.hidden) return { error: error.textContent };
    const table = document.querySelector('#sql-results');
    return {
      columns: [...table.querySelectorAll('thead th')].map((th) => th.textContent),
      rows: [...table.querySelectorAll('tbody tr')].map((tr) => [...tr.children].map((td) => td.textContent)),
    };
  });
}

/** Searches in the semantic search box: `[{title, topic, score}]` as listed. */
async function search(p, text) {
  await p.fill('#search-input', text);
  await p.evaluate(() => document.querySelector('#search-results').replaceChildren());
  await p.click('#search-run');
  await p.waitForFunction(() => document.querySelector('#search-results').children.length > 0
    || !document.querySelector('#search-error').hidden);
  const error = await p.$eval('#search-error', (e) => (e.hidden ? null : e.textContent));
  assert.equal(error, null, 'search failed');
  return p.$$eval('#search-results li', (items) => items.map((li) => ({
    title: li.querySelector('button').textContent,
    topic: li.querySelector('.topic').textContent,
    score: Number(li.querySelector('.score').textContent),
  })));
}

/** The graph as drawn: nodes (title, depth, centre) and the number of edges. */
async function drawnGraph(p) {
  return p.evaluate(() => {
    const svg = document.querySelector('#graph');
    const nodes = [...svg.querySelectorAll('g.node')].map((g) => {
      const c = g.querySelector('circle');
      const box = c.getBoundingClientRect();
      return {
        title: g.dataset.title,
        depth: Number([...g.classList].find((k) => k.startsWith('depth-')).slice(6)),
        x: Number(c.getAttribute('cx')),
        y: Number(c.getAttribute('cy')),
        visible: box.width > 0 && box.height > 0,
      };
    });
    return { nodes, edges: svg.querySelectorAll('.edge').length };
  });
}

/** The sample's neighbourhood of `title` within `depth` hops, both directions: titles by distance, and the links among them. */
function neighbourhood(title, depth) {
  const dist = new Map([[title, 0]]);
  let frontier = [title];
  for (let d = 1; d <= depth; d++) {
    const next = [];
    for (const t of frontier) {
      for (const l of sample.links) {
        const other = l.from === t ? l.to : l.to === t ? l.from : null;
        if (other !== null && !dist.has(other)) {
          dist.set(other, d);
          next.push(other);
        }
      }
    }
    frontier = next;
  }
  const links = sample.links.filter((l) => dist.has(l.from) && dist.has(l.to));
  return { dist, links };
}

async function showGraphOf(p, title) {
  const topic = sample.docs.find((d) => d.title === title).topic;
  await p.selectOption('#graph-select', { label: `${title} (${topic})` });
  await p.waitForFunction((t) => document.querySelector('#graph g.node.depth-0')?.dataset.title === t, title);
}

test('opens remdb-demo in IndexedDB with the embedding model', SLOW, async () => {
  assert.match(await page.textContent('#status'), /Opened remdb-demo in IndexedDB \(this tab owns it\)/);
  assert.equal(await page.getAttribute('body', 'data-semantic'), 'on', await page.textContent('#semantic-status'));
  assert.equal((await counts(page)).docs, 0);
  assert.equal(await page.isDisabled('#search-run'), false);
  noErrors(page);
});

test('ingests the sample; the counts follow through onChange', SLOW, async (t) => {
  const before = await counts(page);
  const started = Date.now();
  await ingest(page);
  t.diagnostic(`ingest (${sample.docs.length} documents embedded, ${sample.links.length} links): ${Date.now() - started} ms`);
  // The counts are refreshed by db.onChange after the edges too: wait for the WAL seq to settle.
  const expectedSeq = before.wal + 2 * sample.docs.length + sample.links.length; // row + vector each, one per link
  await page.waitForFunction((n) => document.querySelector('#count-wal').textContent === String(n), expectedSeq);
  const after = await counts(page);
  assert.deepEqual(after, { docs: 40, topics: new Set(sample.docs.map((d) => d.topic)).size, wal: expectedSeq });
  assert.equal(await page.evaluate(() => demo.db.walSeq()), expectedSeq);
  assert.match(await page.textContent('#log'), /ingested 40 documents and 31 links/);
  noErrors(page);
});

test('SQL: results table, example queries, errors with their code', SLOW, async () => {
  const astronomy = await runSql(page, "SELECT title, topic FROM docs WHERE topic = 'astronomy' ORDER BY title");
  const expected = sample.docs.filter((d) => d.topic === 'astronomy').map((d) => d.title).sort();
  assert.deepEqual(astronomy.columns, ['title', 'topic']);
  assert.deepEqual(astronomy.rows, expected.map((title) => [title, 'astronomy']));

  const grouped = await runSql(page, 'SELECT topic, COUNT(*) AS n FROM docs GROUP BY topic ORDER BY topic');
  assert.deepEqual(grouped.columns, ['topic', 'n']);
  assert.deepEqual(grouped.rows, [['astronomy', '8'], ['browsers', '8'], ['cooking', '8'], ['databases', '8'], ['gardening', '8']]);

  // The `lookup` example chip: natural keys (the titles) across tables.
  await page.evaluate(() => { document.querySelector('#sql-summary').textContent = ''; });
  await page.click('#sql-examples button:text-is("lookup")');
  await page.waitForFunction(() => document.querySelector('#sql-summary').textContent !== '');
  const lookup = await page.$$eval('#sql-results tbody tr', (rows) => rows.length);
  assert.equal(lookup, 2);
  const titles = await page.$$eval('#sql-results thead th', (th) => th.map((h) => h.textContent));
  assert.ok(titles.includes('_table') && titles.includes('title'), titles.join());

  // Vector similarity in SQL.
  const similar = await runSql(page, "SELECT title, cosine_similarity(content, 'a storm on a giant planet') AS s FROM docs WHERE content.cosine('a storm on a giant planet') LIMIT 3");
  assert.equal(similar.rows[0][0], 'Jupiter');

  const unknown = await runSql(page, 'SELECT colour FROM docs');
  assert.match(unknown.error, /^UNKNOWN_COLUMN: .*colour/);
  const syntax = await runSql(page, 'SELEC title FROM docs');
  assert.match(syntax.error, /^SQL_SYNTAX: /);
  assert.equal(await page.$$eval('#sql-results tr', (r) => r.length), 0, 'a failed query clears the table');
  noErrors(page);
});

test('semantic search finds documents by meaning', SLOW, async () => {
  for (const [query, title] of [
    ['why did my mayonnaise split', 'Emulsions'],
    ['making sure a crash does not lose committed data', 'Write-ahead logging'],
    ['bees and flowers', 'Pollinators'],
  ]) {
    const hits = await search(page, query);
    assert.equal(hits.length, 5, query);
    assert.equal(hits[0].title, title, `${query}: ${JSON.stringify(hits)}`);
    assert.equal(hits[0].topic, sample.docs.find((d) => d.title === title).topic);
    for (let i = 0; i < hits.length; i++) {
      assert.ok(hits[i].score > -1 && hits[i].score <= 1, `score ${hits[i].score}`);
      if (i > 0) assert.ok(hits[i].score <= hits[i - 1].score, 'best first');
    }
    assert.ok(hits[0].score - hits[1].score > 0.05, `${query}: a clear winner, ${JSON.stringify(hits)}`);
  }
  noErrors(page);
});

/** Asks in the Ask box: the summary's status, the stages and the result rows as listed. */
async function askBox(p, question) {
  await p.fill('#ask-input', question);
  await p.evaluate(() => { document.querySelector('#ask-summary').textContent = ''; });
  await p.click('#ask-run');
  await p.waitForFunction(() => document.querySelector('#ask-summary').textContent !== ''
    || !document.querySelector('#ask-error').hidden);
  const error = await p.$eval('#ask-error', (e) => (e.hidden ? null : e.textContent));
  assert.equal(error, null, `ask failed: ${question}`);
  return p.evaluate(() => {
    const table = document.querySelector('#ask-results');
    const heads = [...table.querySelectorAll('th')].map((th) => th.textContent);
    const rows = [...table.querySelectorAll('tbody tr')].map((tr) =>
      Object.fromEntries([...tr.children].map((td, i) => [heads[i], td.textContent])));
    return {
      status: document.querySelector('#ask-summary').dataset.status,
      summary: document.querySelector('#ask-summary').textContent,
      stages: [...document.querySelectorAll('#ask-stages li')].map((li) => li.textContent),
      rows,
    };
  });
}

test('the Ask box answers with the offline planner: plan, confidence, rows', SLOW, async () => {
  const perTopic = {};
  for (const d of sample.docs) perTopic[d.topic] = (perTopic[d.topic] ?? 0) + 1;
  const groups = await askBox(page, 'how many docs per topic');
  assert.equal(groups.status, 'ok', groups.summary);
  assert.match(groups.summary, /aggregate · confidence \d\.\d\d · offline/);
  assert.match(groups.stages[0], /^select: SELECT `topic`, COUNT\(\*\)/);
  assert.deepEqual(Object.fromEntries(groups.rows.map((r) => [r.topic, Number(r.count)])), perTopic);

  const lookup = await askBox(page, 'Jupiter');
  assert.equal(lookup.status, 'ok', lookup.summary);
  assert.match(lookup.summary, /entity_lookup/);
  assert.equal(lookup.rows.length, 1);
  assert.equal(lookup.rows[0].title, 'Jupiter');

  const meaning = await askBox(page, 'docs about bees and flowers');
  assert.equal(meaning.status, 'ok', meaning.summary);
  assert.match(meaning.summary, /vector/);
  assert.equal(meaning.rows[0].title, 'Pollinators');

  const before = await page.evaluate(() => globalThis.demo.db.walSeq());
  const refused = await askBox(page, 'delete all docs');
  assert.equal(refused.status, 'refused');
  assert.equal(await page.evaluate(() => globalThis.demo.db.walSeq()), before);
  noErrors(page);
});

test('the graph view draws the two-hop neighbourhood', SLOW, async () => {
  const centre = 'Log-structured merge tree';
  await showGraphOf(page, centre);
  const { dist, links } = neighbourhood(centre, 2);
  const graph = await drawnGraph(page);
  assert.deepEqual(
    graph.nodes.map((n) => [n.title, n.depth]).sort(),
    [...dist].sort(),
  );
  assert.equal(graph.edges, links.length);
  assert.ok(graph.nodes.every((n) => n.visible), 'every node is drawn');
  assert.equal(new Set(graph.nodes.map((n) => `${Math.round(n.x)},${Math.round(n.y)}`)).size, graph.nodes.length, 'no two nodes at one place');
  assert.ok(graph.nodes.every((n) => n.x >= 0 && n.x <= 800 && n.y >= 0 && n.y <= 460), 'inside the view box');

  // Clicking a node centres it.
  await page.click('#graph g.node[data-title="B-tree"]');
  await page.waitForFunction(() => document.querySelector('#graph g.node.depth-0')?.dataset.title === 'B-tree');
  assert.equal(await page.$eval('#graph-select', (s) => s.selectedOptions[0].textContent), 'B-tree (databases)');
  assert.equal((await drawnGraph(page)).nodes.length, neighbourhood('B-tree', 2).dist.size);
  noErrors(page);
});

test('WAL export downloads one JSON line per WAL entry', SLOW, async () => {
  const seq = (await counts(page)).wal;
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#wal-export')]);
  assert.equal(download.suggestedFilename(), `remdb-demo-wal-${seq}.jsonl`);
  const text = await readFile(await download.path(), 'utf8');
  assert.ok(text.endsWith('\n'));
  const lines = text.slice(0, -1).split('\n');
  assert.equal(lines.length, seq);
  const entries = lines.map((line) => JSON.parse(line));
  assert.deepEqual(entries.map((e) => e.seq), Array.from({ length: seq }, (_, i) => i + 1));
  const ops = {};
  for (const e of entries) ops[e.op] = (ops[e.op] ?? 0) + 1;
  assert.equal(ops.insert, sample.docs.length);
  assert.equal(ops.vector, sample.docs.length);
  assert.equal(ops.link, sample.links.length);
  assert.ok(entries.some((e) => e.op === 'schema' && e.table === 'docs'));
  assert.match(await page.textContent('#wal-link'), new RegExp(`${seq} entries`));
  noErrors(page);
});

test('the Sync panel pushes the documents to rem serve, and another database pulls them', SLOW, async (t) => {
  const hub = await startHub();
  t.after(() => hub.stop());
  await page.fill('#sync-url', hub.url);
  await page.fill('#sync-token', hub.admin); // the docs schema goes with the rows: an admin token
  await page.click('#sync-run');
  await page.waitForFunction(() => ['idle', 'error'].includes(document.body.dataset.sync), null, { timeout: 60_000 });
  assert.equal(await page.getAttribute('body', 'data-sync'), 'idle', await page.textContent('#sync-error'));
  assert.match(await page.textContent('#sync-status'), /^Synced: pushed \d+, pulled \d+, loaded \d+, 0 conflict\(s\), 0 refused/);
  const other = await RemDB.open();
  try {
    await other.sync({ url: hub.url, token: hub.member }).done;
    const [{ n }] = await other.sql('SELECT COUNT(*) AS n FROM docs');
    assert.equal(n, sample.docs.length);
    assert.equal((await other.syncStatus()).outbox, 0);
  } finally {
    await other.close();
  }
  // A wrong token is shown as the hub's refusal.
  await page.fill('#sync-token', 'rem1.forged.token');
  await page.click('#sync-run');
  await page.waitForFunction(() => !document.querySelector('#sync-error').hidden);
  assert.match(await page.textContent('#sync-error'), /SYNC: .*401/);
  // Chromium itself logs the refused request to the console; nothing else may be there.
  page.errors = page.errors.filter((e) => !/status of 401/.test(e));
  noErrors(page);
});

/** Waits until the drop zone has finished its `n`-th ingestion; returns its status line. */
async function filesIngested(p, n) {
  await p.waitForFunction((k) => document.body.dataset.filesIngested === String(k), n);
  return p.textContent('#files-status');
}

/** Keyword search over the ingested files: the text of each result. */
async function findInFiles(p, words) {
  await p.fill('#file-search-input', words);
  await p.evaluate(() => document.querySelector('#file-results').replaceChildren());
  await p.click('#file-search-run');
  await p.waitForFunction(() => document.querySelector('#file-results').children.length > 0);
  return p.$$eval('#file-results li', (items) => items.map((li) => li.textContent));
}

test('files chosen or dropped are ingested in the page and found by keyword search', SLOW, async () => {
  const tides = {
    name: 'tides.md',
    mimeType: 'text/markdown',
    buffer: Buffer.from('# Tides\n\n## Spring tides\n\nThe moonwhistle effect raises spring tides twice a month.\n'),
  };
  await page.setInputFiles('#file-input', tides);
  assert.match(await filesIngested(page, 1), /^1 file: 1 chunk, 1 written, 0 unchanged/);
  // Dropped on the drop zone: a text file and a binary one (skipped, and said so).
  await page.evaluate(() => {
    const dt = new DataTransfer();
    dt.items.add(new File(['Quokkabridge rollout notes: staging ran out of disk.\n'], 'notes.txt', { type: 'text/plain' }));
    dt.items.add(new File([new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 0])], 'logo.png', { type: 'image/png' }));
    document.querySelector('#drop-zone').dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  });
  const dropped = await filesIngested(page, 2);
  assert.match(dropped, /^2 files: 1 chunk, 1 written, 0 unchanged/);
  assert.match(dropped, /logo\.png skipped \(binary file\)/);
  // The same file again writes nothing.
  const seq = (await counts(page)).wal;
  await page.setInputFiles('#file-input', tides);
  assert.match(await filesIngested(page, 3), /^1 file: 1 chunk, 0 written, 1 unchanged/);
  assert.equal((await counts(page)).wal, seq);
  const [moon] = await findInFiles(page, 'moonwhistle');
  assert.match(moon, /Tides › Spring tides/);
  assert.match(moon, /tides\.md #0/);
  const [quokka] = await findInFiles(page, 'quokkabridge');
  assert.match(quokka, /notes\.txt #0/);
  assert.deepEqual(await findInFiles(page, 'nosuchwordanywhere'), ['No chunk has these words.']);
  noErrors(page);
});

test('a reload finds the data in IndexedDB and the model in the Cache API', SLOW, async () => {
  const before = await counts(page);
  const modelRequests = [];
  const onRequest = (r) => { if (new URL(r.url()).pathname.startsWith('/models/')) modelRequests.push(r.url()); };
  page.on('request', onRequest);
  await page.reload();
  await ready(page);
  page.off('request', onRequest);
  assert.deepEqual(modelRequests, [], 'the model files come from the Cache API');
  assert.equal(await page.getAttribute('body', 'data-semantic'), 'on');
  await page.waitForFunction(() => document.querySelector('#count-docs').textContent !== '–');
  assert.deepEqual(await counts(page), before);
  assert.equal(await page.$$eval('#graph-select option', (o) => o.length), sample.docs.length);
  const rows = await runSql(page, 'SELECT COUNT(*) AS n FROM docs');
  assert.deepEqual(rows.rows, [['40']]);
  const hits = await search(page, 'looking at planets around other stars');
  assert.equal(hits[0].title, 'Exoplanets');
  await showGraphOf(page, 'IndexedDB');
  assert.equal((await drawnGraph(page)).nodes.length, neighbourhood('IndexedDB', 2).dist.size);
  noErrors(page);
});

test('a screenshot of the app is not blank', SLOW, async (t) => {
  await page.screenshot({ path: SCREENSHOT, fullPage: true });
  const png = decodePng(await readFile(SCREENSHOT));
  assert.ok(png.width >= 1280 && png.height >= 900, `${png.width}x${png.height}`);
  const colours = new Map();
  for (let i = 0; i < png.pixels.length; i += png.channels) {
    const key = png.pixels.readUIntBE(i, 3);
    colours.set(key, (colours.get(key) ?? 0) + 1);
  }
  const total = png.width * png.height;
  const top = Math.max(...colours.values());
  t.diagnostic(`${SCREENSHOT}: ${png.width}x${png.height}, ${colours.size} colours, the commonest covers ${(100 * top / total).toFixed(1)} %`);
  assert.ok(colours.size > 200, `${colours.size} distinct colours`);
  assert.ok(top / total < 0.8, 'one colour covers most of the page');
  // Dark header, coloured graph nodes: some pixels are far from the background.
  const dark = [...colours.keys()].filter((c) => ((c >> 16) + ((c >> 8) & 255) + (c & 255)) < 120).length;
  assert.ok(dark > 0, 'no dark pixels');
  noErrors(page);
});

test('without the model files the app works and says semantic search is unavailable', SLOW, async () => {
  const ctx = await browser.newContext();
  try {
    await ctx.route('**/models/**', (route) => route.fulfill({ status: 404, body: 'not here' }));
    // Chromium logs the 404s of the model probe as console errors: those are expected.
    const p = await openDemo(ctx, { ignoreConsole: (m) => m.location().url.includes('/models/') });
    assert.equal(await p.getAttribute('body', 'data-semantic'), 'off');
    assert.match(await p.textContent('#semantic-status'), /Semantic search is unavailable: .*model\.onnx.*404/);
    assert.equal(await p.isDisabled('#search-run'), true);
    assert.equal(await p.isDisabled('#search-input'), true);
    assert.equal(await p.locator('#sql-examples button:text-is("similar")').count(), 0);
    await ingest(p);
    const rows = await runSql(p, "SELECT title FROM docs WHERE topic = 'cooking' AND title LIKE 'S%'");
    assert.deepEqual(rows.rows, [['Sourdough starter']]);
    await showGraphOf(p, 'Composting');
    assert.equal((await drawnGraph(p)).nodes.length, neighbourhood('Composting', 2).dist.size);
    noErrors(p);
  } finally {
    await ctx.close();
  }
});

test('a model that fails to load: the app opens without it, and a reload fetches it again', SLOW, async () => {
  const ctx = await browser.newContext();
  try {
    await ctx.route('**/models/all-MiniLM-L6-v2/model.onnx', (route) => route.fulfill({ status: 200, body: 'not an ONNX model' }));
    const p = await ctx.newPage();
    p.errors = [];
    p.on('pageerror', (e) => p.errors.push(`pageerror: ${e.stack ?? e}`));
    p.on('console', (m) => { if (m.type() === 'error') p.errors.push(`console.error: ${m.text()}`); });
    await p.goto(`${server.url}/`);
    await p.waitForSelector('body[data-ready="true"]', { timeout: 30_000 });
    assert.equal(await p.getAttribute('body', 'data-semantic'), 'off');
    assert.match(await p.textContent('#semantic-status'), /the model did not load \(EMBEDDING: /);
    // The app dropped the broken file from the Cache API: with the real one served, a reload has it.
    await ctx.unroute('**/models/all-MiniLM-L6-v2/model.onnx');
    await p.reload();
    await p.waitForSelector('body[data-ready="true"]', { timeout: 30_000 });
    assert.equal(await p.getAttribute('body', 'data-semantic'), 'on', await p.textContent('#semantic-status'));
    noErrors(p);
  } finally {
    await ctx.close();
  }
});

/**
 * Decodes an 8-bit, non-interlaced RGB or RGBA PNG (what Chromium's screenshots are) into raw
 * pixels: IHDR, the zlib stream of every IDAT, then each scanline's filter undone.
 */
function decodePng(buf) {
  assert.deepEqual([...buf.subarray(0, 8)], [137, 80, 78, 71, 13, 10, 26, 10], 'PNG signature');
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat = [];
  for (let pos = 8; pos < buf.length;) {
    const length = buf.readUInt32BE(pos);
    const type = buf.toString('latin1', pos + 4, pos + 8);
    const data = buf.subarray(pos + 8, pos + 8 + length);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      const [depth, colourType, , , interlace] = data.subarray(8);
      assert.equal(depth, 8, 'bit depth');
      assert.equal(interlace, 0, 'interlaced');
      channels = { 2: 3, 6: 4 }[colourType];
      assert.ok(channels, `colour type ${colourType}`);
    } else if (type === 'IDAT') {
      idat.push(data);
    } else if (type === 'IEND') {
      break;
    }
    pos += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  assert.equal(raw.length, height * (stride + 1), 'decompressed size');
  const pixels = Buffer.alloc(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const out = y * stride;
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? pixels[out + x - channels] : 0;
      const b = y > 0 ? pixels[out - stride + x] : 0;
      const c = x >= channels && y > 0 ? pixels[out - stride + x - channels] : 0;
      let predictor;
      switch (filter) {
        case 0: predictor = 0; break;
        case 1: predictor = a; break;
        case 2: predictor = b; break;
        case 3: predictor = (a + b) >> 1; break;
        case 4: {
          const p = a + b - c;
          const pa = Math.abs(p - a);
          const pb = Math.abs(p - b);
          const pc = Math.abs(p - c);
          predictor = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
          break;
        }
        default: throw new Error(`PNG filter ${filter}`);
      }
      pixels[out + x] = (line[x] + predictor) & 255;
    }
  }
  return { width, height, channels, pixels };
}

