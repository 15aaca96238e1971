// The packed remdb package in Node, imported as users import it ('remdb', 'remdb/full').
// Run from target/npm-test (see .ci/test-npm): REMDB_ROOT=<repo> node --test node.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { RemDB, RemDBError, init } from 'remdb';
import * as full from 'remdb/full';
import { startHub } from './hub.mjs';

const ROOT = process.env.REMDB_ROOT ?? fileURLToPath(new URL('../..', import.meta.url));
const MODEL_DIR = join(ROOT, 'models', 'all-MiniLM-L6-v2');
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
// A well-formed id no row has.
const MISSING_ID = '0190a2b3-0000-7000-8000-000000000000';

const PERSON = {
  title: 'Person',
  type: 'object',
  properties: {
    email: { type: 'string' },
    name: { type: 'string' },
    city: { type: 'string' },
    age: { type: 'integer', minimum: 0 },
  },
  required: ['email', 'name'],
  additionalProperties: false,
  json_schema_extra: { key_field: 'email', indexed_fields: ['city', 'age'] },
};
const CITY = {
  title: 'City',
  type: 'object',
  properties: { name: { type: 'string' }, country: { type: 'string' } },
  required: ['name', 'country'],
  json_schema_extra: { key_field: 'name' },
};
const PEOPLE = [
  { email: 'ada@x.io', name: 'Ada', city: 'Paris', age: 36 },
  { email: 'bob@x.io', name: 'Bob', city: 'Lyon', age: 28 },
  { email: 'cy@x.io', name: 'Cy', city: 'Berlin', age: 41 },
  { email: 'di@x.io', name: 'Di', city: 'Paris', age: 19 },
];
const CITIES = [
  { name: 'Paris', country: 'FR' },
  { name: 'Lyon', country: 'FR' },
  { name: 'Berlin', country: 'DE' },
];

/** A fresh memory database with `person` and `city` filled in; `ids` of PEOPLE in order. */
async function peopleDb(options = {}) {
  const db = await RemDB.open(options);
  await db.registerSchema(PERSON);
  await db.registerSchema(CITY);
  const ids = await db.insertMany('person', PEOPLE);
  await db.insertMany('city', CITIES);
  return { db, ids };
}

/** Asserts that `promise` rejects with a RemDBError of `code`; returns the error. */
async function rejectsWith(promise, code) {
  let error = null;
  try {
    await promise;
  } catch (e) {
    error = e;
  }
  assert.ok(error !== null, `expected a ${code} rejection, but it resolved`);
  assert.ok(error instanceof RemDBError, `expected a RemDBError, got ${error}`);
  assert.ok(error instanceof Error);
  assert.equal(error.name, 'RemDBError');
  assert.equal(error.code, code, error.message);
  return error;
}

const names = (rows) => rows.map((r) => r.name);

test('package exports: the node condition resolves to the node entry points', async () => {
  const pkgDir = new URL('./', import.meta.resolve('remdb/package.json'));
  assert.ok(pkgDir.pathname.endsWith('/node_modules/remdb/'), pkgDir.href);
  assert.equal(import.meta.resolve('remdb'), new URL('js/entry/node.js', pkgDir).href);
  assert.equal(import.meta.resolve('remdb/full'), new URL('js/entry/full/node.js', pkgDir).href);
  const require = createRequire(import.meta.url);
  assert.equal(require.resolve('remdb'), fileURLToPath(new URL('js/entry/node.js', pkgDir)));
  assert.equal(require.resolve('remdb/full'), fileURLToPath(new URL('js/entry/full/node.js', pkgDir)));
  // Only the listed subpaths are exported.
  assert.throws(() => require.resolve('remdb/js/api.js'), { code: 'ERR_PACKAGE_PATH_NOT_EXPORTED' });
  const pkg = JSON.parse(await readFile(new URL('package.json', pkgDir), 'utf8'));
  assert.equal(pkg.name, 'remdb');
  assert.equal(pkg.type, 'module');
  // The loaded entry is the node one: it names its runtime in this error.
  const e = await rejectsWith(RemDB.open({ storage: 'indexeddb' }), 'UNSUPPORTED');
  assert.match(e.message, /\(node\)/);
  // Both builds share the API module: one RemDBError class.
  assert.equal(full.RemDBError, RemDBError);
  assert.notEqual(full.RemDB, RemDB);
});

