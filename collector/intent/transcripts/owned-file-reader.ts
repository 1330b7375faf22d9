// Reading an agent's session transcript as the sensor (root) without more
// rights than the user who owns it: the file is opened without following a
// final symlink, must be a regular file, and its inode (fstat after open, so
// no swap between check and read) must belong to the expected user. A file
// the user cannot own (a hard link to /etc/shadow keeps root as owner) is
// refused. Reads are incremental from an offset, bounded per call, and only
// whole lines are handed out; an over-long line is skipped and counted.
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';

export interface TailState {
  offset: number;
  /** dev:ino of the file the offset belongs to; a new inode starts again at 0 */
  inode?: string;
  /** bytes of a line not yet ended */
  partial: Buffer;
  /** a line over maxLineBytes is being skipped until its end */
  skipping: boolean;
}

export interface TailResult {
  lines: string[];
  /** lines dropped for being longer than maxLineBytes */
  longLinesSkipped: number;
  /** the file shrank or was replaced: reading started again at 0 */
  restarted: boolean;
}

export class NotOwnedError extends Error {
  constructor(path: string, readonly reason: string) {
    super(`not reading ${JSON.stringify(path)}: ${reason}`);
    this.name = 'NotOwnedError';
  }
}

export const DEFAULT_MAX_READ_BYTES = 4 * 1024 * 1024;
export const DEFAULT_MAX_LINE_BYTES = 8 * 1024 * 1024;

export function newTailState(): TailState {
  return { offset: 0, partial: Buffer.alloc(0), skipping: false };
}

/** Open `path` for reading only if it is a regular file owned by `uid`. */
export function openOwned(path: string, uid: number): { fd: number; size: number; inode: string } {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    throw new NotOwnedError(path, (err as NodeJS.ErrnoException).code ?? String(err));
  }
  const st = fstatSync(fd);
  if (!st.isFile()) { closeSync(fd); throw new NotOwnedError(path, 'not a regular file'); }
  if (st.uid !== uid) { closeSync(fd); throw new NotOwnedError(path, `owned by uid ${st.uid}, not ${uid}`); }
  return { fd, size: st.size, inode: `${st.dev}:${st.ino}` };
}

/** New whole lines of `path` since `state.offset`; updates `state`. */
export function readNewLines(path: string, uid: number, state: TailState, maxReadBytes = DEFAULT_MAX_READ_BYTES, maxLineBytes = DEFAULT_MAX_LINE_BYTES): TailResult {
  const { fd, size, inode } = openOwned(path, uid);
  const result: TailResult = { lines: [], longLinesSkipped: 0, restarted: false };
  try {
    if ((state.inode !== undefined && state.inode !== inode) || size < state.offset) {
      Object.assign(state, newTailState());
      result.restarted = true;
    }
    state.inode = inode;
    const want = Math.min(size - state.offset, maxReadBytes);
    if (want <= 0) return result;
    const buf = Buffer.alloc(want);
    const got = readSync(fd, buf, 0, want, state.offset);
    state.offset += got;
    let data = state.partial.length ? Buffer.concat([state.partial, buf.subarray(0, got)]) : buf.subarray(0, got);
    for (;;) {
      const nl = data.indexOf(0x0a);
      if (nl < 0) break;
      const line = data.subarray(0, nl);
      data = data.subarray(nl + 1);
      if (state.skipping) { state.skipping = false; continue; }
      if (line.length > maxLineBytes) { result.longLinesSkipped++; continue; }
      result.lines.push(line.toString('utf8'));
    }
    if (data.length > maxLineBytes) {
      if (!state.skipping) result.longLinesSkipped++;
      state.skipping = true;
      data = Buffer.alloc(0);
    }
    state.partial = Buffer.from(data);
    return result;
  } finally {
    closeSync(fd);
  }
}

/** The whole of a small owned file (Gemini CLI rewrites one JSON per session). */
export function readOwnedWhole(path: string, uid: number, maxBytes: number): { text: string; inode: string; size: number } | undefined {
  const { fd, size, inode } = openOwned(path, uid);
  try {
    if (size > maxBytes) return undefined;
    const buf = Buffer.alloc(size);
    const got = readSync(fd, buf, 0, size, 0);
    return { text: buf.subarray(0, got).toString('utf8'), inode, size };
  } finally {
    closeSync(fd);
  }
}
