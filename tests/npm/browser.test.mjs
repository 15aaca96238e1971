// The packed remdb package in Chromium (Debian's chromium driven by playwright-core): the API,
// IndexedDB persistence across page reloads (including writes cut off by a reload), two tabs
// sharing one database (Web Locks owner, BroadcastChannel proxy, hand-over when the owner goes),
// and two pages on their own databases converging through a `rem serve` hub on another origin.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { serve } from './server.mjs';
import { startHub } from './hub.mjs';

let server;
let browser;

before(async () => {
  server = await serve({ '/': './pages', '/node_modules/': './node_modules' });
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium' });
});

after(async () => {
  await browser?.close();
  await server?.close();
});

/** A page of the test site that fails the test on any uncaught error. */
async function openPage(context) {
  const page = await context.newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(e));
  page.on('console', (m) => { if (m.type() === 'error') page.errors.push(new Error(m.text())); });
  await page.goto(`${server.url}/`);
  return page;
}

function noErrors(page) {
  assert.deepEqual(page.errors.map(String), [], 'uncaught errors in the page');
}

const PEOPLE = {
  title: 'Person',
  type: 'object',
  properties: {
    email: { type: 'string' },
    name: { type: 'string' },
    age: { type: 'integer', minimum: 0 },
  },
  required: ['email'],
  json_schema_extra: { key_field: 'email', indexed_fields: ['age'] },
};

test('the API works in Chromium (memory storage)', async () => {
  const context = await browser.newContext();
  const page = await openPage(context);
  const out = await page.evaluate(async (schema) => {
    const { RemDB, RemDBError } = await import('remdb');
    const db = await RemDB.open({ tenant: 'acme' });
    await db.registerSchema(schema);
    const ids = await db.insertMany('person', [
      { email: 'ada@x.io', name: 'Ada', age: 36 },
      { email: 'alan@x.io', name: 'Alan', age: 41 },
      { email: 'grace@x.io', name: 'Grace', age: 45 },
    ]);
    const again = await db.insert('person', { email: 'ada@x.io', name: 'Ada L.', age: 37 });
    const rows = await db.sql('SELECT name, age FROM person WHERE age >= $1 ORDER BY age', [37]);
    let validation;
    try { await db.insert('person', { age: -1 }); } catch (e) {
      validation = { isRemDBError: e instanceof RemDBError, code: e.code, issues: e.issues };
    }
    let badOption;
    try { await db.list('person', { limt: 1 }); } catch (e) { badOption = e.code; }
    await db.putVector('person', ids[0], 'name', 'custom', new Float32Array([1, 0, 0]));
    await db.putVectors('person', 'name', 'custom', [
      { id: ids[1], vector: new Float32Array([0, 1, 0]) },
      { id: ids[2], vector: [0.9, 0.1, 0] },
    ]);
    // A bad item anywhere writes none of them.
    let badBatch;
    try {
      await db.putVectors('person', 'name', 'custom', [{ id: ids[1], vector: [1, 1, 1] }, { id: 'nope', vector: [1, 0, 0] }]);
    } catch (e) { badBatch = e.code; }
    const hits = await db.search('person', new Float32Array([1, 0, 0]), { topK: 3, field: 'name', provider: 'custom' });
    const filtered = await db.search('person', [1, 0, 0], { topK: 2, field: 'name', provider: 'custom', where: { name: 'Grace' } });
    await db.addEdge(ids[0], ids[1], 'knows');
    await db.addEdge(ids[1], ids[2], 'knows');
    const path = await db.shortestPath(ids[0], ids[2]);
    const walk = await db.traverse(ids[0], { maxDepth: 2 });
    const seq = await db.walSeq();
    const entries = await db.walEntries({ since: 0 });
    // A replica with the same built-in tables takes everything after them.
    const replica = await RemDB.open({ tenant: 'acme' });
    const base = await replica.walSeq();
    const report = await replica.applyWal(await db.walEntries({ since: base }));
    const replicated = await replica.count('person');
    await db.close();
    let closed;
    try { await db.get(ids[0]); } catch (e) { closed = e.code; }
    return {
      role: db.role, sameId: again === ids[0], rows, validation, badOption,
      hitNames: hits.map((h) => h.name), scores: hits.map((h) => h._score), filtered: filtered.map((h) => h.name),
      badBatch, pathLen: path.paths[0].depth, reached: walk.paths.length, seq, entries: entries.length, report, replicated, closed,
      vectorType: Object.prototype.toString.call(hits[0]._score),
    };
  }, PEOPLE);
  assert.equal(out.role, 'owner');
  assert.equal(out.sameId, true, 'natural key upserts');
  assert.deepEqual(out.rows, [{ name: 'Ada L.', age: 37 }, { name: 'Alan', age: 41 }, { name: 'Grace', age: 45 }]);
  assert.equal(out.validation.isRemDBError, true);
  assert.equal(out.validation.code, 'VALIDATION');
  assert.deepEqual(out.validation.issues.map((i) => i.pointer).sort(), ['', '/age']);
  assert.equal(out.badOption, 'INVALID_ARGUMENT');
  assert.equal(out.badBatch, 'INVALID_ARGUMENT');
  assert.deepEqual(out.hitNames, ['Ada L.', 'Grace', 'Alan']);
  assert.ok(Math.abs(out.scores[0] - 1) < 1e-6 && out.scores[1] < out.scores[0]);
  assert.ok(Math.abs(out.scores[2]) < 1e-6, 'the rejected batch changed no vector');
  assert.deepEqual(out.filtered, ['Grace'], '`where` restricts the search');
  assert.equal(out.pathLen, 2);
  assert.equal(out.reached, 2);
  assert.equal(out.entries, out.seq);
  assert.equal(out.replicated, 3);
  assert.equal(out.report.seq, out.seq);
  assert.equal(out.closed, 'CLOSED');
  noErrors(page);
  await context.close();
});