test('package contents: both builds, the types, a README; every declared method exists', async () => {
  const pkgDir = new URL('./', import.meta.resolve('remdb/package.json'));
  const pkg = JSON.parse(await readFile(new URL('package.json', pkgDir), 'utf8'));
  assert.equal(pkg.types, './index.d.ts');
  for (const file of ['core/remdb.js', 'core/remdb_bg.wasm', 'full/remdb.js', 'full/remdb_bg.wasm', 'js/api.js',
    'js/entry/node.js', 'js/entry/deno.js', 'js/entry/workerd.js', 'js/entry/browser.js']) {
    assert.ok((await readFile(new URL(file, pkgDir))).length > 0, file);
  }
  const readme = await readFile(new URL('README.md', pkgDir), 'utf8');
  assert.ok(readme.length > 500, `the packed README.md has ${readme.length} characters`);
  // The TypeScript declarations and the implementation agree on RemDB's methods.
  const dts = await readFile(new URL('index.d.ts', pkgDir), 'utf8');
  const body = dts.slice(dts.indexOf('export declare class RemDB'));
  const declared = [...new Set([...body.slice(0, body.indexOf('\n}')).matchAll(/^ {2}(\w+)\(/gm)].map((m) => m[1]))];
  assert.ok(declared.length >= 25, declared.join(', '));
  const db = await RemDB.open();
  for (const name of declared) assert.equal(typeof db[name], 'function', `RemDB#${name}`);
  assert.equal(typeof RemDB.open, 'function');
  assert.equal(typeof init, 'function');
  await db.close();
});

test('storage: indexeddb and opfs reject with UNSUPPORTED in Node; bad storage is INVALID_ARGUMENT', async () => {
  await rejectsWith(RemDB.open({ storage: 'indexeddb' }), 'UNSUPPORTED');
  await rejectsWith(RemDB.open({ storage: 'opfs' }), 'UNSUPPORTED');
  await rejectsWith(RemDB.open({ storage: 'disk' }), 'INVALID_ARGUMENT');
  await rejectsWith(RemDB.open({ name: '' }), 'INVALID_ARGUMENT');
  await rejectsWith(RemDB.open({ tabs: 'share' }), 'INVALID_ARGUMENT');
});

test('open: a memory database with its properties and the built-in tables', async () => {
  const db = await RemDB.open({ name: 'props', tenant: 'acme' });
  assert.equal(db.name, 'props');
  assert.equal(db.tenant, 'acme');
  assert.equal(db.storage, 'memory');
  assert.equal(db.role, 'owner');
  const tables = (await db.schemas()).map((s) => s.name).sort();
  assert.deepEqual(tables, ['agents', 'messages', 'moments', 'resources', 'sessions']);
  assert.equal(await db.walSeq(), 5);
  await db.close();
  // The constructor is not the way in.
  assert.throws(() => new RemDB(), (e) => e instanceof RemDBError && e.code === 'INVALID_ARGUMENT');
});

test('schemas: registerSchema returns the table; schemas() reports the REM extensions', async () => {
  const db = await RemDB.open();
  assert.equal(await db.registerSchema(PERSON), 'person');
  assert.equal(await db.registerSchema({
    title: 'Note',
    type: 'object',
    properties: { title: { type: 'string' }, body: { type: 'string' } },
    json_schema_extra: { short_name: 'notes', embedding_fields: ['body'], category: 'public' },
  }), 'notes');
  const schemas = await db.schemas();
  const person = schemas.find((s) => s.name === 'person');
  assert.equal(person.key_field, 'email');
  assert.deepEqual(person.indexed_fields, ['city', 'age']);
  assert.deepEqual(person.embedding_fields, []);
  assert.equal(person.category, 'user');
  assert.deepEqual(person.fields, ['age', 'city', 'email', 'name']);
  assert.equal(person.schema.title, 'Person');
  const notes = schemas.find((s) => s.name === 'notes');
  assert.deepEqual(notes.embedding_fields, ['body']);
  assert.equal(notes.category, 'public');
  const bad = await rejectsWith(db.registerSchema({ title: 'Bad', type: 'object', properties: 5 }), 'INVALID_SCHEMA');
  assert.match(bad.message, /properties/);
  await rejectsWith(db.registerSchema({ type: 'object' }), 'INVALID_SCHEMA');
  await db.close();
});

test('insert, insertMany, get, update, list, count', async () => {
  const { db, ids } = await peopleDb();
  assert.equal(ids.length, 4);
  for (const id of ids) assert.match(id, UUID);
  assert.equal(new Set(ids).size, 4);
  const ada = await db.get(ids[0]);
  assert.deepEqual(
    { ...ada, created_at: undefined, modified_at: undefined },
    { id: ids[0], email: 'ada@x.io', name: 'Ada', city: 'Paris', age: 36, deleted_at: null, created_at: undefined, modified_at: undefined },
  );
  assert.ok(!Number.isNaN(Date.parse(ada.created_at)), ada.created_at);
  assert.equal(ada.modified_at, ada.created_at);
  assert.equal(await db.get(MISSING_ID), null);

  const one = await db.insert('person', { email: 'eve@x.io', name: 'Eve', age: 50 });
  assert.match(one, UUID);
  assert.equal(await db.count('person'), 5);

  // update: a JSON merge patch (null removes a field), re-validated, modified_at moves.
  const updated = await db.update(ids[0], { age: 37, city: null });
  assert.equal(updated.age, 37);
  assert.ok(!('city' in updated), JSON.stringify(updated));
  assert.equal(updated.created_at, ada.created_at);
  assert.ok(updated.modified_at >= ada.modified_at);
  assert.deepEqual(await db.get(ids[0]), updated);
  const bad = await rejectsWith(db.update(ids[0], { age: 'old' }), 'VALIDATION');
  assert.deepEqual(bad.issues, [{ pointer: '/age', reason: '"old" is not of type "integer"' }]);
  assert.equal((await db.get(ids[0])).age, 37, 'a rejected update changes nothing');
  await rejectsWith(db.update(MISSING_ID, { age: 1 }), 'NOT_FOUND');
  await rejectsWith(db.update('not-an-id', { age: 1 }), 'INVALID_ARGUMENT');

  // list: pages in a stable order.
  const all = await db.list('person');
  assert.equal(all.length, 5);
  assert.deepEqual(names(await db.list('person', { limit: 2, offset: 1 })), names(all.slice(1, 3)));
  assert.deepEqual(await db.list('person', { offset: 10 }), []);
  await db.close();
});

test('insertMany is atomic: one invalid entity writes nothing', async () => {
  const { db } = await peopleDb();
  const seq = await db.walSeq();
  const e = await rejectsWith(db.insertMany('person', [
    { email: 'ok@x.io', name: 'Ok' },
    { email: 'bad@x.io', name: 'Bad', extra: true },
  ]), 'VALIDATION');
  assert.deepEqual(e.issues, [{ pointer: '/1', reason: "Additional properties are not allowed ('extra' was unexpected)" }]);
  assert.equal(await db.count('person'), 4);
  assert.equal(await db.walSeq(), seq);
  await db.close();
});

test('delete: soft by default (hidden, kept), hard removes the row', async () => {
  const { db, ids } = await peopleDb();
  await db.delete(ids[1]);
  assert.equal(await db.get(ids[1]), null);
  assert.equal((await db.get(ids[1], { includeDeleted: true })).name, 'Bob', 'get with includeDeleted sees it');
  await rejectsWith(db.get(ids[1], { include_deleted: true }), 'INVALID_ARGUMENT');
  assert.equal(await db.count('person'), 3);
  assert.equal(await db.count('person', { includeDeleted: true }), 4);
  assert.deepEqual(names(await db.list('person')).sort(), ['Ada', 'Cy', 'Di']);
  const withDeleted = await db.list('person', { includeDeleted: true });
  const bob = withDeleted.find((r) => r.id === ids[1]);
  assert.ok(bob && typeof bob.deleted_at === 'string', JSON.stringify(bob));
  // SQL hides soft-deleted rows unless the query asks about deleted_at.
  assert.deepEqual(await db.sql('SELECT name FROM person WHERE deleted_at IS NOT NULL'), [{ name: 'Bob' }]);
  assert.equal((await db.sql('SELECT COUNT(*) AS n FROM person'))[0].n, 3);

  await rejectsWith(db.delete(ids[2], { hard: 'yes' }), 'INVALID_ARGUMENT');
  await db.delete(ids[2], { hard: true });
  assert.equal(await db.get(ids[2]), null);
  assert.equal(await db.get(ids[2], { includeDeleted: true }), null, 'a hard delete leaves nothing');
  assert.equal(await db.count('person', { includeDeleted: true }), 3);
  assert.ok(!(await db.list('person', { includeDeleted: true })).some((r) => r.id === ids[2]));
  await rejectsWith(db.delete(MISSING_ID), 'NOT_FOUND');
  await db.close();
});

test('natural key: inserting an existing key upserts (same id, created_at kept)', async () => {
  const { db, ids } = await peopleDb();
  const before = await db.get(ids[0]);
  await new Promise((r) => setTimeout(r, 5));
  const again = await db.insert('person', { email: 'ada@x.io', name: 'Ada Lovelace', age: 37 });
  assert.equal(again, ids[0]);
  const after = await db.get(ids[0]);
  assert.equal(after.name, 'Ada Lovelace');
  assert.equal(after.age, 37);
  assert.ok(!('city' in after), 'an upsert replaces the row');
  assert.equal(after.created_at, before.created_at);
  assert.ok(after.modified_at > before.modified_at, `${after.modified_at} > ${before.modified_at}`);
  assert.equal(await db.count('person'), 4);
  // insertMany upserts too, by the same key.
  const batch = await db.insertMany('person', [{ email: 'bob@x.io', name: 'Robert' }, { email: 'new@x.io', name: 'New' }]);
  assert.equal(batch[0], ids[1]);
  assert.ok(!ids.includes(batch[1]));
  assert.equal(await db.count('person'), 5);
  await db.close();
});

test('SQL: parameters, WHERE, ORDER BY, LIMIT/OFFSET, GROUP BY, JOIN', async () => {
  const { db } = await peopleDb();
  assert.deepEqual(
    await db.sql('SELECT name, age FROM person WHERE city = $1 AND age >= $2 ORDER BY age DESC', ['Paris', 18]),
    [{ name: 'Ada', age: 36 }, { name: 'Di', age: 19 }],
  );
  // `?` placeholders; parameters are values, never SQL.
  assert.deepEqual(await db.sql('SELECT name FROM person WHERE name = ?', ["x' OR '1'='1"]), []);
  assert.deepEqual(await db.sql('SELECT name FROM person WHERE age IN (?, ?) ORDER BY name', [28, 41]), [{ name: 'Bob' }, { name: 'Cy' }]);
  assert.deepEqual(await db.sql('SELECT name FROM person ORDER BY age LIMIT 2 OFFSET 1'), [{ name: 'Bob' }, { name: 'Ada' }]);
  // Keys follow the select list.
  const [row] = await db.sql('SELECT age, name AS who, age * 2 AS twice FROM person WHERE email = $1', ['cy@x.io']);
  assert.deepEqual(Object.keys(row), ['age', 'who', 'twice']);
  assert.deepEqual(row, { age: 41, who: 'Cy', twice: 82 });
  assert.deepEqual(
    await db.sql('SELECT city, COUNT(*) AS n, MIN(age) AS youngest FROM person GROUP BY city HAVING COUNT(*) >= $1 ORDER BY n DESC, city', [1]),
    [{ city: 'Paris', n: 2, youngest: 19 }, { city: 'Berlin', n: 1, youngest: 41 }, { city: 'Lyon', n: 1, youngest: 28 }],
  );
  assert.deepEqual(
    await db.sql('SELECT p.name, c.country FROM person p JOIN city c ON p.city = c.name WHERE c.country = $1 ORDER BY p.name', ['FR']),
    [{ name: 'Ada', country: 'FR' }, { name: 'Bob', country: 'FR' }, { name: 'Di', country: 'FR' }],
  );
  assert.deepEqual(
    await db.sql('SELECT c.country, COUNT(*) AS n, AVG(p.age) AS avg_age FROM person p JOIN city c ON p.city = c.name GROUP BY c.country ORDER BY c.country'),
    [{ country: 'DE', n: 1, avg_age: 41 }, { country: 'FR', n: 3, avg_age: 27 + 2 / 3 }],
  );
  await db.close();
});

test('typed errors: VALIDATION with issues, UNKNOWN_TABLE, UNKNOWN_COLUMN, SQL_*', async () => {
  const { db } = await peopleDb();
  const v = await rejectsWith(db.insert('person', { email: 5, name: 'X', age: -1 }), 'VALIDATION');
  assert.deepEqual(v.issues, [
    { pointer: '/age', reason: '-1 is less than the minimum of 0' },
    { pointer: '/email', reason: '5 is not of type "string"' },
  ]);
  assert.match(v.message, /person/);
  const missing = await rejectsWith(db.insert('person', { email: 'z@x.io' }), 'VALIDATION');
  assert.deepEqual(missing.issues, [{ pointer: '', reason: '"name" is a required property' }]);

  const t = await rejectsWith(db.insert('nope', { a: 1 }), 'UNKNOWN_TABLE');
  assert.match(t.message, /person/, 'the message lists the known tables');
  assert.equal(t.issues, undefined);
  await rejectsWith(db.list('nope'), 'UNKNOWN_TABLE');
  await rejectsWith(db.count('nope'), 'UNKNOWN_TABLE');
  await rejectsWith(db.sql('SELECT * FROM nope'), 'UNKNOWN_TABLE');
  const c = await rejectsWith(db.sql('SELECT nope FROM person'), 'UNKNOWN_COLUMN');
  assert.match(c.message, /nope/);
  await rejectsWith(db.sql('SELEC name FROM person'), 'SQL_SYNTAX');
  await rejectsWith(db.sql('SELECT name FROM person WHERE'), 'SQL_SYNTAX');
  await rejectsWith(db.sql('SELECT name FROM person UNION SELECT name FROM city'), 'SQL_UNSUPPORTED');
  await rejectsWith(db.sql("DELETE FROM person WHERE name = 'Ada'"), 'SQL_UNSUPPORTED');
  await rejectsWith(db.sql("SELECT 'a' + 1 AS x FROM person"), 'SQL_TYPE');
  assert.equal(await db.count('person'), 4);
  await db.close();
});

test('typed errors: misspelt options are INVALID_ARGUMENT, never ignored', async () => {
  const { db, ids } = await peopleDb();
  const cases = [
    ['open', () => RemDB.open({ nam: 'x' })],
    ['list', () => db.list('person', { limt: 1 })],
    ['count', () => db.count('person', { deleted: true })],
    ['delete', () => db.delete(ids[0], { soft: true })],
    ['search', () => db.search('person', [1, 0], { top_k: 1 })],
    ['traverse', () => db.traverse(ids[0], { maxdepth: 2 })],
    ['edges', () => db.edges(ids[0], { dir: 'out' })],
    ['shortestPath', () => db.shortestPath(ids[0], ids[1], { weight: true })],
    ['walEntries', () => db.walEntries({ from: 1 })],
    ['embedding', () => full.RemDB.open({ embedding: { model: new Uint8Array(1), tokenizer: new Uint8Array(1), cached: true } })],
  ];
  for (const [what, f] of cases) {
    const e = await rejectsWith(f(), 'INVALID_ARGUMENT');
    assert.match(e.message, /nam|limt|deleted|soft|top_k|maxdepth|dir|weight|from|cached/, `${what}: ${e.message}`);
  }
  // The soft delete above was refused, not done.
  assert.equal(await db.count('person'), 4);
  await db.close();
});

test('ingest: text and bytes become chunks of resources, found by keyword search; unchanged writes nothing', async () => {
  const db = await RemDB.open();
  const md = '---\ntitle: Tides\n---\n# Tides\n\n## Spring tides\n\nThe moonwhistle effect raises spring tides.\n';
  const report = await db.ingest({ uri: 'notes/tides.md', text: md });
  assert.equal(report.chunks, 1);
  assert.equal(report.written, 1);
  assert.equal(report.unchanged, 0);
  assert.match(report.moment, UUID);
  const [hit] = await db.search('resources', 'moonwhistle', { mode: 'keyword' });
  assert.equal(hit.uri, 'notes/tides.md');
  assert.equal(hit.name, 'Tides › Spring tides');
  assert.deepEqual(hit.metadata.front_matter, { title: 'Tides' });
  // The same document as bytes (an ArrayBuffer too): unchanged, the WAL where it was.
  const seq = await db.walSeq();
  const bytes = new TextEncoder().encode(md);
  assert.equal((await db.ingest({ uri: 'notes/tides.md', bytes })).unchanged, 1);
  assert.equal((await db.ingest({ uri: 'notes/tides.md', bytes: bytes.buffer })).unchanged, 1);
  assert.equal(await db.walSeq(), seq);
  // HTML without its scripts, a binary file skipped and named, invalid UTF-8 reported.
  const html = await db.ingest({ uri: 'page', text: '<title>Fish</title><script>hidden()</script><p>lanternfish glow</p>', mimeType: 'text/html' });
  assert.equal(html.written, 1);
  assert.deepEqual(await db.search('resources', 'hidden', { mode: 'keyword' }), []);
  const bin = await db.ingest({ uri: 'logo.png', bytes: new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0, 0, 0]) });
  assert.deepEqual(bin.skipped, [{ uri: 'logo.png', reason: 'binary file' }]);
  const latin = await db.ingest({ uri: 'menu.txt', bytes: new Uint8Array([0x43, 0x61, 0x66, 0xe9, 0x0a]) });
  assert.match(latin.warnings[0].message, /invalid UTF-8/);
  await db.close();
});

