// A sensitive file read under another name (collector/sensitive/same-file.ts):
// a hard link, a rename, or the inode the kernel opened. Through the real
// store (SQLite) and its tagger; the live sensor's side is in
// detect-rules-live.test.ts.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventStore } from '../collector/store/event-store.js';
import type { OpenedInode, SensorEvent } from '../proto/events/types.js';

const PID = 4242;
let ts = 1_795_000_000_000_000_000n;
const base = () => {
  ts += 1000n;
  return {
    ts: '', tsNs: ts.toString(), pid: PID, tid: PID, ppid: 1, uid: 0, gid: 0, comm: 'agent', agent: 'bot', agentPid: PID,
    cgroupId: '7', netns: 1, mntns: 1,
  };
};
const inode = (ino: number, generation = 7): OpenedInode => ({ dev: 65024, ino: String(ino), generation, mode: 0o100600, size: '411', mtimeNs: '1', ctimeNs: '2' });
const open = (path: string, ino?: number, generation?: number): SensorEvent => ({
  type: 'open', ...base(), path, flags: 0, mode: 0, access: 'read', result: 3, syscall: 'openat', ...(ino ? { inode: inode(ino, generation) } : {}),
});
const link = (path: string, newpath: string, symbolic = false): SensorEvent => ({ type: 'link', ...base(), path, newpath, symbolic, result: 0 });
const rename = (path: string, newpath: string): SensorEvent => ({ type: 'rename', ...base(), path, newpath, flags: 0, result: 0 });
const unlink = (path: string): SensorEvent => ({ type: 'unlink', ...base(), path, rmdir: false, result: 0 });

describe('a sensitive file under another name', () => {
  let dir: string;
  let store: EventStore;
  let seq = 0n;
  const tags: (string[] | undefined)[][] = [];
  /** commits one batch; the tags of its events, by index */
  const commit = (events: SensorEvent[], sensorId = 'here') => {
    store.commitBatch({ sensorId, bootId: 'b', seq: ++seq, events });
    return tags.at(-1)!;
  };

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'same-file-'));
    store = EventStore.open({ stateDir: join(dir, 'state'), hashing: { enabled: false } });
    store.onCommitted((b) => tags.push(b.sensitive ?? []));
  });
  afterAll(async () => {
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('an inode opened under a catalogue path keeps its classes under any name; another inode does not', () => {
    expect(commit([open('/root/.ssh/id_rsa', 101)])).toEqual([['ssh-private-key']]);
    expect(commit([open('/tmp/innocent', 101), open('/tmp/innocent', 102), open('/tmp/no-inode')])).toEqual([['ssh-private-key'], undefined, undefined]);
    // inode numbers are per host: another sensor's 101 is another file
    expect(commit([open('/tmp/innocent', 101)], 'elsewhere')).toEqual([]);
    // the key deleted, its inode number given to a project file: another generation, not the key
    expect(commit([open('/tmp/proj/new.ts', 101, 8)])).toEqual([]);
  });

  it('a hard link an agent made to a file it never opened by name: the link is the file', () => {
    expect(commit([link('/root/.aws/credentials', '/tmp/c'), open('/tmp/c', 201)])).toEqual([undefined, ['aws-credentials']]);
    // the name became that inode: another file made at /tmp/c later is not it
    expect(commit([open('/tmp/c', 202)])).toEqual([]);
    expect(commit([open('/var/tmp/again', 201)])).toEqual([['aws-credentials']]);
  });

  it('a rename carries the classes on, through a chain of names; a symlink is left to the kernel\'s own path', () => {
    expect(commit([rename('/root/.kube/config', '/tmp/kc'), rename('/tmp/kc', '/tmp/kc2'), open('/tmp/kc'), open('/tmp/kc2')]))
      .toEqual([undefined, undefined, undefined, ['kube-config']]);
    // a symlink's open is reported under the target's path by the kernel; its link event names no file
    expect(commit([link('/root/.netrc', '/tmp/n', true), open('/tmp/n')])).toEqual([]);
  });

  it('an unlink forgets the name; a file renamed over it replaces it', () => {
    expect(commit([link('/root/.ssh/id_ed25519', '/tmp/z'), unlink('/tmp/z'), open('/tmp/z')])).toEqual([]);
    expect(commit([link('/root/.ssh/id_ed25519', '/tmp/y'), rename('/tmp/plain', '/tmp/y'), open('/tmp/y')])).toEqual([]);
  });

  it('a benign project is untouched: renames and links of ordinary files tag nothing', () => {
    expect(commit([
      rename('/tmp/proj/a.ts', '/tmp/proj/b.ts'), link('/tmp/proj/b.ts', '/tmp/proj/c.ts'), open('/tmp/proj/b.ts', 301), open('/tmp/proj/c.ts', 301),
    ])).toEqual([]);
  });
});
