// The dedicated worker behind `storage: "opfs"` (see opfs.js): loads the same wasm build as the
// page, opens the database over an OpfsStore, and answers the page's calls one message each.
import { openEngine } from './api.js';
import { describe } from './calls.js';
import { OpfsStore } from './opfs.js';

let engine = null;

async function handle(m) {
  switch (m.kind) {
    case 'open': {
      const glue = await import(m.glueUrl);
      await glue.default({ module_or_path: m.wasm });
      const store = await OpfsStore.open(m.name);
      engine = await openEngine(glue, null, m.options, m.tenant, store, (tenant, seq, from) => {
        self.postMessage({ kind: 'commit', tenant, seq, from });
      });
      return undefined;
    }
    case 'call':
      return engine.call(m.tenant, m.method, m.args, m.from);
    case 'close':
      if (engine) await engine.close();
      engine = null;
      return undefined;
    default:
      throw new Error(`unknown message ${m.kind}`);
  }
}

// `open` and `close` run alone, in order; calls start in the order they arrive once the database
// is open and may overlap (writes in the same turn share a commit, as on the page).
let queue = Promise.resolve();
self.onmessage = (event) => {
  const m = event.data;
  const run = queue.then(() => handle(m));
  if (m.kind !== 'call') queue = run.catch(() => {});
  run.then(
    (value) => reply({ id: m.id, ok: true, value }),
    (e) => reply({ id: m.id, ok: false, error: describe(e) }),
  );
};

function reply(message) {
  try {
    self.postMessage(message);
  } catch (e) {
    self.postMessage({ id: message.id, ok: false, error: describe(e) });
  }
}