test('a custom embed function embeds rows and query texts in Chromium (indexeddb); wrong answers are EMBEDDING errors', async () => {
  const context = await browser.newContext();
  const page = await openPage(context);
  const out = await page.evaluate(async () => {
    const { RemDB } = await import('remdb');
    const kinds = [];
    let broken = false;
    // Two axes: texts about the north point up, others right.
    const embed = async (texts, { kind }) => {
      kinds.push(kind);
      await new Promise((resolve) => setTimeout(resolve, 1));   // as a GPU model would: later
      if (broken) return texts.map(() => new Float32Array(3));
      return texts.map((t) => new Float32Array(t.includes('north') ? [0, 1] : [1, 0]));
    };
    const db = await RemDB.open({ name: 'custom-embed', storage: 'indexeddb', embedding: { provider: 'custom:axes', dimensions: 2, embed } });
    await db.registerSchema({
      title: 'Place', type: 'object', properties: { name: { type: 'string' } },
      json_schema_extra: { key_field: 'name', embedding_fields: ['name'] },
    });
    await db.insertMany('place', [{ name: 'north cape' }, { name: 'east end' }]);
    await db.flush();
    const rows = await db.sql("SELECT name FROM place WHERE embedding.cosine('true north') LIMIT 1");
    const hits = await db.search('place', 'east', { topK: 1 });
    broken = true;
    let wrong;
    try { await db.embed('x'); } catch (e) { wrong = [e.code, e.message]; }
    await db.close();
    return { rows, hit: hits[0].name, kinds, wrong };
  });
  assert.deepEqual(out.rows, [{ name: 'north cape' }]);
  assert.equal(out.hit, 'east end');
  assert.deepEqual(out.kinds, ['document', 'query', 'query', 'document']);
  assert.equal(out.wrong[0], 'EMBEDDING');
  assert.match(out.wrong[1], /custom:axes: vector 0 has 3 values, expected 2/);
  noErrors(page);
  await context.close();
});

