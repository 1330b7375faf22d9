// SHA-256 of a file an agent read, taken without trusting the path and
// never with more rights than the agent had.
//
// Where: the path is resolved inside the agent's own root, /proc/<pid>/root,
// while the process lives (and is still in the mount namespace the event
// names); after it exited, in the collector's own root only if the event's
// mount namespace is the collector's; otherwise not at all
// ('other_namespace'). The row records which (HashSource).
//
// With whose rights: the path is resolved here component by component with
// lstat, symlinks followed by hand and kept inside that root (an absolute
// link restarts at the agent's root, never ours), and for a non-root event
// every directory on the way must be searchable and the file readable by the
// event's uid and gid under the mode bits; else 'denied'. This is stricter
// than the kernel, never looser, except in one case it cannot see: a POSIX
// ACL entry that denies what the mode bits allow. Supplementary groups come
// from the living process (when its uid/gid still are the event's); after it
// exited they are unknown and a file's "other" bits count only where its
// group bits agree. ACL grants and capabilities are not counted: fewer
// rights, not more.
//
// What: the resolved file is opened with O_NOFOLLOW|O_NONBLOCK (a FIFO swapped
// in cannot hang us) and its fstat must be the regular file of the same
// (dev, ino) that the walk checked; else 'replaced'. The kernel's record does
// not carry the inode the agent opened, so "the same file the agent read" is
// only as good as "the file at that path when we looked": hashedAt says
// when that was, after the read.
//
// Reads go through the libuv pool in 1 MiB chunks; each chunk's digest update
// runs on the main thread (~1-2 ms), so a large file never blocks ingest for
// long. At most `maxFileBytes` are read: a larger file's record is its size
// plus the hash of that prefix, state 'partial'.
import { constants as C } from 'node:fs';
import { lstat, open, readlink, stat, type FileHandle } from 'node:fs/promises';
import type { BigIntStats, Stats } from 'node:fs';
import { createHash } from 'node:crypto';
import { StatMemo } from './stat-memo.js';

export type FileState =
  | 'hashed' | 'partial' | 'vanished' | 'replaced' | 'not_regular' | 'error' | 'skipped'
  /** the event's uid/gid could not have read it */
  | 'denied'
  /** the batch came from another host: its files are not ours to hash */
  | 'remote'
  /** the process is gone and its mount namespace is not the collector's */
  | 'other_namespace';

/** How the file was reached: through the process's root, or the same path in the collector's (same) namespace. */
export type HashSource = 'local-proc-root' | 'local-path' | 'remote';

/** Who named the path, and where it lives. */
export interface HashTarget {
  path: Buffer;
  /** '' (the collector's root) or /proc/<pid>/root */
  root: string;
  /**
   * null: root (uid 0) needs no check. `groups`: the reader's supplementary
   * groups when known (read from the living process); unknown, a file's
   * "other" bits count only where its group bits agree.
   */
  creds: { uid: number; gid: number; groups?: number[] } | null;
  /**
   * performance.now() when the job was queued (after the open it names):
   * stats of the walk taken since then by other jobs are shared (stat-memo.ts).
   * Absent: every stat is this walk's own.
   */
  since?: number;
}

