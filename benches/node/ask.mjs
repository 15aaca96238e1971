// Offline planning speed in wasm: the 52 questions of the ask evaluation
// (tests/fixtures/ask/questions.json) planned but not run, over the same 10 tables and rows as
// benches/ask.rs, through the wasm face's askStart in Node. Goal: ≤ 10 ms per question.
//
//   bash benches/node/build.sh && node benches/node/ask.mjs
import { readFileSync } from 'node:fs';
import { loadRemDb, humanTime } from './harness.mjs';

const { RemDb } = loadRemDb();
const fixture = (name) => JSON.parse(readFileSync(new URL(`../../tests/fixtures/ask/${name}`, import.meta.url)));
const kb = fixture('kb.json');
const questions = fixture('questions.json').questions.map((q) => q.q);

const db = RemDb.openMemory();
for (const s of kb.schemas) db.registerSchema(s);
db.registerSchema({ title: 'Project', description: 'A piece of planned work', type: 'object',
  properties: { code: { type: 'string' }, name: { type: 'string' }, stage: { enum: ['idea', 'active', 'done'] }, due_at: { type: 'string', format: 'date-time' } },
  json_schema_extra: { short_name: 'projects', key_field: 'code', indexed_fields: ['stage', 'name'] } });
db.registerSchema({ title: 'Invoice', description: 'A bill sent to a customer', type: 'object',
  properties: { number: { type: 'integer' }, customer: { type: 'string' }, total: { type: 'number' }, paid: { type: 'boolean' }, issued_at: { type: 'string', format: 'date-time' } },
  json_schema_extra: { short_name: 'invoices', key_field: 'number', indexed_fields: ['customer', 'paid'] } });
for (const [table, rows] of Object.entries(kb.rows)) db.insertMany(table, rows);
const statuses = ['open', 'in_progress', 'closed'];
const priorities = ['low', 'medium', 'high', 'urgent'];
db.insertMany('tickets', Array.from({ length: 5000 }, (_, i) => ({ key: `SUP-${i}`, number: 100000 + i, title: `Synthetic issue ${i}`,
  body: 'generated', status: statuses[i % 3], priority: priorities[i % 4], opened_at: `2026-0${1 + (i % 6)}-${String(1 + (i % 28)).padStart(2, '0')}T10:00:00Z` })));
const teams = ['platform', 'billing', 'support', 'design'];
db.insertMany('people', Array.from({ length: 2000 }, (_, i) => ({ employee_id: `E-${5000 + i}`, name: `Person ${i}`, team: teams[i % 4], role: 'engineer', email: `p${i}@example.com` })));
db.insertMany('projects', Array.from({ length: 500 }, (_, i) => ({ code: `PRJ-${i}`, name: `Project ${i}`, stage: ['idea', 'active', 'done'][i % 3] })));
db.insertMany('invoices', Array.from({ length: 500 }, (_, i) => ({ number: i, customer: `Customer ${i % 50}`, total: i * 10.5, paid: i % 2 === 0 })));

const opts = { offline: true, plan: true, now: '2026-06-15T12:00:00Z' };
const plan = (q) => db.askStart(q, opts);
// The first question after a write rebuilds the value dictionary and the name catalog.
let t0 = process.hrtime.bigint();
await plan('who is grace hoper');
const rebuild = Number(process.hrtime.bigint() - t0);
for (const q of questions) await plan(q); // warm-up: builds the dictionary and the name catalog
let slowest = [0, ''];
const runs = 20;
const start = process.hrtime.bigint();
for (const q of questions) {
  const t = process.hrtime.bigint();
  for (let i = 0; i < runs; i++) await plan(q);
  const each = Number(process.hrtime.bigint() - t) / runs;
  if (each > slowest[0]) slowest = [each, q];
}
const mean = Number(process.hrtime.bigint() - start) / (runs * questions.length);
console.log(`offline planning in wasm (Node ${process.version}), ${questions.length} questions over 10 tables:`);
console.log(`  mean ${humanTime(mean)} per question; slowest ${humanTime(slowest[0])} (${JSON.stringify(slowest[1])})`);
console.log(`  first question after a write (dictionary and name catalog rebuilt): ${humanTime(rebuild)}`);
