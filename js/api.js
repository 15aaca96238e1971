// The remdb JavaScript API: one async `RemDB` class over the wasm-bindgen build, the same in every
// runtime. Each runtime entry point (js/entry/*) calls `createApi` with its build's glue module
// and how that runtime finds the .wasm file and reads model files.
//
// Storage: `memory`, or `indexeddb` (redb's page image persisted chunk by chunk; see idb.js).
// Multi-tab: the tab holding the database's Web Lock owns it; other tabs proxy to it over a
// BroadcastChannel (see tabs.js).

import { ImageStore } from './idb.js';
import { claimOwnership, TabChannel } from './tabs.js';
import { forgetResource, loadResource } from './resources.js';
import { startWorker } from './opfs.js';

/** Every rejection of the API: a stable `code` and the message (plus `issues` for VALIDATION). */
export class RemDBError extends Error {
  constructor(code, message, issues) {
    super(message);
    this.name = 'RemDBError';
    this.code = code;
    if (issues !== undefined) this.issues = issues;
  }
}

/** Any thrown value as a RemDBError (wasm errors carry `code`; anything else is STORAGE). */
export function toRemDBError(e) {
  if (e instanceof RemDBError) return e;
  if (e && typeof e === 'object' && typeof e.code === 'string') {
    return new RemDBError(e.code, String(e.message), e.issues);
  }
  return new RemDBError('STORAGE', String((e && e.message) || e));
}

const OPEN_OPTIONS = ['name', 'tenant', 'storage', 'embedding', 'embeddingMode', 'tabs'];
const DEFAULT_LOCAL_PROVIDER = 'local:all-MiniLM-L6-v2';

function checkKeys(what, value, allowed) {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new RemDBError('INVALID_ARGUMENT', `${what} must be an object`);
  }
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) {
      throw new RemDBError('INVALID_ARGUMENT', `unknown ${what} \`${key}\` (expected one of ${allowed.join(', ')})`);
    }
  }
  return value;
}

/** The open options with model URLs made absolute (a worker resolves relative ones elsewhere). */
function absoluteResources(o) {
  const e = o.embedding;
  if (!e || typeof location === 'undefined') return o;
  const abs = (r) => (typeof r === 'string' || r instanceof URL ? new URL(String(r), location.href).href : r);
  const embedding = { ...e };
  if (e.model !== undefined) embedding.model = abs(e.model);
  if (e.tokenizer !== undefined) embedding.tokenizer = abs(e.tokenizer);
  return { ...o, embedding };
}

