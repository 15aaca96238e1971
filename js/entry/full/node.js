// remdb for Node: the full build (in-module embeddings), its .wasm read from the package directory.
import { readFile } from 'node:fs/promises';
import * as glue from '../../../full/remdb.js';
import { createApi } from '../../api.js';

export const { RemDB, RemDBError, init } = createApi(glue, {
  runtime: 'node',
  wasm: () => readFile(new URL('../../../full/remdb_bg.wasm', import.meta.url)),
  readFile,
});