export interface FileIdentity {
  dev: bigint;
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

export interface FileHashResult {
  state: FileState;
  identity?: FileIdentity;
  sha256?: Buffer;
  /** for 'error': why */
  error?: string;
  /** epoch ms the content was read */
  hashedAt?: number;
  source?: HashSource;
  /** the first bytes of the content (digestOpened's keepBytes), for the DLP scan; in memory only */
  head?: Buffer;
}

export const DEFAULT_MAX_FILE_BYTES = 64 * 1024 * 1024;
/** open(2)'s O_PATH on Linux (not in Node's fs.constants): a handle that needs no right to read the file. */
export const O_PATH = 0o10000000;
const CHUNK = 1024 * 1024;
const SKIPPED_TREES = ['/proc', '/sys', '/dev'].map((p) => Buffer.from(p));

export function isSkippedPath(path: Buffer): boolean {
  return SKIPPED_TREES.some((t) => path.subarray(0, t.length).equals(t) && (path.length === t.length || path[t.length] === 0x2f));
}

const identityOf = (s: BigIntStats): FileIdentity => ({
  dev: s.dev, ino: s.ino, size: s.size, mtimeNs: s.mtimeNs, ctimeNs: s.ctimeNs,
});
const sameInode = (a: BigIntStats, b: BigIntStats): boolean => a.dev === b.dev && a.ino === b.ino;
const sameVersion = (a: BigIntStats, b: BigIntStats): boolean =>
  sameInode(a, b) && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs;

function errnoCode(err: unknown): string {
  return err && typeof err === 'object' && 'code' in err ? String((err as { code: unknown }).code) : String(err);
}
const GONE = new Set(['ENOENT', 'ENOTDIR']);

export interface OpenedFile {
  handle: FileHandle;
  stats: BigIntStats;
}

const MAX_SYMLINKS = 40;
const SEARCH = 1;
const READ = 4;

/** The walk's stats, shared between jobs of this thread queued before them. */
export const walkStats = new StatMemo();

type Owned = Pick<Stats, 'mode' | 'uid' | 'gid'> | Pick<BigIntStats, 'mode' | 'uid' | 'gid'>;

/** Whether uid/gid may search (1) or read (4) by the mode bits; root may. */
export function modeAllows(st: Owned, creds: HashTarget['creds'], want: number): boolean {
  if (!creds || creds.uid === 0) return true;
  const mode = Number(st.mode);
  if (Number(st.uid) === creds.uid) return ((mode >> 6) & want) === want;
  const gid = Number(st.gid);
  if (gid === creds.gid || creds.groups?.includes(gid)) return ((mode >> 3) & want) === want;
  if (creds.groups) return (mode & want) === want;
  // The uid may be in the file's group through a supplementary group we do
  // not know, and then the group bits apply, not these: grant only if both do.
  return (mode & want) === want && ((mode >> 3) & want) === want;
}

const SLASH = 0x2f;
function components(path: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let start = 0;
  for (let i = 0; i <= path.length; i++) {
    if (i === path.length || path[i] === SLASH) {
      if (i > start) out.push(path.subarray(start, i));
      start = i + 1;
    }
  }
  return out;
}
const isDot = (c: Buffer) => c.length === 1 && c[0] === 0x2e;
const isDotDot = (c: Buffer) => c.length === 2 && c[0] === 0x2e && c[1] === 0x2e;
const joinUnder = (root: string, parts: Buffer[]): Buffer =>
  Buffer.concat([Buffer.from(root), ...parts.flatMap((p) => [Buffer.from('/'), p])]);

/**
 * Resolves `path` inside `root` as the kernel would for the agent, by hand:
 * '..' never climbs above the root, an absolute symlink restarts at the root.
 * Returns the resolved path (under root) and the lstat of the file there.
 */
async function resolveInRoot(t: HashTarget): Promise<{ full: Buffer; st: BigIntStats } | FileHashResult> {
  if (t.path[0] !== SLASH) return { state: 'error', error: 'not an absolute path' };
  const quick = await resolvePlain(t);
  if (quick !== null) return quick;
  return resolveStepByStep(t);
}

/**
 * The common case in one round trip: a path without '.', '..' or symlinks.
 * Every prefix is lstat'ed at once; null (walk step by step) if any is a
 * symlink or missing, or the path has dot components.
 */
async function resolvePlain(t: HashTarget): Promise<{ full: Buffer; st: BigIntStats } | FileHashResult | null> {
  const parts = components(t.path);
  if (parts.length === 0 || parts.some((c) => isDot(c) || isDotDot(c))) return null;
  const prefixes = parts.map((_, i) => joinUnder(t.root, parts.slice(0, i + 1)));
  const file = prefixes.pop()!;
  let dirs: Stats[];
  let last: BigIntStats;
  try {
    // Directories need only type, mode and owner (numbers); the file's stat names its version (exact).
    [last, ...dirs] = await Promise.all([
      walkStats.lstatExact(file, t.since), walkStats.stat(t.root || '/', t.since), ...prefixes.map((p) => walkStats.lstat(p, t.since)),
    ]);
  } catch {
    return null;
  }
  for (const st of dirs) {
    if (st.isSymbolicLink() || !st.isDirectory()) return null;
    if (!modeAllows(st, t.creds, SEARCH)) return { state: 'denied' };
  }
  if (last.isSymbolicLink()) return null;
  return { full: file, st: last };
}

async function resolveStepByStep(t: HashTarget): Promise<{ full: Buffer; st: BigIntStats } | FileHashResult> {
  const done: Buffer[] = [];
  let todo = components(t.path);
  let links = 0;
  try {
    let dir = await stat(t.root || '/', { bigint: true });
    while (todo.length > 0) {
      if (!modeAllows(dir, t.creds, SEARCH)) return { state: 'denied' };
      const c = todo.shift()!;
      if (isDot(c)) continue;
      if (isDotDot(c)) {
        done.pop();
        dir = await stat(joinUnder(t.root || '/', done), { bigint: true });
        continue;
      }
      const here = joinUnder(t.root, [...done, c]);
      const st = await lstat(here, { bigint: true });
      if (st.isSymbolicLink()) {
        if (++links > MAX_SYMLINKS) return { state: 'error', error: 'ELOOP' };
        const target = await readlink(here, { encoding: 'buffer' });
        if (target[0] === SLASH) {
          done.length = 0;
          dir = await stat(t.root || '/', { bigint: true });
        }
        todo = [...components(target), ...todo];
        continue;
      }
      if (todo.length === 0) return { full: here, st };
      if (!st.isDirectory()) return { state: 'vanished' }; // ENOTDIR: the path no longer leads anywhere
      done.push(c);
      dir = st;
    }
    // The path named a directory (or the root itself).
    const st = await stat(joinUnder(t.root || '/', done), { bigint: true });
    return { state: 'not_regular', identity: identityOf(st) };
  } catch (err) {
    const code = errnoCode(err);
    if (GONE.has(code)) return { state: 'vanished' };
    if (code === 'EACCES') return { state: 'denied' };
    return { state: 'error', error: code };
  }
}

/** A regular file the reader may read, found by the walk (not opened yet): its path under the root and its lstat. */
export interface ReadableFile {
  full: Buffer;
  stats: BigIntStats;
}

export function isReadable(r: ReadableFile | FileHashResult): r is ReadableFile {
  return 'full' in r;
}

/**
 * The walk and the rights check of openRegularFile, without the open: enough
 * to find a version already hashed (the lstat names dev, inode, size, mtime,
 * ctime), which then needs no open at all (hash-queue.ts).
 */
export async function findReadableFile(target: HashTarget | Buffer): Promise<ReadableFile | FileHashResult> {
  const t: HashTarget = Buffer.isBuffer(target) ? { path: target, root: '', creds: null } : target;
  if (isSkippedPath(t.path)) return { state: 'skipped' };
  const resolved = await resolveInRoot(t);
  if (!('full' in resolved)) return resolved;
  const before = resolved.st;
  if (!before.isFile()) return { state: 'not_regular', identity: identityOf(before) };
  if (!modeAllows(before, t.creds, READ)) return { state: 'denied' };
  return { full: resolved.full, stats: before };
}

/** Opens a path for hashing, or says why it is not hashable (see the top of this file). */
export async function openRegularFile(target: HashTarget | Buffer): Promise<OpenedFile | FileHashResult> {
  const found = await findReadableFile(target);
  return isReadable(found) ? openReadable(found) : found;
}

/** Opens what findReadableFile found; the same inode, or 'replaced'. */
export async function openReadable(found: ReadableFile): Promise<OpenedFile | FileHashResult> {
  const resolved = found;
  const before = found.stats;

  let handle: FileHandle;
  try {
    handle = await open(resolved.full, C.O_RDONLY | C.O_NONBLOCK | C.O_NOCTTY | C.O_NOFOLLOW);
  } catch (err) {
    const code = errnoCode(err);
    if (GONE.has(code)) return { state: 'vanished' };
    if (code === 'ELOOP') return { state: 'replaced' }; // became a symlink after the walk
    if (code === 'EACCES') return { state: 'denied' };
    return { state: 'error', error: code };
  }
  try {
    const stats = await handle.stat({ bigint: true });
    if (!stats.isFile()) {
      await handle.close();
      return { state: 'not_regular', identity: identityOf(stats) };
    }
    if (!sameInode(stats, before)) {
      await handle.close();
      return { state: 'replaced', identity: identityOf(stats) };
    }
    return { handle, stats };
  } catch (err) {
    await handle.close().catch(() => undefined);
    return { state: 'error', error: errnoCode(err) };
  }
}

export function isOpened(r: OpenedFile | FileHashResult): r is OpenedFile {
  return 'handle' in r;
}

/**
 * Hashes an opened file up to maxFileBytes and closes it; keeps its first
 * `keepBytes` (the DLP scan reads the bytes read here, with the same rights).
 */
export async function digestOpened(file: OpenedFile, maxFileBytes: number, keepBytes = 0): Promise<FileHashResult> {
  const { handle, stats } = file;
  const identity = identityOf(stats);
  try {
    const hash = createHash('sha256');
    const cap = BigInt(maxFileBytes);
    const want = Number(stats.size < cap ? stats.size : cap);
    const buf = Buffer.allocUnsafe(Math.min(CHUNK, Math.max(want, 1)));
    let done = 0;
    const kept: Buffer[] = [];
    while (done < want) {
      const { bytesRead } = await handle.read(buf, 0, Math.min(buf.length, want - done), done);
      if (bytesRead === 0) break; // shrank while we read: caught by the re-check below
      hash.update(buf.subarray(0, bytesRead));
      if (done < keepBytes) kept.push(Buffer.from(buf.subarray(0, Math.min(bytesRead, keepBytes - done))));
      done += bytesRead;
    }
    const after = await handle.stat({ bigint: true });
    // Content changed under us: the digest is of no single version of the file.
    if (!sameVersion(after, stats) || done !== want) return { state: 'replaced', identity: identityOf(after) };
    return {
      state: stats.size > cap ? 'partial' : 'hashed', identity, sha256: hash.digest(), hashedAt: Date.now(),
      ...(kept.length > 0 ? { head: Buffer.concat(kept) } : {}),
    };
  } catch (err) {
    return { state: 'error', identity, error: errnoCode(err) };
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/** The whole thing, for callers without a cache. */
export async function hashFile(target: HashTarget | Buffer, maxFileBytes = DEFAULT_MAX_FILE_BYTES): Promise<FileHashResult> {
  const opened = await openRegularFile(target);
  return isOpened(opened) ? digestOpened(opened, maxFileBytes) : opened;
}
