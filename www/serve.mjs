// Serves the demo: this folder at / (its node_modules/ included) and the repository's models/
// at /models/. Usage: npm install && node serve.mjs, then open the printed URL (a free port
// on 127.0.0.1).
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from '../tests/npm/server.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const { url } = await serve({
  '/': here,
  '/models/': join(here, '..', 'models'),
});
console.log(`remdb demo: ${url}/  (Ctrl-C to stop)`);
