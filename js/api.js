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

const OPEN_OPTIONS = ['name', 'tenant', 'storage', 'embedding', 'embeddingMode', 'maxRowBytes', 'tabs', 'budget'];
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

/**
 * Checks a custom embedder's options `{provider: 'custom:NAME', dimensions, embed}` (the wasm
 * face checks them again, and every vector the function returns).
 */
function checkCustomEmbedding(e) {
  checkKeys('embedding option', e, ['provider', 'dimensions', 'embed', 'timeoutMs']);
  if (!e.provider.startsWith('custom:')) {
    throw new RemDBError('INVALID_ARGUMENT', `a custom embedder's provider is named "custom:NAME", got ${JSON.stringify(e.provider)}`);
  }
  if (typeof e.embed !== 'function') throw new RemDBError('INVALID_ARGUMENT', '`embedding.embed` must be a function (texts, {kind}) => Float32Array[]');
  if (!Number.isInteger(e.dimensions) || e.dimensions < 1) {
    throw new RemDBError('INVALID_ARGUMENT', '`embedding.dimensions` must be a positive integer (the length of every vector `embed` returns)');
  }
  if (e.timeoutMs !== undefined && !(Number.isInteger(e.timeoutMs) && e.timeoutMs >= 1)) {
    throw new RemDBError('INVALID_ARGUMENT', '`embedding.timeoutMs` must be a positive integer number of milliseconds');
  }
}

/** How long a custom `embed` may take before its answer counts as failed (as HTTP providers). */
const CUSTOM_EMBED_TIMEOUT_MS = 60_000;

/**
 * `embed` with a deadline: a promise it returns that has not settled after `ms` rejects, so one
 * that never settles cannot stall the queue's drain or `flush` for good. A synchronous throw or
 * value passes through as it is.
 */
function withDeadline(embed, ms) {
  return (texts, context) => {
    const answer = embed(texts, context);
    if (answer === null || typeof answer !== 'object' || typeof answer.then !== 'function') return answer;
    return settleWithin(answer, ms, ' (embedding.timeoutMs)');
  };
}

/** How long the app's LLM function may take to answer one `ask` request (as REM_LLM_TIMEOUT_MS). */
const ASK_LLM_TIMEOUT_MS = 60_000;

/** How long a live sync follows one stream of the hub's log before it opens another, seconds. */
const SYNC_STREAM_SECONDS = 300;

/** Longest server-sent event a live sync reads from the hub, in characters. */
const SYNC_MAX_EVENT = 256 * 1024 * 1024;

/** A sync with a hub, as `RemDB.sync` returns it. */
class SyncHandle {
  constructor(db, url, token, live, doFetch) {
    this.db = db;
    this.url = url;
    this.token = token;
    this.live = live;
    // Called unbound: a browser's own fetch refuses any `this` but the global object.
    this.fetch = (url, init) => doFetch.call(globalThis, url, init);
    this.status = 'idle';
    this.report = null;
    this.error = null;
    this.listeners = new Set();
    this.stopped = false;
    this.abort = null;
    this.wake = null;
    this.applying = false;
    this.off = live ? db.onChange((event) => {
      // Local writes start a push; what sync itself applies does not.
      if (!event.remote && !this.applying && this.wake) this.wake();
    }) : null;
    this.done = this.run();
  }

  /** Calls `listener(status, detail)` on every status change; returns an unsubscribe function. */
  on(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Stops a live sync (a round under way ends at its next step); `done` then resolves. */
  stop() {
    this.stopped = true;
    if (this.abort) this.abort.abort();
    if (this.wake) this.wake();
    if (this.off) this.off();
    return this.done.catch(() => {});
  }

  /** Concurrent writes to one field this device took part in. */
  conflicts() { return this.db.conflicts(); }

  /** Local changes the hub refused, with the reason. */
  rejected() { return this.db.rejected(); }

  set(status, detail) {
    this.status = status;
    for (const listener of this.listeners) {
      try { listener(status, detail); } catch (e) { queueMicrotask(() => { throw e; }); }
    }
  }

  /**
   * `fetch` of `path` on the hub with the bearer token: the response when the hub answered 2xx;
   * else a SYNC error (`offline` set when the hub could not be reached) with the hub's message.
   */
  async request(path, { method = 'GET', headers = {}, body, signal } = {}) {
    let res;
    try {
      res = await this.fetch(this.url + path, {
        method,
        headers: { authorization: `Bearer ${this.token}`, ...headers },
        body,
        signal,
      });
    } catch (e) {
      const err = new RemDBError('SYNC', `cannot reach the hub at ${this.url}: ${(e && e.message) || e}`);
      err.offline = true;
      throw err;
    }
    if (!res.ok) {
      const text = await res.text();
      let message = text.slice(0, 300);
      try { message = JSON.parse(text).error.message || message; } catch { /* not JSON */ }
      throw new RemDBError('SYNC', `the hub answered ${res.status}: ${message}`);
    }
    return res;
  }

  /** A JSON call of the hub: GET `path`, or POST `body` as JSON. */
  async hub(path, body, signal) {
    const res = await this.request(path, body === undefined
      ? { signal }
      : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal });
    const text = await res.text();
    try { return JSON.parse(text); } catch { throw new RemDBError('SYNC', 'the hub\'s answer is not JSON'); }
  }

