// A `rem serve` hub on a free loopback port for the npm tests (REM_BIN, else the `rem` the native
// tests built with feature `server`, under $CARGO_TARGET_DIR), and tokens for its tenant `acme`.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = process.env.REMDB_ROOT ?? fileURLToPath(new URL('../..', import.meta.url));

export async function startHub() {
  const rem = process.env.REM_BIN ?? join(process.env.CARGO_TARGET_DIR ?? join(ROOT, 'target'), 'debug', 'rem');
  const data = mkdtempSync(join(tmpdir(), 'rem-hub-'));
  const child = spawn(rem, ['--json', 'serve', '--data', data, '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise((resolve, reject) => {
    let text = '';
    child.stdout.on('data', (chunk) => {
      text += chunk;
      if (text.includes('\n')) resolve(text.split('\n')[0]);
    });
    child.on('exit', (code) => reject(new Error(`rem serve exited with ${code} (is ${rem} built with --features server?)`)));
  });
  const url = `http://${JSON.parse(line).listening}`;
  const token = (...args) => JSON.parse(execFileSync(rem, ['--json', 'serve', 'token', '--data', data, '--tenant', 'acme', ...args])).token;
  return { url, admin: token('--admin'), member: token(), stop: () => child.kill() };
}
