// Hashing the files agents read: through the store (real SQLite, real files
// in a temp dir), and the hasher alone for the states that need no store.
import { afterEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, mkdtempSync, renameSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventStore } from '../collector/store/event-store.js';
import { queryEvents } from '../collector/query/event-query.js';
import { hashFile, isSkippedPath } from '../collector/hashing/file-hasher.js';
import { THIS_PROCESS } from './helpers/origin.js';
import type { OpenedInode, OpenEvent } from '../proto/events/types.js';

const dirs: string[] = [];
const stores: EventStore[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'hashing-test-'));
  dirs.push(d);
  return d;
}

function openStore(hashing: { maxFileBytes?: number; workers?: number; queueMax?: number } = {}): EventStore {
  const s = EventStore.open({ stateDir: join(tempDir(), 'state'), hashing });
  stores.push(s);
  return s;
}

let seq = 0n;
let tick = 0n;
function openEvent(path: string | { b64: string }, access: OpenEvent['access'] = 'read', result = 3): OpenEvent {
  const tsNs = (1_795_000_000_000_000_000n + tick++).toString();
  return {
    type: 'open', ts: '', tsNs, ...THIS_PROCESS, ppid: 1, uid: 0, gid: 0, comm: 'agent', agent: 'a',
    cgroupId: '1', netns: 1, path, flags: 0, mode: 0, access, result, syscall: 'openat',
  };
}

async function commitAndHash(s: EventStore, events: OpenEvent[]) {
  const r = s.commitBatch({ sensorId: 'h', bootId: 'b', seq: ++seq, events });
  await s.hashIdle();
  const byId = new Map(queryEvents(s.database, { limit: 10_000 }).map((row) => [row.id, row.event]));
  return r.eventIds.map((id) => byId.get(id) as OpenEvent & { sha256?: string; hashState?: string });
}

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** What the kernel puts in an open record: the inode's identity at the open. */
function inodeOf(path: string): OpenedInode {
  const st = statSync(path, { bigint: true });
  // the generation plays no part in hashing (the version does)
  return { dev: Number(st.dev), ino: String(st.ino), generation: 0, mode: Number(st.mode), size: String(st.size), mtimeNs: String(st.mtimeNs), ctimeNs: String(st.ctimeNs) };
}
const withInode = (e: OpenEvent, inode: OpenedInode): OpenEvent => ({ ...e, inode });

describe('file hashing with the kernel\'s identity of the opened inode', () => {
  it('links a version hashed before with no look at the path: a file read, then deleted', async () => {
    const d = tempDir();
    const f = join(d, 'kept.txt');
    writeFileSync(f, 'read twice');
    const opened = inodeOf(f);
    const s = openStore();
    const [first] = await commitAndHash(s, [withInode(openEvent(f), opened)]);
    unlinkSync(f);
    const [second] = await commitAndHash(s, [withInode(openEvent(f), opened)]);
    expect(second).toMatchObject({ sha256: sha256('read twice') });
    expect(first!.sha256).toBe(second!.sha256);
    expect(s.status()).toMatchObject({ hashed: 1, hashCacheHits: 1, hashKernelIdentityHits: 1 });
    // Without the kernel's word the path is all there is: gone.
    const [plain] = await commitAndHash(s, [openEvent(f)]);
    expect(plain).toMatchObject({ hashState: 'vanished' });
  });

  it('a file replaced after the open is not taken for the one read', async () => {
    const d = tempDir();
    const f = join(d, 'secret.txt');
    writeFileSync(f, 'the secret the agent read');
    const opened = inodeOf(f);
    writeFileSync(join(d, 'decoy'), 'harmless');
    renameSync(join(d, 'decoy'), f); // another inode at the same path
    const s = openStore();
    const [e] = await commitAndHash(s, [withInode(openEvent(f), opened)]);
    expect(e).toMatchObject({ hashState: 'replaced' });
    expect(e!.sha256).toBeUndefined();
    const [before] = await commitAndHash(s, [openEvent(f)]); // what a sensor without the identity records
    expect(before!.sha256).toBe(sha256('harmless'));
  });

  it('the same file written in place after the open is hashed as found: a byte appended hides nothing', async () => {
    const d = tempDir();
    const f = join(d, 'grows.txt');
    writeFileSync(f, 'first');
    const opened = inodeOf(f);
    appendFileSync(f, ', then more');
    const s = openStore();
    const [e] = await commitAndHash(s, [withInode(openEvent(f), opened)]);
    expect(e!.hashState).toBeUndefined();
    expect(e!.sha256).toBe(sha256('first, then more'));
    expect(s.status()).toMatchObject({ hashKernelIdentityHits: 0 }); // the version opened was never hashed
  });

  it('a FIFO the kernel opened is never opened here', async () => {
    const d = tempDir();
    execFileSync('mkfifo', [join(d, 'fifo')]);
    const opened = inodeOf(join(d, 'fifo'));
    rmSync(join(d, 'fifo'));
    writeFileSync(join(d, 'fifo'), 'a regular file now');
    const s = openStore();
    const [e] = await commitAndHash(s, [withInode(openEvent(join(d, 'fifo')), opened)]);
    expect(e).toMatchObject({ hashState: 'not_regular' });
  });

  it('an O_PATH open, which needs no right to read, and another host\'s inode are not linked', async () => {
    const d = tempDir();
    const f = join(d, 'f.txt');
    writeFileSync(f, 'x');
    const opened = inodeOf(f);
    const s = openStore();
    await commitAndHash(s, [withInode(openEvent(f), opened)]);
    unlinkSync(f);
    const [oPath] = await commitAndHash(s, [{ ...withInode(openEvent(f), opened), flags: 0o10000000 }]);
    expect(oPath).toMatchObject({ hashState: 'vanished' });
    const r = s.commitBatch({ sensorId: 'other-host', bootId: 'b', seq: 1n, remote: true, events: [withInode(openEvent(f), opened)] });
    await s.hashIdle();
    const remote = queryEvents(s.database, { limit: 100 }).find((x) => x.id === r.eventIds[0])!.event;
    expect(remote).toMatchObject({ hashState: 'remote' });
    expect(s.status()).toMatchObject({ hashKernelIdentityHits: 0 });
  });
});

