// The store's background work (issue 17): hash results written in groups,
// every event still linked to its file; the store worker's thread below the
// agents' priority while the rest of the process keeps its own; and the
// sensor's threads lowered but for the ring reader and the main thread, with
// nothing lost.
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EventStore } from '../collector/store/event-store.js';
import { queryEvents } from '../collector/query/event-query.js';
import { verifyChain } from '../collector/store/verify.js';
import { THIS_PROCESS } from './helpers/origin.js';
import { ROOT } from './helpers/sensor-cli.js';
import { agent, kernelSkipReason, startSensor, waitForEvents } from './helpers/kernel.js';
import { lowerBackgroundThreads } from '../sensor/background-threads.js';
import { BACKGROUND_NICE } from '../collector/server/thread-priority.js';
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
      // The cache holds written versions: a second open racing the first's
      // hash (not yet in its group's transaction) is hashed again, not lost.
      await s.hashIdle();
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
    const { WorkerStore } = (await import(dist)) as typeof import('../collector/server/store-worker.js');
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

const kernelSkip = kernelSkipReason();
if (kernelSkip) console.warn(`background-work: sensor threads test skipped: ${kernelSkip}`);

describe.skipIf(kernelSkip !== null)('the sensor\'s threads below the agents, but for the ring reader and the main thread', () => {
  it('lowers the others to nice 10 and still delivers every event of an agent', async () => {
    const d = tempDir();
    const sh = join(d, 'bgprio-agent');
    copyFileSync('/bin/sh', sh);
    chmodSync(sh, 0o755);
    const rec = await startSensor([agent('bgprio', { comm: ['bgprio-agent'] })]);
    try {
      const r = lowerBackgroundThreads();
      expect(r.reason).toBeUndefined();
      expect(r.lowered).toBeGreaterThan(0);
      const byThread = readdirSync('/proc/self/task').map((t) => ({
        tid: Number(t), comm: readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trim(), nice: nice(readFileSync(`/proc/self/task/${t}/stat`, 'utf8')),
      }));
      expect(byThread.find((t) => t.comm === 'ring-reader')?.nice).toBe(0);
      expect(byThread.find((t) => t.tid === process.pid)?.nice).toBe(0);
      expect(byThread.filter((t) => t.nice === BACKGROUND_NICE).length).toBe(r.lowered);
      const target = join(d, 'data.txt');
      writeFileSync(target, 'x\n');
      execFileSync(sh, ['-c', `i=0; while [ $i -lt 300 ]; do read x < ${target}; i=$((i+1)); done`]);
      await waitForEvents(rec.events, (evs) => evs.filter((e) => e.type === 'open' && e.path === target).length >= 300, 20_000, '300 opens');
      expect(rec.sensor.counters().lost).toBe(0);
    } finally {
      await rec.stop();
    }
  });
});
