// SHA-256 of a file an agent read, taken without trusting the path.
//
// Only regular files are hashed, and never by blocking on something that is
// not one: /proc, /sys and /dev are skipped by name, every path is lstat'ed
// (then stat'ed through a symlink) before it is opened, the open uses
// O_NONBLOCK so a FIFO swapped in meanwhile cannot hang us, and the fd is
// fstat'ed again: it must be a regular file with the same (dev, ino) as the
// stat, else the file was replaced between the two looks.
//
// Symlinks: the agent's open followed them (the event path is the path as
// given, lexically normalised), so the content the agent read is the target's.
// We follow too, but pin the identity: stat() the path (following), open it,
// and require the fd to be that same inode. A non-symlink is opened with
// O_NOFOLLOW so that it cannot be swapped for a link between lstat and open.
//
// Reads go through the libuv pool in 1 MiB chunks; each chunk's digest update
// runs on the main thread (~1-2 ms), so a large file never blocks ingest for
// long. At most `maxFileBytes` are read: a larger file's record is its size
// plus the hash of that prefix, state 'partial'.
import { constants as C } from 'node:fs';
import { lstat, open, stat, type FileHandle } from 'node:fs/promises';
import type { BigIntStats } from 'node:fs';
import { createHash } from 'node:crypto';

export type FileState = 'hashed' | 'partial' | 'vanished' | 'replaced' | 'not_regular' | 'error' | 'skipped';

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
}

export const DEFAULT_MAX_FILE_BYTES = 64 * 1024 * 1024;
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

/** Opens a path for hashing, or says why it is not hashable. */
export async function openRegularFile(path: Buffer): Promise<OpenedFile | FileHashResult> {
  if (isSkippedPath(path)) return { state: 'skipped' };
  let before: BigIntStats;
  let follow = false;
  try {
    before = await lstat(path, { bigint: true });
    if (before.isSymbolicLink()) {
      follow = true;
      before = await stat(path, { bigint: true });
    }
  } catch (err) {
    return GONE.has(errnoCode(err)) ? { state: 'vanished' } : { state: 'error', error: errnoCode(err) };
  }
  if (!before.isFile()) return { state: 'not_regular', identity: identityOf(before) };

  let handle: FileHandle;
  try {
    handle = await open(path, C.O_RDONLY | C.O_NONBLOCK | C.O_NOCTTY | (follow ? 0 : C.O_NOFOLLOW));
  } catch (err) {
    const code = errnoCode(err);
    if (GONE.has(code)) return { state: 'vanished' };
    if (code === 'ELOOP') return { state: 'replaced' }; // became a symlink after lstat
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

/** Hashes an opened file up to maxFileBytes and closes it. */
export async function digestOpened(file: OpenedFile, maxFileBytes: number): Promise<FileHashResult> {
  const { handle, stats } = file;
  const identity = identityOf(stats);
  try {
    const hash = createHash('sha256');
    const cap = BigInt(maxFileBytes);
    const want = Number(stats.size < cap ? stats.size : cap);
    const buf = Buffer.allocUnsafe(Math.min(CHUNK, Math.max(want, 1)));
    let done = 0;
    while (done < want) {
      const { bytesRead } = await handle.read(buf, 0, Math.min(buf.length, want - done), done);
      if (bytesRead === 0) break; // shrank while we read: caught by the re-check below
      hash.update(buf.subarray(0, bytesRead));
      done += bytesRead;
    }
    const after = await handle.stat({ bigint: true });
    // Content changed under us: the digest is of no single version of the file.
    if (!sameVersion(after, stats) || done !== want) return { state: 'replaced', identity: identityOf(after) };
    return { state: stats.size > cap ? 'partial' : 'hashed', identity, sha256: hash.digest() };
  } catch (err) {
    return { state: 'error', identity, error: errnoCode(err) };
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/** The whole thing, for callers without a cache. */
export async function hashFile(path: Buffer, maxFileBytes = DEFAULT_MAX_FILE_BYTES): Promise<FileHashResult> {
  const opened = await openRegularFile(path);
  return isOpened(opened) ? digestOpened(opened, maxFileBytes) : opened;
}
