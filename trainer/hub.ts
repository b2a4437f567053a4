// Turns a `--model` value into something loadable: a preset, a local folder, or a Hugging Face repo id
// found in (or downloaded into) the Hugging Face cache. Downloads follow huggingface_hub's protocol
// (`{endpoint}/{repo}/resolve/{revision}/{file}`, metadata from the hub's own response before any
// redirect to the CDN) so the cache stays shared with Python.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isLlamaPresetName, LLAMA_PRESETS } from './models/llama/config';
import { COMMIT_HASH_RE, HubCacheRepo, assertSafeRelativeName, defaultHubCacheDir, envFlag, expandHome, hfToken } from './hubCache';

export type PresetName = 'tiny' | 'gpt2' | 'distilgpt2';

export type ResolvedModel = { kind: 'preset'; name: PresetName } | { kind: 'folder'; dir: string; repoId?: string; revision?: string; commit?: string };

export interface DownloadProgress {
  file: string;
  bytes: number;
  total?: number;
}

export interface ResolveModelOptions {
  /** Called when a file starts (bytes 0), while it streams (at most every ~100 ms) and when it is complete. */
  onProgress?: (p: DownloadProgress) => void;
  /** Default `$HF_ENDPOINT`, else https://huggingface.co. */
  endpoint?: string;
  /** Default `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`. */
  cacheDir?: string;
  /** Never touch the network; also turned on by `HF_HUB_OFFLINE=1`. */
  offline?: boolean;
  /** Branch, tag or commit hash; default `main`. */
  revision?: string;
  /** Files wanted from a repo; those not in `requiredFiles` may be absent from the repo. */
  files?: string[];
  requiredFiles?: string[];
  /** `gpt2` / `distilgpt2` are config-only presets unless the caller needs their weights. */
  needWeights?: boolean;
  /** Abort a request that sends nothing for this long (default 60 s). */
  stallTimeoutMs?: number;
  /** Token for gated/private repos; default `HF_TOKEN` or the `huggingface-cli login` token file. */
  token?: string;
  env?: Record<string, string | undefined>;
}

export const REQUIRED_MODEL_FILES = ['config.json', 'model.safetensors'];
export const DEFAULT_MODEL_FILES = [
  'config.json',
  'model.safetensors',
  'tokenizer.json',
  'tokenizer_config.json',
  'vocab.json',
  'merges.txt',
  'generation_config.json',
  // Recent transformers save a model's chat template here rather than in tokenizer_config.json, and it
  // wins over that one when both exist (transformers#33957). Optional: most repos have none.
  'chat_template.jinja',
];
export const DEFAULT_ENDPOINT = 'https://huggingface.co';

const CONFIG_ONLY_PRESETS: ReadonlySet<string> = new Set(['gpt2', 'distilgpt2']);
/** Every preset name, for messages. */
export const PRESET_LIST = ['tiny', 'gpt2', 'distilgpt2', ...Object.keys(LLAMA_PRESETS)].join(', ');

// The hub redirects these legacy names to their organisation repos; Python caches under whichever name
// the user typed, so a cached copy under either name is reused.
const REPO_ALIASES: Record<string, string[]> = {
  gpt2: ['gpt2', 'openai-community/gpt2'],
  distilgpt2: ['distilgpt2', 'distilbert/distilgpt2'],
};

export type HubErrorCode =
  | 'bad-spec'
  | 'offline'
  | 'unreachable'
  | 'not-found'
  | 'revision-not-found'
  | 'missing-file'
  | 'gated'
  | 'http'
  | 'corrupt'
  | 'not-a-hub';

export class HubError extends Error {
  constructor(
    readonly code: HubErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'HubError';
  }
}

/** huggingface_hub's validate_repo_id: `name` or `owner/name`, word characters, `-` and `.`, at most 96. */
export function isRepoId(spec: string): boolean {
  return (
    spec.length <= 96 &&
    /^(?:[\w.-]+\/)?[\w.-]+$/.test(spec) &&
    !spec.includes('--') &&
    !spec.includes('..') &&
    !spec.endsWith('.git') &&
    !/^[-.]|[-.]$|\/[-.]|[-.]\//.test(spec)
  );
}

function looksLikePath(spec: string): boolean {
  return path.isAbsolute(spec) || spec.startsWith('.') || spec.startsWith('~') || spec.includes('\\') || spec.split('/').length > 2;
}