/** A minimal one-font PDF whose page i shows pages[i] (ASCII text, no parentheses). */
function tinyPdf(pages) {
  const objects = ['<< /Type /Catalog /Pages 2 0 R >>',
    `<< /Type /Pages /Kids [${pages.map((_, i) => `${4 + 2 * i} 0 R`).join(' ')}] /Count ${pages.length} >>`,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>'];
  pages.forEach((text, i) => {
    objects.push(`<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents ${5 + 2 * i} 0 R /Resources << /Font << /F1 3 0 R >> >> >>`);
    const stream = `BT /F1 12 Tf 72 720 Td (${text}) Tj ET`;
    objects.push(`<< /Length ${stream.length} >>\nstream\n${stream}\nendstream`);
  });
  let out = '%PDF-1.4\n';
  const offsets = objects.map((body, i) => {
    const at = out.length;
    out += `${i + 1} 0 obj\n${body}\nendobj\n`;
    return at;
  });
  const xref = out.length;
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const at of offsets) out += `${String(at).padStart(10, '0')} 00000 n \n`;
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return new TextEncoder().encode(out);
}

test('ingest: PDFs become chunks per page in remdb/full; the core build skips them and says why', async () => {
  const bytes = tinyPdf(['Tide tables for the harbour', 'Moon phases and spring tides']);
  const db = await full.RemDB.open();
  const report = await db.ingest({ uri: 'tides.pdf', bytes });
  assert.equal(report.written, 2);
  const rows = await db.sql("SELECT ordinal, category, metadata FROM resources WHERE uri = 'tides.pdf' ORDER BY ordinal");
  assert.deepEqual(rows.map((r) => [r.category, r.metadata.page]), [['pdf', 1], ['pdf', 2]]);
  assert.equal((await db.search('resources', 'moon', { mode: 'keyword' }))[0].metadata.page, 2);
  await db.close();
  const core = await RemDB.open();
  const seq = await core.walSeq();
  const skipped = await core.ingest({ uri: 'tides.pdf', bytes });
  assert.equal(skipped.written, 0);
  assert.equal(skipped.skipped.length, 1);
  assert.equal(skipped.skipped[0].uri, 'tides.pdf');
  assert.match(skipped.skipped[0].reason, /PDF text extraction is not in this build.*remdb\/full/);
  assert.equal(await core.walSeq(), seq);
  await core.close();
});

test('ingest: CSV rows go to the named table; a bad row rejects its file; bad arguments reject', async () => {
  const db = await RemDB.open();
  await db.registerSchema({
    title: 'Item', type: 'object',
    properties: { sku: { type: 'string' }, qty: { type: 'integer', minimum: 0 } },
    json_schema_extra: { key_field: 'sku' },
  });
  assert.equal((await db.ingest({ uri: 'items.csv', text: 'sku,qty\na,1\nb,2\n', table: 'item' })).written, 2);
  const bad = await db.ingest({ uri: 'bad.csv', text: 'sku,qty\nc,3\nd,-1\n', table: 'item' });
  assert.equal(bad.rejected[0].code, 'VALIDATION');
  assert.match(bad.rejected[0].message, /row 2 \(line 3\)/);
  assert.equal(await db.count('item'), 2);
  await rejectsWith(db.ingest({ text: 'x' }), 'INVALID_ARGUMENT');
  await rejectsWith(db.ingest({ uri: 'a', text: 'x', bytes: new Uint8Array(1) }), 'INVALID_ARGUMENT');
  await rejectsWith(db.ingest({ uri: 'a', text: 'x', chunk: 3 }), 'INVALID_ARGUMENT');
  await rejectsWith(db.ingest({ uri: 'a', text: 'x', overlap: 500 }), 'INVALID_ARGUMENT');
  await rejectsWith(db.ingest({ uri: 'a', bytes: 'not bytes' }), 'INVALID_ARGUMENT');
  await db.close();
});

test('CLOSED: every call after close rejects; close twice is fine', async () => {
  const { db, ids } = await peopleDb();
  await db.close();
  await db.close();
  for (const f of [
    () => db.get(ids[0]),
    () => db.insert('person', { email: 'q@x.io', name: 'Q' }),
    () => db.sql('SELECT 1 AS one FROM person'),
    () => db.search('person', [1, 0]),
    () => db.walSeq(),
    () => db.schemas(),
    () => db.flush(),
  ]) {
    await rejectsWith(f(), 'CLOSED');
  }
});

test('vector search with given vectors: topK, minScore, where (string + params, object), field/provider', async () => {
  const { db, ids } = await peopleDb();
  // Cosine with the query [1, 0, 0]: Ada 1, Bob 0.8, Cy 0.6, Di 0.
  await db.putVector('person', ids[0], 'bio', 'mine', [1, 0, 0]);
  await db.putVector('person', ids[1], 'bio', 'mine', new Float32Array([0.8, 0.6, 0]));
  await db.putVector('person', ids[2], 'bio', 'mine', [0.6, 0, 0.8]);
  await db.putVector('person', ids[3], 'bio', 'mine', [0, 1, 0]);
  const q = new Float32Array([1, 0, 0]);

  const hits = await db.search('person', q);
  assert.deepEqual(names(hits), ['Ada', 'Bob', 'Cy', 'Di']);
  const expected = [1, 0.8, 0.6, 0];
  hits.forEach((h, i) => assert.ok(Math.abs(h._score - expected[i]) < 1e-6, `${h.name}: ${h._score}`));
  // Results are whole rows plus _score.
  assert.deepEqual({ ...hits[0], _score: undefined }, { ...(await db.get(ids[0])), _score: undefined });

  assert.deepEqual(names(await db.search('person', [1, 0, 0], { topK: 2 })), ['Ada', 'Bob']);
  assert.deepEqual(names(await db.search('person', q, { minScore: 0.7 })), ['Ada', 'Bob']);
  assert.deepEqual(names(await db.search('person', q, { where: 'age > $1', params: [30] })), ['Ada', 'Cy']);
  assert.deepEqual(names(await db.search('person', q, { where: { city: 'Paris' } })), ['Ada', 'Di']);
  assert.deepEqual(names(await db.search('person', q, { where: { city: 'Paris' }, topK: 1 })), ['Ada']);
  assert.deepEqual(await db.search('person', q, { where: { city: 'Rome' } }), []);
  assert.deepEqual(names(await db.search('person', q, { field: 'bio', provider: 'mine', topK: 1 })), ['Ada']);
  await rejectsWith(db.search('person', q, { where: { city: 'Paris' }, params: ['x'] }), 'INVALID_ARGUMENT');
  await rejectsWith(db.search('person', [1, 0, 0, 0]), 'INVALID_ARGUMENT');
  await rejectsWith(db.putVector('person', ids[0], 'bio', 'mine', [1, 0]), 'INVALID_ARGUMENT');

  // Replacing a vector moves the row; deleted rows drop out.
  await db.putVector('person', ids[3], 'bio', 'mine', [1, 0, 0]);
  assert.deepEqual(names(await db.search('person', q, { topK: 2 })).sort(), ['Ada', 'Di']);
  await db.delete(ids[0]);
  assert.deepEqual(names(await db.search('person', q, { topK: 1 })), ['Di']);
  await db.delete(ids[3], { hard: true });
  assert.deepEqual(names(await db.search('person', q)), ['Bob', 'Cy']);
  await db.close();
});

