// SQL benchmarks of the wasm build in Node against PGlite (PostgreSQL in wasm) on the same rows
// with the same indexes, in the same run — the queries of benches/sql.rs.
//
//   bash benches/node/build.sh && (cd benches/node && npm install) \
//     && node benches/node/sql.mjs [memory|redb|memory,redb]
import { loadRemDb, measure, humanTime, printTable, since, record } from './harness.mjs';

const { RemDb } = loadRemDb();
const backends = (process.argv[2] ?? 'memory').split(',');
const BIG = 100_000;
const SMALL = 10_000;

const QUERIES = [
  ['index_eq_100k', 'SELECT * FROM item WHERE n = 54321'],
  ['range_100_of_100k', 'SELECT name, n FROM item WHERE n >= 50000 AND n < 50100'],
  ['scan_filter_10k', 'SELECT name FROM small WHERE x > 0.5 AND g = 3'],
  ['group_by_100k', 'SELECT g, COUNT(*), AVG(x) FROM item GROUP BY g'],
  ['join_10k_x_10k', 'SELECT a.k, b.label FROM a JOIN b ON a.ref = b.k'],
  ['top10_of_100k', 'SELECT name, x FROM item ORDER BY x DESC LIMIT 10'],
  ['top10_indexed_of_100k', 'SELECT name, n FROM item ORDER BY n DESC LIMIT 10'],
];

const item = (i) => ({ k: i, n: i, g: i % 100, s: `s${i % 1000}`, x: ((i * 7919) % 10_000) / 10_000, name: `item number ${i}` });
const props = { k: { type: 'integer' }, n: { type: 'integer' }, g: { type: 'integer' }, s: { type: 'string' }, x: { type: 'number' }, name: { type: 'string' } };

function loadRemdb(backend) {
  const db = backend === 'redb' ? RemDb.openRedbMemory() : RemDb.openMemory();
  db.registerSchema({ title: 'Item', type: 'object', properties: props, json_schema_extra: { key_field: 'k', indexed_fields: ['n', 's'] } });
  db.registerSchema({ title: 'Small', type: 'object', properties: props, json_schema_extra: { key_field: 'k' } });
  db.registerSchema({ title: 'A', type: 'object', properties: { k: { type: 'integer' }, ref: { type: 'integer' } }, json_schema_extra: { key_field: 'k' } });
  db.registerSchema({ title: 'B', type: 'object', properties: { k: { type: 'integer' }, label: { type: 'string' } }, json_schema_extra: { key_field: 'k' } });
  const range = (a, b) => Array.from({ length: b - a }, (_, j) => a + j);
  for (let start = 0; start < BIG; start += 10_000) db.insertMany('item', range(start, start + 10_000).map(item));
  db.insertMany('small', range(0, SMALL).map(item));
  db.insertMany('a', range(0, SMALL).map((i) => ({ k: i, ref: (i * 7) % SMALL })));
  db.insertMany('b', range(0, SMALL).map((i) => ({ k: i, label: `label ${i}` })));
  return db;
}

async function loadPglite() {
  const { PGlite } = await import('@electric-sql/pglite');
  const pg = new PGlite();
  await pg.exec(`
    CREATE TABLE item (k BIGINT PRIMARY KEY, n BIGINT, g BIGINT, s TEXT, x DOUBLE PRECISION, name TEXT);
    CREATE INDEX item_n ON item(n); CREATE INDEX item_s ON item(s);
    CREATE TABLE small (k BIGINT PRIMARY KEY, n BIGINT, g BIGINT, s TEXT, x DOUBLE PRECISION, name TEXT);
    CREATE TABLE a (k BIGINT PRIMARY KEY, ref BIGINT);
    CREATE TABLE b (k BIGINT PRIMARY KEY, label TEXT);
    INSERT INTO item SELECT i, i, i % 100, 's' || (i % 1000), ((i * 7919) % 10000) / 10000.0, 'item number ' || i FROM generate_series(0, ${BIG - 1}) i;
    INSERT INTO small SELECT i, i, i % 100, 's' || (i % 1000), ((i * 7919) % 10000) / 10000.0, 'item number ' || i FROM generate_series(0, ${SMALL - 1}) i;
    INSERT INTO a SELECT i, (i * 7) % ${SMALL} FROM generate_series(0, ${SMALL - 1}) i;
    INSERT INTO b SELECT i, 'label ' || i FROM generate_series(0, ${SMALL - 1}) i;
    ANALYZE;`);
  return pg;
}

/** Mean ns of an async operation, run for at least `minMs`. */
async function measureAsync(fn, minMs = 2000) {
  for (let i = 0; i < 3; i++) await fn();
  let n = 0;
  const start = process.hrtime.bigint();
  while (Number(process.hrtime.bigint() - start) < minMs * 1e6) {
    await fn();
    n++;
  }
  return Number(process.hrtime.bigint() - start) / n;
}

