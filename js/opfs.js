// `storage: "opfs"`: the database runs in a dedicated worker (js/opfs-worker.js) that keeps redb's
// page image in the origin private file system through synchronous access handles. The page
// talks to it with postMessage; every call is answered after its commit is on disk.
//
// Files under OPFS `remdb/`: `<name>.img` (the image, byte for byte) and `<name>.journal`. A
// commit first writes its changed chunks to the journal, flushes, seals the journal with a
// trailer and flushes again, then copies the chunks into the image, flushes, and empties the
// journal. Opening replays a sealed journal and drops an unsealed one, so a crash at any point
// leaves the previous committed image or the next one.

import { failure, settle } from './calls.js';
import { CHUNK_SIZE } from './idb.js';

const MAGIC = 0x4a424452; // "RDBJ"
const SEAL = 0x4c414553; // "SEAL"
const HEADER = 16; // magic u32, count u32, len u64
const ENTRY = 4 + CHUNK_SIZE; // index u32 + chunk

/** The image of one database in OPFS (only inside a dedicated worker). */
export class OpfsStore {
  constructor(image, journal) {
    this.image = image;
    this.journal = journal;
    this.len = 0;
  }

  /**
   * Opens the files of database `name`. The Web Lock says no other tab owns it, but a worker of a
   * page that just went away may still be closing its handles: retry for a few seconds.
   */
  static async open(name) {
    for (let attempt = 0; ; attempt++) {
      try {
        return await OpfsStore.tryOpen(name);
      } catch (e) {
        if (e.code !== 'LOCKED' || attempt >= 40) throw e;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }

  static async tryOpen(name) {
    try {
      const root = await navigator.storage.getDirectory();
      const dir = await root.getDirectoryHandle('remdb', { create: true });
      const file = async (suffix) => (await dir.getFileHandle(`${name}.${suffix}`, { create: true })).createSyncAccessHandle();
      const image = await file('img');
      let journal;
      try {
        journal = await file('journal');
      } catch (e) {
        image.close();
        throw e;
      }
      const store = new OpfsStore(image, journal);
      store.recover();
      return store;
    } catch (e) {
      if (e && e.name === 'NoModificationAllowedError') {
        throw failure('LOCKED', `database ${name} is open elsewhere (its OPFS files are locked)`);
      }
      throw failure('STORAGE', `cannot open OPFS database ${name}: ${(e && e.message) || e}`);
    }
  }

  /** Replays a sealed journal into the image; drops an unsealed one. */
  recover() {
    const size = this.journal.getSize();
    if (size >= HEADER + 4) {
      const head = new DataView(new ArrayBuffer(HEADER));
      this.journal.read(head, { at: 0 });
      const count = head.getUint32(4, true);
      const len = Number(head.getBigUint64(8, true));
      const sealAt = HEADER + count * ENTRY;
      if (head.getUint32(0, true) === MAGIC && size === sealAt + 4) {
        const seal = new DataView(new ArrayBuffer(4));
        this.journal.read(seal, { at: sealAt });
        if (seal.getUint32(0, true) === SEAL) {
          const entry = new Uint8Array(ENTRY);
          const chunks = [];
          for (let i = 0; i < count; i++) {
            this.journal.read(entry, { at: HEADER + i * ENTRY });
            const index = new DataView(entry.buffer).getUint32(0, true);
            chunks.push([index, entry.slice(4)]);
          }
          this.apply(len, chunks);
        }
      }
    }
    if (size > 0) {
      this.journal.truncate(0);
      this.journal.flush();
    }
  }

  /** `{len, chunks}` as last committed, or null for a new database. */
  load() {
    this.len = this.image.getSize();
    if (this.len === 0) return null;
    const chunks = [];
    for (let index = 0; index * CHUNK_SIZE < this.len; index++) {
      const chunk = new Uint8Array(CHUNK_SIZE);
      this.image.read(chunk, { at: index * CHUNK_SIZE });
      chunks.push([index, chunk]);
    }
    return { len: this.len, chunks };
  }

  /** Commits `chunks` ([[index, Uint8Array]]) and the image length `len` atomically. */
  write(len, chunks) {
    try {
      const head = new DataView(new ArrayBuffer(HEADER));
      head.setUint32(0, MAGIC, true);
      head.setUint32(4, chunks.length, true);
      head.setBigUint64(8, BigInt(len), true);
      this.journal.truncate(0);
      this.journal.write(head, { at: 0 });
      const index = new DataView(new ArrayBuffer(4));
      chunks.forEach(([i, bytes], n) => {
        index.setUint32(0, i, true);
        this.journal.write(index, { at: HEADER + n * ENTRY });
        this.journal.write(bytes, { at: HEADER + n * ENTRY + 4 });
      });
      this.journal.flush();
      const seal = new DataView(new ArrayBuffer(4));
      seal.setUint32(0, SEAL, true);
      this.journal.write(seal, { at: HEADER + chunks.length * ENTRY });
      this.journal.flush();
      this.apply(len, chunks);
      this.journal.truncate(0);
      this.journal.flush();
      return Promise.resolve();
    } catch (e) {
      return Promise.reject(failure('STORAGE', `cannot commit to OPFS: ${(e && e.message) || e}`));
    }
  }

  apply(len, chunks) {
    for (const [index, bytes] of chunks) {
      const at = index * CHUNK_SIZE;
      if (at >= len) continue;
      this.image.write(bytes.subarray(0, Math.min(CHUNK_SIZE, len - at)), { at });
    }
    this.image.truncate(len);
    this.image.flush();
    this.len = len;
  }

  close() {
    this.image.close();
    this.journal.close();
  }
}

/**
 * Starts the OPFS worker for database `name` and resolves the engine that forwards calls to it.
 * `wasm`: what the page's module was loaded from (URL, bytes or WebAssembly.Module).
 */
export function startWorker({ glueUrl, wasm, name, tenant, options, onCommit }) {
  const worker = new Worker(new URL('./opfs-worker.js', import.meta.url), { type: 'module', name: `remdb:${name}` });
  const engine = new WorkerEngine(worker, onCommit);
  const source = wasm instanceof URL ? wasm.href : wasm;
  return engine.request({ kind: 'open', glueUrl: String(glueUrl), wasm: source, name, tenant, options }).then(() => engine, (e) => {
    worker.terminate();
    throw e;
  });
}

/** Calls answered by the OPFS worker. */
class WorkerEngine {
  constructor(worker, onCommit) {
    this.worker = worker;
    this.onCommit = onCommit;
    this.pending = new Map();
    this.nextId = 0;
    this.broken = null;
    worker.onmessage = (event) => this.receive(event.data);
    worker.onerror = (event) => this.breakDown(failure('STORAGE', `the OPFS worker failed: ${event.message || 'cannot load'}`));
  }

  request(message) {
    if (this.broken) return Promise.reject(this.broken);
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      try {
        this.worker.postMessage({ ...message, id });
      } catch (e) {
        this.pending.delete(id);
        reject(failure('INVALID_ARGUMENT', `cannot send this call to the database worker: ${e.message}`));
      }
    });
  }

  call(tenant, method, args, from = null) {
    return this.request({ kind: 'call', tenant, method, args, from });
  }

  receive(m) {
    if (m.kind === 'commit') {
      this.onCommit(m.tenant, m.seq, m.from);
      return;
    }
    settle(this.pending, m);
  }

  breakDown(error) {
    this.broken = error;
    for (const { reject } of this.pending.values()) reject(error);
    this.pending.clear();
  }

  async close() {
    try {
      await this.request({ kind: 'close' });
    } finally {
      this.worker.terminate();
      this.breakDown(failure('CLOSED', 'database closed'));
    }
  }
}
