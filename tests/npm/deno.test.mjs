// remdb in Deno 2, imported through node_modules (package.json + node_modules: no network and no
// npm: specifiers), so the `deno` export condition picks js/entry/deno.js.
// Run from target/npm-test (see .ci/test-npm):
//   ./node_modules/.bin/deno test --allow-read --allow-env --allow-net --allow-run deno.test.mjs
// (--allow-run: the sync test starts a `rem serve` hub)
import { RemDB, RemDBError } from 'remdb';
import * as full from 'remdb/full';

const ROOT = Deno.env.get('REMDB_ROOT') ?? new URL('../..', import.meta.url).pathname;
const MODEL_DIR = `${ROOT}/models/all-MiniLM-L6-v2`;

// Tiny assertion helpers (no std imports: the tests run offline).
function fail(message) {
  throw new Error(message);
}
function assert(condition, message = 'assertion failed') {
  if (!condition) fail(message);
}
function stable(value) {
  return JSON.stringify(value, (_k, v) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, v[k]]))
      : v);
}
function assertEquals(actual, expected, message = '') {
  const a = stable(actual);
  const e = stable(expected);
  if (a !== e) fail(`${message ? message + ': ' : ''}expected ${e}, got ${a}`);
}
function assertClose(actual, expected, eps = 1e-6, message = '') {
  if (!(Math.abs(actual - expected) <= eps)) fail(`${message ? message + ': ' : ''}expected ${expected} ± ${eps}, got ${actual}`);
}
async function assertRejectsCode(f, code) {
  let error = null;
  try {
    await f();
  } catch (e) {
    error = e;
  }
  if (error === null) fail(`expected a rejection with code ${code}, but it resolved`);
  if (!(error instanceof RemDBError)) fail(`expected a RemDBError, got ${error && error.constructor && error.constructor.name}: ${error}`);
  if (error.code !== code) fail(`expected code ${code}, got ${error.code}: ${error.message}`);
  return error;
}

const PERSON = {
  title: 'Person',
  type: 'object',
  properties: {
    email: { type: 'string' },
    name: { type: 'string' },
    team: { type: 'string' },
    age: { type: 'integer', minimum: 0 },
  },
  required: ['email', 'name'],
  json_schema_extra: { key_field: 'email', indexed_fields: ['team', 'age'] },
};

async function people() {
  const db = await RemDB.open({ name: 'deno-test' });
  await db.registerSchema(PERSON);
  const ids = await db.insertMany('person', [
    { email: 'ada@x.io', name: 'Ada', team: 'core', age: 36 },
    { email: 'bob@x.io', name: 'Bob', team: 'core', age: 28 },
    { email: 'cy@x.io', name: 'Cy', team: 'web', age: 41 },
  ]);
  return { db, ids };
}

Deno.test('the deno export condition resolves to js/entry/deno.js and that entry runs', async () => {
  const core = import.meta.resolve('remdb');
  assert(core.endsWith('/node_modules/remdb/js/entry/deno.js'), core);
  const fullEntry = import.meta.resolve('remdb/full');
  assert(fullEntry.endsWith('/node_modules/remdb/js/entry/full/deno.js'), fullEntry);
  // The entry passes its runtime name to the API, which names it in this error: deno.js ran.
  const e = await assertRejectsCode(() => RemDB.open({ storage: 'indexeddb' }), 'UNSUPPORTED');
  assert(e.message.includes('(deno)'), e.message);
  // Both builds share the one API module, so errors of either are `RemDBError`s.
  assert(full.RemDBError === RemDBError, 'remdb/full exports the same RemDBError');
});

Deno.test('memory database: schema, insert, get, update, delete, count', async () => {
  const { db, ids } = await people();
  assertEquals([db.name, db.tenant, db.storage, db.role], ['deno-test', 'default', 'memory', 'owner']);
  const schemas = await db.schemas();
  const person = schemas.find((s) => s.name === 'person');
  assertEquals([person.key_field, person.indexed_fields], ['email', ['team', 'age']]);
  assertEquals(ids.length, 3);
  const ada = await db.get(ids[0]);
  assertEquals([ada.name, ada.team, ada.age, ada.id, ada.deleted_at], ['Ada', 'core', 36, ids[0], null]);
  const older = await db.update(ids[0], { age: 37 });
  assertEquals(older.age, 37);
  // Natural key (email): inserting it again upserts the same row.
  const again = await db.insert('person', { email: 'bob@x.io', name: 'Robert', team: 'core', age: 29 });
  assertEquals(again, ids[1]);
  assertEquals((await db.get(ids[1])).name, 'Robert');
  await db.delete(ids[2]);
  assertEquals(await db.count('person'), 2);
  assertEquals(await db.count('person', { includeDeleted: true }), 3);
  await db.close();
});

