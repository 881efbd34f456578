// Registry pull and push (store-and-registry.md §6-§9, api.md §5.7-§5.8) against real OCI
// registries: Debian's docker-registry (CNCF distribution) on 127.0.0.1, plain, behind a
// misbehaving proxy, with htpasswd Basic auth and with a token server written here.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash, createSign } from 'node:crypto';
import {
  existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, statSync,
} from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { bin, postJSON, shared, uploadBlob } from './harness.mjs';

const STORIES = path.join(shared, 'models/stories260K/stories260K.gguf');
const REGISTRY_BIN = '/usr/bin/docker-registry';
const tmp = mkdtempSync(path.join(tmpdir(), 'ollama-reg-test-'));
const children = [];

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

async function waitUrl(url, proc) {
  for (let i = 0; i < 200; i++) {
    try {
      await fetch(url, { method: 'HEAD' });
      return;
    } catch { /* not up yet */ }
    if (proc.exitCode !== null) throw new Error(`${url}: process exited`);
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${url} did not come up`);
}

// auth: undefined | {htpasswd: file} | {token: {realm, service, certFile}}
async function startRegistry(name, auth) {
  assert.ok(existsSync(REGISTRY_BIN), `${REGISTRY_BIN} missing: run scripts/setup`);
  const port = await freePort();
  const dir = path.join(tmp, name);
  let authYaml = '';
  if (auth?.htpasswd) authYaml = `auth:\n  htpasswd:\n    realm: test\n    path: ${auth.htpasswd}\n`;
  if (auth?.token) {
    authYaml = `auth:\n  token:\n    realm: ${auth.token.realm}\n    service: ${auth.token.service}\n` +
      `    issuer: test-issuer\n    rootcertbundle: ${auth.token.certFile}\n`;
  }
  const cfg = path.join(tmp, `${name}.yml`);
  writeFileSync(cfg, `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n` +
    `    rootdirectory: ${dir}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n` +
    authYaml);
  const proc = spawn(REGISTRY_BIN, ['serve', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  proc.stderr.on('data', (d) => { log += d; });
  children.push(proc);
  await waitUrl(`http://127.0.0.1:${port}/v2/`, proc);
  return { host: `127.0.0.1:${port}`, port, dir, proc, log: () => log };
}

async function startOllama(models, env = {}) {
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const proc = spawn(bin, ['serve'], {
    env: { ...process.env, HOME: tmp, OLLAMA_HOST: host, OLLAMA_MODELS: models, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  proc.stderr.on('data', (d) => { log += d; });
  children.push(proc);
  const url = `http://${host}`;
  await waitUrl(url, proc);
  return { url, host, models, proc, log: () => log };
}

async function stopProc(proc, sig = 'SIGTERM') {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const done = new Promise((r) => proc.once('exit', r));
  proc.kill(sig);
  await done;
}

// Streams /api/pull or /api/push; returns the parsed objects.
async function stream(url, endpoint, body) {
  const r = await fetch(url + endpoint, { method: 'POST', body: JSON.stringify(body) });
  const text = await r.text();
  return text.split('\n').filter((l) => l).map((l) => JSON.parse(l));
}

function sha(buf) { return createHash('sha256').update(buf).digest('hex'); }

function manifestPath(models, name) {
  const [hostNs, tag] = name.split(':').length === 3
    ? [name.slice(0, name.lastIndexOf(':')), name.slice(name.lastIndexOf(':') + 1)]
    : [name, 'latest'];
  return path.join(models, 'manifests', hostNs, tag);
}

function blobFiles(models) {
  const d = path.join(models, 'blobs');
  return existsSync(d) ? readdirSync(d).sort() : [];
}

// A proxy in front of a registry that can throttle, cut or corrupt blob GETs.
async function startProxy(target) {
  const port = await freePort();
  const p = {
    host: `127.0.0.1:${port}`, log: [], throttle: 0, cutAfter: 0, corrupt: false,
  };
  p.server = http.createServer((req, res) => {
    const isBlob = /\/blobs\/sha256:/.test(req.url) && req.method === 'GET';
    const entry = { method: req.method, url: req.url, range: req.headers.range || '', sent: 0 };
    p.log.push(entry);
    const up = http.request({
      host: '127.0.0.1', port: target.port, method: req.method, path: req.url,
      headers: { ...req.headers, host: target.host },
    }, async (ur) => {
      res.writeHead(ur.statusCode, ur.headers);
      if (!isBlob) { ur.pipe(res); return; }
      ur.pause();
      const cut = p.cutAfter;
      if (cut) p.cutAfter = 0; // once
      for await (const chunk of ur) {
        let c = chunk;
        if (p.corrupt && entry.sent === 0 && c.length) { c = Buffer.from(c); c[0] ^= 0xff; }
        for (let off = 0; off < c.length; off += 16384) {
          const piece = c.subarray(off, off + 16384);
          if (cut && entry.sent + piece.length > cut) {
            res.write(piece.subarray(0, cut - entry.sent));
            entry.sent = cut;
            res.socket.destroy();
            return;
          }
          entry.sent += piece.length;
          if (!res.write(piece)) await new Promise((r) => res.once('drain', r));
          if (p.throttle) await new Promise((r) => setTimeout(r, p.throttle));
        }
      }
      res.end();
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise((r) => p.server.listen(port, '127.0.0.1', r));
  p.close = () => new Promise((r) => { p.server.closeAllConnections(); p.server.close(r); });
  return p;
}

let reg;
let srv;
let storiesDigest;

async function createModel(name) {
  storiesDigest = await uploadBlob(srv.url, STORIES);
  const r = await postJSON(srv.url, '/api/create', {
    model: name, files: { 'stories260K.gguf': storiesDigest }, stream: false,
    parameters: { num_predict: 16 },
  });
  assert.equal(r.status, 200, r.text);
}

before(async () => {
  reg = await startRegistry('plain');
  srv = await startOllama(mkdtempSync(path.join(tmp, 'models-')));
});

after(async () => {
  for (const c of children) await stopProc(c);
  rmSync(tmp, { recursive: true, force: true });
});

describe('pull and push against docker-registry', () => {
  test('push, remove, pull back: byte-identical, statuses, model runs', async () => {
    const name = `${reg.host}/test/stories:latest`;
    await createModel(name);
    const local = readFileSync(manifestPath(srv.models, name));
    const pushed = await stream(srv.url, '/api/push', { model: name, insecure: true });
    const ps = pushed.map((o) => o.status);
    assert.equal(ps[0], 'retrieving manifest');
    assert.ok(ps.includes(`pushing ${storiesDigest.slice(7, 19)}`), ps.join('|'));
    assert.deepEqual(ps.slice(-2), ['pushing manifest', 'success']);
    assert.ok(pushed.some((o) => o.digest === storiesDigest && o.completed === o.total));

    // the registry holds the manifest we sent (compact, no trailing newline)
    const rm = await fetch(`http://${reg.host}/v2/test/stories/manifests/latest`, {
      headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json' },
    });
    const remote = Buffer.from(await rm.arrayBuffer());
    assert.equal(remote.toString(), local.toString().trimEnd());

    const del = await fetch(srv.url + '/api/delete', {
      method: 'DELETE', body: JSON.stringify({ model: name }),
    });
    assert.equal(del.status, 200);
    assert.deepEqual(blobFiles(srv.models), []);

    const pulled = await stream(srv.url, '/api/pull', { model: name, insecure: true });
    const st = pulled.map((o) => o.status);
    assert.equal(st[0], 'pulling manifest');
    assert.deepEqual(st.slice(-3), ['verifying sha256 digest', 'writing manifest', 'success']);
    const last = pulled.filter((o) => o.digest === storiesDigest).at(-1);
    assert.equal(last.status, `pulling ${storiesDigest.slice(7, 19)}`);
    assert.equal(last.total, statSync(STORIES).size);
    assert.equal(last.completed, last.total);
    assert.deepEqual(readFileSync(manifestPath(srv.models, name)), remote);
    const blob = readFileSync(path.join(srv.models, 'blobs', storiesDigest.replace(':', '-')));
    assert.equal(sha(blob), sha(readFileSync(STORIES)));
    for (const f of blobFiles(srv.models)) {
      assert.equal(`sha256-${sha(readFileSync(path.join(srv.models, 'blobs', f)))}`, f);
    }
    const gen = await postJSON(srv.url, '/api/generate', {
      model: name, prompt: 'Once', stream: false, options: { num_predict: 8, temperature: 0 },
    });
    assert.equal(gen.status, 200, gen.text);
    assert.ok(gen.json.response.length > 0);

    // a second pull fetches nothing and says so
    const again = await stream(srv.url, '/api/pull', { model: name, insecure: true });
    assert.equal(again.filter((o) => o.digest === storiesDigest).length, 1);
    // non-stream: one final object
    const ns = await postJSON(srv.url, '/api/pull', { model: name, insecure: true, stream: false });
    assert.equal(ns.status, 200);
    assert.deepEqual(ns.json, { status: 'success' });
  });

  test('pull errors: missing manifest, http without insecure, missing name', async () => {
    const nf = await stream(srv.url, '/api/pull', { model: `${reg.host}/test/nope`, insecure: true });
    assert.equal(nf.at(-1).error, 'pull model manifest: file does not exist');
    const ins = await stream(srv.url, '/api/pull', { model: `http://${reg.host}/test/stories` });
    assert.equal(ins.at(-1).error, 'insecure protocol http');
    const ns = await postJSON(srv.url, '/api/pull', {
      model: `${reg.host}/test/nope`, insecure: true, stream: false,
    });
    assert.equal(ns.status, 500);
    assert.equal(ns.json.error, 'pull model manifest: file does not exist');
    const none = await postJSON(srv.url, '/api/push', {});
    assert.equal(none.status, 400);
    assert.equal(none.json.error, 'model is required');
  });

  test('CLI pull prints plain lines when stderr is not a terminal; run pulls first', async () => {
    const name = `${reg.host}/test/stories:latest`;
    await fetch(srv.url + '/api/delete', { method: 'DELETE', body: JSON.stringify({ model: name }) });
    const env = { ...process.env, OLLAMA_HOST: srv.host };
    const r = spawnSync(bin, ['pull', '--insecure', name], { env, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /pulling manifest/);
    assert.match(r.stderr, /success/);
    await fetch(srv.url + '/api/delete', { method: 'DELETE', body: JSON.stringify({ model: name }) });
    const run = spawnSync(bin, ['run', '--insecure', name, 'Once'], { env, encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    assert.ok(existsSync(manifestPath(srv.models, name)));
  });

  test('push mounts a layer from another repository of the same registry', async () => {
    const base = `${reg.host}/test/stories:latest`;
    const derived = `${reg.host}/other/derived:latest`;
    {
      const r = await postJSON(srv.url, '/api/create', {
        model: derived, from: base, system: 'be brief', stream: false,
      });
      assert.equal(r.status, 200, r.text);
      const out = await stream(srv.url, '/api/push', { model: derived, insecure: true });
      assert.equal(out.at(-1).status, 'success', JSON.stringify(out.at(-1)));
      const m = await fetch(`http://${reg.host}/v2/other/derived/blobs/${storiesDigest}`,
        { method: 'HEAD' });
      assert.equal(m.status, 200);
    }
  });
});

describe('misbehaving registry', () => {
  test('a transfer cut mid-blob resumes from the bytes already there', async () => {
    const proxy = await startProxy(reg);
    const models = mkdtempSync(path.join(tmp, 'models-'));
    const o = await startOllama(models);
    try {
      const size = statSync(STORIES).size;
      proxy.cutAfter = Math.floor(size / 2);
      const name = `${proxy.host}/test/stories:latest`;
      const out = await stream(o.url, '/api/pull', { model: name, insecure: true });
      assert.equal(out.at(-1).status, 'success', JSON.stringify(out.at(-1)));
      const gets = proxy.log.filter((e) => e.url.endsWith(storiesDigest) && e.method === 'GET');
      assert.ok(gets.length >= 2, JSON.stringify(gets));
      // the retry asks for the rest only (the proxy's last bytes before the cut may not have
      // reached the client, so the start is at most what it sent)
      const m = /^bytes=(\d+)-(\d+)$/.exec(gets[1].range);
      assert.ok(m && +m[1] > 0 && +m[1] <= gets[0].sent && +m[2] === size - 1, gets[1].range);
      assert.equal(gets[1].sent, size - +m[1]);
      const blob = readFileSync(path.join(models, 'blobs', storiesDigest.replace(':', '-')));
      assert.equal(`sha256:${sha(blob)}`, storiesDigest);
    } finally {
      await stopProc(o.proc);
      await proxy.close();
    }
  });

  test('a blob with the wrong digest fails the pull and leaves nothing', async () => {
    const proxy = await startProxy(reg);
    const models = mkdtempSync(path.join(tmp, 'models-'));
    const o = await startOllama(models);
    try {
      proxy.corrupt = true;
      const name = `${proxy.host}/test/stories:latest`;
      const out = await stream(o.url, '/api/pull', { model: name, insecure: true });
      const e = out.at(-1).error;
      assert.match(e, /^digest mismatch, file must be downloaded again: want sha256:[0-9a-f]{64}, got sha256:[0-9a-f]{64}$/);
      assert.ok(e.includes(`want ${storiesDigest}`));
      assert.ok(!existsSync(manifestPath(models, name)));
      assert.ok(!blobFiles(models).some((f) => f.startsWith(storiesDigest.replace(':', '-'))),
        blobFiles(models).join(' '));
    } finally {
      await stopProc(o.proc);
      await proxy.close();
    }
  });

  test('a client gone mid-pull, a corrupt partial, then a pull that completes', async () => {
    const proxy = await startProxy(reg);
    const models = mkdtempSync(path.join(tmp, 'models-'));
    const o = await startOllama(models);
    try {
      proxy.throttle = 40; // about 400 KB/s
      const name = `${proxy.host}/test/stories:latest`;
      const ac = new AbortController();
      const r = await fetch(o.url + '/api/pull', {
        method: 'POST', body: JSON.stringify({ model: name, insecure: true }), signal: ac.signal,
      });
      const reader = r.body.getReader();
      let text = '';
      while (!/"completed":[1-9]\d{5,}/.test(text)) text += new TextDecoder().decode((await reader.read()).value);
      ac.abort();
      const partial = path.join(models, 'blobs', `${storiesDigest.replace(':', '-')}-partial`);
      for (let i = 0; i < 100 && !existsSync(`${partial}-0`); i++) await new Promise((res) => setTimeout(res, 50));
      await new Promise((res) => setTimeout(res, 1500)); // the download notices and stops
      assert.ok(existsSync(partial));
      assert.ok(!existsSync(manifestPath(models, name)));
      // corrupt the bytes already downloaded: the resumed blob fails its hash and is refetched
      const buf = readFileSync(partial);
      buf[10] ^= 0xff;
      writeFileSync(partial, buf);
      proxy.throttle = 0;
      const out = await stream(o.url, '/api/pull', { model: name, insecure: true });
      assert.equal(out.at(-1).status, 'success', JSON.stringify(out.at(-1)));
      const blob = readFileSync(path.join(models, 'blobs', storiesDigest.replace(':', '-')));
      assert.equal(`sha256:${sha(blob)}`, storiesDigest);
    } finally {
      await stopProc(o.proc);
      await proxy.close();
    }
  });

  test('two pulls at once share one download', async () => {
    const proxy = await startProxy(reg);
    const models = mkdtempSync(path.join(tmp, 'models-'));
    const o = await startOllama(models);
    try {
      proxy.throttle = 5;
      const name = `${proxy.host}/test/stories:latest`;
      const [a, b] = await Promise.all([
        stream(o.url, '/api/pull', { model: name, insecure: true }),
        stream(o.url, '/api/pull', { model: name, insecure: true }),
      ]);
      assert.equal(a.at(-1).status, 'success');
      assert.equal(b.at(-1).status, 'success');
      const gets = proxy.log.filter((e) => e.url.endsWith(storiesDigest) && e.method === 'GET');
      assert.equal(gets.length, 1, JSON.stringify(gets));
    } finally {
      await stopProc(o.proc);
      await proxy.close();
    }
  });

  test('kill -9 of the server mid-pull, then a fresh server completes the pull', async () => {
    const proxy = await startProxy(reg);
    const models = mkdtempSync(path.join(tmp, 'models-'));
    let o = await startOllama(models);
    const name = `${proxy.host}/test/stories:latest`;
    try {
      proxy.throttle = 40;
      const pending = fetch(o.url + '/api/pull', {
        method: 'POST', body: JSON.stringify({ model: name, insecure: true }),
      }).then((r) => r.text()).catch(() => '');
      const partial = path.join(models, 'blobs', `${storiesDigest.replace(':', '-')}-partial`);
      for (let i = 0; i < 200; i++) {
        if (existsSync(partial) && statSync(partial).blocks * 512 > 300000) break;
        assert.ok(!existsSync(manifestPath(models, name)));
        await new Promise((res) => setTimeout(res, 25));
      }
      await new Promise((res) => setTimeout(res, 1200)); // a part state save
      await stopProc(o.proc, 'SIGKILL');
      await pending;
      assert.ok(!existsSync(manifestPath(models, name)));
      proxy.throttle = 0;
      proxy.log.length = 0;
      o = await startOllama(models);
      const out = await stream(o.url, '/api/pull', { model: name, insecure: true });
      assert.equal(out.at(-1).status, 'success', JSON.stringify(out.at(-1)));
      const gets = proxy.log.filter((e) => e.url.endsWith(storiesDigest) && e.method === 'GET');
      assert.ok(/^bytes=[1-9]\d*-/.test(gets[0].range), `resumed: ${gets[0].range}`);
      const blob = readFileSync(path.join(models, 'blobs', storiesDigest.replace(':', '-')));
      assert.equal(`sha256:${sha(blob)}`, storiesDigest);
    } finally {
      await stopProc(o.proc);
      await proxy.close();
    }
  });
});

// A token server: checks Basic credentials and issues RS256 JWTs with the signing cert in
// x5c, as distribution's token auth expects.
async function startTokenServer(keyPem, certDer, service) {
  const port = await freePort();
  const b64u = (b) => Buffer.from(b).toString('base64url');
  const server = http.createServer((req, res) => {
    const u = new URL(req.url, 'http://x');
    const auth = req.headers.authorization || '';
    const [user, pass] = Buffer.from(auth.replace(/^Basic /, ''), 'base64').toString().split(':');
    if (!auth.startsWith('Basic ') || user !== 'alice' || pass !== 'secret') {
      res.writeHead(401); res.end('bad credentials'); return;
    }
    const access = u.searchParams.getAll('scope').map((s) => {
      const [type, name, actions] = s.split(':');
      return { type, name, actions: actions.split(',') };
    });
    const now = Math.floor(Date.now() / 1000);
    const header = { alg: 'RS256', typ: 'JWT', x5c: [certDer.toString('base64')] };
    const claims = {
      iss: 'test-issuer', sub: user, aud: service, exp: now + 300, nbf: now - 10, iat: now,
      jti: String(Math.random()), access,
    };
    const input = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(claims))}`;
    const sig = createSign('RSA-SHA256').update(input).sign(keyPem);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ token: `${input}.${b64u(sig)}` }));
  });
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${port}/token`, close: () => new Promise((r) => server.close(r)) };
}

describe('registry authentication', () => {
  test('htpasswd Basic auth: push works, a wrong password is refused', async () => {
    const htp = path.join(tmp, 'htpasswd');
    const h = spawnSync('htpasswd', ['-Bbn', 'alice', 'secret'], { encoding: 'utf8' });
    assert.equal(h.status, 0, 'htpasswd (apache2-utils) missing: run scripts/setup');
    writeFileSync(htp, h.stdout);
    const basic = await startRegistry('basic', { htpasswd: htp });
    const name = `${basic.host}/alice/stories:latest`;
    await createModel(name);
    const bad = await stream(srv.url, '/api/push', {
      model: name, insecure: true, username: 'alice', password: 'wrong',
    });
    assert.equal(bad.at(-1).error, 'unauthorized: access denied');
    const ok = await stream(srv.url, '/api/push', {
      model: name, insecure: true, username: 'alice', password: 'secret',
    });
    assert.equal(ok.at(-1).status, 'success', JSON.stringify(ok.at(-1)));
    await fetch(srv.url + '/api/delete', { method: 'DELETE', body: JSON.stringify({ model: name }) });
    const pulled = await stream(srv.url, '/api/pull', {
      model: name, insecure: true, username: 'alice', password: 'secret',
    });
    assert.equal(pulled.at(-1).status, 'success', JSON.stringify(pulled.at(-1)));
  });

  test('token server: push and pull with a bearer token', async () => {
    const key = path.join(tmp, 'tok.key');
    const crt = path.join(tmp, 'tok.crt');
    const g = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key,
      '-out', crt, '-days', '1', '-subj', '/CN=token'], { encoding: 'utf8' });
    assert.equal(g.status, 0, g.stderr);
    const der = spawnSync('openssl', ['x509', '-in', crt, '-outform', 'DER']).stdout;
    const tokens = await startTokenServer(readFileSync(key), der, 'test-registry');
    try {
      const treg = await startRegistry('token', {
        token: { realm: tokens.url, service: 'test-registry', certFile: crt },
      });
      const name = `${treg.host}/alice/stories:latest`;
      await createModel(name);
      const bad = await stream(srv.url, '/api/push', {
        model: name, insecure: true, username: 'alice', password: 'wrong',
      });
      assert.match(bad.at(-1).error, /^401: bad credentials/);
      const ok = await stream(srv.url, '/api/push', {
        model: name, insecure: true, username: 'alice', password: 'secret',
      });
      assert.equal(ok.at(-1).status, 'success', JSON.stringify(ok.at(-1)));
      await fetch(srv.url + '/api/delete', { method: 'DELETE', body: JSON.stringify({ model: name }) });
      const pulled = await stream(srv.url, '/api/pull', {
        model: name, insecure: true, username: 'alice', password: 'secret',
      });
      assert.equal(pulled.at(-1).status, 'success', JSON.stringify(pulled.at(-1)));
    } finally { await tokens.close(); }
  });
});