export async function resolveModel(spec: string, opts: ResolveModelOptions = {}): Promise<ResolvedModel> {
  const trimmed = spec.trim();
  if (!trimmed) throw new HubError('bad-spec', `No model given: pass a folder, a preset (${PRESET_LIST}) or a Hugging Face repo id.`);

  const folder = path.resolve(expandHome(trimmed));
  if (isDirectory(folder)) {
    if (fs.existsSync(path.join(folder, 'config.json'))) return { kind: 'folder', dir: folder };
    if (looksLikePath(trimmed)) {
      throw new HubError('bad-spec', `The folder ${folder} has no config.json, so it is not a Hugging Face model folder.`);
    }
  } else if (looksLikePath(trimmed)) {
    throw new HubError('bad-spec', `No such model folder: ${folder}.`);
  }

  if (trimmed === 'tiny') return { kind: 'preset', name: 'tiny' };
  if (CONFIG_ONLY_PRESETS.has(trimmed) && !opts.needWeights) return { kind: 'preset', name: trimmed as PresetName };
  // A Llama-family preset's config is built in (for `params`); its weights and tokenizer are its repo's.
  if (isLlamaPresetName(trimmed)) return resolveRepo(LLAMA_PRESETS[trimmed].repo, opts);

  if (!isRepoId(trimmed)) {
    throw new HubError('bad-spec', `"${spec}" is not a model folder, a preset (${PRESET_LIST}) or a Hugging Face repo id (owner/name).`);
  }
  return resolveRepo(trimmed, opts);
}

async function resolveRepo(repoId: string, opts: ResolveModelOptions): Promise<ResolvedModel> {
  const env = opts.env ?? process.env;
  const cacheDir = opts.cacheDir ? path.resolve(expandHome(opts.cacheDir)) : defaultHubCacheDir(env);
  const offline = opts.offline ?? envFlag(env.HF_HUB_OFFLINE);
  const revision = opts.revision ?? 'main';
  assertSafeRelativeName('revision', revision);
  const required = opts.requiredFiles ?? REQUIRED_MODEL_FILES;
  const wanted = [...new Set([...required, ...(opts.files ?? DEFAULT_MODEL_FILES)])];
  for (const file of wanted) assertSafeRelativeName('file', file);
  const optional = wanted.filter((f) => !required.includes(f));

  // Look in the cache first, under the name given and its known aliases.
  let partial: { repo: HubCacheRepo; commit: string } | undefined;
  /** A cached snapshot with every required file: what serves when the hub cannot be reached. */
  let usable: ResolvedModel | undefined;
  // Own keys only: a repo named `constructor` is not Object.prototype's member.
  for (const name of (Object.hasOwn(REPO_ALIASES, repoId) ? REPO_ALIASES[repoId] : undefined) ?? [repoId]) {
    const repo = new HubCacheRepo(cacheDir, name);
    const commit = repo.resolveCommit(revision);
    if (!commit || !fs.existsSync(repo.snapshotDir(commit))) continue;
    const hasRequired = required.every((f) => repo.hasFile(commit, f));
    const undecided = optional.filter((f) => !repo.hasFile(commit, f) && !repo.isKnownMissing(commit, f));
    if (hasRequired && (undecided.length === 0 || offline)) {
      return { kind: 'folder', dir: repo.snapshotDir(commit), repoId: name, revision, commit };
    }
    if (hasRequired) usable ??= { kind: 'folder', dir: repo.snapshotDir(commit), repoId: name, revision, commit };
    if (name === repoId) partial = { repo, commit };
  }

  const missingList = (repo: HubCacheRepo, commit: string | undefined) =>
    commit ? wanted.filter((f) => !repo.hasFile(commit, f) && !repo.isKnownMissing(commit, f)) : wanted;

  const endpoint = (opts.endpoint ?? env.HF_ENDPOINT ?? DEFAULT_ENDPOINT).replace(/\/+$/, '');
  if (offline) {
    const repo = partial?.repo ?? new HubCacheRepo(cacheDir, repoId);
    const missing = missingList(repo, partial?.commit).filter((f) => required.includes(f));
    throw new HubError(
      'offline',
      `${repoId} (revision ${revision}) is not in the local Hugging Face cache (${cacheDir})` +
        `${partial ? `: ${missing.join(', ')} missing` : ''}, and offline mode is on` +
        `${opts.offline === undefined ? ' (HF_HUB_OFFLINE)' : ''}. Download it on a machine with access to ${endpoint}, ` +
        'copy the cache folder here, or pass the model folder itself.',
    );
  }

  const repo = partial?.repo ?? new HubCacheRepo(cacheDir, repoId);
  const session = new DownloadSession(repoId, repo, endpoint, cacheDir, opts, env);
  // Once the first answer names the commit, every other file is fetched at that commit so the snapshot
  // cannot mix two versions of the repo; a partial snapshot is completed at its own commit.
  let commit = partial?.commit;
  const todo = [...wanted].sort((a, b) => rank(a, required) - rank(b, required));
  for (const file of todo) {
    // Re-checked per file: once the first answer names the commit, a snapshot of it may already hold the rest.
    if (commit && (repo.hasFile(commit, file) || repo.isKnownMissing(commit, file))) continue;
    let result: FetchResult;
    try {
      result = await session.fetchFile(file, commit ?? revision, revision, required.includes(file));
    } catch (err) {
      // A cache filled before an optional file was wanted (chat_template.jinja, by an older transformers)
      // still serves when the hub cannot be reached, as huggingface_hub falls back to its cache; nothing
      // is marked missing, so the next run that reaches the hub asks again.
      if (err instanceof HubError && err.code === 'unreachable' && usable) return usable;
      throw err;
    }
    if (!commit && result.commit) {
      commit = result.commit;
      repo.writeRef(revision, commit);
    }
    if (!commit) {
      throw new HubError(
        'not-a-hub',
        `${endpoint} answered for ${repoId}/${file} without an X-Repo-Commit header, so it does not look like a Hugging Face hub. Check HF_ENDPOINT.`,
      );
    }
    if (result.kind === 'missing') repo.markMissing(commit, file);
    else repo.linkSnapshotFile(commit, file, result.etag);
  }
  if (!commit) throw new HubError('not-a-hub', `No files were requested from ${repoId}.`);
  repo.writeRef(revision, commit);
  return { kind: 'folder', dir: repo.snapshotDir(commit), repoId, revision, commit };
}

