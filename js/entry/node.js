// remdb for Node: the core build, its .wasm read from the package directory.
import { readFile } from 'node:fs/promises';
import * as glue from '../../core/remdb.js';
import { createApi } from '../api.js';

export const { RemDB, RemDBError, init } = createApi(glue, {
  runtime: 'node',
  wasm: () => readFile(new URL('../../core/remdb_bg.wasm', import.meta.url)),
  readFile,
});