for (const storage of ['indexeddb', 'opfs']) {
test(`${storage}: committed writes survive a reload; writes cut off by one leave a consistent database`, async () => {
  const context = await browser.newContext();
  const page = await openPage(context);
  const name = `persist-${Date.now()}`;
  const written = await page.evaluate(async ({ schema, name, storage }) => {
    const { RemDB } = await import('remdb');
    const db = await RemDB.open({ name, storage });
    await db.registerSchema(schema);
    const people = Array.from({ length: 2000 }, (_, i) => ({ email: `p${i}@x.io`, name: `P${i}`, age: i % 90 }));
    const ids = await db.insertMany('person', people);
    await db.update(ids[7], { name: 'Seven' });
    await db.delete(ids[8]);
    await db.delete(ids[9], { hard: true });
    await db.addEdge(ids[1], ids[2], 'knows');
    return { ids: ids.slice(0, 10), seq: await db.walSeq(), count: await db.count('person') };
  }, { schema: PEOPLE, name, storage });
  assert.equal(written.count, 1998);

  await page.reload();
  const reopened = await page.evaluate(async ({ name, ids, storage }) => {
    const { RemDB } = await import('remdb');
    const t0 = performance.now();
    const db = await RemDB.open({ name, storage });
    const openMs = performance.now() - t0;
    return {
      openMs,
      seq: await db.walSeq(),
      count: await db.count('person'),
      withDeleted: await db.count('person', { includeDeleted: true }),
      seven: (await db.get(ids[7])).name,
      eight: await db.get(ids[8]),
      byIndex: (await db.sql('SELECT count(*) AS n FROM person WHERE age = 7'))[0].n,
      edges: (await db.edges(ids[1], { direction: 'out' })).length,
    };
  }, { name, ids: written.ids, storage });
  assert.equal(reopened.seq, written.seq);
  assert.equal(reopened.count, 1998);
  assert.equal(reopened.withDeleted, 1999, 'the soft-deleted row is kept, the hard-deleted one is gone');
  assert.equal(reopened.seven, 'Seven');
  assert.equal(reopened.eight, null);
  assert.equal(reopened.byIndex, 23);
  assert.equal(reopened.edges, 1);
  console.log(`# ${storage}: reopened 2,000 rows in ${reopened.openMs.toFixed(0)} ms`);

  // Writes still in flight when the page goes away: the next open sees a prefix of them, intact.
  await page.evaluate(async ({ name, storage }) => {
    const { RemDB } = await import('remdb');
    const db = await RemDB.open({ name, storage });
    for (let i = 0; i < 50; i++) db.insert('person', { email: `late${i}@x.io`, age: 1 }).catch(() => {});
    await new Promise((r) => setTimeout(r, 5));
  }, { name, storage });
  await page.reload();
  const after = await page.evaluate(async ({ name, storage }) => {
    const { RemDB } = await import('remdb');
    const db = await RemDB.open({ name, storage });
    const late = await db.sql("SELECT email FROM person WHERE age = 1 AND email LIKE 'late%'");
    const seq = await db.walSeq();
    const entries = await db.walEntries({ since: 0 });
    // The database still takes writes.
    await db.insert('person', { email: 'after@x.io', age: 2 });
    return { late: late.length, count: await db.count('person'), seq, entries: entries.length };
  }, { name, storage });
  assert.ok(after.late >= 0 && after.late <= 50);
  assert.equal(after.count, 1998 + after.late + 1);
  assert.equal(after.entries, after.seq, 'the WAL is gapless after the interrupted writes');
  console.log(`# ${storage}: ${after.late} of 50 unawaited inserts had committed when the page reloaded`);
  noErrors(page);
  await context.close();
});
}

for (const storage of ['indexeddb', 'opfs']) {
test(`${storage}: two tabs share one database: one owner, the other proxies, and it takes over`, async () => {
  const context = await browser.newContext();
  const name = `tabs-${storage}-${Date.now()}`;
  const a = await openPage(context);
  const b = await openPage(context);
  const setup = `
    window.events = [];
    const { RemDB } = await import('remdb');
    window.db = await RemDB.open({ name: ${JSON.stringify(name)}, storage: ${JSON.stringify(storage)} });
    window.db.onChange((e) => window.events.push(e));
    return window.db.role;`;
  const roleA = await a.evaluate(`(async () => { ${setup} })()`);
  const roleB = await b.evaluate(`(async () => { ${setup} })()`);
  assert.equal(roleA, 'owner');
  assert.equal(roleB, 'proxy');

  await a.evaluate((schema) => window.db.registerSchema(schema), PEOPLE);
  const fromB = await b.evaluate(async () => {
    const id = await window.db.insert('person', { email: 'b@x.io', name: 'from B', age: 5 });
    return { id, row: await window.db.get(id), count: await window.db.count('person') };
  });
  assert.equal(fromB.row.name, 'from B');
  assert.equal(fromB.count, 1);
  const seenByA = await a.evaluate((id) => window.db.get(id), fromB.id);
  assert.equal(seenByA.name, 'from B', 'the owner tab sees the proxied write');
  // Errors cross the tabs with their code.
  const errB = await b.evaluate(() => window.db.insert('person', { age: 'x' }).catch((e) => ({ code: e.code, name: e.name, issues: e.issues.length })));
  assert.deepEqual(errB, { code: 'VALIDATION', name: 'RemDBError', issues: 2 });
  // Change notifications reach both tabs; each knows whether the change was its own.
  await a.evaluate(() => window.db.insert('person', { email: 'a@x.io', name: 'from A', age: 6 }));
  await b.waitForFunction(() => window.events.length >= 3);
  const eventsA = await a.evaluate(() => window.events);
  const eventsB = await b.evaluate(() => window.events);
  assert.deepEqual(eventsA.map((e) => e.remote), [false, true, false]);
  assert.deepEqual(eventsB.map((e) => e.remote), [true, false, true]);
  assert.deepEqual(eventsB.map((e) => e.seq), eventsA.map((e) => e.seq));

  // A third tab that refuses to share fails clearly.
  const c = await openPage(context);
  const refused = await c.evaluate(async ({ name, storage }) => {
    const { RemDB } = await import('remdb');
    return RemDB.open({ name, storage, tabs: 'fail' }).then(() => 'opened', (e) => e.code);
  }, { name, storage });
  assert.equal(refused, 'LOCKED');

  // The owner tab goes away: B takes over with everything committed so far.
  await a.close();
  await b.waitForFunction(() => window.db.role === 'owner', null, { timeout: 10000 });
  const afterHandOver = await b.evaluate(async () => {
    const id = await window.db.insert('person', { email: 'b2@x.io', age: 7 });
    return { count: await window.db.count('person'), got: (await window.db.get(id)).email };
  });
  assert.deepEqual(afterHandOver, { count: 3, got: 'b2@x.io' });
  noErrors(b);
  noErrors(c);
  await context.close();
});
}