/** Quotes a SQL identifier. */
function ident(name) {
  return '"' + String(name).replace(/"/g, '""') + '"';
}

/**
 * Methods that change the database: after one, the page image is committed to storage before
 * the call resolves, and other tabs are told.
 */
const WRITES = new Set([
  'registerSchema', 'insert', 'insertMany', 'update', 'delete', 'putVector', 'addEdge',
  'removeEdge', 'applyWal', 'flush', 'putVectors',
]);

/**
 * Runs API calls against a wasm handle in this tab: the owner of the database.
 * Group commit: writes made in the same turn of the event loop share one storage transaction,
 * and each write's Promise resolves only after that transaction has committed.
 */
class LocalEngine {
  constructor(handle, { store = null, remote = false, background = false, onCommit }) {
    this.handles = new Map([[handle.tenant, handle]]);
    this.root = handle;
    this.store = store;
    this.remote = remote;
    this.onCommit = onCommit;
    this.pending = null;
    // Chunks taken from the image but not yet committed (a failed write is retried next time).
    this.unsaved = new Map();
    this.timer = null;
    if (store && background) {
      // Background and remote embedding write vectors from an async task between calls: persist them too.
      this.timer = setInterval(() => { this.commit().catch(() => {}); }, 1000);
    }
  }

  handle(tenant) {
    let h = this.handles.get(tenant);
    if (!h) {
      h = this.root.forTenant(tenant);
      this.handles.set(tenant, h);
    }
    return h;
  }

  async call(tenant, method, args, from = null) {
    const h = this.handle(tenant);
    const before = WRITES.has(method) ? h.walSeq() : 0;
    const value = await run(h, method, args, this.remote);
    if (WRITES.has(method)) {
      await this.commit();
      const seq = h.walSeq();
      if (seq !== before) this.onCommit(tenant, seq, from);
    }
    return value;
  }

  /** Persists every page written since the last commit in one transaction (no-op in memory). */
  commit() {
    if (!this.store) return Promise.resolve();
    if (!this.pending) {
      this.pending = Promise.resolve().then(() => {
        this.pending = null;
        const dirty = this.root.takeDirty();
        for (const [index, bytes] of dirty.chunks) this.unsaved.set(index, bytes);
        if (this.unsaved.size === 0 && this.store.len === dirty.len) return undefined;
        const chunks = [...this.unsaved];
        const len = dirty.len;
        return this.store.write(len, chunks).then(() => {
          // Only what this transaction wrote is saved; a later take may have replaced a chunk.
          for (const [index, bytes] of chunks) {
            if (this.unsaved.get(index) === bytes) this.unsaved.delete(index);
          }
          this.store.len = len;
        });
      });
    }
    return this.pending;
  }

  async close() {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.commit();
    for (const h of this.handles.values()) h.free();
    this.handles.clear();
    if (this.store) this.store.close();
  }
}

/** Calls the wasm handle for one API method; arguments are already in API shape. */
async function run(h, method, args, remote) {
  switch (method) {
    case 'registerSchema': return h.registerSchema(args[0]);
    case 'schemas': return h.schemas();
    case 'insert': return h.insert(args[0], args[1]);
    case 'insertMany': return h.insertMany(args[0], args[1]);
    case 'get': {
      const o = checkKeys('get option', args[1], ['includeDeleted']);
      return h.get(args[0], o.includeDeleted === true);
    }
    case 'update': return h.update(args[0], args[1]);
    case 'delete': {
      const o = checkKeys('delete option', args[1], ['hard']);
      if (o.hard !== undefined && typeof o.hard !== 'boolean') throw new RemDBError('INVALID_ARGUMENT', '`hard` must be true or false');
      return h.delete(args[0], o.hard === true);
    }
    case 'list': return h.list(args[0], args[1]);
    case 'count': {
      const o = checkKeys('count option', args[1], ['includeDeleted']);
      return h.count(args[0], o.includeDeleted === true);
    }
    case 'sql': return remote ? h.sqlAsync(args[0], args[1] ?? null) : h.sql(args[0], args[1] ?? null);
    case 'search': return search(h, args[0], args[1], args[2], remote);
    case 'embed': return remote ? h.embedAsync(args[0]) : h.embed(args[0]);
    case 'putVector': return h.putVector(...args);
    case 'putVectors': {
      if (!Array.isArray(args[3])) throw new RemDBError('INVALID_ARGUMENT', 'putVectors expects an array of {id, vector}');
      return h.putVectors(args[0], args[1], args[2], args[3]);
    }
    case 'addEdge': return h.addEdge(args[0], args[1], args[2], args[3]);
    case 'removeEdge': return h.removeEdge(args[0], args[1], args[2]);
    case 'edges': return h.edges(args[0], args[1]);
    case 'traverse': return h.traverse(args[0], args[1]);
    case 'shortestPath': return h.shortestPath(args[0], args[1], args[2]);
    case 'allPaths': return h.allPaths(args[0], args[1], args[2]);
    case 'walSeq': return h.walSeq();
    case 'walEntries': {
      const o = checkKeys('walEntries option', args[0], ['since', 'limit']);
      return h.walEntries(o.since ?? 0, o.limit);
    }
    case 'applyWal': return h.applyWal(args[0]);
    case 'flush':
      if (remote) await h.embeddingsIdle();
      h.flushEmbeddings();
      return undefined;
    default:
      throw new RemDBError('INVALID_ARGUMENT', `unknown method ${method}`);
  }
}

const SEARCH_OPTIONS = ['topK', 'minScore', 'where', 'params', 'field', 'provider', 'alt', 'ef', 'includeDeleted'];

/** `search` with `where`: the matching ids (through SQL) become the search's filter. */
async function search(h, table, query, options, remote) {
  const o = checkKeys('search option', options, SEARCH_OPTIONS);
  const { where, params, ...rest } = o;
  if (where !== undefined) {
    let clause;
    let values = params ?? [];
    if (typeof where === 'string') {
      clause = where;
    } else if (where && typeof where === 'object' && !Array.isArray(where)) {
      if (params !== undefined) throw new RemDBError('INVALID_ARGUMENT', '`params` goes with a string `where`');
      values = [];
      const terms = Object.entries(where).map(([column, value]) => {
        if (value === null) return `${ident(column)} IS NULL`;
        values.push(value);
        return `${ident(column)} = $${values.length}`;
      });
      clause = terms.join(' AND ') || 'TRUE';
    } else {
      throw new RemDBError('INVALID_ARGUMENT', '`where` must be a SQL expression string or an object of column values');
    }
    // SQL hides soft-deleted rows unless the query mentions deleted_at.
    const deleted = rest.includeDeleted === true ? ' AND (deleted_at IS NULL OR deleted_at IS NOT NULL)' : '';
    const rows = h.sql(`SELECT id FROM ${ident(table)} WHERE (${clause})${deleted}`, values);
    rest.filter = rows.map((r) => r.id);
    if (rest.filter.length === 0) return [];
  }
  if (remote && typeof query === 'string') return h.searchAsync(table, query, rest);
  return h.search(table, query, rest);
}

/**
 * Opens the wasm database over `store` (an ImageStore/OpfsStore, or null for memory), loads the
 * embedder, and returns the engine that runs calls on it. `onCommit(tenant, seq, from)` follows
 * every write that moved a WAL.
 */
export async function openEngine(glue, readFile, o, tenant, store, onCommit) {
  const embedding = o.embedding ?? null;
  const remote = embedding !== null && embedding.model === undefined;
  let provider;
  if (embedding !== null) {
    provider = remote ? embedding.provider : (embedding.provider ?? DEFAULT_LOCAL_PROVIDER);
    if (typeof provider !== 'string') throw new RemDBError('INVALID_ARGUMENT', '`embedding.provider` must be a string like "openai:text-embedding-3-small"');
    if (!remote) checkKeys('embedding option', embedding, ['model', 'tokenizer', 'provider', 'cache']);
  }
  const openOptions = { tenant, storage: store ? 'pages' : 'memory' };
  if (o.embeddingMode !== undefined) openOptions.embeddingMode = o.embeddingMode;
  if (provider !== undefined) openOptions.defaultEmbedding = provider;
  let image;
  if (store) {
    const saved = await store.load();
    if (saved) {
      image = new glue.PageImage(saved.len);
      for (const [index, bytes] of saved.chunks) image.put(index, bytes);
    }
  }
  let handle;
  try {
    handle = glue.RemDb.openWith(image, openOptions);
  } catch (e) {
    if (store) store.close();
    throw e;
  }
  try {
    if (embedding !== null && !remote) {
      const [model, tokenizer] = await Promise.all([
        loadResource(embedding.model, embedding.cache, readFile),
        loadResource(embedding.tokenizer, embedding.cache, readFile),
      ]);
      handle.loadModel(model, tokenizer, provider);
    } else if (remote) {
      const { provider: _spec, ...http } = embedding;
      await handle.useRemoteEmbedder(provider, http);
    }
  } catch (e) {
    handle.free();
    if (store) store.close();
    // A model file that was fetched but does not load must not stay in the cache for good.
    if (embedding !== null && !remote && e && e.code === 'EMBEDDING') {
      await Promise.all([forgetResource(embedding.model), forgetResource(embedding.tokenizer)]);
    }
    throw e;
  }
  const engine = new LocalEngine(handle, {
    store,
    remote,
    background: remote || o.embeddingMode === 'background',
    onCommit,
  });
  if (store) {
    try {
      await engine.commit();
    } catch (e) {
      await engine.close().catch(() => {});
      throw e;
    }
  }
  return engine;
}

/**
 * Builds the public API over one wasm-bindgen build.
 * `glue`: the build's JS module; `wasm()`: what its init takes by default (URL, bytes, Module);
 * `readFile(url)`: bytes of a local file (Node, Deno) for model files. `glueUrl`: where a worker
 * imports the same glue module from (browsers; enables `storage: "opfs"`).
 */
export function createApi(glue, { wasm, readFile = null, runtime, glueUrl = null }) {
  let ready = null;
  // What the module was loaded from: an OPFS worker loads the same.
  let initSource = null;

  /** Loads the WebAssembly module (once). Accepts a URL, bytes, a Response or a WebAssembly.Module. */
  function init(source) {
    if (!ready) {
      ready = (async () => {
        let module_or_path = source ?? (await wasm());
        // Local files (Node, Deno) are read, not fetched: Node's fetch has no file: URLs.
        if (readFile && (typeof module_or_path === 'string' || module_or_path instanceof URL)) {
          let url = null;
          try { url = new URL(String(module_or_path)); } catch { url = null; }
          if (url === null || url.protocol === 'file:') module_or_path = await readFile(url ?? String(module_or_path));
        }
        initSource = module_or_path instanceof Response ? null : module_or_path;
        await glue.default({ module_or_path });
      })().catch((e) => {
        ready = null;
        throw e instanceof RemDBError ? e : new RemDBError('INVALID_ARGUMENT', `cannot load the remdb WebAssembly module: ${(e && e.message) || e}`);
      });
    }
    return ready;
  }

  class RemDB {
    /** Use `RemDB.open(options)`. */
    constructor(secret, fields) {
      if (secret !== OPENING) throw new RemDBError('INVALID_ARGUMENT', 'use `await RemDB.open(options)`');
      Object.assign(this, fields);
      this.listeners = new Set();
      this.closed = false;
    }

    static async open(options = {}) {
      try {
        return await open(options);
      } catch (e) {
        throw toRemDBError(e);
      }
    }

    get role() {
      return this.engine && this.engine.proxied ? 'proxy' : 'owner';
    }

    async call(method, args) {
      if (this.closed) throw new RemDBError('CLOSED', `database ${this.name} is closed`);
      try {
        return await this.engine.call(this.tenant, method, args);
      } catch (e) {
        throw toRemDBError(e);
      }
    }

    registerSchema(schema) { return this.call('registerSchema', [schema]); }
    schemas() { return this.call('schemas', []); }
    insert(table, entity) { return this.call('insert', [table, entity]); }
    insertMany(table, entities) { return this.call('insertMany', [table, entities]); }
    get(id, options) { return this.call('get', [id, options]); }
    update(id, patch) { return this.call('update', [id, patch]); }
    delete(id, options) { return this.call('delete', [id, options]); }
    list(table, options) { return this.call('list', [table, options]); }
    count(table, options) { return this.call('count', [table, options]); }
    sql(query, params) { return this.call('sql', [query, params]); }
    search(table, query, options) { return this.call('search', [table, query, options]); }
    embed(texts) { return this.call('embed', [texts]); }
    putVector(table, id, field, provider, vector) { return this.call('putVector', [table, id, field, provider, vector]); }
    putVectors(table, field, provider, items) { return this.call('putVectors', [table, field, provider, items]); }
    addEdge(src, dst, rel, properties) { return this.call('addEdge', [src, dst, rel, properties]); }
    removeEdge(src, dst, rel) { return this.call('removeEdge', [src, dst, rel]); }
    edges(id, options) { return this.call('edges', [id, options]); }
    traverse(id, options) { return this.call('traverse', [id, options]); }
    shortestPath(a, b, options) { return this.call('shortestPath', [a, b, options]); }
    allPaths(a, b, options) { return this.call('allPaths', [a, b, options]); }
    walSeq() { return this.call('walSeq', []); }
    walEntries(options) { return this.call('walEntries', [options]); }
    applyWal(entries) { return this.call('applyWal', [entries]); }
    flush() { return this.call('flush', []); }

    async close() {
      if (this.closed) return;
      this.closed = true;
      try {
        await this.engine.close();
      } catch (e) {
        throw toRemDBError(e);
      } finally {
        if (this.channel) this.channel.close();
        if (this.release) this.release();
      }
    }

    onChange(listener) {
      this.listeners.add(listener);
      return () => this.listeners.delete(listener);
    }

    /** Tells this handle's listeners about a committed change. */
    emit(event) {
      if (event.tenant !== this.tenant) return;
      for (const listener of this.listeners) {
        try { listener(event); } catch (e) { queueMicrotask(() => { throw e; }); }
      }
    }
  }

  const OPENING = Symbol('opening');

  async function open(options) {
    const o = checkKeys('open option', options, OPEN_OPTIONS);
    const name = o.name ?? 'remdb';
    const tenant = o.tenant ?? 'default';
    const storage = o.storage ?? 'memory';
    if (typeof name !== 'string' || name === '') throw new RemDBError('INVALID_ARGUMENT', '`name` must be a non-empty string');
    if (typeof tenant !== 'string') throw new RemDBError('INVALID_ARGUMENT', '`tenant` must be a string');
    if (storage !== 'memory' && storage !== 'indexeddb' && storage !== 'opfs') {
      throw new RemDBError('INVALID_ARGUMENT', `storage must be "memory", "indexeddb" or "opfs", got ${JSON.stringify(storage)}`);
    }
    const tabs = o.tabs ?? 'proxy';
    if (tabs !== 'proxy' && tabs !== 'fail') throw new RemDBError('INVALID_ARGUMENT', '`tabs` must be "proxy" or "fail"');
    const embedding = o.embedding ?? null;
    if (embedding !== null && (typeof embedding !== 'object' || Array.isArray(embedding))) {
      throw new RemDBError('INVALID_ARGUMENT', '`embedding` must be an object');
    }
    await init();

    const db = new RemDB(OPENING, { name, tenant, storage, engine: null, channel: null, release: null });
    if (storage === 'memory') {
      db.engine = await ownEngine(db, o);
      return db;
    }
    if (storage === 'indexeddb' && typeof indexedDB === 'undefined') {
      throw new RemDBError('UNSUPPORTED', `storage "indexeddb" needs IndexedDB, which this runtime (${runtime}) does not have`);
    }
    if (storage === 'opfs' && !(glueUrl && typeof Worker !== 'undefined' && globalThis.navigator?.storage?.getDirectory)) {
      throw new RemDBError('UNSUPPORTED', `storage "opfs" needs the origin private file system and module workers, which this runtime (${runtime}) does not have`);
    }
    // One owner per database: the lock and channel are named after the storage and the name.
    const claim = await claimOwnership(`${storage}:${name}`);
    db.channel = new TabChannel(`${storage}:${name}`, (event) => db.emit(event));
    if (claim.owner) {
      try {
        db.engine = await ownEngine(db, o);
      } catch (e) {
        // Give the database back, so that a later open (e.g. without the model) can own it.
        db.channel.close();
        claim.release();
        throw e;
      }
      db.release = claim.release;
      db.channel.serve(db.engine);
      return db;
    }
    if (tabs === 'fail') {
      claim.cancel();
      db.channel.close();
      throw new RemDBError('LOCKED', `database ${name} is open in another tab (open with tabs: "proxy" to share it)`);
    }
    db.engine = db.channel.proxy();
    db.release = claim.cancel;
    // When the owner goes away, this tab takes over: load the saved image and serve the others.
    claim.promoted.then(async (release) => {
      if (db.closed) { release(); return; }
      db.release = release;
      try {
        const engine = await ownEngine(db, o);
        const proxy = db.engine;
        db.engine = engine;
        db.channel.serve(engine);
        proxy.rerun(engine);
      } catch (e) {
        db.engine.fail(toRemDBError(e));
        // Let the next queued tab try instead of holding the lock with no engine behind it.
        db.release = null;
        release();
      }
    }, () => {});
    return db;
  }

  /**
   * Opens the database in this tab (memory, IndexedDB) or in a dedicated worker (OPFS), with
   * `db`'s listeners and tab channel told of every commit.
   */
  async function ownEngine(db, o) {
    // `from`: the tab that asked for the write (null: this one).
    const onCommit = (tenant, seq, from) => {
      const origin = from ?? (db.channel ? db.channel.tabId : null);
      db.emit({ tenant, seq, remote: from !== null });
      if (db.channel) db.channel.announce(tenant, seq, origin);
    };
    if (db.storage === 'opfs') {
      if (!glueUrl) throw new RemDBError('UNSUPPORTED', `storage "opfs" is not available in this runtime (${runtime})`);
      return startWorker({ glueUrl, wasm: initSource ?? (await wasm()), name: db.name, tenant: db.tenant, options: absoluteResources(o), onCommit });
    }
    const store = db.storage === 'indexeddb' ? await ImageStore.open(db.name) : null;
    return openEngine(glue, readFile, o, db.tenant, store, onCommit);
  }

  return { RemDB, RemDBError, init };
}
