// Starts the real server binary on a free 127.0.0.1 port with a temporary OLLAMA_MODELS and
// gives tests a client. Used by every *.test.mjs here; see scripts/run-tests.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const shared = path.resolve(repo, '../shared');
export const bin = process.env.OLLAMA_BIN || path.join(repo, 'build/release/ollama');

async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

export async function startServer(env = {}) {
  const port = await freePort();
  const models = mkdtempSync(path.join(tmpdir(), 'ollama-models-'));
  const host = `127.0.0.1:${port}`;
  const proc = spawn(bin, ['serve'], {
    env: { ...process.env, OLLAMA_HOST: host, OLLAMA_MODELS: models, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  proc.stderr.on('data', (d) => { log += d; });
  const url = `http://${host}`;
  for (let i = 0; i < 200; i++) {
    try {
      const r = await fetch(url, { method: 'HEAD' });
      if (r.ok) break;
    } catch { /* not up yet */ }
    if (proc.exitCode !== null) throw new Error(`server exited: ${log}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url, host, models, proc,
    log: () => log,
    async stop() {
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
      rmSync(models, { recursive: true, force: true });
    },
  };
}

export function sha256File(p) {
  return 'sha256:' + createHash('sha256').update(readFileSync(p)).digest('hex');
}

// Uploads a file as a blob (HEAD, then POST when missing); returns its digest.
export async function uploadBlob(url, file) {
  const digest = sha256File(file);
  const head = await fetch(`${url}/api/blobs/${digest}`, { method: 'HEAD' });
  if (head.status === 200) return digest;
  const r = await fetch(`${url}/api/blobs/${digest}`, { method: 'POST', body: readFileSync(file) });
  if (r.status !== 201) throw new Error(`blob upload: ${r.status} ${await r.text()}`);
  return digest;
}

export async function postJSON(url, pathName, body, method = 'POST') {
  const r = await fetch(url + pathName, {
    method, body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: r.status, text, json, headers: r.headers };
}

// The 256 greedy tokens' text of stories260K (shared/models/stories260K/expected-greedy.txt).
export function storiesGreedyText() {
  const t = readFileSync(path.join(shared, 'models/stories260K/expected-greedy.txt'), 'utf8');
  const a = t.indexOf('text_begin\n') + 'text_begin\n'.length;
  const b = t.indexOf('\ntext_end');
  return t.slice(a, b);
}