describe('file hashing', () => {
  it('hashes what was read, the same as node:crypto, and only successful reads', async () => {
    const d = tempDir();
    const content = Buffer.from('hello agent\n'.repeat(100_000));
    writeFileSync(join(d, 'a.txt'), content);
    const s = openStore();
    const [read, write, failed, rw] = await commitAndHash(s, [
      openEvent(join(d, 'a.txt')), openEvent(join(d, 'a.txt'), 'write'), openEvent(join(d, 'a.txt'), 'read', -2),
      openEvent(join(d, 'a.txt'), 'readwrite'),
    ]);
    expect(read!.sha256).toBe(sha256(content));
    expect(read!.hashState).toBeUndefined();
    expect(write!.sha256).toBeUndefined();
    expect(failed!.sha256).toBeUndefined();
    expect(rw!.sha256).toBe(sha256(content));
  });

  it('hashes a non-UTF-8 path', async () => {
    const d = tempDir();
    const name = Buffer.concat([Buffer.from(`${d}/`), Buffer.from([0xff, 0x41])]);
    writeFileSync(name, 'x');
    const s = openStore();
    const [e] = await commitAndHash(s, [openEvent({ b64: name.toString('base64') })]);
    expect(e!.sha256).toBe(sha256('x'));
  });

  it('hashes a file once while it is unchanged (cache hit), again after a change', async () => {
    const d = tempDir();
    const f = join(d, 'c.txt');
    writeFileSync(f, 'one');
    const s = openStore();
    const [first] = await commitAndHash(s, [openEvent(f)]);
    const [second] = await commitAndHash(s, [openEvent(f)]);
    expect(second!.sha256).toBe(first!.sha256);
    expect(s.status()).toMatchObject({ hashed: 1, hashCacheHits: 1 });
    writeFileSync(f, 'two, longer');
    const [third] = await commitAndHash(s, [openEvent(f)]);
    expect(third!.sha256).toBe(sha256('two, longer'));
    expect(s.status()).toMatchObject({ hashed: 2, hashCacheHits: 1 });
  });

  it('does not hang on a FIFO, /dev/zero or a directory', async () => {
    const d = tempDir();
    execFileSync('mkfifo', [join(d, 'fifo')]);
    mkdirSync(join(d, 'dir'));
    const s = openStore();
    const [fifo, zero, dir, proc] = await commitAndHash(s, [
      openEvent(join(d, 'fifo')), openEvent('/dev/zero'), openEvent(join(d, 'dir')), openEvent('/proc/self/status'),
    ]);
    expect(fifo).toMatchObject({ hashState: 'not_regular' });
    expect(fifo!.sha256).toBeUndefined();
    expect(zero).toMatchObject({ hashState: 'skipped' });
    expect(dir).toMatchObject({ hashState: 'not_regular' });
    expect(proc).toMatchObject({ hashState: 'skipped' });
  });

  it('marks a file deleted right after the open as vanished', async () => {
    const d = tempDir();
    const f = join(d, 'gone.txt');
    writeFileSync(f, 'brief');
    const s = openStore();
    const r = s.commitBatch({ sensorId: 'h', bootId: 'b', seq: ++seq, events: [openEvent(f)] });
    unlinkSync(f); // before the hasher's lstat gets its turn on the event loop
    await s.hashIdle();
    const e = queryEvents(s.database, { limit: 10 }).find((x) => x.id === r.eventIds[0])!.event;
    expect(e).toMatchObject({ hashState: 'vanished' });
  });

  it('hashes the first maxFileBytes of a larger file: partial', async () => {
    const d = tempDir();
    const big = Buffer.alloc(3 * 1024 * 1024 + 17, 7);
    writeFileSync(join(d, 'big.bin'), big);
    const s = openStore({ maxFileBytes: 1024 * 1024 });
    const [e] = await commitAndHash(s, [openEvent(join(d, 'big.bin'))]);
    expect(e).toMatchObject({ hashState: 'partial', sha256: sha256(big.subarray(0, 1024 * 1024)) });
    const size = execFileSync('sqlite3', [s.path, `SELECT size, state FROM files`], { encoding: 'utf8' }).trim();
    expect(size).toBe(`${big.length}|partial`);
  });

  it('follows a symlink to the content the agent read', async () => {
    const d = tempDir();
    writeFileSync(join(d, 'target'), 'pointed at');
    symlinkSync(join(d, 'target'), join(d, 'link'));
    expect(await hashFile(Buffer.from(join(d, 'link')))).toMatchObject({ state: 'hashed', sha256: Buffer.from(sha256('pointed at'), 'hex') });
    symlinkSync(join(d, 'nowhere'), join(d, 'dangling'));
    expect(await hashFile(Buffer.from(join(d, 'dangling')))).toMatchObject({ state: 'vanished' });
  });

  it('counts jobs dropped when the queue is full instead of growing', async () => {
    const d = tempDir();
    const events: OpenEvent[] = [];
    for (let i = 0; i < 50; i++) {
      writeFileSync(join(d, `f${i}`), `content ${i}`);
      events.push(openEvent(join(d, `f${i}`)));
    }
    const s = openStore({ workers: 1, queueMax: 5 });
    await commitAndHash(s, events);
    const st = s.status();
    expect(st.hashDropped).toBeGreaterThan(0);
    expect(st.hashed + st.hashDropped).toBe(50);
    expect(st.hashQueue).toBe(0);
  });

  it('skips /proc, /sys and /dev by name only', () => {
    expect(isSkippedPath(Buffer.from('/proc/1/maps'))).toBe(true);
    expect(isSkippedPath(Buffer.from('/dev'))).toBe(true);
    expect(isSkippedPath(Buffer.from('/devices/x'))).toBe(false);
    expect(isSkippedPath(Buffer.from('/home/proc'))).toBe(false);
  });
});