test('putVectors: many vectors in one atomic batch', async () => {
  const { db, ids } = await peopleDb();
  const seq = await db.walSeq();
  await db.putVectors('person', 'bio', 'mine', [
    { id: ids[0], vector: [1, 0] },
    { id: ids[1], vector: new Float32Array([0.6, 0.8]) },
  ]);
  assert.equal(await db.walSeq(), seq + 2, 'one vector entry each');
  const hits = await db.search('person', [1, 0]);
  assert.deepEqual(names(hits), ['Ada', 'Bob']);
  assert.ok(Math.abs(hits[1]._score - 0.6) < 1e-6);
  // One bad item (wrong dimension, a missing row) and nothing is written.
  const wrong = await rejectsWith(db.putVectors('person', 'bio', 'mine', [
    { id: ids[2], vector: [1, 0] },
    { id: ids[3], vector: [1, 0, 0] },
  ]), 'INVALID_ARGUMENT');
  assert.match(wrong.message, /item 1/);
  let missing = null;
  try {
    await db.putVectors('person', 'bio', 'mine', [{ id: ids[2], vector: [1, 0] }, { id: MISSING_ID, vector: [1, 0] }]);
  } catch (e) {
    missing = e;
  }
  assert.ok(missing instanceof RemDBError, String(missing));
  assert.equal(await db.walSeq(), seq + 2);
  assert.deepEqual(names(await db.search('person', [1, 0])), ['Ada', 'Bob']);
  await rejectsWith(db.putVectors('person', 'bio', 'mine', { id: ids[2], vector: [1, 0] }), 'INVALID_ARGUMENT');
  await db.close();
});

test('vector search: includeDeleted also holds with a where filter', async () => {
  const { db, ids } = await peopleDb();
  await db.putVector('person', ids[0], 'bio', 'mine', [1, 0]);
  await db.putVector('person', ids[3], 'bio', 'mine', [0, 1]);
  await db.delete(ids[0]);
  assert.deepEqual(names(await db.search('person', [1, 0], { includeDeleted: true })), ['Ada', 'Di']);
  assert.deepEqual(names(await db.search('person', [1, 0], { includeDeleted: true, where: { city: 'Paris' } })), ['Ada', 'Di']);
  await db.close();
});

test('graph: addEdge, edges, traverse, shortestPath (plain, weighted), allPaths, removeEdge', async () => {
  const { db, ids } = await peopleDb();
  const [a, b, c, d] = ids;
  // a -knows(10)-> b -knows(1)-> c ; a -knows(1)-> d -knows(1)-> c ; a -blocks(100)-> c
  await db.addEdge(a, b, 'knows', { weight: 10 });
  await db.addEdge(b, c, 'knows', { weight: 1 });
  await db.addEdge(a, d, 'knows', { weight: 1, since: 2020 });
  await db.addEdge(d, c, 'knows', { weight: 1 });
  await db.addEdge(a, c, 'blocks', { weight: 100 });

  const out = await db.edges(a, { direction: 'out' });
  assert.equal(out.length, 3);
  const toD = out.find((e) => e.dst === d);
  assert.deepEqual({ src: toD.src, rel: toD.rel, dst: toD.dst, properties: toD.properties },
    { src: a, rel: 'knows', dst: d, properties: { weight: 1, since: 2020 } });
  assert.ok(typeof toD.created_at === 'string' && typeof toD.modified_at === 'string');
  assert.deepEqual((await db.edges(a, { rel: 'blocks' })).map((e) => e.dst), [c]);
  assert.deepEqual((await db.edges(c, { direction: 'in' })).map((e) => e.src).sort(), [a, b, d].sort());
  assert.deepEqual(await db.edges(c, { direction: 'out' }), []);

  // BFS: one shortest path per reachable entity, by depth, with rows.
  const walk = await db.traverse(a, { direction: 'out', relTypes: ['knows'] });
  assert.deepEqual(walk.paths.map((p) => p.nodes[p.nodes.length - 1]).sort(), [b, c, d].sort());
  assert.deepEqual(walk.paths.map((p) => p.depth), [1, 1, 2]);
  assert.equal(walk.rows[c].name, 'Cy');
  assert.equal(walk.truncated, false);
  for (const p of walk.paths) assert.equal(p.edges.length, p.depth);
  // DFS: every simple path.
  const dfs = await db.traverse(a, { strategy: 'dfs', direction: 'out', relTypes: ['knows'] });
  assert.equal(dfs.paths.length, 4);
  assert.deepEqual(dfs.paths.filter((p) => p.depth === 2).map((p) => p.nodes).sort(),
    [[a, b, c], [a, d, c]].sort());
  const shallow = await db.traverse(a, { maxDepth: 1, direction: 'out', includeRows: false });
  assert.deepEqual(shallow.rows, {});
  assert.deepEqual(shallow.paths.map((p) => p.depth), [1, 1, 1]);
  const incoming = await db.traverse(c, { direction: 'in', maxDepth: 1 });
  assert.deepEqual(incoming.paths.map((p) => p.nodes[1]).sort(), [a, b, d].sort());

  // Fewest edges: the direct `blocks` edge; weighted: a -> d -> c (cost 2).
  const short = await db.shortestPath(a, c);
  assert.deepEqual(short.paths.map((p) => [p.nodes, p.depth]), [[[a, c], 1]]);
  assert.equal(short.paths[0].edges[0].rel, 'blocks');
  assert.ok(!('cost' in short.paths[0]), 'only weighted paths carry a cost');
  const cheap = await db.shortestPath(a, c, { weighted: true });
  assert.deepEqual(cheap.paths.map((p) => [p.nodes, p.cost]), [[[a, d, c], 2]]);
  const knowsOnly = await db.shortestPath(a, c, { relTypes: ['knows'] });
  assert.equal(knowsOnly.paths[0].depth, 2);
  assert.deepEqual((await db.shortestPath(c, a, { direction: 'out' })).paths, []);

  const all = await db.allPaths(a, c, { direction: 'out' });
  assert.deepEqual(all.paths.map((p) => p.nodes).sort(), [[a, c], [a, b, c], [a, d, c]].sort());
  assert.equal(all.truncated, false);
  assert.equal(all.rows[a].name, 'Ada');
  assert.equal((await db.allPaths(a, c, { direction: 'out', limit: 1 })).paths.length, 1);

  await rejectsWith(db.addEdge(a, MISSING_ID, 'knows'), 'NOT_FOUND');
  await rejectsWith(db.addEdge(a, b, 'knows', { weight: -1 }), 'INVALID_ARGUMENT');
  await db.removeEdge(a, c, 'blocks');
  assert.deepEqual((await db.edges(a, { direction: 'out' })).map((e) => e.rel), ['knows', 'knows']);
  assert.equal((await db.shortestPath(a, c)).paths[0].depth, 2);
  // A hard delete removes the entity's edges both ways.
  await db.delete(d, { hard: true });
  assert.deepEqual((await db.edges(a, { direction: 'out' })).map((e) => e.dst), [b]);
  await db.close();
});

test('graph: addEdges (atomic), neighbors, neighborsAtDepth, countPaths, cycles', async () => {
  const { db, ids } = await peopleDb();
  const [a, b, c, d] = ids;
  // a -knows-> b -knows-> c -knows-> a (a cycle); a -likes-> d
  const seq = await db.walSeq();
  await db.addEdges([
    { src: a, dst: b, rel: 'knows' },
    { src: b, dst: c, rel: 'knows' },
    { src: c, dst: a, rel: 'knows', properties: { weight: 2 } },
    { src: a, dst: d, rel: 'likes' },
  ]);
  assert.ok((await db.walSeq()) > seq);
  assert.deepEqual((await db.edges(c, { direction: 'out' })).map((e) => [e.dst, e.properties]), [[a, { weight: 2 }]]);
  // One bad edge and none is written.
  await rejectsWith(db.addEdges([{ src: a, dst: c, rel: 'x' }, { src: a, dst: MISSING_ID, rel: 'x' }]), 'NOT_FOUND');
  assert.deepEqual(await db.edges(a, { rel: 'x' }), []);
  await rejectsWith(db.addEdges([{ src: a, dst: c }]), 'INVALID_ARGUMENT');
  // Properties that JSON cannot carry are refused, never silently emptied.
  await rejectsWith(db.addEdges([{ src: a, dst: c, rel: 'x', properties: new Map([['weight', 1]]) }]), 'INVALID_ARGUMENT');
  await rejectsWith(db.addEdges([{ src: a, dst: c, rel: 'x', properties: { v: new Float32Array(2) } }]), 'INVALID_ARGUMENT');
  await rejectsWith(db.addEdges([{ src: a, dst: c, rel: 'x', properties: { n: 1n } }]), 'INVALID_ARGUMENT');
  assert.deepEqual(await db.edges(a, { rel: 'x' }), []);

  assert.deepEqual((await db.neighbors(a)).sort(), [b, c, d].sort(), 'both directions by default');
  assert.deepEqual(await db.neighbors(a, { direction: 'out', rel: 'likes' }), [d]);
  await rejectsWith(db.neighbors(a, { direction: 'up' }), 'INVALID_ARGUMENT');

  const two = await db.neighborsAtDepth(a, 2, { direction: 'out' });
  assert.deepEqual(two.paths.map((p) => p.nodes), [[a, b, c]]);
  assert.equal(two.rows[c].name, 'Cy');
  assert.deepEqual((await db.neighborsAtDepth(a, 1, { direction: 'out' })).paths.map((p) => p.nodes[1]).sort(), [b, d].sort());
  await rejectsWith(db.neighborsAtDepth(a, -1), 'INVALID_ARGUMENT');
  await rejectsWith(db.neighborsAtDepth(a, '2'), 'INVALID_ARGUMENT');

  assert.equal(await db.countPaths(a, c, { direction: 'out' }), 1);
  assert.equal(await db.countPaths(c, d, { direction: 'out' }), 1);
  assert.equal(await db.countPaths(d, a, { direction: 'out' }), 0);

  const through = await db.cycles(a, { direction: 'out' });
  assert.deepEqual(through.paths.map((p) => p.nodes), [[a, b, c, a]]);
  assert.equal((await db.cycles(null, { table: 'person', direction: 'out' })).paths.length, 1);
  assert.equal((await db.cycles(undefined, { table: 'city' })).paths.length, 0);
  await rejectsWith(db.cycles(a, { table: 'person' }), 'INVALID_ARGUMENT');
  await rejectsWith(db.cycles(a, { weighted: true }), 'INVALID_ARGUMENT');
  await rejectsWith(db.cycles(42), 'INVALID_ARGUMENT');
  await db.close();
});