Deno.test('SQL with parameters, GROUP BY and ORDER BY', async () => {
  const { db } = await people();
  assertEquals(
    await db.sql('SELECT name, age FROM person WHERE team = $1 AND age > $2 ORDER BY age DESC', ['core', 20]),
    [{ name: 'Ada', age: 36 }, { name: 'Bob', age: 28 }],
  );
  assertEquals(
    await db.sql('SELECT team, COUNT(*) AS n, MAX(age) AS oldest FROM person GROUP BY team ORDER BY team'),
    [{ team: 'core', n: 2, oldest: 36 }, { team: 'web', n: 1, oldest: 41 }],
  );
  await db.close();
});

Deno.test('ask: the offline planner answers in Deno', async () => {
  const { db } = await people();
  const a = await db.ask('how many people per team');
  assertEquals(a.status, 'ok');
  assertEquals(a.intent, 'aggregate');
  assertEquals(a.rows, [{ count: 2, team: 'core' }, { count: 1, team: 'web' }]);
  const refused = await db.ask('delete every person');
  assertEquals(refused.status, 'refused');
  assertEquals(await db.count('person'), 3);
  await db.close();
});

Deno.test('vector search with given vectors', async () => {
  const { db, ids } = await people();
  await db.putVector('person', ids[0], 'bio', 'test', [1, 0, 0]);
  await db.putVector('person', ids[1], 'bio', 'test', new Float32Array([0.6, 0.8, 0]));
  await db.putVector('person', ids[2], 'bio', 'test', [0, 0, 1]);
  const hits = await db.search('person', new Float32Array([1, 0, 0]), { topK: 2 });
  assertEquals(hits.map((h) => h.name), ['Ada', 'Bob']);
  assertClose(hits[0]._score, 1);
  assertClose(hits[1]._score, 0.6);
  const web = await db.search('person', [1, 0, 0], { where: 'team = $1', params: ['web'] });
  assertEquals(web.map((h) => h.name), ['Cy']);
  assertEquals((await db.search('person', [1, 0, 0], { minScore: 0.5 })).map((h) => h.name), ['Ada', 'Bob']);
  await db.close();
});

Deno.test('graph: addEdge, edges, traverse', async () => {
  const { db, ids } = await people();
  await db.addEdge(ids[0], ids[1], 'mentors', { since: 2020 });
  await db.addEdge(ids[1], ids[2], 'mentors');
  const out = await db.edges(ids[0], { direction: 'out' });
  assertEquals(out.map((e) => [e.src, e.rel, e.dst, e.properties]), [[ids[0], 'mentors', ids[1], { since: 2020 }]]);
  const walk = await db.traverse(ids[0], { direction: 'out', maxDepth: 5 });
  assertEquals(walk.paths.map((p) => p.nodes), [[ids[0], ids[1]], [ids[0], ids[1], ids[2]]]);
  assertEquals(walk.rows[ids[2]].name, 'Cy');
  assertEquals(walk.truncated, false);
  await db.close();
});

Deno.test('typed errors: VALIDATION, UNKNOWN_TABLE, SQL_SYNTAX, INVALID_ARGUMENT, CLOSED', async () => {
  const { db } = await people();
  const v = await assertRejectsCode(() => db.insert('person', { email: 'z@x.io', age: -2 }), 'VALIDATION');
  assertEquals(v.issues, [
    { pointer: '', reason: '"name" is a required property' },
    { pointer: '/age', reason: '-2 is less than the minimum of 0' },
  ]);
  await assertRejectsCode(() => db.list('nope'), 'UNKNOWN_TABLE');
  await assertRejectsCode(() => db.sql('SELECT FROM WHERE'), 'SQL_SYNTAX');
  await assertRejectsCode(() => db.sql('SELECT nope FROM person'), 'UNKNOWN_COLUMN');
  await assertRejectsCode(() => db.list('person', { limt: 2 }), 'INVALID_ARGUMENT');
  await assertRejectsCode(() => RemDB.open({ storge: 'memory' }), 'INVALID_ARGUMENT');
  await db.close();
  await assertRejectsCode(() => db.count('person'), 'CLOSED');
});

