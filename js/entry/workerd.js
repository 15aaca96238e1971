// remdb for Cloudflare Workers (workerd): the core build. Workers cannot compile WebAssembly from
// bytes, so the .wasm is imported as a precompiled WebAssembly.Module (wrangler and esbuild's
// Workers setups do this for `.wasm` imports).
import wasmModule from '../../core/remdb_bg.wasm';
import * as glue from '../../core/remdb.js';
import { createApi } from '../api.js';

export const { RemDB, RemDBError, init } = createApi(glue, {
  runtime: 'workerd',
  wasm: () => wasmModule,
});