test('vectors: optimizeVectors builds each index into one segment; embeddingStatus', async () => {
  const { db, ids } = await peopleDb();
  await db.putVectors('person', 'bio', 'mine', [{ id: ids[0], vector: [1, 0] }, { id: ids[1], vector: [0, 1] }]);
  const reports = await db.optimizeVectors('person');
  assert.deepEqual(reports.map((r) => [r.table, r.field, r.provider, r.segments]), [['person', 'bio', 'mine', 1]]);
  assert.equal(typeof reports[0].sealed, 'number');
  assert.equal(typeof reports[0].merged, 'number');
  assert.deepEqual(names(await db.search('person', [1, 0], { topK: 1 })), ['Ada']);
  assert.equal((await db.optimizeVectors()).length, 1, 'every table');
  await rejectsWith(db.optimizeVectors(7), 'INVALID_ARGUMENT');

  const status = await db.embeddingStatus();
  assert.deepEqual(Object.keys(status).sort(), ['defaultProvider', 'mode', 'providers', 'queuedRows']);
  assert.equal(status.mode, 'inline');
  assert.equal(status.queuedRows, 0);
  assert.ok(Array.isArray(status.providers));
  await db.close();
});

test('WAL: walSeq, walEntries (since, limit), applyWal into a second db gives the same data', async () => {
  const { db, ids } = await peopleDb({ name: 'primary' });
  await db.update(ids[0], { age: 40 });
  await db.delete(ids[1]);
  await db.delete(ids[3], { hard: true });
  await db.putVector('person', ids[0], 'bio', 'mine', [0.6, 0.8, 0]);
  await db.putVector('person', ids[2], 'bio', 'mine', [0.8, 0.6, 0]);
  await db.addEdge(ids[0], ids[2], 'knows', { weight: 2 });

  const seq = await db.walSeq();
  const entries = await db.walEntries();
  assert.equal(entries.length, seq);
  assert.deepEqual(entries.map((e) => e.seq), Array.from({ length: seq }, (_, i) => i + 1));
  // 5 built-in tables, 2 schemas, 4 + 3 inserts, update, soft delete, hard delete, 2 vectors, edge.
  assert.equal(seq, 20);
  assert.deepEqual(entries.slice(7).map((e) => e.op),
    ['insert', 'insert', 'insert', 'insert', 'insert', 'insert', 'insert', 'update', 'delete', 'purge', 'vector', 'vector', 'link']);
  assert.deepEqual((await db.walEntries({ since: 17, limit: 2 })).map((e) => e.seq), [18, 19]);
  assert.deepEqual(await db.walEntries({ since: seq }), []);

  const replica = await RemDB.open({ name: 'replica' });
  // Entries survive JSON (the way they travel between machines).
  const report = await replica.applyWal(JSON.parse(JSON.stringify(entries)));
  // The replica's own built-in tables are the same history: skipped, not applied.
  assert.deepEqual(report, { applied: seq - 5, skipped: 5, seq });
  assert.equal(await replica.walSeq(), seq);
  // The same log from seq 6 on (each side timestamped its own built-in tables).
  assert.deepEqual(await replica.walEntries({ since: 5 }), entries.slice(5));
  for (const table of ['person', 'city']) {
    assert.deepEqual(await replica.list(table, { includeDeleted: true }), await db.list(table, { includeDeleted: true }));
  }
  const q = 'SELECT p.name, p.age, c.country FROM person p JOIN city c ON p.city = c.name ORDER BY p.name';
  assert.deepEqual(await replica.sql(q), await db.sql(q));
  assert.deepEqual(await replica.search('person', [1, 0, 0]), await db.search('person', [1, 0, 0]));
  assert.deepEqual(await replica.edges(ids[0]), await db.edges(ids[0]));
  assert.equal(await replica.get(ids[3]), null);
  assert.equal(await replica.count('person', { includeDeleted: true }), 3);

  // Later writes ship incrementally; a gap is refused.
  const next = await db.insert('person', { email: 'fay@x.io', name: 'Fay' });
  const more = await db.walEntries({ since: seq });
  assert.deepEqual(await replica.applyWal(more), { applied: 1, skipped: 0, seq: seq + 1 });
  assert.equal((await replica.get(next)).name, 'Fay');
  await db.update(next, { age: 1 });
  await db.update(next, { age: 2 });
  await rejectsWith(replica.applyWal(await db.walEntries({ since: seq + 2 })), 'WAL');
  // Applying what the replica already has skips it.
  assert.deepEqual(await replica.applyWal(more), { applied: 0, skipped: 1, seq: seq + 1 });
  await db.close();
  await replica.close();
});

test('WAL: re-applying vector entries with whole-number components is idempotent', async () => {
  const db = await RemDB.open();
  await db.registerSchema(CITY);
  const id = await db.insert('city', { name: 'Paris', country: 'FR' });
  await db.putVector('city', id, 'v', 'mine', [1, 0, 0]);
  const entries = await db.walEntries();
  const replica = await RemDB.open();
  await replica.applyWal(entries);
  // Sync protocols resend what the other side may already have: this must skip, not fail.
  assert.deepEqual(await replica.applyWal(entries), { applied: 0, skipped: entries.length, seq: entries.length });
  // The source itself took the same entries back as "already here".
  assert.deepEqual(await db.applyWal(entries), { applied: 0, skipped: entries.length, seq: entries.length });
});

test('onChange: one event per committed write with the new seq; reads and failures are silent', async () => {
  const db = await RemDB.open({ tenant: 't1' });
  const events = [];
  const off = db.onChange((e) => events.push(e));
  await db.registerSchema(PERSON);
  const ids = await db.insertMany('person', PEOPLE.slice(0, 2));
  await db.get(ids[0]);
  await db.sql('SELECT name FROM person');
  await db.list('person');
  await rejectsWith(db.insert('person', { email: 1 }), 'VALIDATION');
  await db.update(ids[0], { age: 1 });
  await db.addEdge(ids[0], ids[1], 'knows');
  await db.putVector('person', ids[0], 'v', 'p', [1, 0]);
  assert.deepEqual(events, [
    { tenant: 't1', seq: 6, remote: false },
    { tenant: 't1', seq: 8, remote: false },
    { tenant: 't1', seq: 9, remote: false },
    { tenant: 't1', seq: 10, remote: false },
    { tenant: 't1', seq: 11, remote: false },
  ]);
  assert.equal(events.at(-1).seq, await db.walSeq());
  // Upserting the same row again is still a write.
  await db.insert('person', PEOPLE[1]);
  assert.equal(events.length, 6);
  off();
  await db.delete(ids[1]);
  assert.equal(events.length, 6, 'no events after unsubscribing');
  // Memory databases are separate even under the same name: another one hears nothing.
  const other = await RemDB.open({ tenant: 't1' });
  const heard = [];
  other.onChange((e) => heard.push(e));
  await db.delete(ids[0]);
  assert.deepEqual(heard, []);
  await rejectsWith(other.count('person'), 'UNKNOWN_TABLE');
  await db.close();
  await other.close();
});

