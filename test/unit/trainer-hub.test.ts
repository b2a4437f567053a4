import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { HubError, normalizeEtag, resolveModel, type DownloadProgress } from '../../trainer/hub';
import { defaultHubCacheDir, hfToken } from '../../trainer/hubCache';
import { run as previewRun } from '../../cli/preview';
import { captureStdout } from './captureStdout';

// A small model served the way huggingface.co serves it: `/{repo}/resolve/{rev}/{file}`; small files
// answered directly with a git-blob ETag, LFS files (safetensors) with a 302 to a CDN on another origin
// carrying X-Linked-Etag (sha256) and X-Linked-Size; X-Repo-Commit on every answer; X-Error-Code on errors.

function safetensors(floats: number): Buffer {
  let header = JSON.stringify({ 'wte.weight': { dtype: 'F32', shape: [floats], data_offsets: [0, floats * 4] } });
  header += ' '.repeat((8 - (header.length % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  const data = Buffer.alloc(floats * 4);
  for (let i = 0; i < floats; i++) data.writeFloatLE(Math.sin(i), i * 4);
  return Buffer.concat([len, Buffer.from(header), data]);
}

const gitBlobSha = (b: Buffer) => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const LFS = new Set(['model.safetensors']);

interface Repo {
  commit: string;
  files: Record<string, Buffer>;
  gated?: boolean;
  corrupt?: boolean;
  stall?: boolean;
  etag?: string;
}

const MODEL_FILES = {
  'config.json': Buffer.from(JSON.stringify({ model_type: 'gpt2', n_embd: 64, n_layer: 2, n_head: 2, n_positions: 256, vocab_size: 50257 })),
  'model.safetensors': safetensors(300_000), // ~1.2 MB: streamed in many chunks
  'vocab.json': Buffer.from(JSON.stringify({ a: 0, b: 1 })),
  'merges.txt': Buffer.from('#version: 0.2\na b\n'),
  'tokenizer_config.json': Buffer.from('{"model_max_length": 256}'),
};

// A chat model as recent transformers save one: its template in chat_template.jinja, and an older one
// left in tokenizer_config.json, which the .jinja file overrides. The tokenizer is the chat-eval
// fixture's (Qwen3's, cut to 512 ids).
const CHAT_FIXTURE = path.join(__dirname, '..', 'fixtures', 'chat-eval', 'qwen3-chat');
const JINJA_TEMPLATE =
  "{% for m in messages %}{{ '<|im_start|>' + m['role'] + ' (jinja file)\\n' + m['content'] + '<|im_end|>\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant (jinja file)\\n' }}{% endif %}";
const CHAT_FILES = {
  'config.json': fs.readFileSync(path.join(CHAT_FIXTURE, 'config.json')),
  'model.safetensors': MODEL_FILES['model.safetensors'],
  'tokenizer.json': fs.readFileSync(path.join(CHAT_FIXTURE, 'tokenizer.json')),
  'tokenizer_config.json': Buffer.from(
    JSON.stringify({
      ...JSON.parse(fs.readFileSync(path.join(CHAT_FIXTURE, 'tokenizer_config.json'), 'utf8')),
      chat_template: "{% for m in messages %}{{ m['role'] + ' (tokenizer_config): ' + m['content'] }}{% endfor %}",
    }),
  ),
  'chat_template.jinja': Buffer.from(JINJA_TEMPLATE),
};

const REPOS: Record<string, Repo> = {
  'acme/tiny-gpt2': { commit: 'a'.repeat(40), files: MODEL_FILES },
  'acme/chat-model': { commit: '4'.repeat(40), files: CHAT_FILES },
  'solo-model': { commit: 'b'.repeat(40), files: MODEL_FILES },
  'acme/gated-gpt2': { commit: 'c'.repeat(40), files: MODEL_FILES, gated: true },
  'acme/bin-only': { commit: 'd'.repeat(40), files: { 'config.json': MODEL_FILES['config.json'], 'pytorch_model.bin': Buffer.from('x') } },
  'acme/broken-cdn': { commit: 'e'.repeat(40), files: MODEL_FILES, corrupt: true },
  'acme/stalling': { commit: 'f'.repeat(40), files: MODEL_FILES, stall: true },
  // A fake hub whose ETags are path segments: they must never become blob names.
  'acme/dot-etag': { commit: '1'.repeat(40), files: MODEL_FILES, etag: '"."' },
  'acme/dotdot-etag': { commit: '2'.repeat(40), files: MODEL_FILES, etag: 'W/".."' },
  'acme/path-etag': { commit: '3'.repeat(40), files: MODEL_FILES, etag: '"../../escape"' },
};
const RENAMED: Record<string, string> = { 'old-name': 'acme/tiny-gpt2' };
const TOKEN = 'hf_test_token';

let hub: http.Server;
let cdn: http.Server;
let hubUrl = '';
let cdnUrl = '';
let closedPortUrl = '';
const hubRequests: { url: string; auth?: string }[] = [];
const cdnRequests: { url: string; auth?: string }[] = [];
const blobsBySha = new Map<string, { data: Buffer; corrupt: boolean; stall: boolean }>();

function listen(server: http.Server): Promise<string> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

function hubHandler(req: http.IncomingMessage, res: http.ServerResponse): void {
  hubRequests.push({ url: req.url ?? '', auth: req.headers.authorization });
  const m = /^\/(.+?)\/resolve\/([^/]+)\/(.+)$/.exec(decodeURI(req.url ?? ''));
  if (!m) {
    res.writeHead(404).end();
    return;
  }
  const [, repoId, revision, file] = m;
  if (RENAMED[repoId]) {
    res.writeHead(307, { location: `/${RENAMED[repoId]}/resolve/${revision}/${file}` }).end();
    return;
  }
  const repo = REPOS[repoId];
  if (!repo) {
    res.writeHead(404, { 'x-error-code': 'RepositoryNotFound', 'x-error-message': 'Repository not found' }).end();
    return;
  }
  if (repo.gated && req.headers.authorization !== `Bearer ${TOKEN}`) {
    res.writeHead(401, { 'x-error-code': 'GatedRepo', 'x-error-message': 'Access to this model is restricted.' }).end();
    return;
  }
  if (revision !== 'main' && revision !== repo.commit) {
    res.writeHead(404, { 'x-error-code': 'RevisionNotFound' }).end();
    return;
  }
  const data = repo.files[file];
  const common = { 'x-repo-commit': repo.commit };
  if (!data) {
    res.writeHead(404, { ...common, 'x-error-code': 'EntryNotFound', 'x-error-message': 'Entry not found' }).end();
    return;
  }
  if (LFS.has(file)) {
    const sha = sha256(data);
    blobsBySha.set(sha, { data, corrupt: !!repo.corrupt, stall: !!repo.stall });
    res
      .writeHead(302, {
        ...common,
        location: `${cdnUrl}/repos/${sha}?X-Amz-Signature=test`,
        'x-linked-etag': `"${sha}"`,
        'x-linked-size': String(data.length),
        etag: `"${gitBlobSha(Buffer.from('lfs pointer'))}"`,
      })
      .end();
    return;
  }
  res.writeHead(200, { ...common, etag: repo.etag ?? `"${gitBlobSha(data)}"`, 'content-length': data.length }).end(data);
}

function cdnHandler(req: http.IncomingMessage, res: http.ServerResponse): void {
  cdnRequests.push({ url: req.url ?? '', auth: req.headers.authorization });
  const blob = blobsBySha.get(/^\/repos\/([0-9a-f]{64})/.exec(req.url ?? '')?.[1] ?? '');
  if (!blob) {
    res.writeHead(403).end();
    return;
  }
  const body = Buffer.from(blob.data);
  if (blob.corrupt) body[body.length - 1] ^= 0xff;
  res.writeHead(200, { etag: '"s3-multipart-etag-12"', 'content-length': body.length });
  if (blob.stall) {
    res.write(body.subarray(0, 1000)); // then nothing more: a dead transfer
    return;
  }
  // Several writes so the client sees the body arrive in pieces.
  const step = 64 * 1024;
  let offset = 0;
  const pump = () => {
    while (offset < body.length) {
      const ok = res.write(body.subarray(offset, offset + step));
      offset += step;
      if (!ok) {
        res.once('drain', pump);
        return;
      }
    }
    res.end();
  };
  pump();
}

before(async () => {
  hub = http.createServer(hubHandler);
  cdn = http.createServer(cdnHandler);
  hubUrl = await listen(hub);
  cdnUrl = await listen(cdn);
  // A port that was just free and is now closed: connections are refused.
  const probe = http.createServer();
  closedPortUrl = await listen(probe);
  await new Promise((r) => probe.close(r));
});

after(async () => {
  for (const server of [hub, cdn]) {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});

const tempDirs: string[] = [];
after(() => {
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
});

function tempHome(): { home: string; cache: string; env: Record<string, string> } {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'ft-hub-'));
  tempDirs.push(home);
  return { home, cache: path.join(home, 'hub'), env: { HF_HOME: home } };
}

function requestCount(): number {
  return hubRequests.length + cdnRequests.length;
}

function listTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      out.push(path.relative(dir, p));
      if (e.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out.sort();
}

/** Writes a cache the way Python's huggingface_hub does: blobs by etag, relative symlinks, refs without newline. */
function writePythonCache(cache: string, repoId: string, commit: string, files: Record<string, Buffer>, noExist: string[] = []): string {
  const root = path.join(cache, `models--${repoId.replace('/', '--')}`);
  fs.mkdirSync(path.join(root, 'refs'), { recursive: true });
  fs.writeFileSync(path.join(root, 'refs', 'main'), commit);
  const snapshot = path.join(root, 'snapshots', commit);
  fs.mkdirSync(snapshot, { recursive: true });
  fs.mkdirSync(path.join(root, 'blobs'), { recursive: true });
  for (const [file, data] of Object.entries(files)) {
    const etag = LFS.has(file) ? sha256(data) : gitBlobSha(data);
    fs.writeFileSync(path.join(root, 'blobs', etag), data);
    fs.symlinkSync(`../../blobs/${etag}`, path.join(snapshot, file));
  }
  for (const file of noExist) {
    fs.mkdirSync(path.join(root, '.no_exist', commit), { recursive: true });
    fs.writeFileSync(path.join(root, '.no_exist', commit, file), '');
  }
  return snapshot;
}

test('a repo id is downloaded into the cache in huggingface_hub layout (refs, blobs by etag, relative snapshot symlinks, .no_exist)', async () => {
  const { cache, env } = tempHome();
  const result = await resolveModel('acme/tiny-gpt2', { endpoint: hubUrl, env: { ...env, HF_TOKEN: TOKEN } });
  const commit = REPOS['acme/tiny-gpt2'].commit;
  const root = path.join(cache, 'models--acme--tiny-gpt2');
  const snapshot = path.join(root, 'snapshots', commit);
  assert.deepEqual(result, { kind: 'folder', dir: snapshot, repoId: 'acme/tiny-gpt2', revision: 'main', commit });

  assert.equal(fs.readFileSync(path.join(root, 'refs', 'main'), 'utf8'), commit);
  const configEtag = gitBlobSha(MODEL_FILES['config.json']);
  const weightsEtag = sha256(MODEL_FILES['model.safetensors']);
  assert.equal(fs.readlinkSync(path.join(snapshot, 'config.json')), `../../blobs/${configEtag}`);
  // The blob is named by X-Linked-Etag, not by the hub's pointer ETag or the CDN's ETag.
  assert.equal(fs.readlinkSync(path.join(snapshot, 'model.safetensors')), `../../blobs/${weightsEtag}`);
  for (const [file, data] of Object.entries(MODEL_FILES)) {
    assert.ok(fs.lstatSync(path.join(snapshot, file)).isSymbolicLink(), `${file} is a symlink`);
    assert.deepEqual(fs.readFileSync(path.join(snapshot, file)), data, `${file} content`);
  }
  assert.ok(fs.existsSync(path.join(root, '.no_exist', commit, 'tokenizer.json')));
  assert.ok(fs.existsSync(path.join(root, '.no_exist', commit, 'generation_config.json')));
  assert.ok(!listTree(root).some((p) => p.endsWith('.incomplete')), 'no .incomplete left behind');
  assert.deepEqual(
    fs.readdirSync(path.join(root, 'blobs')).sort(),
    [
      configEtag,
      weightsEtag,
      ...['vocab.json', 'merges.txt', 'tokenizer_config.json'].map((f) => gitBlobSha(MODEL_FILES[f as keyof typeof MODEL_FILES])),
    ].sort(),
  );
});

test('the token goes to the hub but never to the CDN the hub redirects to', async () => {
  const { env } = tempHome();
  const hubBefore = hubRequests.length;
  const cdnBefore = cdnRequests.length;
  await resolveModel('acme/tiny-gpt2', { endpoint: hubUrl, env: { ...env, HF_TOKEN: TOKEN } });
  const hubSeen = hubRequests.slice(hubBefore);
  const cdnSeen = cdnRequests.slice(cdnBefore);
  assert.ok(hubSeen.length >= 7 && hubSeen.every((r) => r.auth === `Bearer ${TOKEN}`));
  assert.equal(cdnSeen.length, 1);
  assert.equal(cdnSeen[0].auth, undefined);
});

test('a second resolve of a downloaded repo makes no request at all', async () => {
  const { env } = tempHome();
  const first = await resolveModel('acme/tiny-gpt2', { endpoint: hubUrl, env });
  const before = requestCount();
  const second = await resolveModel('acme/tiny-gpt2', { endpoint: hubUrl, env });
  assert.equal(requestCount(), before);
  assert.deepEqual(second, first);
});

test('after the first file, files are fetched at the commit the hub named, so the snapshot is one version', async () => {
  const { env } = tempHome();
  const start = hubRequests.length;
  await resolveModel('solo-model', { endpoint: hubUrl, env });
  const urls = hubRequests.slice(start).map((r) => r.url);
  assert.equal(urls[0], '/solo-model/resolve/main/config.json');
  assert.ok(
    urls.slice(1).every((u) => u.startsWith(`/solo-model/resolve/${REPOS['solo-model'].commit}/`)),
    urls.join('\n'),
  );
});

test('a cache written by Python huggingface_hub is used with no network (endpoint unreachable)', async () => {
  const { cache, env } = tempHome();
  const commit = '1'.repeat(40);
  const snapshot = writePythonCache(cache, 'someone/py-model', commit, MODEL_FILES, ['tokenizer.json', 'generation_config.json']);
  const result = await resolveModel('someone/py-model', { endpoint: closedPortUrl, env });
  assert.deepEqual(result, { kind: 'folder', dir: snapshot, repoId: 'someone/py-model', revision: 'main', commit });
  assert.deepEqual(await resolveModel('someone/py-model', { endpoint: closedPortUrl, env, revision: commit }), {
    kind: 'folder',
    dir: snapshot,
    repoId: 'someone/py-model',
    revision: commit,
    commit,
  });
  // Read through the symlinks.
  assert.deepEqual(fs.readFileSync(path.join(result.kind === 'folder' ? result.dir : '', 'model.safetensors')), MODEL_FILES['model.safetensors']);
});

test('a cached snapshot missing optional files is completed with only the missing files, at its own commit', async () => {
  const { cache, env } = tempHome();
  const commit = REPOS['acme/tiny-gpt2'].commit;
  const { 'config.json': config, 'model.safetensors': weights } = MODEL_FILES;
  writePythonCache(cache, 'acme/tiny-gpt2', commit, { 'config.json': config, 'model.safetensors': weights });
  const start = hubRequests.length;
  const cdnStart = cdnRequests.length;
  const result = await resolveModel('acme/tiny-gpt2', { endpoint: hubUrl, env });
  const fetched = hubRequests
    .slice(start)
    .map((r) => r.url)
    .sort();
  assert.deepEqual(
    fetched,
    ['chat_template.jinja', 'generation_config.json', 'merges.txt', 'tokenizer.json', 'tokenizer_config.json', 'vocab.json']
      .map((f) => `/acme/tiny-gpt2/resolve/${commit}/${f}`)
      .sort(),
  );
  assert.equal(cdnRequests.length, cdnStart, 'the weights are not downloaded again');
  assert.equal(result.kind === 'folder' && result.commit, commit);
});

test('offline, a cached snapshot with the required files is used even if optional files were never fetched', async () => {
  const { cache, env } = tempHome();
  const commit = '2'.repeat(40);
  const { 'config.json': config, 'model.safetensors': weights } = MODEL_FILES;
  const snapshot = writePythonCache(cache, 'someone/partial', commit, { 'config.json': config, 'model.safetensors': weights });
  const before = requestCount();
  const result = await resolveModel('someone/partial', { endpoint: hubUrl, env: { ...env, HF_HUB_OFFLINE: '1' } });
  assert.equal(result.kind === 'folder' && result.dir, snapshot);
  assert.equal(requestCount(), before);
});

test('download progress is reported per file from 0 to the full size', async () => {
  const { env } = tempHome();
  const events: DownloadProgress[] = [];
  await resolveModel('acme/tiny-gpt2', { endpoint: hubUrl, env, onProgress: (p) => events.push({ ...p }) });
  const weights = events.filter((e) => e.file === 'model.safetensors');
  const size = MODEL_FILES['model.safetensors'].length;
  assert.deepEqual(weights[0], { file: 'model.safetensors', bytes: 0, total: size });
  assert.deepEqual(weights.at(-1), { file: 'model.safetensors', bytes: size, total: size });
  for (let i = 1; i < weights.length; i++) assert.ok(weights[i].bytes >= weights[i - 1].bytes, 'bytes never go back');
  assert.deepEqual([...new Set(events.map((e) => e.file))].sort(), ['config.json', 'merges.txt', 'model.safetensors', 'tokenizer_config.json', 'vocab.json']);
});

test('an unreachable endpoint gives a clear message naming the endpoint, the repo and the cache folder', async () => {
  const { cache, env } = tempHome();
  await assert.rejects(resolveModel('acme/tiny-gpt2', { endpoint: closedPortUrl, env }), (err: unknown) => {
    assert.ok(err instanceof HubError);
    assert.equal(err.code, 'unreachable');
    assert.match(
      err.message,
      new RegExp(`^Cannot reach ${closedPortUrl.replace(/[.:/]/g, '\\$&')} to download acme/tiny-gpt2: .*ECONNREFUSED.* \\(fetching config\\.json\\)\\. `),
    );
    assert.ok(err.message.includes(`The model is not in the local cache (${cache}). Download it on a machine with access or set HF_ENDPOINT.`), err.message);
    return true;
  });
});

test('HF_HUB_OFFLINE=1 (and offline: true) never touch the network and say the model is not cached', async () => {
  const { cache, env } = tempHome();
  const before = requestCount();
  await assert.rejects(
    resolveModel('acme/tiny-gpt2', { endpoint: hubUrl, env: { ...env, HF_HUB_OFFLINE: '1' } }),
    (err: unknown) =>
      err instanceof HubError &&
      err.code === 'offline' &&
      err.message.includes(`not in the local Hugging Face cache (${cache})`) &&
      err.message.includes('HF_HUB_OFFLINE'),
  );
  await assert.rejects(resolveModel('acme/tiny-gpt2', { endpoint: hubUrl, env, offline: true }), /offline mode is on/);
  assert.equal(requestCount(), before);
  assert.ok(!fs.existsSync(cache), 'nothing written to the cache');
});

test('the environment decides the cache folder, endpoint and offline mode when no options are given', async () => {
  const { home, cache } = tempHome();
  const saved = { ...process.env };
  try {
    process.env.HF_HOME = home;
    delete process.env.HF_HUB_CACHE;
    delete process.env.HUGGINGFACE_HUB_CACHE;
    process.env.HF_ENDPOINT = hubUrl;
    delete process.env.HF_HUB_OFFLINE;
    assert.equal(defaultHubCacheDir(), cache);
    const result = await resolveModel('acme/tiny-gpt2');
    assert.ok(result.kind === 'folder' && result.dir.startsWith(cache + path.sep));
    process.env.HF_HUB_OFFLINE = '1';
    assert.deepEqual(await resolveModel('acme/tiny-gpt2'), result, 'cached: offline is fine');
    await assert.rejects(resolveModel('solo-model'), /offline/);
    process.env.HF_HUB_CACHE = path.join(home, 'elsewhere');
    assert.equal(defaultHubCacheDir(), path.join(home, 'elsewhere'));
  } finally {
    for (const key of ['HF_HOME', 'HF_HUB_CACHE', 'HUGGINGFACE_HUB_CACHE', 'HF_ENDPOINT', 'HF_HUB_OFFLINE']) {
      if (saved[key] === undefined) delete process.env[key];
      else process.env[key] = saved[key];
    }
  }
});

test('a gated repo without a token fails with a message about access and HF_TOKEN; the token file unlocks it', async () => {
  const { home, env } = tempHome();
  await assert.rejects(resolveModel('acme/gated-gpt2', { endpoint: hubUrl, env }), (err: unknown) => {
    assert.ok(err instanceof HubError);
    assert.equal(err.code, 'gated');
    assert.match(err.message, /acme\/gated-gpt2 is gated or private \(HTTP 401 GatedRepo/);
    assert.match(err.message, /set HF_TOKEN/);
    return true;
  });
  fs.writeFileSync(path.join(home, 'token'), `${TOKEN}\n`); // what `huggingface-cli login` writes
  assert.equal(hfToken(env), TOKEN);
  const result = await resolveModel('acme/gated-gpt2', { endpoint: hubUrl, env });
  assert.equal(result.kind, 'folder');
});

test('an unknown repo is "no such model"; a repo without safetensors weights says which file is missing', async () => {
  const { env } = tempHome();
  await assert.rejects(
    resolveModel('acme/does-not-exist', { endpoint: hubUrl, env }),
    (err: unknown) =>
      err instanceof HubError &&
      err.code === 'not-found' &&
      /^No such model: acme\/does-not-exist on http:\/\/127\.0\.0\.1:\d+ \(HTTP 404 RepositoryNotFound/.test(err.message),
  );
  await assert.rejects(
    resolveModel('acme/bin-only', { endpoint: hubUrl, env }),
    (err: unknown) =>
      err instanceof HubError && err.code === 'missing-file' && err.message.startsWith('acme/bin-only has no model.safetensors at revision main'),
  );
  await assert.rejects(resolveModel('acme/tiny-gpt2', { endpoint: hubUrl, env, revision: 'v9' }), /acme\/tiny-gpt2 has no revision "v9"/);
});

test("a download whose sha256 does not match the hub's etag is rejected and leaves no blob", async () => {
  const { cache, env } = tempHome();
  await assert.rejects(
    resolveModel('acme/broken-cdn', { endpoint: hubUrl, env }),
    (err: unknown) =>
      err instanceof HubError && err.code === 'corrupt' && /model\.safetensors has sha256 [0-9a-f]{64}, but the hub announced/.test(err.message),
  );
  const blobs = fs.readdirSync(path.join(cache, 'models--acme--broken-cdn', 'blobs'));
  assert.ok(!blobs.includes(sha256(MODEL_FILES['model.safetensors'])));
  assert.ok(!blobs.some((b) => b.endsWith('.incomplete')));
});

test('an ETag that is not a git or sha256 hash (".", "..", a path) is refused and poisons nothing in the cache', async () => {
  const { home, cache, env } = tempHome();
  for (const repoId of ['acme/dot-etag', 'acme/dotdot-etag', 'acme/path-etag']) {
    const shown = JSON.stringify(REPOS[repoId].etag);
    await assert.rejects(
      resolveModel(repoId, { endpoint: hubUrl, env }),
      (err: unknown) => err instanceof HubError && err.code === 'not-a-hub' && err.message.includes(`with the ETag ${shown}, which is neither a git blob hash`),
      repoId,
    );
    const root = path.join(cache, `models--${repoId.replace('/', '--')}`);
    // Nothing but (at most) an empty blobs folder: no file written as the repo folder, blobs/ or above.
    const tree = fs.existsSync(root) ? listTree(root) : [];
    assert.ok(
      tree.every((p) => p === 'blobs' || p === 'refs' || p.startsWith('refs' + path.sep)),
      `${repoId}: ${tree.join(', ')}`,
    );
  }
  // Nothing outside the repos' own folders either (`../../escape` from blobs/ would land in the cache).
  assert.ok(fs.readdirSync(home).every((n) => n === 'hub'));
  if (fs.existsSync(cache))
    assert.ok(
      fs.readdirSync(cache).every((n) => /^models--acme--(dot|dotdot|path)-etag$/.test(n)),
      fs.readdirSync(cache).join(', '),
    );
  // Quoted, weak and upper-case forms of real hashes are accepted, as the hub may send them.
  const sha = 'ab'.repeat(32);
  assert.equal(normalizeEtag(`W/"${sha.toUpperCase()}"`), sha);
  assert.equal(normalizeEtag(`"${'c'.repeat(40)}"`), 'c'.repeat(40));
  for (const bad of ['.', '..', '"s3-multipart-etag-12"', 'a'.repeat(39), `${'a'.repeat(40)}/..`]) assert.equal(normalizeEtag(bad), undefined, bad);
});

test('a renamed repo (relative redirect) is cached under the name the user gave, as huggingface_hub does', async () => {
  const { cache, env } = tempHome();
  const result = await resolveModel('old-name', { endpoint: hubUrl, env });
  assert.equal(result.kind === 'folder' && result.dir, path.join(cache, 'models--old-name', 'snapshots', REPOS['acme/tiny-gpt2'].commit));
  assert.deepEqual(
    fs.readFileSync(path.join(cache, 'models--old-name', 'snapshots', REPOS['acme/tiny-gpt2'].commit, 'model.safetensors')),
    MODEL_FILES['model.safetensors'],
  );
});

test('presets never touch the network; gpt2 with needWeights reuses a cached openai-community/gpt2', async () => {
  const { cache, env } = tempHome();
  const before = requestCount();
  assert.deepEqual(await resolveModel('tiny', { endpoint: hubUrl, env, needWeights: true }), { kind: 'preset', name: 'tiny' });
  assert.deepEqual(await resolveModel('gpt2', { endpoint: hubUrl, env }), { kind: 'preset', name: 'gpt2' });
  assert.deepEqual(await resolveModel('distilgpt2', { endpoint: hubUrl, env }), { kind: 'preset', name: 'distilgpt2' });
  assert.equal(requestCount(), before);
  const commit = '3'.repeat(40);
  const snapshot = writePythonCache(cache, 'openai-community/gpt2', commit, MODEL_FILES, ['tokenizer.json', 'generation_config.json']);
  const result = await resolveModel('gpt2', { endpoint: closedPortUrl, env, needWeights: true });
  assert.deepEqual(result, { kind: 'folder', dir: snapshot, repoId: 'openai-community/gpt2', revision: 'main', commit });
});

test('a local folder with config.json wins; a folder without one, or a bad spec, gets a clear message', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ft-folder-'));
  tempDirs.push(dir);
  await assert.rejects(resolveModel(dir), /has no config\.json, so it is not a Hugging Face model folder/);
  fs.writeFileSync(path.join(dir, 'config.json'), '{}');
  assert.deepEqual(await resolveModel(dir), { kind: 'folder', dir });
  await assert.rejects(resolveModel(path.join(dir, 'nope')), /No such model folder: .*nope/);
  await assert.rejects(resolveModel('a/b/c d'), /No such model folder/);
  await assert.rejects(resolveModel('bad name!'), /is not a model folder, a preset \(tiny, gpt2, distilgpt2, smollm2-135m, .*\) or a Hugging Face repo id/);
  await assert.rejects(resolveModel('  '), /No model given/);
});

test('a transfer that stalls is abandoned after stallTimeoutMs with a clear message and no partial blob', async () => {
  const { cache, env } = tempHome();
  const started = Date.now();
  await assert.rejects(
    resolveModel('acme/stalling', { endpoint: hubUrl, env, stallTimeoutMs: 300 }),
    (err: unknown) =>
      err instanceof HubError &&
      err.code === 'unreachable' &&
      err.message.startsWith(`Cannot reach ${hubUrl} to download acme/stalling: no data for 300 ms, the transfer stalled (fetching model.safetensors).`),
  );
  assert.ok(Date.now() - started < 5000);
  const blobs = fs.readdirSync(path.join(cache, 'models--acme--stalling', 'blobs'));
  assert.ok(!blobs.some((b) => b.endsWith('.incomplete') || b === sha256(MODEL_FILES['model.safetensors'])), blobs.join());
});

test('a blob already cached for another revision is linked, not downloaded again', async () => {
  const { cache, env } = tempHome();
  const commit = REPOS['acme/tiny-gpt2'].commit;
  await resolveModel('acme/tiny-gpt2', { endpoint: hubUrl, env, revision: commit });
  assert.ok(!fs.existsSync(path.join(cache, 'models--acme--tiny-gpt2', 'refs')), 'a commit revision writes no ref');
  const hubBefore = hubRequests.length;
  const cdnBefore = cdnRequests.length;
  const result = await resolveModel('acme/tiny-gpt2', { endpoint: hubUrl, env, revision: 'main' });
  // One request learns that main is that commit; everything else is already in its snapshot.
  assert.deepEqual(
    hubRequests.slice(hubBefore).map((r) => r.url),
    ['/acme/tiny-gpt2/resolve/main/config.json'],
  );
  assert.equal(cdnRequests.length, cdnBefore);
  assert.equal(fs.readFileSync(path.join(cache, 'models--acme--tiny-gpt2', 'refs', 'main'), 'utf8'), commit);
  assert.equal(result.kind === 'folder' && result.commit, commit);
});

test('when the snapshot lacks a file whose blob is cached, the hub is asked but the CDN is not', async () => {
  const { cache, env } = tempHome();
  const commit = REPOS['acme/tiny-gpt2'].commit;
  await resolveModel('acme/tiny-gpt2', { endpoint: hubUrl, env });
  const pointer = path.join(cache, 'models--acme--tiny-gpt2', 'snapshots', commit, 'model.safetensors');
  fs.rmSync(pointer);
  const cdnBefore = cdnRequests.length;
  const progress: DownloadProgress[] = [];
  await resolveModel('acme/tiny-gpt2', { endpoint: hubUrl, env, onProgress: (p) => progress.push(p) });
  assert.equal(cdnRequests.length, cdnBefore);
  assert.ok(fs.lstatSync(pointer).isSymbolicLink());
  const size = MODEL_FILES['model.safetensors'].length;
  assert.deepEqual(progress, [{ file: 'model.safetensors', bytes: size, total: size }]);
});

/** Runs `fn` with the hub endpoint and cache in process.env, as a CLI command reads them, and restores them. */
async function withHubEnv<T>(env: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const keys = ['HF_ENDPOINT', 'HF_HOME', 'HF_HUB_CACHE', 'HF_HUB_OFFLINE'];
  const saved = keys.map((k) => process.env[k]);
  for (const k of keys) delete process.env[k];
  Object.assign(process.env, env);
  try {
    return await fn();
  } finally {
    keys.forEach((k, i) => {
      if (saved[i] === undefined) delete process.env[k];
      else process.env[k] = saved[i];
    });
  }
}

test("a repo's chat_template.jinja is downloaded and `finetune preview` renders chat records with it, not tokenizer_config.json's template", async () => {
  const { home, cache } = tempHome();
  const data = path.join(home, 'chat.jsonl');
  fs.writeFileSync(
    data,
    JSON.stringify({
      messages: [
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: 'Hello' },
      ],
    }) + '\n',
  );
  const { code, out } = await withHubEnv({ HF_ENDPOINT: hubUrl, HF_HOME: home }, () =>
    captureStdout(() => previewRun(['--data', data, '--model', 'acme/chat-model', '--json'])),
  );
  assert.equal(code, 0, out);
  const snapshot = path.join(cache, 'models--acme--chat-model', 'snapshots', REPOS['acme/chat-model'].commit);
  assert.deepEqual(fs.readFileSync(path.join(snapshot, 'chat_template.jinja')), CHAT_FILES['chat_template.jinja']);
  const [record] = JSON.parse(out).records;
  assert.equal(record.text, '<|im_start|>user (jinja file)\nHi<|im_end|>\n<|im_start|>assistant (jinja file)\nHello<|im_end|>\n');
});

test('a repo without chat_template.jinja is fine: its 404 is remembered in .no_exist and never asked again', async () => {
  const { cache, env } = tempHome();
  await resolveModel('acme/tiny-gpt2', { endpoint: hubUrl, env });
  const commit = REPOS['acme/tiny-gpt2'].commit;
  assert.ok(fs.existsSync(path.join(cache, 'models--acme--tiny-gpt2', '.no_exist', commit, 'chat_template.jinja')));
  const before = requestCount();
  await resolveModel('acme/tiny-gpt2', { endpoint: hubUrl, env });
  assert.equal(requestCount(), before);
});

test('a cache Python filled without chat_template.jinja serves while the hub is unreachable, and gets the file once the hub answers', async () => {
  const { cache, env } = tempHome();
  const commit = REPOS['acme/chat-model'].commit;
  const { 'chat_template.jinja': _jinja, ...older } = CHAT_FILES;
  const snapshot = writePythonCache(cache, 'acme/chat-model', commit, older, ['vocab.json', 'merges.txt', 'generation_config.json']);
  const unreachable = await resolveModel('acme/chat-model', { endpoint: closedPortUrl, env });
  assert.deepEqual(unreachable, { kind: 'folder', dir: snapshot, repoId: 'acme/chat-model', revision: 'main', commit });
  assert.ok(!fs.existsSync(path.join(cache, 'models--acme--chat-model', '.no_exist', commit, 'chat_template.jinja')), 'not marked missing');
  const start = hubRequests.length;
  await resolveModel('acme/chat-model', { endpoint: hubUrl, env });
  assert.deepEqual(
    hubRequests.slice(start).map((r) => r.url),
    [`/acme/chat-model/resolve/${commit}/chat_template.jinja`],
  );
  assert.deepEqual(fs.readFileSync(path.join(snapshot, 'chat_template.jinja')), CHAT_FILES['chat_template.jinja']);
});
