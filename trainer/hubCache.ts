// The Hugging Face hub cache, laid out exactly as Python's huggingface_hub lays it out, so that a model a
// Python user already downloaded is reused here and what we download is reused by Python:
//
//   <cache>/models--<owner>--<name>/
//     refs/<revision>                 the commit hash that revision pointed at (no newline)
//     blobs/<etag>                    file contents, named by the hub's ETag (sha256 for LFS files)
//     snapshots/<commit>/<file>       relative symlink to ../../blobs/<etag> (a copy where symlinks fail)
//     .no_exist/<commit>/<file>       empty marker: the hub answered 404 for this optional file
//
// Plain files and folders only (no TensorFlow.js): the extension host lists the cached models with it.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const COMMIT_HASH_RE = /^[0-9a-f]{40}$/;

type Env = Record<string, string | undefined>;

/** `$HF_HOME`, else `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface` (huggingface_hub's rule). */
export function hfHomeDir(env: Env = process.env): string {
  if (env.HF_HOME) return expandHome(env.HF_HOME);
  const cacheRoot = env.XDG_CACHE_HOME ? expandHome(env.XDG_CACHE_HOME) : path.join(os.homedir(), '.cache');
  return path.join(cacheRoot, 'huggingface');
}

/** `$HF_HUB_CACHE` (or its legacy name), else `<HF_HOME>/hub`. */
export function defaultHubCacheDir(env: Env = process.env): string {
  const explicit = env.HF_HUB_CACHE || env.HUGGINGFACE_HUB_CACHE;
  return explicit ? expandHome(explicit) : path.join(hfHomeDir(env), 'hub');
}

/** `HF_TOKEN` (or the legacy `HUGGING_FACE_HUB_TOKEN`), else the token file `huggingface-cli login` writes. */
export function hfToken(env: Env = process.env): string | undefined {
  const fromEnv = env.HF_TOKEN || env.HUGGING_FACE_HUB_TOKEN;
  if (fromEnv && fromEnv.trim()) return fromEnv.trim();
  const tokenPath = env.HF_TOKEN_PATH ? expandHome(env.HF_TOKEN_PATH) : path.join(hfHomeDir(env), 'token');
  try {
    const token = fs.readFileSync(tokenPath, 'utf8').trim();
    return token || undefined;
  } catch {
    return undefined;
  }
}

/** True for the values huggingface_hub accepts as "on" in `HF_HUB_OFFLINE`. */
export function envFlag(value: string | undefined): boolean {
  return value !== undefined && ['1', 'on', 'yes', 'true'].includes(value.trim().toLowerCase());
}

export function expandHome(p: string): string {
  return p === '~' || p.startsWith('~/') || p.startsWith('~\\') ? path.join(os.homedir(), p.slice(1)) : p;
}

/**
 * A relative file or revision name taken from options or the hub must stay inside the cache folder, so
 * absolute paths, `..` segments and backslashes are refused.
 */
export function assertSafeRelativeName(kind: 'file' | 'revision', name: string): void {
  const segments = name.split('/');
  if (!name || name.includes('\\') || name.includes('\0') || path.isAbsolute(name) || segments.some((s) => s === '' || s === '.' || s === '..')) {
    throw new Error(`Invalid ${kind} name ${JSON.stringify(name)}: expected a relative path without "..".`);
  }
}

const MODEL_FOLDER_PREFIX = 'models--';

/** One repository's folder in the hub cache. */
export class HubCacheRepo {
  readonly root: string;

  constructor(
    readonly cacheDir: string,
    readonly repoId: string,
  ) {
    this.root = path.join(cacheDir, `${MODEL_FOLDER_PREFIX}${repoId.split('/').join('--')}`);
  }

  /** The snapshot folders present, best first: the one `refs/main` points at, then the newest. */
  snapshotDirs(): string[] {
    let commits: string[];
    try {
      commits = fs.readdirSync(path.join(this.root, 'snapshots'));
    } catch {
      return [];
    }
    const main = this.resolveCommit('main');
    const mtime = (commit: string) => {
      try {
        return fs.statSync(this.snapshotDir(commit)).mtimeMs;
      } catch {
        return 0;
      }
    };
    const rank = new Map(commits.map((c) => [c, mtime(c)]));
    return commits.sort((a, b) => (a === main ? -1 : b === main ? 1 : rank.get(b)! - rank.get(a)!)).map((c) => this.snapshotDir(c));
  }

  /** The commit a revision points at: the revision itself when it is a commit hash, else `refs/<revision>`. */
  resolveCommit(revision: string): string | undefined {
    if (COMMIT_HASH_RE.test(revision)) return revision;
    try {
      const commit = fs.readFileSync(path.join(this.root, 'refs', revision), 'utf8').trim();
      return COMMIT_HASH_RE.test(commit) ? commit : undefined;
    } catch {
      return undefined;
    }
  }

  snapshotDir(commit: string): string {
    return path.join(this.root, 'snapshots', commit);
  }

  /** Present and readable; a dangling symlink (blob deleted) counts as absent. */
  hasFile(commit: string, file: string): boolean {
    try {
      return fs.statSync(path.join(this.snapshotDir(commit), file)).isFile();
    } catch {
      return false;
    }
  }

  isKnownMissing(commit: string, file: string): boolean {
    return fs.existsSync(path.join(this.root, '.no_exist', commit, file));
  }

  markMissing(commit: string, file: string): void {
    const marker = path.join(this.root, '.no_exist', commit, file);
    fs.mkdirSync(path.dirname(marker), { recursive: true });
    fs.writeFileSync(marker, '');
  }

  writeRef(revision: string, commit: string): void {
    if (revision === commit) return;
    const ref = path.join(this.root, 'refs', revision);
    fs.mkdirSync(path.dirname(ref), { recursive: true });
    let current: string | undefined;
    try {
      current = fs.readFileSync(ref, 'utf8');
    } catch {
      /* no ref yet */
    }
    if (current !== commit) fs.writeFileSync(ref, commit);
  }

  blobPath(etag: string): string {
    return path.join(this.root, 'blobs', etag);
  }

  hasBlob(etag: string): boolean {
    try {
      return fs.statSync(this.blobPath(etag)).isFile();
    } catch {
      return false;
    }
  }

  /** Points `snapshots/<commit>/<file>` at `blobs/<etag>` with a relative symlink, or copies the blob. */
  linkSnapshotFile(commit: string, file: string, etag: string): string {
    const pointer = path.join(this.snapshotDir(commit), file);
    const blob = this.blobPath(etag);
    fs.mkdirSync(path.dirname(pointer), { recursive: true });
    fs.rmSync(pointer, { force: true });
    try {
      fs.symlinkSync(path.relative(path.dirname(pointer), blob), pointer);
    } catch {
      // Windows without developer mode (and some network drives) refuse symlinks; huggingface_hub
      // falls back to real files there as well.
      fs.copyFileSync(blob, pointer);
    }
    return pointer;
  }
}

/**
 * The model repositories in the cache (`models--<owner>--<name>/`), sorted by folder name, as
 * huggingface_hub's `scan_cache_dir` finds them; none when the cache does not exist.
 */
export function cachedModelRepos(cacheDir: string = defaultHubCacheDir()): HubCacheRepo[] {
  let names: string[];
  try {
    names = fs.readdirSync(cacheDir).filter((n) => n.startsWith(MODEL_FOLDER_PREFIX));
  } catch {
    return [];
  }
  return names.sort().map((n) => new HubCacheRepo(cacheDir, n.slice(MODEL_FOLDER_PREFIX.length).split('--').join('/')));
}
