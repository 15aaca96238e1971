// IndexedDB persistence of redb's page image. The database `remdb:<name>` holds two stores:
// `chunks` (64 KiB chunks of the image keyed by their index) and `meta` (`image`: its length).
// Every commit writes the chunks that changed plus the length in ONE readwrite transaction, so
// a crash or a closed tab leaves the previous committed image or the next one, never a mix; no
// transaction is ever held across an `await` of anything else.

import { failure } from './calls.js';

const VERSION = 1;
const CHUNKS = 'chunks';
const META = 'meta';
/** Size of one stored chunk; must match the wasm side's `CHUNK_SIZE`. */
export const CHUNK_SIZE = 64 * 1024;

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function done(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
    tx.onerror = () => reject(tx.error ?? new Error('IndexedDB transaction failed'));
  });
}

function storageError(what, e) {
  return failure('STORAGE', `IndexedDB ${what}: ${(e && e.message) || e}`);
}

/** The stored image of one database. */
export class ImageStore {
  constructor(db) {
    this.db = db;
    /** Length of the image as last committed. */
    this.len = 0;
  }

  static async open(name) {
    const req = indexedDB.open(`remdb:${name}`, VERSION);
    req.onupgradeneeded = () => {
      const db = req.result;
      if (!db.objectStoreNames.contains(CHUNKS)) db.createObjectStore(CHUNKS);
      if (!db.objectStoreNames.contains(META)) db.createObjectStore(META);
    };
    req.onblocked = () => {};
    try {
      return new ImageStore(await request(req));
    } catch (e) {
      throw storageError(`cannot open remdb:${name}`, e);
    }
  }

  /** `{len, chunks: [[index, Uint8Array]]}` as last committed, or null for a new database. */
  async load() {
    try {
      const tx = this.db.transaction([CHUNKS, META], 'readonly');
      const finished = done(tx);
      const [meta, keys, values] = await Promise.all([
        request(tx.objectStore(META).get('image')),
        request(tx.objectStore(CHUNKS).getAllKeys()),
        request(tx.objectStore(CHUNKS).getAll()),
      ]);
      await finished;
      if (!meta) return null;
      if (meta.chunkSize !== CHUNK_SIZE) {
        throw new Error(`stored chunks are ${meta.chunkSize} bytes, this build reads ${CHUNK_SIZE}`);
      }
      this.len = meta.len;
      return { len: meta.len, chunks: keys.map((k, i) => [k, values[i]]) };
    } catch (e) {
      throw storageError('cannot load the database image', e);
    }
  }

  /** Commits `chunks` ([[index, Uint8Array]]) and the image length `len` atomically. */
  async write(len, chunks) {
    try {
      const tx = this.db.transaction([CHUNKS, META], 'readwrite', { durability: 'strict' });
      const finished = done(tx);
      const store = tx.objectStore(CHUNKS);
      for (const [index, bytes] of chunks) store.put(bytes, index);
      const kept = Math.ceil(len / CHUNK_SIZE);
      if (len < this.len) store.delete(IDBKeyRange.lowerBound(kept));
      tx.objectStore(META).put({ len, chunkSize: CHUNK_SIZE, format: 1 }, 'image');
      await finished;
    } catch (e) {
      throw storageError('cannot commit', e);
    }
  }

  close() {
    this.db.close();
  }
}

/** Deletes a database's stored image (it must be closed everywhere). */
export async function deleteImage(name) {
  await request(indexedDB.deleteDatabase(`remdb:${name}`));
}