/** Runs `body` (an async function's source, given `{init, RemDB}` and `data`) in a fresh worker thread: a fresh module graph. */
function inWorker(body, data) {
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    (async () => {
      const api = await import(workerData.entry);
      const result = await (${body})(api, workerData.data);
      parentPort.postMessage({ result });
    })().catch((e) => parentPort.postMessage({ error: String((e && e.stack) || e), name: e && e.constructor && e.constructor.name, code: e && e.code }));`;
  return new Promise((resolve, reject) => {
    const worker = new Worker(code, { eval: true, workerData: { entry: import.meta.resolve('remdb'), data } });
    worker.once('message', (m) => {
      worker.terminate();
      if (m.error) reject(Object.assign(new Error(m.error), { name: m.name, code: m.code }));
      else resolve(m.result);
    });
    worker.once('error', reject);
  });
}

/** In a worker: the source is refused when broken, then `init(source)` loads it and a database works. */
const INIT_AND_USE = `async ({ init, RemDB }, { source, kind }) => {
  let refused = null;
  try {
    await init(new Uint8Array([0, 97, 115, 110, 1, 0, 0, 0]));
  } catch (e) {
    refused = { name: e.constructor.name, message: String(e.message) };
  }
  const input = kind === 'response'
    ? new Response(source, { headers: { 'content-type': 'application/wasm' } })
    : source;
  await init(input);
  await init(); // loaded once: later calls are no-ops
  const db = await RemDB.open();
  await db.registerSchema({ title: 'T', type: 'object', properties: { k: { type: 'string' } }, json_schema_extra: { key_field: 'k' } });
  await db.insertMany('t', [{ k: 'a' }, { k: 'b' }]);
  const rows = await db.sql('SELECT k FROM t ORDER BY k DESC');
  await db.close();
  return { refused, rows };
}`;

test('init(): bytes, an ArrayBuffer, a Response, a precompiled WebAssembly.Module (each in a fresh worker)', async () => {
  const wasmUrl = new URL('core/remdb_bg.wasm', import.meta.resolve('remdb/package.json'));
  const bytes = new Uint8Array(await readFile(wasmUrl));
  const module = await WebAssembly.compile(bytes);
  const sources = {
    bytes,
    arraybuffer: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
    response: bytes,
    module, // a WebAssembly.Module is structured-cloned to the worker, not recompiled from bytes
  };
  for (const [kind, source] of Object.entries(sources)) {
    const r = await inWorker(INIT_AND_USE, { source, kind });
    assert.ok(r.refused !== null, `${kind}: init took the given (broken) source and rejected`);
    assert.match(r.refused.message, /magic/, kind);
    assert.deepEqual(r.rows, [{ k: 'b' }, { k: 'a' }], kind);
  }
});

test('init(): a file: URL loads in Node; failures reject with RemDBError', async () => {
  const wasmUrl = new URL('core/remdb_bg.wasm', import.meta.resolve('remdb/package.json'));
  const r = await inWorker(`async ({ init, RemDB, RemDBError }, { url }) => {
    let bad = null;
    try {
      await init(new Uint8Array([1, 2, 3]));
    } catch (e) {
      bad = { isRemDBError: e instanceof RemDBError, code: e.code };
    }
    await init(new URL(url));
    const db = await RemDB.open();
    return { bad, seq: await db.walSeq() };
  }`, { url: wasmUrl.href });
  assert.equal(r.bad.isRemDBError, true);
  assert.equal(typeof r.bad.code, 'string');
  assert.equal(r.seq, 5);
});

test('init() in this process: resolves, then open works (the module is loaded once)', async () => {
  await init();
  await init();
  const db = await RemDB.open();
  assert.equal(await db.walSeq(), 5);
  await db.close();
});

test('remdb/full: embedding model from file paths, embed(), automatic embeddings and search by text', async () => {
  const t0 = Date.now();
  const db = await full.RemDB.open({
    embedding: { model: join(MODEL_DIR, 'model.onnx'), tokenizer: join(MODEL_DIR, 'tokenizer.json') },
  });
  const loadMs = Date.now() - t0;

  const v = await db.embed('a cat sits on the mat');
  assert.ok(v instanceof Float32Array);
  assert.equal(v.length, 384);
  const norm = Math.hypot(...v);
  assert.ok(Math.abs(norm - 1) < 1e-4, `unit length: ${norm}`);
  const many = await db.embed(['a cat sits on the mat', 'stock markets fell sharply']);
  assert.ok(Array.isArray(many) && many.length === 2);
  assert.ok(many.every((x) => x instanceof Float32Array && x.length === 384));
  const dot = (x, y) => x.reduce((s, xi, i) => s + xi * y[i], 0);
  assert.ok(dot(v, many[0]) > 0.999, 'batched and single embeddings agree');
  assert.ok(dot(v, many[1]) < 0.5, 'unrelated sentences are far apart');

  await db.registerSchema({
    title: 'Note',
    type: 'object',
    properties: { title: { type: 'string' }, body: { type: 'string' }, kind: { type: 'string' } },
    json_schema_extra: { key_field: 'title', embedding_fields: ['body'] },
  });
  const t1 = Date.now();
  await db.insertMany('note', [
    { title: 'bread', kind: 'home', body: 'How to bake sourdough bread with a crispy crust in a home oven' },
    { title: 'rocket', kind: 'science', body: 'The rocket launched into orbit carrying a weather satellite' },
    { title: 'dog', kind: 'home', body: 'My dog loves chasing the ball in the park every morning' },
    { title: 'rates', kind: 'money', body: 'Interest rates rose again, making mortgages more expensive for buyers' },
  ]);
  const insertMs = Date.now() - t1;
  const top = async (q, o) => (await db.search('note', q, { topK: 1, ...o })).map((h) => h.title);
  assert.deepEqual(await top('a puppy playing fetch'), ['dog']);
  assert.deepEqual(await top('spacecraft in orbit'), ['rocket']);
  assert.deepEqual(await top('baking a loaf'), ['bread']);
  assert.deepEqual(await top('bank loans and mortgages'), ['rates']);
  // With a filter: only matching rows, best first.
  assert.deepEqual(await top('a puppy playing fetch', { where: { kind: 'home' } }), ['dog']);
  assert.deepEqual(await top('a puppy playing fetch', { where: { kind: 'science' } }), ['rocket']);
  assert.deepEqual((await db.search('note', 'baking a loaf', { where: 'kind = $1', params: ['home'] })).map((h) => h.title), ['bread', 'dog']);
  // The text query embeds like embed(): searching by its vector gives the same order.
  const byText = await db.search('note', 'a puppy playing fetch');
  const byVector = await db.search('note', await db.embed('a puppy playing fetch'));
  assert.deepEqual(byText.map((h) => h.title), byVector.map((h) => h.title));
  // SQL similarity over the same vectors.
  const rows = await db.sql("SELECT title FROM note WHERE embedding.cosine('rockets and satellites') LIMIT 1");
  assert.deepEqual(rows, [{ title: 'rocket' }]);
  // Editing the embedded text re-embeds the row.
  const [dogId] = (await db.sql("SELECT id FROM note WHERE title = 'dog'")).map((r) => r.id);
  await db.update(dogId, { body: 'A telescope photographed a distant galaxy and its stars' });
  assert.deepEqual(await top('astronomy and galaxies'), ['dog']);
  await db.close();
  console.log(`remdb/full: model loaded in ${loadMs} ms, 4 rows embedded on insert in ${insertMs} ms`);
});

/**
 * A local OpenAI-compatible embeddings server (`POST /v1/embeddings`; Cohere's `POST /v1/embed`
 * too): 64-dimensional vectors from
 * the words of each input (texts sharing words point alike), `data` in reverse order (clients must
 * sort by `index`). `fail(n, status)` makes the next n requests fail with that status.
 */
async function openAiServer() {
  const { createServer } = await import('node:http');
  const seen = [];
  let failures = { left: 0, status: 500 };
  const vector = (text) => {
    const v = new Array(64).fill(0);
    for (const word of text.toLowerCase().split(/\W+/).filter(Boolean)) {
      let h = 7;
      for (const c of word) h = (h * 31 + c.charCodeAt(0)) >>> 0;
      v[h % 64] += 1;
    }
    const norm = Math.hypot(...v) || 1;
    return v.map((x) => x / norm);
  };
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => {
      const json = JSON.parse(body);
      seen.push({ method: req.method, url: req.url, auth: req.headers.authorization, body: json });
      const reply = (status, value, headers = {}) => {
        res.writeHead(status, { 'content-type': 'application/json', ...headers });
        res.end(JSON.stringify(value));
      };
      if (failures.left > 0) {
        failures.left--;
        reply(failures.status, { error: { message: `status ${failures.status}`, type: 'test' } }, { 'retry-after': '0' });
        return;
      }
      if (req.url === '/v1/embed') { // Cohere
        reply(200, { id: 'x', texts: json.texts, embeddings: { float: json.texts.map(vector) }, meta: {} });
        return;
      }
      const data = json.input.map((text, index) => ({ object: 'embedding', index, embedding: vector(text) })).reverse();
      reply(200, { object: 'list', data, model: json.model, usage: { prompt_tokens: 1, total_tokens: 1 } });
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    baseUrl: `http://127.0.0.1:${server.address().port}/v1`,
    seen,
    vector,
    fail(left, status) { failures = { left, status }; },
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

test('remote embeddings: the core build embeds through an OpenAI-compatible server on 127.0.0.1 (fetch from wasm)', async () => {
  const server = await openAiServer();
  try {
    const db = await RemDB.open({
      embedding: { provider: 'openai:test-embed', baseUrl: server.baseUrl, apiKey: 'sk-test', maxRetries: 2 },
    });
    // embed(): the request the server saw, and the vector it sent back.
    const v = await db.embed('red apples');
    assert.ok(v instanceof Float32Array && v.length === 64);
    assert.deepEqual(Array.from(v).map((x) => x.toFixed(5)), server.vector('red apples').map((x) => x.toFixed(5)));
    // Opening asked once for the provider's dimension; then embed() sent its text.
    assert.equal(server.seen.length, 2);
    const first = server.seen[1];
    assert.equal(first.method, 'POST');
    assert.equal(first.url, '/v1/embeddings');
    assert.equal(first.auth, 'Bearer sk-test');
    assert.equal(first.body.model, 'test-embed');
    assert.deepEqual(first.body.input, ['red apples']);
    const two = await db.embed(['green pears', 'red apples']);
    assert.equal(two.length, 2);
    assert.deepEqual(Array.from(two[1]), Array.from(v), 'answers are matched to inputs by index');

    // Inserts embed in the background; flush() waits for the remote calls.
    await db.registerSchema({
      title: 'Note',
      type: 'object',
      properties: { title: { type: 'string' }, body: { type: 'string' } },
      json_schema_extra: { key_field: 'title', embedding_fields: ['body'] },
    });
    await db.insertMany('note', [
      { title: 'fruit', body: 'red apples and green pears' },
      { title: 'sky', body: 'blue sky over the sea' },
      { title: 'cars', body: 'fast cars on a race track' },
    ]);
    await db.flush();
    const top = async (q) => (await db.search('note', q, { topK: 1 })).map((h) => h.title);
    assert.deepEqual(await top('apples'), ['fruit']);
    assert.deepEqual(await top('the sea'), ['sky']);
    const rows = await db.sql("SELECT title FROM note WHERE embedding.cosine('race cars') LIMIT 1");
    assert.deepEqual(rows, [{ title: 'cars' }]);
    const asked = server.seen.length;
    await db.sql("SELECT title FROM note WHERE embedding.cosine('race cars') LIMIT 1");
    assert.equal(server.seen.length, asked, 'a query text already embedded is not sent again');

    // A rate limit is retried; errors past maxRetries reject with EMBEDDING.
    server.fail(1, 429);
    assert.equal((await db.embed('blue sky')).length, 64);
    server.fail(10, 500);
    const before = server.seen.length;
    await rejectsWith(db.embed('anything'), 'EMBEDDING');
    assert.equal(server.seen.length - before, 3, 'one try and two retries');
    server.fail(0, 500);
    await db.close();
  } finally {
    await server.close();
  }
});

test('remote embeddings: Cohere gets rows as search_document and search/SQL text as search_query', async () => {
  const server = await openAiServer();
  try {
    const db = await RemDB.open({ embedding: { provider: 'cohere:test-embed', baseUrl: server.baseUrl, apiKey: 'co-test' } });
    await db.registerSchema({
      title: 'Note', type: 'object', properties: { body: { type: 'string' } },
      json_schema_extra: { embedding_fields: ['body'] },
    });
    await db.insertMany('note', [{ body: 'red apples' }, { body: 'blue sea' }]);
    await db.flush();
    const sent = (from) => server.seen.slice(from).map((r) => [r.url, r.body.input_type, r.body.texts]);
    // The dimension probe, then the rows.
    assert.deepEqual(sent(1), [['/v1/embed', 'search_document', ['red apples', 'blue sea']]]);
    assert.deepEqual((await db.search('note', 'apples', { topK: 1 })).map((h) => h.body), ['red apples']);
    assert.deepEqual(await db.sql("SELECT body FROM note WHERE embedding.cosine('the sea') LIMIT 1"), [{ body: 'blue sea' }]);
    assert.deepEqual(sent(2), [
      ['/v1/embed', 'search_query', ['apples']],
      ['/v1/embed', 'search_query', ['the sea']],
    ]);
    await db.close();
  } finally {
    await server.close();
  }
});

/**
 * A custom embed function for tests: 16 buckets of word hashes, L2-normalised (texts sharing
 * words are close). Every call is logged as [kind, texts]; `state.answer` replaces the answer.
 */
function wordsEmbedder(state = {}) {
  state.calls = [];
  const vector = (text) => {
    const v = new Float32Array(16);
    for (const word of text.toLowerCase().split(/\W+/).filter(Boolean)) {
      let h = 7;
      for (const c of word) h = (h * 31 + c.charCodeAt(0)) >>> 0;
      v[h % 16] += 1;
    }
    const n = Math.hypot(...v) || 1;
    return v.map((x) => x / n);
  };
  state.vector = vector;
  // Not an `async` function, so that an answer that throws throws synchronously.
  state.embed = (texts, { kind }) => {
    state.calls.push([kind, [...texts]]);
    if (state.answer) return state.answer(texts);
    return Promise.resolve(texts.map(vector));
  };
  return state;
}

const NOTE = {
  title: 'Note', type: 'object',
  properties: { title: { type: 'string' }, body: { type: 'string' } },
  json_schema_extra: { key_field: 'title', embedding_fields: ['body'] },
};

test('custom embedder: rows are embedded as documents through the queue, search and SQL texts as queries (both builds, every mode)', async () => {
  for (const [api, embeddingMode] of [[RemDB, undefined], [RemDB, 'background'], [full.RemDB, 'inline']]) {
    const words = wordsEmbedder();
    const db = await api.open({ embeddingMode, embedding: { provider: 'custom:words', dimensions: 16, embed: words.embed } });
    await db.registerSchema(NOTE);
    await db.insertMany('note', [
      { title: 'fruit', body: 'red apples and green pears' },
      { title: 'sky', body: 'blue sky over the sea' },
    ]);
    await db.insert('note', { title: 'cars', body: 'fast cars on a race track' });
    await db.flush();
    const status = await db.embeddingStatus();
    assert.equal(status.queuedRows, 0, `${embeddingMode}: flush embedded every row`);
    assert.equal(status.defaultProvider, 'custom:words');
    assert.deepEqual(status.providers, [{ provider: 'custom:words', ready: true, dimensions: 16 }]);
    const documents = words.calls.filter(([kind]) => kind === 'document').flatMap(([, texts]) => texts).sort();
    assert.deepEqual(documents, ['blue sky over the sea', 'fast cars on a race track', 'red apples and green pears']);

    words.calls.length = 0;
    assert.deepEqual((await db.search('note', 'green apples', { topK: 1 })).map((h) => h.title), ['fruit']);
    const rows = await db.sql("SELECT title FROM note WHERE embedding.cosine('race cars') LIMIT 1");
    assert.deepEqual(rows, [{ title: 'cars' }]);
    assert.deepEqual(await db.sql("SEARCH 'the blue sea' IN note LIMIT 1").then((r) => r.map((x) => x.title)), ['sky']);
    const v = await db.embed('red apples');
    assert.deepEqual(Array.from(v), Array.from(words.vector('red apples')));
    assert.deepEqual(words.calls, [
      ['query', ['green apples']],
      ['query', ['race cars']],
      ['query', ['the blue sea']],
      ['document', ['red apples']],
    ]);
    await db.close();
  }
});

test('custom embedder: wrong answers reject with EMBEDDING and store nothing; queued rows wait for a good answer', async () => {
  const words = wordsEmbedder();
  const db = await RemDB.open({ embedding: { provider: 'custom:words', dimensions: 16, embed: words.embed } });
  const wrong = {
    'one vector short': [(texts) => texts.slice(1).map(words.vector), 'returned 1 vectors for 2 texts'],
    'wrong dimension': [(texts) => texts.map(() => new Float32Array(8)), 'vector 0 has 8 values, expected 16'],
    'not finite': [(texts) => texts.map(() => new Float32Array(16).fill(Infinity)), 'not a finite number'],
    'plain arrays': [(texts) => texts.map((t) => Array.from(words.vector(t))), 'vector 0 is not a Float32Array'],
    'Float64Array': [(texts) => texts.map((t) => Float64Array.from(words.vector(t))), 'vector 0 is not a Float32Array (got Float64Array)'],
    'not an array': [() => ({ vectors: [] }), 'must resolve to an array of Float32Array'],
    'a throw': [() => { throw new Error('model not loaded'); }, 'the embed function threw: model not loaded'],
    'a rejection': [() => Promise.reject(new Error('GPU device lost')), 'the embed function rejected: GPU device lost'],
  };
  for (const [what, [answer, says]] of Object.entries(wrong)) {
    words.answer = answer;
    const e = await rejectsWith(db.embed(['red apples', 'blue sea']), 'EMBEDDING');
    assert.ok(e.message.includes('custom:words') && e.message.includes(says), `${what}: ${e.message}`);
  }

  await db.registerSchema(NOTE);
  words.answer = wrong['wrong dimension'][0];
  await db.insert('note', { title: 'fruit', body: 'red apples' });
  const e = await rejectsWith(db.flush(), 'EMBEDDING');
  assert.ok(e.message.includes('vector 0 has 8 values, expected 16'), e.message);
  assert.equal((await db.embeddingStatus()).queuedRows, 1, 'the row is still queued');
  assert.deepEqual(await db.optimizeVectors(), [], 'no vector was stored');
  await rejectsWith(db.sql("SELECT title FROM note WHERE embedding.cosine('apples')"), 'EMBEDDING');
  await rejectsWith(db.search('note', 'apples'), 'EMBEDDING');

  words.answer = null;
  await db.flush();
  assert.equal((await db.embeddingStatus()).queuedRows, 0);
  assert.deepEqual((await db.search('note', 'apples')).map((h) => h.title), ['fruit']);
  await db.close();
});

test('custom embedder: an answer that never comes fails after timeoutMs and leaves the row queued', async () => {
  const words = wordsEmbedder();
  const db = await RemDB.open({ embedding: { provider: 'custom:words', dimensions: 16, embed: words.embed, timeoutMs: 50 } });
  words.answer = () => new Promise(() => {});
  const e = await rejectsWith(db.embed('red apples'), 'EMBEDDING');
  assert.ok(e.message.includes('custom:words') && e.message.includes('no answer within 50 ms'), e.message);
  await db.registerSchema(NOTE);
  await db.insert('note', { title: 'fruit', body: 'red apples' });
  await rejectsWith(db.flush(), 'EMBEDDING');
  assert.equal((await db.embeddingStatus()).queuedRows, 1, 'the row is still queued');
  words.answer = undefined;
  await db.flush();
  assert.equal((await db.embeddingStatus()).queuedRows, 0);
  await db.close();
});

test('custom embedder: bad options reject with INVALID_ARGUMENT; opfs is UNSUPPORTED', async () => {
  const embed = wordsEmbedder().embed;
  for (const embedding of [
    { provider: 'custom:words', dimensions: 16, embed: 'not a function' },
    { provider: 'openai:words', dimensions: 16, embed },
    { provider: 'custom:words', dimensions: 0, embed },
    { provider: 'custom:words', dimensions: 2.5, embed },
    { provider: 'custom:words', embed },
    { provider: 'custom:words', dimensions: 16, embed, baseUrl: 'http://x' },
    { provider: 'custom:words', dimensions: 16, embed, timeoutMs: 0 },
    { provider: 'custom:words', dimensions: 16, embed, timeoutMs: 'soon' },
  ]) {
    await rejectsWith(RemDB.open({ embedding }), 'INVALID_ARGUMENT');
  }
  await rejectsWith(RemDB.open({ storage: 'opfs', embedding: { provider: 'custom:words', dimensions: 16, embed } }), 'UNSUPPORTED');
});

test('remdb/full: a missing model file rejects with EMBEDDING; the core build has no local embeddings', async () => {
  await rejectsWith(full.RemDB.open({
    embedding: { model: join(MODEL_DIR, 'no-such-model.onnx'), tokenizer: join(MODEL_DIR, 'tokenizer.json') },
  }), 'EMBEDDING');
  const db = await RemDB.open();
  await rejectsWith(db.embed('hello'), 'EMBEDDING');
  await db.registerSchema({ title: 'N', type: 'object', properties: { t: { type: 'string' } }, json_schema_extra: { embedding_fields: ['t'] } });
  await rejectsWith(db.search('n', 'some text'), 'EMBEDDING');
  // A table without embedding fields or vectors has nothing to search.
  await db.registerSchema({ title: 'Plain', type: 'object', properties: { t: { type: 'string' } } });
  await rejectsWith(db.search('plain', 'some text'), 'INVALID_ARGUMENT');
  await db.close();
  await rejectsWith(RemDB.open({
    embedding: { model: join(MODEL_DIR, 'model.onnx'), tokenizer: join(MODEL_DIR, 'tokenizer.json') },
  }), 'EMBEDDING');
});

const TICKET = {
  title: 'Ticket',
  type: 'object',
  properties: { key: { type: 'string' }, status: { enum: ['open', 'closed'] }, opened_at: { type: 'string', format: 'date-time' } },
  required: ['key', 'status'],
  json_schema_extra: { short_name: 'tickets', key_field: 'key', indexed_fields: ['status'] },
};

async function ticketDb() {
  const db = await RemDB.open({});
  await db.registerSchema(TICKET);
  await db.insertMany('tickets', [
    { key: 'TAP-1', status: 'open', opened_at: '2026-06-12T10:00:00Z' },
    { key: 'TAP-2', status: 'closed', opened_at: '2026-05-02T10:00:00Z' },
    { key: 'TAP-3', status: 'open', opened_at: '2026-04-01T10:00:00Z' },
  ]);
  return db;
}

/** A plan answering "open tickets", as an LLM would return it. */
const OPEN_TICKETS_PLAN = {
  intent: 'sql',
  stages: [{ kind: 'select', table: 'tickets', filters: [{ field: 'status', op: 'eq', value: 'open' }], time: null, from_previous: false, group_by: null, aggregate: null, order_by: null, limit: null }],
  return: 'rows',
  fallback: null,
  explanation: 'open tickets',
};

test('ask: the offline planner answers in wasm — counts, time phrases, lookups, refusals write nothing', async () => {
  const db = await ticketDb();
  const now = '2026-06-15T12:00:00Z';
  const count = await db.ask('how many open tickets', { now });
  assert.equal(count.status, 'ok');
  assert.equal(count.planner, 'offline');
  assert.deepEqual(count.rows, [{ count: 2 }]);
  assert.ok(count.confidence >= 0.7, String(count.confidence));
  const recent = await db.ask('tickets opened in the last 7 days', { now: new Date(now) });
  assert.deepEqual(recent.rows.map((r) => r.key), ['TAP-1']);
  assert.equal(recent.stages[0].params.length, 2);
  const one = await db.ask('tap 3');
  assert.equal(one.intent, 'entity_lookup');
  assert.equal(one.rows[0]._table, 'tickets');
  const seq = await db.walSeq();
  const refused = await db.ask('delete all closed tickets');
  assert.equal(refused.status, 'refused');
  assert.equal(await db.walSeq(), seq);
  const plan = await db.ask('open tickets', { plan: true });
  assert.equal(plan.plan.stages[0].kind, 'select');
  assert.deepEqual(plan.rows, []);
  await assert.rejects(db.ask('open tickets', { tabel: 'x' }), (e) => e.code === 'INVALID_ARGUMENT');
  await assert.rejects(db.ask('open tickets', { table: 'nope' }), (e) => e.code === 'UNKNOWN_TABLE');
  await assert.rejects(db.ask('x'.repeat(5000)), (e) => e.code === 'LIMIT');
  await db.close();
});

test('ask: words naming no field link by meaning through an async custom embedder, field texts embedded once', async () => {
  const words = wordsEmbedder();
  const db = await RemDB.open({ embedding: { provider: 'custom:words', dimensions: 16, embed: words.embed } });
  await db.registerSchema({
    title: 'Order', type: 'object',
    properties: {
      ref: { type: 'string' },
      amount: { type: 'number', description: 'What the order cost in euros' },
      items: { type: 'integer', description: 'How many pieces it holds' },
    },
    json_schema_extra: { short_name: 'orders', key_field: 'ref' },
  });
  await db.insertMany('orders', [{ ref: 'A1', amount: 10, items: 1 }, { ref: 'A2', amount: 50, items: 3 }]);
  const a = await db.ask('average cost of orders');
  assert.equal(a.status, 'ok', JSON.stringify(a));
  assert.ok(a.stages[0].query.includes('AVG(`amount`)'), a.stages[0].query);
  assert.deepEqual(Object.values(a.rows[0]), [30]);
  const asked = words.calls.flatMap(([kind, texts]) => texts.map((t) => [kind, t]));
  assert.ok(asked.some(([kind, t]) => kind === 'query' && t === 'cost'), JSON.stringify(asked));
  assert.ok(asked.some(([, t]) => t.startsWith('amount: ')), JSON.stringify(asked));
  // The next question embeds at most its own word: the field texts are remembered.
  words.calls.length = 0;
  const b = await db.ask('maximum cost of orders');
  assert.ok(b.stages[0].query.includes('MAX(`amount`)'), b.stages[0].query);
  const again = words.calls.flatMap(([, texts]) => texts);
  assert.ok(again.every((t) => t === 'cost'), JSON.stringify(again));
  await db.close();
});

test('ask: an app function answers the LLM request (OpenAI body, plan object, repair), failures fall back to offline', async () => {
  const db = await ticketDb();
  const requests = [];
  const answers = [
    // A hallucinated column first: the session sends one repair request carrying the error.
    { choices: [{ message: { role: 'assistant', content: JSON.stringify({ ...OPEN_TICKETS_PLAN, stages: [{ ...OPEN_TICKETS_PLAN.stages[0], filters: [{ field: 'state', op: 'eq', value: 'open' }] }] }) }, finish_reason: 'stop' }] },
    OPEN_TICKETS_PLAN,
  ];
  const a = await db.ask('which tickets still need work', { llm: async (request) => { requests.push(request); return answers.shift(); } });
  assert.equal(a.status, 'ok', a.explanation);
  assert.equal(a.planner, 'caller');
  assert.equal(a.llm_calls, 2);
  assert.deepEqual(a.rows.map((r) => r.key).sort(), ['TAP-1', 'TAP-3']);
  assert.equal(requests.length, 2);
  assert.equal(requests[0].body.response_format.type, 'json_schema');
  assert.equal(requests[0].body.temperature, 0);
  assert.ok(requests[0].messages[0].content.includes('which tickets still need work'));
  assert.ok(requests[0].system.includes('read-only'));
  assert.equal(requests[1].messages.length, 3);
  assert.match(requests[1].messages[2].content, /unknown field `state`.*did you mean `status`/);
  // A throwing function: the offline plan answers and says why.
  const b = await db.ask('open tickets', { llm: async () => { throw new Error('backend down'); } });
  assert.equal(b.planner, 'offline');
  assert.match(b.explanation, /backend down/);
  assert.deepEqual(b.rows.map((r) => r.key).sort(), ['TAP-1', 'TAP-3']);
  // A plan that asks for a write is refused.
  const seq = await db.walSeq();
  const c = await db.ask('tidy up', { llm: () => ({ intent: 'sql', stages: [{ kind: 'delete', table: 'tickets' }] }) });
  assert.equal(c.status, 'refused');
  assert.equal(await db.walSeq(), seq);
  await db.close();
});

test('ask: an OpenAI-compatible server on 127.0.0.1 plans through fetch from wasm (key header, strict schema)', async () => {
  const { createServer } = await import('node:http');
  const seen = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => {
      seen.push({ url: req.url, auth: req.headers.authorization, body: JSON.parse(body) });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: 'x', object: 'chat.completion', choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content: JSON.stringify(OPEN_TICKETS_PLAN) } }] }));
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const db = await ticketDb();
    const baseUrl = `http://127.0.0.1:${server.address().port}/v1`;
    const a = await db.ask('tickets that are still open', { llm: { provider: 'openai:gpt-4o-mini', apiKey: 'sk-test', baseUrl } });
    assert.equal(a.status, 'ok', a.explanation);
    assert.equal(a.planner, 'openai:gpt-4o-mini');
    assert.equal(a.llm_calls, 1);
    assert.deepEqual(a.rows.map((r) => r.key).sort(), ['TAP-1', 'TAP-3']);
    assert.equal(seen.length, 1);
    assert.equal(seen[0].url, '/v1/chat/completions');
    assert.equal(seen[0].auth, 'Bearer sk-test');
    assert.equal(seen[0].body.model, 'gpt-4o-mini');
    assert.equal(seen[0].body.response_format.json_schema.strict, true);
    await db.close();
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});

