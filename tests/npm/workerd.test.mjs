// remdb in Cloudflare's workerd: worker.mjs is bundled the way a Workers project bundles it
// (esbuild, conditions workerd/worker/browser, the .wasm kept as a separate CompiledWasm module
// since Workers cannot compile WebAssembly from bytes) and run in real workerd through miniflare.
// Run from target/npm-test (see .ci/test-npm): node --test workerd.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import * as esbuild from 'esbuild';
import { Miniflare } from 'miniflare';
import { startHub } from './hub.mjs';

const here = fileURLToPath(new URL('.', import.meta.url));
// Cloudflare's limit on a Worker's compressed size on the paid plan (the free plan's is 3 MB).
const PAID_PLAN_LIMIT = 10 * 1024 * 1024;

let dir;
let mf;
let bundle;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'remdb-worker-'));
  const wasmFiles = new Set();
  const started = Date.now();
  const result = await esbuild.build({
    entryPoints: [join(here, 'worker.mjs')],
    absWorkingDir: here,
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    conditions: ['workerd', 'worker', 'browser'],
    outfile: join(dir, 'worker.js'),
    metafile: true,
    logLevel: 'silent',
    plugins: [{
      // `.wasm` imports stay imports of a module next to the bundle (workerd: CompiledWasm).
      name: 'wasm-module',
      setup(build) {
        build.onResolve({ filter: /\.wasm$/ }, (args) => {
          const path = join(args.resolveDir, args.path);
          wasmFiles.add(path);
          return { path: `./${basename(path)}`, external: true };
        });
      },
    }],
  });
  assert.deepEqual(result.errors, []);
  // The workerd entry point, not the Node or browser one, went into the bundle.
  const inputs = Object.keys(result.metafile.inputs);
  assert.ok(inputs.some((p) => p.endsWith('node_modules/remdb/js/entry/workerd.js')), inputs.join('\n'));
  assert.ok(!inputs.some((p) => /js\/entry\/(node|browser|deno)\.js$/.test(p)), inputs.join('\n'));
  assert.ok(!inputs.some((p) => p.includes('remdb/full/')), 'the core build, not the full one');
  assert.deepEqual([...wasmFiles].map((p) => p.split('node_modules/')[1]), ['remdb/core/remdb_bg.wasm']);
  const [wasmPath] = wasmFiles;
  const wasm = await readFile(wasmPath);
  await writeFile(join(dir, 'remdb_bg.wasm'), wasm);
  const js = await readFile(join(dir, 'worker.js'));
  bundle = { js, wasm, ms: Date.now() - started };

  mf = new Miniflare({
    modulesRoot: dir,
    modules: [
      { type: 'ESModule', path: join(dir, 'worker.js'), contents: js },
      { type: 'CompiledWasm', path: join(dir, 'remdb_bg.wasm'), contents: wasm },
    ],
    compatibilityDate: '2025-07-18',
  });
  await mf.ready;
});

