// The store's background work (issue 17): hash results written in groups,
// every event still linked to its file; and the store worker's thread below
// the agents' priority while the rest of the process keeps its own.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EventStore } from '../collector/store/event-store.js';
import { queryEvents } from '../collector/query/event-query.js';
import { verifyChain } from '../collector/store/verify.js';
import { THIS_PROCESS } from './helpers/origin.js';
import { ROOT } from './helpers/sensor-cli.js';
import type { OpenEvent } from '../proto/events/types.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'background-work-'));
  dirs.push(d);
  return d;
};
let tick = 0n;
const openEvent = (path: string): OpenEvent => ({
  type: 'open', ts: '', tsNs: (1_795_000_000_000_000_000n + tick++).toString(), ...THIS_PROCESS, ppid: 1, uid: 0, gid: 0,
  comm: 'agent', agent: 'a', cgroupId: '1', netns: 1, path, flags: 0, mode: 0, access: 'read', result: 3, syscall: 'openat',
});

describe('hash results written in groups', () => {
  it('writes 300 files in a few transactions, each event linked to its own hash, cache hits too', async () => {
    const d = tempDir();
    const files = Array.from({ length: 300 }, (_, i) => {
      const f = join(d, `m${i}.js`);
      writeFileSync(f, `module.exports = ${i};\n`);
      return f;
    });
    const s = EventStore.open({ stateDir: join(d, 'state') });
    try {
      const first = s.commitBatch({ sensorId: 's', bootId: 'b', seq: 1n, events: files.map(openEvent) });
      const again = s.commitBatch({ sensorId: 's', bootId: 'b', seq: 2n, events: files.map(openEvent) });
      await s.hashIdle();
      const st = s.status();
      expect(st).toMatchObject({ hashed: 300, hashCacheHits: 300, hashFailures: 0, hashPendingWrites: 0, hashQueue: 0 });
      expect(st.hashWriteGroups).toBeGreaterThan(0);
      expect(st.hashWriteGroups).toBeLessThan(60); // one per file would be 600
      const byId = new Map(queryEvents(s.database, { limit: 10_000 }).map((r) => [r.id, r.event as OpenEvent & { sha256?: string }]));
      for (const ids of [first.eventIds, again.eventIds]) {
        ids.forEach((id, i) => expect(byId.get(id)!.sha256, files[i]).toMatch(/^[0-9a-f]{64}$/));
      }
      expect(byId.get(first.eventIds[7]!)!.sha256).toBe(byId.get(again.eventIds[7]!)!.sha256);
      expect(verifyChain(s.database).ok).toBe(true); // every link under the chain
    } finally {
      await s.close();
    }
  });

  it('writes what waits for its group at close', async () => {
    const d = tempDir();
    const f = join(d, 'a.txt');
    writeFileSync(f, 'x');
    const state = join(d, 'state');
    const s = EventStore.open({ stateDir: state });
    const r = s.commitBatch({ sensorId: 's', bootId: 'b', seq: 1n, events: [openEvent(f)] });
    // Hashed and waiting for its group (up to WRITE_GROUP_MS): close then.
    const deadline = Date.now() + 5000;
    while (s.status().hashPendingWrites === 0 && Date.now() < deadline) await new Promise((ok) => setTimeout(ok, 1));
    expect(s.status().hashPendingWrites).toBe(1);
    await s.close();
    const again = EventStore.open({ stateDir: state, hashing: { enabled: false } });
    try {
      const ev = queryEvents(again.database, { limit: 10 }).find((x) => x.id === r.eventIds[0])!.event as { sha256?: string };
      expect(ev.sha256).toMatch(/^[0-9a-f]{64}$/);
    } finally {
      await again.close();
    }
  });
});

const nice = (stat: string) => Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
const dist = join(ROOT, 'dist/collector/server/store-worker.js');
const skip = process.platform !== 'linux' ? 'not Linux' : !existsSync(dist) ? 'dist/ not built: run `bash scripts/build.sh`' : null;
if (skip) console.warn(`background-work: worker priority test skipped: ${skip}`);

describe.skipIf(skip !== null)('the store worker below the agents', () => {
  it('runs its thread at nice 10, named store-worker, and says so in its status; the process keeps its priority', async () => {
    const { WorkerStore, BACKGROUND_NICE } = (await import(dist)) as typeof import('../collector/server/store-worker.js');
    const store = await WorkerStore.open({ stateDir: join(tempDir(), 'state') });
    try {
      const st = await store.status();
      expect(st.workerNice).toBe(BACKGROUND_NICE);
      const threads = readdirSync('/proc/self/task').map((t) => ({
        tid: Number(t), comm: readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trim(), stat: readFileSync(`/proc/self/task/${t}/stat`, 'utf8'),
      }));
      const worker = threads.filter((t) => t.comm === 'store-worker');
      expect(worker).toHaveLength(1);
      expect(nice(worker[0]!.stat)).toBe(BACKGROUND_NICE);
      expect(nice(threads.find((t) => t.tid === process.pid)!.stat)).toBe(0);
    } finally {
      await store.close();
    }
  });
});