Deno.test('remdb/full in Deno: the model from file paths, embed and search by text', async () => {
  const db = await full.RemDB.open({
    embedding: { model: `${MODEL_DIR}/model.onnx`, tokenizer: `${MODEL_DIR}/tokenizer.json` },
  });
  const v = await db.embed('a cat sits on the mat');
  assert(v instanceof Float32Array, 'embed returns a Float32Array');
  assertEquals(v.length, 384);
  assertClose(Math.hypot(...v), 1, 1e-4, 'unit length');
  await db.registerSchema({
    title: 'Note',
    type: 'object',
    properties: { title: { type: 'string' }, body: { type: 'string' } },
    json_schema_extra: { key_field: 'title', embedding_fields: ['body'] },
  });
  await db.insertMany('note', [
    { title: 'bread', body: 'How to bake sourdough bread with a crispy crust in a home oven' },
    { title: 'rocket', body: 'The rocket launched into orbit carrying a weather satellite' },
    { title: 'dog', body: 'My dog loves chasing the ball in the park every morning' },
  ]);
  assertEquals((await db.search('note', 'a puppy playing fetch', { topK: 1 })).map((h) => h.title), ['dog']);
  assertEquals((await db.search('note', 'spacecraft in orbit', { topK: 1 })).map((h) => h.title), ['rocket']);
  await db.close();
});

/** A `rem serve` hub on a free port (Deno's own process API) and tokens for its tenant. */
async function startHub() {
  const target = Deno.env.get('CARGO_TARGET_DIR') ?? `${ROOT}/target`;
  const rem = `${target}/debug/rem`;
  // rem serve creates its data directory (the test itself has no write permission).
  const data = `${Deno.env.get('TMPDIR') ?? '/tmp'}/rem-hub-deno-${crypto.randomUUID()}`;
  const child = new Deno.Command(rem, {
    args: ['--json', 'serve', '--data', data, '--listen', '127.0.0.1:0'],
    stdout: 'piped',
    stderr: 'inherit',
  }).spawn();
  const reader = child.stdout.getReader();
  let text = '';
  while (!text.includes('\n')) {
    const { value, done } = await reader.read();
    if (done) fail(`rem serve exited (is ${rem} built with --features server?)`);
    text += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  child.stdout.cancel();
  const url = `http://${JSON.parse(text.split('\n')[0]).listening}`;
  const token = async (...args) => {
    const out = await new Deno.Command(rem, { args: ['--json', 'serve', 'token', '--data', data, '--tenant', 'acme', ...args] }).output();
    return JSON.parse(new TextDecoder().decode(out.stdout)).token;
  };
  return { url, admin: await token('--admin'), member: await token(), stop: () => { child.kill(); return child.status; } };
}

Deno.test('sync: two databases converge through a rem serve hub with fetch', async () => {
  const hub = await startHub();
  try {
    const a = await RemDB.open();
    const b = await RemDB.open();
    await a.registerSchema({
      title: 'Task', type: 'object',
      properties: { key: { type: 'string' }, points: { type: 'integer' } },
      required: ['key'], json_schema_extra: { key_field: 'key' },
    });
    await a.insert('task', { key: 'docs', points: 3 });
    await a.sync({ url: hub.url, token: hub.admin }).done;
    const pulled = await b.sync({ url: hub.url, token: hub.member }).done;
    // A new device loads the hub's state (its one row) instead of replaying the log.
    assert(pulled.loaded === 1 && pulled.pulled === 0, JSON.stringify(pulled));
    await b.insert('task', { key: 'ship', points: 8 });
    await b.sync({ url: hub.url, token: hub.member }).done;
    await a.sync({ url: hub.url, token: hub.member }).done;
    const rows = async (db) => db.sql('SELECT key, points FROM task ORDER BY key');
    assertEquals(await rows(a), [{ key: 'docs', points: 3 }, { key: 'ship', points: 8 }]);
    assertEquals(await rows(b), await rows(a));
    await a.close();
    await b.close();
  } finally {
    await hub.stop();
  }
});