function rank(file: string, required: string[]): number {
  // config.json first: it is small, so a wrong repo id or a gated repo fails before a big download.
  if (file === 'config.json') return 0;
  return required.includes(file) ? 2 : 1;
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

type FetchResult = { kind: 'file'; etag: string; commit?: string } | { kind: 'missing'; commit?: string };

class DownloadSession {
  private readonly token: string | undefined;
  private readonly endpointOrigin: string;

  constructor(
    private readonly repoId: string,
    private readonly repo: HubCacheRepo,
    private readonly endpoint: string,
    private readonly cacheDir: string,
    private readonly opts: ResolveModelOptions,
    env: Record<string, string | undefined>,
  ) {
    this.token = opts.token ?? hfToken(env);
    try {
      this.endpointOrigin = new URL(endpoint).origin;
    } catch {
      throw new HubError('bad-spec', `HF_ENDPOINT ${JSON.stringify(endpoint)} is not a URL.`);
    }
  }

  async fetchFile(file: string, revision: string, askedRevision: string, required: boolean): Promise<FetchResult> {
    const encodedFile = file.split('/').map(encodeURIComponent).join('/');
    let url = new URL(`${this.endpoint}/${this.repoId}/resolve/${encodeURIComponent(revision)}/${encodedFile}`);
    let commit: string | undefined;
    let etag: string | undefined;
    /** An ETag the hub sent that is not a hash (for the message). */
    let badEtag: string | undefined;
    let size: number | undefined;
    let onCdn = false;

    for (let hop = 0; ; hop++) {
      if (hop > 10) throw new HubError('http', `Too many redirects while downloading ${this.repoId}/${file} from ${this.endpoint}.`);
      const res = await this.request(url, file);
      if (!onCdn) {
        // The hub's own answer carries the metadata; the CDN's ETag is a storage detail, not the blob name.
        commit = res.headers.get('x-repo-commit') ?? commit;
        const raw = res.headers.get('x-linked-etag') ?? res.headers.get('etag');
        if (raw !== null && normalizeEtag(raw) === undefined) badEtag = raw;
        etag = normalizeEtag(raw) ?? etag;
        size = numberHeader(res.headers.get('x-linked-size')) ?? size;
      }
      if (res.status >= 300 && res.status < 400) {
        const location = res.headers.get('location');
        await res.body?.cancel();
        if (!location) throw new HubError('http', `${this.endpoint} redirected ${this.repoId}/${file} without a Location header.`);
        // huggingface_hub follows relative redirects (renamed repos) as the hub and treats an absolute one
        // as the hand-off to the CDN.
        if (/^[a-z][a-z0-9+.-]*:/i.test(location)) {
          onCdn = true;
          if (etag && this.repo.hasBlob(etag)) {
            // Same content already cached (another revision): no need to go to the CDN.
            const bytes = fs.statSync(this.repo.blobPath(etag)).size;
            this.opts.onProgress?.({ file, bytes, total: bytes });
            return { kind: 'file', etag, commit: commit && COMMIT_HASH_RE.test(commit) ? commit : undefined };
          }
        }
        url = new URL(location, url);
        continue;
      }
      if (res.status === 200) {
        if (commit && !COMMIT_HASH_RE.test(commit)) commit = undefined;
        etag ??= normalizeEtag(res.headers.get('etag'));
        if (!etag) {
          await res.body?.cancel();
          if (badEtag !== undefined) {
            throw new HubError(
              'not-a-hub',
              `${this.endpoint} served ${this.repoId}/${file} with the ETag ${JSON.stringify(badEtag)}, which is neither a git blob hash (40 hex digits) nor a sha256 (64), so it cannot name a blob in the cache; is ${this.endpoint} a Hugging Face hub?`,
            );
          }
          throw new HubError(
            'not-a-hub',
            `${this.endpoint} served ${this.repoId}/${file} without an ETag, so it cannot be cached the way huggingface_hub caches it.`,
          );
        }
        size ??= numberHeader(res.headers.get('content-length'));
        await this.saveBlob(res, file, etag, size);
        return { kind: 'file', etag, commit };
      }
      return this.failure(res, file, askedRevision, required, commit);
    }
  }

  private async request(url: URL, file: string): Promise<Response> {
    const headers: Record<string, string> = {
      'user-agent': 'finetune-studio (huggingface_hub-compatible)',
      'accept-encoding': 'identity',
    };
    // Only the hub gets the token; the CDN URL is pre-signed and must not see it.
    if (this.token && url.origin === this.endpointOrigin) headers.authorization = `Bearer ${this.token}`;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Error(`no response within ${this.stallMs()} ms`)), this.stallMs());
    try {
      return await fetch(url, { redirect: 'manual', headers, signal: controller.signal });
    } catch (err) {
      throw this.unreachable(err, file);
    } finally {
      clearTimeout(timer);
    }
  }

  private stallMs(): number {
    return this.opts.stallTimeoutMs ?? 60_000;
  }

  private unreachable(err: unknown, file: string): HubError {
    return new HubError(
      'unreachable',
      `Cannot reach ${this.endpoint} to download ${this.repoId}: ${describeNetworkError(err)} (fetching ${file}). ` +
        `The model is not in the local cache (${this.cacheDir}). Download it on a machine with access or set HF_ENDPOINT.`,
    );
  }

  private async saveBlob(res: Response, file: string, etag: string, total: number | undefined): Promise<void> {
    const progress = this.opts.onProgress;
    if (this.repo.hasBlob(etag)) {
      // Same content already cached under another revision.
      await res.body?.cancel();
      const bytes = fs.statSync(this.repo.blobPath(etag)).size;
      progress?.({ file, bytes, total: total ?? bytes });
      return;
    }
    const blob = this.repo.blobPath(etag);
    const incomplete = `${blob}.incomplete`;
    fs.mkdirSync(path.dirname(blob), { recursive: true });
    const out = await fs.promises.open(incomplete, 'w');
    // LFS blobs are named by their sha256, which lets us catch a truncated or corrupted transfer.
    const sha256 = /^[0-9a-f]{64}$/.test(etag) ? createHash('sha256') : undefined;
    let bytes = 0;
    let lastReport = 0;
    progress?.({ file, bytes: 0, total });
    try {
      if (res.body) {
        const reader = res.body.getReader();
        for (;;) {
          const { done, value } = await withStallTimeout(reader.read(), this.stallMs(), () => reader.cancel());
          if (done) break;
          await out.write(value);
          sha256?.update(value);
          bytes += value.byteLength;
          const now = Date.now();
          if (progress && now - lastReport >= 100) {
            lastReport = now;
            progress({ file, bytes, total });
          }
        }
      }
      await out.close();
    } catch (err) {
      await out.close().catch(() => undefined);
      fs.rmSync(incomplete, { force: true });
      if (err instanceof HubError) throw err;
      throw this.unreachable(err, file);
    }
    if (total !== undefined && bytes !== total) {
      fs.rmSync(incomplete, { force: true });
      throw new HubError('corrupt', `Download of ${this.repoId}/${file} stopped after ${bytes} of ${total} bytes; run again to retry.`);
    }
    if (sha256) {
      const digest = sha256.digest('hex');
      if (digest !== etag) {
        fs.rmSync(incomplete, { force: true });
        throw new HubError('corrupt', `Downloaded ${this.repoId}/${file} has sha256 ${digest}, but the hub announced ${etag}; run again to retry.`);
      }
    }
    fs.renameSync(incomplete, blob);
    progress?.({ file, bytes, total: total ?? bytes });
  }

  private async failure(res: Response, file: string, revision: string, required: boolean, commit: string | undefined): Promise<FetchResult> {
    const code = res.headers.get('x-error-code');
    const serverMessage = res.headers.get('x-error-message') ?? '';
    await res.body?.cancel();
    const repoUrl = `${this.endpoint}/${this.repoId}`;
    const detail = `HTTP ${res.status}${code ? ` ${code}` : ''}${serverMessage ? `: ${serverMessage}` : ''}`;
    if (code === 'GatedRepo' || (!code && (res.status === 401 || res.status === 403))) {
      throw new HubError(
        'gated',
        `${this.repoId} is gated or private (${detail}). Accept its terms at ${repoUrl} with your account, then ` +
          (this.token
            ? 'check that your token (HF_TOKEN or `huggingface-cli login`) has access to it.'
            : 'set HF_TOKEN to an access token (or run `huggingface-cli login`).'),
      );
    }
    if (code === 'RepositoryNotFound' || (!code && res.status === 404 && file === 'config.json')) {
      throw new HubError(
        'not-found',
        `No such model: ${this.repoId} on ${this.endpoint} (${detail}). Check the repo id` + `${this.token ? '' : '; if it is private, set HF_TOKEN'}.`,
      );
    }
    if (code === 'RevisionNotFound') {
      throw new HubError('revision-not-found', `${this.repoId} has no revision "${revision}" (${detail}).`);
    }
    if (res.status === 404) {
      if (!required) return { kind: 'missing', commit: res.headers.get('x-repo-commit') ?? commit };
      throw new HubError(
        'missing-file',
        `${this.repoId} has no ${file} at revision ${revision}${commit && commit !== revision ? ` (commit ${commit})` : ''} (${detail}); Fine-Tune Studio needs ` +
          `${REQUIRED_MODEL_FILES.join(' and ')} (safetensors weights, not pytorch_model.bin).`,
      );
    }
    throw new HubError('http', `Downloading ${this.repoId}/${file} from ${this.endpoint} failed: ${detail}.`);
  }
}

