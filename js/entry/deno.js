// remdb for Deno: the core build, its .wasm read from the package directory (needs --allow-read).
import * as glue from '../../core/remdb.js';
import { createApi } from '../api.js';

export const { RemDB, RemDBError, init } = createApi(glue, {
  runtime: 'deno',
  wasm: () => Deno.readFile(new URL('../../core/remdb_bg.wasm', import.meta.url)),
  readFile: (path) => Deno.readFile(path),
});
