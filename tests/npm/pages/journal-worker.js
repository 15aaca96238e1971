// Crash recovery of the OPFS journal (js/opfs.js), run in a dedicated worker (synchronous access
// handles exist only there): a commit cut off after its journal was sealed is replayed on the
// next open; one cut off before the seal is dropped. Posts what it saw.
import { OpfsStore } from '/node_modules/remdb/js/opfs.js';
import { CHUNK_SIZE } from '/node_modules/remdb/js/idb.js';

const chunk = (value) => new Uint8Array(CHUNK_SIZE).fill(value);
const firstBytes = (loaded) => loaded.chunks.map(([index, bytes]) => [index, bytes[0], bytes[CHUNK_SIZE - 1]]);

self.onmessage = async () => {
  const name = `journal-${Date.now()}`;
  const seen = {};
  let store = await OpfsStore.open(name);
  await store.write(2 * CHUNK_SIZE, [[0, chunk(1)], [1, chunk(2)]]);
  store.close();

  // Crash after the journal is sealed, before the image is touched: replayed on open.
  store = await OpfsStore.open(name);
  store.apply = () => { throw new Error('simulated crash'); };
  seen.crashed = await store.write(3 * CHUNK_SIZE, [[1, chunk(3)], [2, chunk(4)]]).then(() => 'no', (e) => e.code);
  seen.sealedJournalBytes = store.journal.getSize();
  store.close();
  store = await OpfsStore.open(name);
  seen.afterSealed = { len: store.image.getSize(), journal: store.journal.getSize(), chunks: firstBytes(store.load()) };

  // Crash while the journal is being written (no seal): dropped on open.
  store.journal.write(new Uint8Array(16).fill(7), { at: 0 });
  store.journal.write(chunk(9), { at: 16 });
  store.journal.flush();
  store.close();
  store = await OpfsStore.open(name);
  seen.afterTorn = { len: store.image.getSize(), journal: store.journal.getSize(), chunks: firstBytes(store.load()) };
  store.close();
  self.postMessage(seen);
};
