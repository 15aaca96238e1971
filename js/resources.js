// Model files (ONNX model, tokenizer.json) from bytes, a URL or a local file. URLs are fetched
// once and kept in the Cache API (`remdb-models`) where there is one, so an offline reload
// still finds them.

import { failure } from './calls.js';

const CACHE = 'remdb-models';

/** Bytes of `resource` (Uint8Array, ArrayBuffer, URL or string). `readFile`: local files (Node, Deno). */
export async function loadResource(resource, cache, readFile) {
  if (resource instanceof Uint8Array) return resource;
  if (resource instanceof ArrayBuffer) return new Uint8Array(resource);
  if (ArrayBuffer.isView(resource)) return new Uint8Array(resource.buffer, resource.byteOffset, resource.byteLength);
  if (typeof resource !== 'string' && !(resource instanceof URL)) {
    throw failure('INVALID_ARGUMENT', 'a model file must be a URL, a path or its bytes');
  }
  const base = typeof location !== 'undefined' ? location.href : undefined;
  let url = null;
  try {
    url = new URL(String(resource), base);
  } catch {
    url = null;
  }
  if (readFile && (url === null || url.protocol === 'file:')) {
    try {
      return new Uint8Array(await readFile(url ?? String(resource)));
    } catch (e) {
      throw failure('EMBEDDING', `cannot read model file ${resource}: ${e.message}`);
    }
  }
  if (url === null) throw failure('EMBEDDING', `cannot resolve model URL ${resource}`);
  const useCache = cache !== false && typeof caches !== 'undefined';
  const store = useCache ? await caches.open(CACHE).catch(() => null) : null;
  if (store) {
    const hit = await store.match(url.href);
    if (hit) return new Uint8Array(await hit.arrayBuffer());
  }
  let response;
  try {
    response = await fetch(url.href);
  } catch (e) {
    throw failure('EMBEDDING', `cannot fetch ${url.href}: ${e.message}`);
  }
  if (!response.ok) throw failure('EMBEDDING', `cannot fetch ${url.href}: HTTP ${response.status}`);
  if (store) await store.put(url.href, response.clone()).catch(() => {});
  return new Uint8Array(await response.arrayBuffer());
}

/** Drops `resource` (a URL) from the model cache, e.g. after it failed to load. */
export async function forgetResource(resource) {
  if (typeof caches === 'undefined' || (typeof resource !== 'string' && !(resource instanceof URL))) return;
  try {
    const base = typeof location !== 'undefined' ? location.href : undefined;
    const store = await caches.open(CACHE);
    await store.delete(new URL(String(resource), base).href);
  } catch {
    // Not a URL, or no cache: nothing to forget.
  }
}
