// remdb for browsers (and bundlers): the full build (in-module embeddings), its .wasm fetched next to this package.
import * as glue from '../../../full/remdb.js';
import { createApi } from '../../api.js';

export const { RemDB, RemDBError, init } = createApi(glue, {
  runtime: 'browser',
  glueUrl: new URL('../../../full/remdb.js', import.meta.url),
  wasm: () => new URL('../../../full/remdb_bg.wasm', import.meta.url),
});