const TASK = {
  title: 'Task',
  type: 'object',
  properties: { key: { type: 'string' }, title: { type: 'string' }, done: { type: 'boolean' }, points: { type: 'integer' } },
  required: ['key'],
  json_schema_extra: { key_field: 'key' },
};

test('sync: two databases converge through rem serve with fetch; live sync and a live query follow the other', async (t) => {
  const hub = await startHub();
  t.after(() => hub.stop());
  const a = await RemDB.open();
  const b = await RemDB.open();
  await a.registerSchema(TASK);
  const id = await a.insert('task', { key: 'docs', title: 'Write docs', points: 3 });
  const first = await a.sync({ url: hub.url, token: hub.admin }).done;
  // The built-in tables' schemas (every device has the same), the task schema and the row.
  assert.deepEqual([first.pushed, first.rejected], [7, 0], JSON.stringify(first));
  await b.sync({ url: hub.url, token: hub.member }).done;
  assert.equal((await b.get(id)).title, 'Write docs');

  // Offline edits of different fields of one row, and one field on both.
  await a.update(id, { done: true, title: 'Write the docs (a)' });
  await b.update(id, { points: 5, title: 'Write the docs (b)' });
  await a.sync({ url: hub.url, token: hub.member }).done;
  const round = await b.sync({ url: hub.url, token: hub.member }).done;
  assert.equal(round.conflicts, 1, JSON.stringify(round));
  await a.sync({ url: hub.url, token: hub.member }).done;
  const [ra, rb] = [await a.get(id), await b.get(id)];
  assert.deepEqual(ra, rb);
  assert.equal(ra.done, true);
  assert.equal(ra.points, 5);
  assert.equal((await b.conflicts())[0].field, 'title');
  assert.deepEqual(await b.rejected(), []);
  const status = await b.syncStatus();
  assert.equal(status.outbox, 0);

  // b follows the hub live; a live query on b sees a's next change without b asking.
  const seen = [];
  const query = b.live('SELECT key, points FROM task ORDER BY key', [], (rows) => seen.push(rows));
  await query.ready;
  const follower = b.sync({ url: hub.url, token: hub.member, live: true });
  const states = [];
  follower.on((s) => states.push(s));
  await a.insert('task', { key: 'ship', points: 8 });
  const started = Date.now();
  await a.sync({ url: hub.url, token: hub.member }).done;
  while (!seen.some((rows) => rows.length === 2) && Date.now() - started < 10_000) {
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.deepEqual(seen.at(-1), [{ key: 'docs', points: 5 }, { key: 'ship', points: 8 }], JSON.stringify(seen));
  query.unsubscribe();
  await follower.stop();
  assert.equal(follower.status, 'stopped');
  assert.ok(states.includes('idle'), states.join(','));

  // A refused token is a SYNC error with the hub's message; bad options are INVALID_ARGUMENT.
  await assert.rejects(a.sync({ url: hub.url, token: 'rem1.forged.token' }).done, (e) => e.code === 'SYNC' && /401/.test(e.message));
  assert.throws(() => a.sync({ url: hub.url }), (e) => e.code === 'INVALID_ARGUMENT');
  await assert.rejects(a.sync({ url: 'http://127.0.0.1:9', token: hub.member }).done, (e) => e.code === 'SYNC' && /cannot reach/.test(e.message));
  await a.close();
  await b.close();
});
