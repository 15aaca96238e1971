// remdb for Deno: the full build (in-module embeddings), its .wasm read from the package directory (needs --allow-read).
import * as glue from '../../../full/remdb.js';
import { createApi } from '../../api.js';

export const { RemDB, RemDBError, init } = createApi(glue, {
  runtime: 'deno',
  wasm: () => Deno.readFile(new URL('../../../full/remdb_bg.wasm', import.meta.url)),
  readFile: (path) => Deno.readFile(path),
});