test('opfs: a commit cut off after its journal is sealed is replayed, one cut off before is dropped', async () => {
  const context = await browser.newContext();
  const page = await openPage(context);
  const seen = await page.evaluate(() => new Promise((resolve, reject) => {
    const worker = new Worker('/journal-worker.js', { type: 'module' });
    worker.onmessage = (e) => resolve(e.data);
    worker.onerror = (e) => reject(new Error(e.message));
    worker.postMessage('go');
  }));
  const C = 64 * 1024;
  assert.equal(seen.crashed, 'STORAGE');
  assert.ok(seen.sealedJournalBytes > 2 * C, 'the sealed journal was left behind');
  assert.deepEqual(seen.afterSealed, { len: 3 * C, journal: 0, chunks: [[0, 1, 1], [1, 3, 3], [2, 4, 4]] });
  assert.deepEqual(seen.afterTorn, seen.afterSealed);
  noErrors(page);
  await context.close();
});

test('sync: two pages on their own IndexedDB databases write offline, converge through rem serve on another origin; a live query follows', async (t) => {
  const started = await startHub();
  t.after(() => started.stop());
  const hub = { url: started.url, admin: started.admin, member: started.member }; // what pages get
  const [laptop, phone] = [await browser.newContext(), await browser.newContext()];
  const a = await openPage(laptop);
  const b = await openPage(phone);
  const open = (name) => async ({ name, schema, hub }) => {
    const { RemDB } = await import('remdb');
    window.db = await RemDB.open({ name, storage: 'indexeddb' });
    if (schema) await window.db.registerSchema(schema);
    const report = await window.db.sync({ url: hub.url, token: schema ? hub.admin : hub.member }).done;
    return report.pulled + report.loaded + report.pushed;
  };
  assert.ok(await a.evaluate(open('laptop'), { name: 'laptop', schema: PEOPLE, hub }) > 0);
  assert.ok(await b.evaluate(open('phone'), { name: 'phone', schema: null, hub }) > 0);
  // Offline: both write, one row on both with different fields.
  await a.evaluate(async () => {
    await window.db.insert('person', { email: 'ada@x.io', name: 'Ada', age: 36 });
    await window.db.insert('person', { email: 'both@x.io', name: 'From the laptop' });
  });
  await b.evaluate(async () => {
    await window.db.insert('person', { email: 'grace@x.io', name: 'Grace', age: 45 });
    await window.db.insert('person', { email: 'both@x.io', age: 50 });
  });
  // The phone follows the hub live, with a live query on screen.
  await b.evaluate(async (hub) => {
    window.seen = [];
    window.query = window.db.live('SELECT email FROM person ORDER BY email', [], (rows) => window.seen.push(rows.map((r) => r.email)));
    await window.query.ready;
    window.follower = window.db.sync({ url: hub.url, token: hub.member, live: true });
  }, hub);
  await a.evaluate((hub) => window.db.sync({ url: hub.url, token: hub.member }).done, hub);
  await b.waitForFunction(() => window.seen.some((emails) => emails.includes('ada@x.io')), null, { timeout: 15_000 });
  await a.evaluate((hub) => window.db.sync({ url: hub.url, token: hub.member }).done, hub);
  const rows = (page) => page.evaluate(async () => (await window.db.sql('SELECT email, name, age FROM person ORDER BY email')));
  const [ra, rb] = [await rows(a), await rows(b)];
  assert.deepEqual(ra, rb);
  assert.deepEqual(ra.map((r) => r.email), ['ada@x.io', 'both@x.io', 'grace@x.io']);
  const both = ra.find((r) => r.email === 'both@x.io');
  assert.deepEqual([both.name, both.age], ['From the laptop', 50], 'fields written on each side merge');
  await b.evaluate(async () => { window.query.unsubscribe(); await window.follower.stop(); await window.db.close(); });
  await a.evaluate(() => window.db.close());
  noErrors(a);
  noErrors(b);
  await laptop.close();
  await phone.close();
});