const dbs = [];
for (const backend of backends) {
  const t0 = process.hrtime.bigint();
  dbs.push(loadRemdb(backend));
  console.error(`remdb (${backend}) loaded ${BIG + 3 * SMALL} rows in ${since(t0).toFixed(1)} s`);
}
let pg = null;
try {
  const t0 = process.hrtime.bigint();
  pg = await loadPglite();
  console.error(`PGlite loaded the same rows in ${since(t0).toFixed(1)} s`);
} catch (e) {
  console.error(`PGlite not available (${e.message}); install it: cd benches/node && npm install`);
}

const rows = [];
for (const [name, sql] of QUERIES) {
  const row = [name];
  let expected = null;
  if (pg) expected = (await pg.query(sql)).rows.length;
  for (const [i, db] of dbs.entries()) {
    const ours = db.sql(sql).length;
    if (expected !== null && expected !== ours) throw new Error(`${name}: remdb returned ${ours} rows, PGlite ${expected}`);
    if (i === 0) row.push(ours);
    const ns = measure(() => db.sql(sql), { minMs: 2000, warmup: 3 });
    record({ suite: 'sql', case: name, label: sql, engine: `remdb-wasm-${backends[i]}`, ns });
    row.push(humanTime(ns));
  }
  if (pg) {
    const ns = await measureAsync(() => pg.query(sql));
    record({ suite: 'sql', case: name, label: sql, engine: 'pglite', ns, peer: true });
    row.push(humanTime(ns));
  } else {
    row.push('n/a');
  }
  rows.push(row);
}
// Bulk inserts: 50k rows as JS objects in calls of 10k into an empty table with the same key
// and indexes (remdb insertMany; PGlite one INSERT ... SELECT FROM unnest of column arrays
// per call, the arrays built from the same objects inside the timing).
const INSERT_ROWS = 50_000;
const INSERT_BATCH = 10_000;
const insertBatches = [];
for (let start = 0; start < INSERT_ROWS; start += INSERT_BATCH) {
  insertBatches.push(Array.from({ length: INSERT_BATCH }, (_, j) => item(1_000_000 + start + j)));
}
const insertLabel = `inserting ${INSERT_BATCH} rows per call (JS objects, key k, indexes on n and s), ${INSERT_ROWS} in all`;
const insertRow = ['insert_many_10k', INSERT_BATCH];
for (const backend of backends) {
  const db = backend === 'redb' ? RemDb.openRedbMemory() : RemDb.openMemory();
  db.registerSchema({ title: 'Item', type: 'object', properties: props, json_schema_extra: { key_field: 'k', indexed_fields: ['n', 's'] } });
  const t0 = process.hrtime.bigint();
  for (const batch of insertBatches) db.insertMany('item', batch);
  const ns = Number(process.hrtime.bigint() - t0) / insertBatches.length;
  record({ suite: 'sql', case: 'insert_many_10k', label: insertLabel, engine: `remdb-wasm-${backend}`, ns, per_op: INSERT_BATCH, goal: '≥ 100k rows/s' });
  insertRow.push(`${humanTime(ns)} (${Math.round((INSERT_BATCH * 1e9) / ns)} rows/s)`);
  db.free();
}
if (pg) {
  await pg.exec(`CREATE TABLE ins (k BIGINT PRIMARY KEY, n BIGINT, g BIGINT, s TEXT, x DOUBLE PRECISION, name TEXT);
    CREATE INDEX ins_n ON ins(n); CREATE INDEX ins_s ON ins(s);`);
  const t0 = process.hrtime.bigint();
  for (const batch of insertBatches) {
    const cols = ['k', 'n', 'g', 's', 'x', 'name'].map((c) => batch.map((r) => r[c]));
    await pg.query(
      'INSERT INTO ins SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::float8[], $6::text[])',
      cols,
    );
  }
  const ns = Number(process.hrtime.bigint() - t0) / insertBatches.length;
  record({ suite: 'sql', case: 'insert_many_10k', label: insertLabel, engine: 'pglite', ns, per_op: INSERT_BATCH, peer: true, goal: '≥ 100k rows/s' });
  insertRow.push(`${humanTime(ns)} (${Math.round((INSERT_BATCH * 1e9) / ns)} rows/s)`);
} else {
  insertRow.push('n/a');
}
rows.push(insertRow);

console.log(`\nSQL in Node: remdb wasm (${backends.join(', ')}) vs PGlite, same rows and indexes (mean per query, rows returned as JS objects)\n`);
printTable(['query', 'rows', ...backends.map((b) => `remdb-wasm (${b})`), 'PGlite'], rows);
console.log();
for (const [name, sql] of QUERIES) console.log(`  ${name}: ${sql}`);