  async step(step, arg) {
    this.applying = true;
    try {
      return await this.db.call('sync', [step, arg]);
    } finally {
      this.applying = false;
    }
  }

  /** One round: push the whole outbox, then pull until caught up. */
  async round() {
    const report = { pushed: 0, pulled: 0, loaded: 0, rejected: 0, conflicts: 0, hubSeq: 0 };
    for (;;) {
      const plan = await this.step('nextPush');
      if (!plan || this.stopped) break;
      this.set('pushing');
      const answer = await this.hub('/v1/push', plan.request);
      report.pushed += await this.step('takePush', { plan, answer });
      report.rejected += answer.rejected.length;
      report.conflicts += answer.conflicts.length;
    }
    this.set('pulling');
    while (!this.stopped) {
      const plan = await this.step('nextPull');
      if (plan.snapshot) {
        // A new device, or one behind the hub's compacted log: the hub's state, page by page.
        const page = await this.hub(plan.path);
        report.hubSeq = page.hub_seq;
        report.loaded += (await this.step('takeSnapshot', { after: plan.after, page })).loaded;
        continue;
      }
      const answer = await this.hub(plan.path);
      report.hubSeq = answer.hub_seq;
      const taken = await this.step('takePull', { since: plan.since, answer });
      report.pulled += taken.pulled;
      if (taken.caughtUp) break;
    }
    this.report = report;
    return report;
  }

  /**
   * Follows the hub's log as server-sent events (`/v1/stream`, read with `fetch` so the
   * bearer token goes in a header), applying each batch as it lands; resolves when the stream
   * ends or the device must load a snapshot (the next round does).
   */
  async follow(signal) {
    const plan = await this.step('nextPull');
    if (plan.snapshot) return;
    let since = plan.since;
    const res = await this.request(`${plan.path.replace('/v1/pull?', '/v1/stream?')}&wait=${SYNC_STREAM_SECONDS}`, {
      headers: { accept: 'text/event-stream' },
      signal,
    });
    if (!res.body) throw new RemDBError('SYNC', `the hub answered ${res.status} without a stream`);
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer += decoder.decode(value, { stream: true });
        if (buffer.length > SYNC_MAX_EVENT) throw new RemDBError('LIMIT', `an event of the hub's stream is over ${SYNC_MAX_EVENT} characters`);
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let event = 'message';
          const data = [];
          for (const line of block.split('\n')) {
            if (line.startsWith('event:')) event = line.slice(6).trim();
            else if (line.startsWith('data:')) data.push(line.slice(line.startsWith('data: ') ? 6 : 5));
          }
          if (data.length === 0) continue; // a heartbeat comment
          const answer = JSON.parse(data.join('\n'));
          if (event === 'error') throw new RemDBError('SYNC', `the hub's stream failed: ${answer.error && answer.error.message}`);
          if (event !== 'entries' && event !== 'snapshot') continue;
          await this.step('takePull', { since, answer });
          if (answer.snapshot) return;
          since = answer.entries[answer.entries.length - 1].seq;
        }
      }
    } finally {
      reader.cancel().catch(() => {});
    }
  }

  /** Waits for a local write, or follows the hub's log until its stream ends. */
  async quiet() {
    const local = new Promise((resolve) => { this.wake = resolve; });
    this.abort = new AbortController();
    const remote = this.follow(this.abort.signal);
    try {
      await Promise.race([local, remote]);
    } finally {
      this.abort.abort();
      this.abort = null;
      this.wake = null;
      remote.catch(() => {});
    }
  }

  async run() {
    let backoff = 1000;
    while (!this.stopped) {
      try {
        const report = await this.round();
        backoff = 1000;
        this.set('idle', report);
        if (!this.live) return report;
        await this.quiet();
      } catch (e) {
        if (this.stopped) break;
        this.error = e;
        this.set(e && e.offline ? 'offline' : 'error', e);
        if (!this.live) throw e;
        await new Promise((resolve) => {
          this.wake = resolve;
          setTimeout(resolve, backoff);
        });
        this.wake = null;
        backoff = Math.min(backoff * 2, 30000);
      }
    }
    this.set('stopped');
    return this.report;
  }
}