describe('stats shared between hash jobs (stat-memo.ts)', () => {
  it('shares a stat only with jobs queued before it was taken: a later job looks again', async () => {
    const { StatMemo } = await import('../collector/hashing/stat-memo.js');
    const d = tempDir();
    const f = join(d, 'grows.txt');
    writeFileSync(f, 'a');
    const memo = new StatMemo();
    const queued = performance.now();
    const [a, b] = await Promise.all([memo.lstatExact(f, queued), memo.lstatExact(f, queued)]);
    expect(a).toBe(b); // one stat for both: taken after both were queued
    expect(memo.counters).toEqual({ issued: 1, shared: 1 });
    expect((await memo.lstatExact(f, queued)).size).toBe(1n); // still after that job's open
    expect(memo.counters.shared).toBe(2);

    writeFileSync(f, 'abc'); // the file changes, then a job is queued for a new open
    const later = performance.now();
    expect((await memo.lstatExact(f, later)).size).toBe(3n); // not the older stat
    expect(memo.counters.issued).toBe(2);

    // No `since`: the caller's own stat, never shared.
    await memo.lstat(d, undefined);
    await memo.lstat(d, undefined);
    expect(memo.counters.issued).toBe(2);
    // A failure is shared like a result (it too was seen after the open).
    const gone = join(d, 'gone');
    const since = performance.now();
    await expect(memo.lstat(gone, since)).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(memo.lstat(gone, since)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(memo.counters).toEqual({ issued: 3, shared: 3 });
  });
});