after(async () => {
  if (mf) await mf.dispose();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function getJson(path) {
  const res = await mf.dispatchFetch(`http://worker.test${path}`);
  const text = await res.text();
  assert.equal(res.status, 200, text);
  return JSON.parse(text);
}

test('the bundled worker fits the paid plan: bundle + wasm under 10 MB gzipped', () => {
  const jsGz = gzipSync(bundle.js, { level: 9 }).length;
  const wasmGz = gzipSync(bundle.wasm, { level: 9 }).length;
  const mb = (n) => `${(n / 1048576).toFixed(2)} MB`;
  console.log(`workerd bundle (built in ${bundle.ms} ms): worker.js ${mb(bundle.js.length)} (${mb(jsGz)} gzipped), ` +
    `remdb_bg.wasm ${mb(bundle.wasm.length)} (${mb(wasmGz)} gzipped); total ${mb(jsGz + wasmGz)} gzipped ` +
    `of the ${mb(PAID_PLAN_LIMIT)} paid-plan limit`);
  assert.ok(jsGz + wasmGz < PAID_PLAN_LIMIT, `${jsGz + wasmGz} bytes gzipped`);
  // The bundle is the glue and the API; the database is the .wasm module beside it.
  assert.ok(bundle.js.length < 512 * 1024, `worker.js is ${bundle.js.length} bytes`);
  assert.ok(/from\s*"\.\/remdb_bg\.wasm"/.test(bundle.js.toString()), 'worker.js imports the .wasm module');
});

test('in workerd: schema, inserts, get/update, SQL, vector search and a graph walk', async () => {
  const t = Date.now();
  const r = await getJson('/run');
  console.log(`workerd: the first /run request (wasm instantiation included) took ${Date.now() - t} ms`);
  assert.equal(r.userAgent, 'Cloudflare-Workers');
  assert.equal(r.table, 'note');
  assert.equal(r.role, 'owner');
  assert.equal(r.storage, 'memory');
  assert.equal(r.ids.length, 3);
  assert.equal(new Set(r.ids).size, 3);
  for (const id of r.ids) assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  assert.deepEqual(r.got, { title: 'beta', tag: 'db', stars: 3, id: r.ids[1] });
  assert.equal(r.updatedStars, 6);
  assert.deepEqual(r.sql, [{ title: 'gamma', stars: 6 }, { title: 'alpha', stars: 5 }]);
  assert.deepEqual(r.groups, [{ tag: 'db', n: 2, total: 8 }, { tag: 'web', n: 1, total: 6 }]);
  assert.deepEqual(r.hits.map((h) => h.title), ['alpha', 'beta']);
  assert.ok(Math.abs(r.hits[0].score - 1) < 1e-6, JSON.stringify(r.hits));
  assert.ok(Math.abs(r.hits[1].score - 0.6) < 1e-6, JSON.stringify(r.hits));
  assert.deepEqual(r.filtered.map((h) => h.title), ['gamma']);
  assert.ok(Math.abs(r.filtered[0].score) < 1e-6, JSON.stringify(r.filtered));
  assert.deepEqual(r.walk, [{ depth: 1, end: 'beta' }, { depth: 2, end: 'gamma' }]);
  assert.deepEqual(r.asked.perTag, { status: 'ok', intent: 'aggregate', rows: [{ count: 2, tag: 'db' }, { count: 1, tag: 'web' }] });
  assert.deepEqual(r.asked.lookup, { status: 'ok', intent: 'entity_lookup', titles: ['alpha'] });
  // 5 built-in tables + note, 3 inserts, 3 vectors, 1 update, 2 edges.
  assert.equal(r.walSeq, 15);
});

test('in workerd: a second request gets a fresh memory database', async () => {
  const r = await getJson('/run');
  assert.equal(r.walSeq, 15);
  assert.deepEqual(r.sql, [{ title: 'gamma', stars: 6 }, { title: 'alpha', stars: 5 }]);
});

test('in workerd: failures are RemDBErrors with stable codes', async () => {
  const r = await getJson('/errors');
  assert.deepEqual(r.validation, {
    isRemDBError: true,
    code: 'VALIDATION',
    issues: [{ pointer: '/stars', reason: '-1 is less than the minimum of 0' }],
  });
  assert.deepEqual(r.unknownTable, { isRemDBError: true, code: 'UNKNOWN_TABLE', issues: null });
  assert.deepEqual(r.syntax, { isRemDBError: true, code: 'SQL_SYNTAX', issues: null });
  assert.deepEqual(r.option, { isRemDBError: true, code: 'INVALID_ARGUMENT', issues: null });
  assert.deepEqual(r.indexeddb, { isRemDBError: true, code: 'UNSUPPORTED', issues: null });
  assert.deepEqual(r.closed, { isRemDBError: true, code: 'CLOSED', issues: null });
});

test('in workerd: a Worker pushes to and pulls from a rem serve hub with fetch', async (t) => {
  const hub = await startHub();
  t.after(() => hub.stop());
  const query = new URLSearchParams({ hub: hub.url, admin: hub.admin, member: hub.member });
  const r = await getJson(`/sync?${query}`);
  // The built-in tables' schemas and the note schema, then the three notes.
  assert.ok(r.pushed >= 4, JSON.stringify(r));
  // The puller is a new device: it loads the hub's state (the three notes), not its log.
  assert.equal(r.loaded, 3, JSON.stringify(r));
  assert.equal(r.pulled, 0, JSON.stringify(r));
  assert.deepEqual(r.rows, [{ title: 'alpha', stars: 5 }, { title: 'beta', stars: 3 }, { title: 'gamma', stars: 4 }]);
  assert.equal(r.outbox, 0);
});