function settleWithin(value, ms, why = '') {
  if (value === null || typeof value !== 'object' || typeof value.then !== 'function') return Promise.resolve(value);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms${why}`)), ms);
    Promise.resolve(value).then(
      (v) => { clearTimeout(timer); resolve(v); },
      (e) => { clearTimeout(timer); reject(e); },
    );
  });
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

const SEARCH_OPTIONS = ['topK', 'minScore', 'where', 'params', 'field', 'provider', 'alt', 'ef', 'includeDeleted', 'mode', 'alpha'];

/** An optional string argument (`cycles`' id, `optimizeVectors`' table): null and undefined are none. */
function optionalString(what, value) {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new RemDBError('INVALID_ARGUMENT', `${what} must be a string (or null)`);
  return value;
}

/**
 * The API methods of `RemDB`, each once; the class methods, the dispatch (`run`) and the set of
 * writes are derived from it. `params`: the arguments of the class method, in order. `write`: the
 * method changes the database, so the page image is committed before its Promise resolves and
 * other tabs are told. `run(h, args, awaited)`: calls the wasm handle `h` (src/wasm/) with the
 * arguments in API shape; `awaited` is true when an embedder that answers asynchronously is in
 * use (an HTTP provider or a custom `embed` function): the async forms await it.
 * js/api-list.json lists the same operations with their Rust and CLI names.
 */
const METHODS = {
  registerSchema: { params: ['schema'], write: true, run: (h, [schema]) => h.registerSchema(schema) },
  schemas: { params: [], run: (h) => h.schemas() },
  insert: { params: ['table', 'entity'], write: true, run: (h, [table, entity]) => h.insert(table, entity) },
  insertMany: { params: ['table', 'entities'], write: true, run: (h, [table, entities]) => h.insertMany(table, entities) },
  ingest: {
    params: ['document'],
    write: true,
    run: (h, [doc]) => {
      const o = checkKeys('ingest document field', doc, ['uri', 'text', 'bytes', 'mimeType', 'table', 'chunkTokens', 'overlap', 'dryRun']);
      if (typeof o.uri !== 'string') throw new RemDBError('INVALID_ARGUMENT', 'ingest needs a `uri` string');
      let bytes;
      if (o.bytes !== undefined && o.bytes !== null) {
        if (o.bytes instanceof Uint8Array) bytes = o.bytes;
        else if (o.bytes instanceof ArrayBuffer) bytes = new Uint8Array(o.bytes);
        else if (ArrayBuffer.isView(o.bytes)) bytes = new Uint8Array(o.bytes.buffer, o.bytes.byteOffset, o.bytes.byteLength);
        else throw new RemDBError('INVALID_ARGUMENT', '`bytes` must be a Uint8Array or an ArrayBuffer');
      }
      if (o.text !== undefined && o.text !== null && typeof o.text !== 'string') throw new RemDBError('INVALID_ARGUMENT', '`text` must be a string');
      const { uri, text, bytes: _bytes, ...options } = o;
      return h.ingest(uri, text ?? undefined, bytes, options);
    },
  },
  get: {
    params: ['id', 'options'],
    run: (h, [id, options]) => {
      const o = checkKeys('get option', options, ['includeDeleted']);
      return h.get(id, o.includeDeleted === true);
    },
  },
  update: { params: ['id', 'patch'], write: true, run: (h, [id, patch]) => h.update(id, patch) },
  delete: {
    params: ['id', 'options'],
    write: true,
    run: (h, [id, options]) => {
      const o = checkKeys('delete option', options, ['hard']);
      if (o.hard !== undefined && typeof o.hard !== 'boolean') throw new RemDBError('INVALID_ARGUMENT', '`hard` must be true or false');
      return h.delete(id, o.hard === true);
    },
  },
  list: { params: ['table', 'options'], run: (h, [table, options]) => h.list(table, options) },
  count: {
    params: ['table', 'options'],
    run: (h, [table, options]) => {
      const o = checkKeys('count option', options, ['includeDeleted']);
      return h.count(table, o.includeDeleted === true);
    },
  },
  sql: {
    params: ['query', 'params', 'options'],
    run: (h, [query, params, options], awaited) => {
      // `budget`'s own keys are checked in Rust.
      const o = checkKeys('sql option', options, ['budget']);
      return awaited ? h.sqlAsync(query, params ?? null, o) : h.sql(query, params ?? null, o);
    },
  },
  search: {
    params: ['table', 'query', 'options'],
    run: (h, [table, query, options], awaited) => {
      // Option names are checked here (`filter` is the wasm face's own); `where` is read in Rust.
      const o = checkKeys('search option', options, SEARCH_OPTIONS);
      if (awaited && typeof query === 'string') return h.searchAsync(table, query, o);
      return h.search(table, query, o);
    },
  },
  embed: { params: ['texts'], run: (h, [texts], awaited) => (awaited ? h.embedAsync(texts) : h.embed(texts)) },
  putVector: {
    params: ['table', 'id', 'field', 'provider', 'vector'],
    write: true,
    run: (h, args) => h.putVector(...args),
  },
  putVectors: {
    params: ['table', 'field', 'provider', 'items'],
    write: true,
    run: (h, [table, field, provider, items]) => {
      if (!Array.isArray(items)) throw new RemDBError('INVALID_ARGUMENT', 'putVectors expects an array of {id, vector}');
      return h.putVectors(table, field, provider, items);
    },
  },
  optimizeVectors: { params: ['table'], write: true, run: (h, [table]) => h.optimizeVectors(optionalString('`table`', table)) },
  embeddingStatus: { params: [], run: (h) => h.embeddingStatus() },
  addEdge: {
    params: ['src', 'dst', 'rel', 'properties'],
    write: true,
    run: (h, [src, dst, rel, properties]) => h.addEdge(src, dst, rel, properties),
  },
  addEdges: { params: ['edges'], write: true, run: (h, [edges]) => h.addEdges(edges) },
  removeEdge: { params: ['src', 'dst', 'rel'], write: true, run: (h, [src, dst, rel]) => h.removeEdge(src, dst, rel) },
  edges: { params: ['id', 'options'], run: (h, [id, options]) => h.edges(id, options) },
  neighbors: { params: ['id', 'options'], run: (h, [id, options]) => h.neighbors(id, options) },
  traverse: { params: ['id', 'options'], run: (h, [id, options]) => h.traverse(id, options) },
  neighborsAtDepth: {
    params: ['id', 'depth', 'options'],
    run: (h, [id, depth, options]) => {
      if (typeof depth !== 'number') throw new RemDBError('INVALID_ARGUMENT', '`depth` must be a non-negative integer');
      return h.neighborsAtDepth(id, depth, options);
    },
  },
  shortestPath: { params: ['a', 'b', 'options'], run: (h, [a, b, options]) => h.shortestPath(a, b, options) },
  allPaths: { params: ['a', 'b', 'options'], run: (h, [a, b, options]) => h.allPaths(a, b, options) },
  countPaths: { params: ['a', 'b', 'options'], run: (h, [a, b, options]) => h.countPaths(a, b, options) },
  cycles: { params: ['id', 'options'], run: (h, [id, options]) => h.cycles(optionalString('`id`', id), options) },
  walSeq: { params: [], run: (h) => h.walSeq() },
  walEntries: {
    params: ['options'],
    run: (h, [options]) => {
      const o = checkKeys('walEntries option', options, ['since', 'limit']);
      return h.walEntries(o.since ?? 0, o.limit);
    },
  },
  applyWal: { params: ['entries'], write: true, run: (h, [entries]) => h.applyWal(entries) },
  ask: {
    params: ['question', 'options'],
    // The owner's half of RemDB.ask (below): a new question, or `__resume` with the caller's
    // answer to the LLM request a session stopped at. Option names are checked in Rust.
    run: (h, [question, options]) => {
      const resume = options && options.__resume;
      if (resume) return h.askResume(resume.session, resume.reply);
      if (typeof question !== 'string') throw new RemDBError('INVALID_ARGUMENT', '`question` must be a string');
      return h.askStart(question, options ?? null);
    },
  },
  syncStatus: { params: [], run: (h) => h.syncStatus() },
  conflicts: { params: [], run: (h) => h.conflicts() },
  rejected: { params: [], run: (h) => h.rejected() },
  sync: {
    params: ['step', 'arg'],
    write: true,
    // The owner's half of RemDB.sync (below): one step of a round, between the caller's fetches.
    run: (h, [step, arg]) => {
      switch (step) {
        case 'nextPush': return h.syncNextPush();
        case 'takePush': return h.syncTakePush(arg.plan, arg.answer);
        case 'nextPull': return h.syncNextPull();
        case 'takePull': return h.syncTakePull(arg.since, arg.answer);
        case 'takeSnapshot': return h.syncTakeSnapshot(arg.after, arg.page);
        default: throw new RemDBError('INVALID_ARGUMENT', 'db.sync takes one options object: {url, token, live}');
      }
    },
  },
  flush: {
    params: [],
    write: true,
    run: async (h, _args, awaited) => {
      // An async provider that failed leaves its work queued and fails the flush, after the
      // in-module drain has run.
      let failure = null;
      if (awaited) await h.embeddingsIdle().catch((e) => { failure = e; });
      h.flushEmbeddings();
      if (failure) throw failure;
      return undefined;
    },
  },
};

/** Whether `method` changes the database (see METHODS). */
function writes(method) {
  return Object.hasOwn(METHODS, method) && METHODS[method].write === true;
}

/**
 * Runs API calls against a wasm handle in this tab: the owner of the database.
 * Group commit: writes made in the same turn of the event loop share one storage transaction,
 * and each write's Promise resolves only after that transaction has committed.
 */
class LocalEngine {
  constructor(handle, { store = null, awaited = false, background = false, onCommit }) {
    this.handles = new Map([[handle.tenant, handle]]);
    this.root = handle;
    this.store = store;
    this.awaited = awaited;
    this.onCommit = onCommit;
    this.pending = null;
    // Chunks taken from the image but not yet committed (a failed write is retried next time).
    this.unsaved = new Map();
    this.timer = null;
    if (store && background) {
      // Background and async embedders write vectors from an async task between calls: persist them too.
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
    const write = writes(method);
    const before = write ? h.walSeq() : 0;
    const value = await run(h, method, args, this.awaited);
    if (write) {
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

/** Calls the wasm handle for one API method (see METHODS); arguments are already in API shape. */
async function run(h, method, args, awaited) {
  if (!Object.hasOwn(METHODS, method)) throw new RemDBError('INVALID_ARGUMENT', `unknown method ${method}`);
  return METHODS[method].run(h, args, awaited);
}

/**
 * Opens the wasm database over `store` (an ImageStore/OpfsStore, or null for memory), loads the
 * embedder, and returns the engine that runs calls on it. `onCommit(tenant, seq, from)` follows
 * every write that moved a WAL.
 */
export async function openEngine(glue, readFile, o, tenant, store, onCommit) {
  const embedding = o.embedding ?? null;
  // Three kinds: a custom `embed` function, an in-module model, or an HTTP provider.
  const custom = embedding !== null && embedding.embed !== undefined;
  const remote = embedding !== null && !custom && embedding.model === undefined;
  let provider;
  if (embedding !== null) {
    provider = remote || custom ? embedding.provider : (embedding.provider ?? DEFAULT_LOCAL_PROVIDER);
    if (typeof provider !== 'string') throw new RemDBError('INVALID_ARGUMENT', '`embedding.provider` must be a string like "openai:text-embedding-3-small"');
    if (custom) checkCustomEmbedding(embedding);
    else if (!remote) checkKeys('embedding option', embedding, ['model', 'tokenizer', 'provider', 'cache']);
  }
  const openOptions = { tenant, storage: store ? 'pages' : 'memory' };
  if (o.embeddingMode !== undefined) openOptions.embeddingMode = o.embeddingMode;
  if (o.maxRowBytes !== undefined) openOptions.maxRowBytes = o.maxRowBytes;
  if (o.budget !== undefined) openOptions.budget = o.budget;
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
    if (custom) {
      const deadline = embedding.timeoutMs ?? CUSTOM_EMBED_TIMEOUT_MS;
      handle.useCustomEmbedder(provider, embedding.dimensions, withDeadline(embedding.embed, deadline));
    } else if (embedding !== null && !remote) {
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
    if (embedding !== null && !remote && !custom && e && e.code === 'EMBEDDING') {
      await Promise.all([forgetResource(embedding.model), forgetResource(embedding.tokenizer)]);
    }
    throw e;
  }
  const engine = new LocalEngine(handle, {
    store,
    awaited: remote || custom,
    background: remote || custom || o.embeddingMode === 'background',
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

  // The API methods, from the table: each passes its declared parameters on to `call`.
  for (const [name, { params }] of Object.entries(METHODS)) {
    const method = { [name](...given) { return this.call(name, params.map((_, i) => given[i])); } }[name];
    Object.defineProperty(RemDB.prototype, name, { value: method, writable: true, configurable: true });
  }

  /**
   * `ask(question, options)`: runs in the calling tab, so `options.llm` may be the app's own
   * async function (`(request) => response`): the session stops at each LLM request, the
   * function answers it here, and the session resumes where the database runs (this tab,
   * another tab, or the OPFS worker). A function that throws or does not settle within
   * `ASK_LLM_TIMEOUT_MS` counts as a failed LLM call: the offline plan answers.
   */
  RemDB.prototype.ask = async function ask(question, options) {
    const o = checkKeys('ask option', options, ['table', 'offline', 'llm', 'maxStages', 'plan', 'budget', 'now']);
    const fn = typeof o.llm === 'function' ? o.llm : null;
    const wire = fn ? { ...o, llm: 'caller' } : (o.now instanceof Date ? { ...o, now: o.now.toISOString() } : o);
    if (fn && wire.now instanceof Date) wire.now = wire.now.toISOString();
    let step = await this.call('ask', [question, wire]);
    while (step && step.llm !== undefined) {
      let reply;
      try {
        reply = { response: await settleWithin(fn(step.llm), ASK_LLM_TIMEOUT_MS) };
      } catch (e) {
        reply = { error: String((e && e.message) || e) };
      }
      step = await this.call('ask', [null, { __resume: { session: step.session, reply } }]);
    }
    return step.answer;
  };

  /**
   * `sync({url, token, live, fetch})`: syncs with a hub (`rem serve`). The round's steps run
   * where the database is; the pushes and pulls are sent from here with `fetch` (so an
   * `Authorization` header works in browsers, Deno and Workers). Returns a handle at once:
   * `done` settles after the round (or, with `live`, when stopped), `status` is one of
   * `pushing`, `pulling`, `idle`, `offline`, `error`, `stopped`, and `on(listener)` hears each
   * change. Live sync pushes after every local write, long-polls the hub for others' and
   * reconnects with backoff (1 s doubling to 30 s).
   */
  RemDB.prototype.sync = function sync(options) {
    const o = checkKeys('sync option', options, ['url', 'token', 'live', 'fetch']);
    if (typeof o.url !== 'string' || o.url === '') throw new RemDBError('INVALID_ARGUMENT', '`url` must be the hub\'s URL');
    if (typeof o.token !== 'string' || o.token === '') throw new RemDBError('INVALID_ARGUMENT', '`token` must be a hub token');
    const doFetch = o.fetch ?? globalThis.fetch;
    if (typeof doFetch !== 'function') throw new RemDBError('UNSUPPORTED', `sync needs fetch, which this runtime (${runtime}) does not have`);
    return new SyncHandle(this, o.url.replace(/\/+$/, ''), o.token, o.live === true, doFetch);
  };

  /**
   * `live(sql, params, callback, onError)`: runs the query now and again after every committed
   * write (local, from another tab, or pulled by sync), and calls `callback(rows)` only when
   * the rows changed. Returns `{unsubscribe(), ready}` (`ready` settles after the first run).
   */
  RemDB.prototype.live = function live(query, params, callback, onError) {
    if (typeof callback !== 'function') throw new RemDBError('INVALID_ARGUMENT', '`callback` must be a function');
    let last;
    let running = null;
    let again = false;
    let stopped = false;
    const rerun = () => {
      if (running) { again = true; return running; }
      running = (async () => {
        do {
          again = false;
          const result = await this.sql(query, params ?? []);
          const key = JSON.stringify(result);
          if (!stopped && key !== last) { last = key; callback(result); }
        } while (again && !stopped);
      })().catch((e) => {
        if (stopped) return;
        if (onError) onError(e); else queueMicrotask(() => { throw e; });
      }).finally(() => { running = null; });
      return running;
    };
    const off = this.onChange(() => { rerun(); });
    return { ready: rerun(), unsubscribe() { stopped = true; off(); } };
  };

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
    if (storage === 'opfs' && embedding !== null && embedding.embed !== undefined) {
      throw new RemDBError('UNSUPPORTED', 'storage "opfs" runs the database in a worker, which a custom `embed` function cannot reach: use storage "indexeddb" or "memory" with it');
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
