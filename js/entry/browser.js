// remdb for browsers (and bundlers): the core build, its .wasm fetched next to this package.
import * as glue from '../../core/remdb.js';
import { createApi } from '../api.js';

export const { RemDB, RemDBError, init } = createApi(glue, {
  runtime: 'browser',
  glueUrl: new URL('../../core/remdb.js', import.meta.url),
  wasm: () => new URL('../../core/remdb_bg.wasm', import.meta.url),
});