/**
 * The blob name an ETag gives, or undefined when it is absent or not of a shape the hub uses: a git blob
 * sha1 (40 hex digits, regular files) or a sha256 (64, LFS files), optionally quoted and weak (`W/"…"`).
 * The ETag becomes a file name under blobs/, so anything else (`.` and `..` would name the blobs folder
 * or the repo folder itself) is refused rather than sanitised.
 */
export function normalizeEtag(raw: string | null): string | undefined {
  if (!raw) return undefined;
  const etag = raw
    .trim()
    .replace(/^W\//, '')
    .replace(/^"(.*)"$/, '$1')
    .toLowerCase();
  return /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/.test(etag) ? etag : undefined;
}

function numberHeader(raw: string | null): number | undefined {
  if (raw === null || !/^\d+$/.test(raw.trim())) return undefined;
  return Number(raw);
}

function withStallTimeout<T>(promise: Promise<T>, ms: number, onStall: () => unknown): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const stall = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      // Reject before cancelling: cancelling settles the pending read as "done", which must not win.
      reject(new Error(`no data for ${ms >= 1000 ? `${Math.round(ms / 1000)} s` : `${ms} ms`}, the transfer stalled`));
      void Promise.resolve(onStall()).catch(() => undefined);
    }, ms);
  });
  return Promise.race([promise, stall]).finally(() => clearTimeout(timer));
}

function describeNetworkError(err: unknown): string {
  const parts: string[] = [];
  let current: unknown = err;
  for (let depth = 0; current && depth < 4; depth++) {
    if (current instanceof Error) {
      const code = (current as NodeJS.ErrnoException).code;
      // undici's generic "fetch failed" says nothing; its cause does (ECONNREFUSED, ENOTFOUND, ...).
      if (current.message !== 'fetch failed') parts.push(code && !current.message.includes(code) ? `${code} ${current.message}` : current.message);
      current = (current as Error & { cause?: unknown }).cause;
    } else {
      parts.push(String(current));
      break;
    }
  }
  return parts.join(': ') || 'network error';
}
