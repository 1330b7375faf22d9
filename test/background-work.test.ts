// The store's background work (issue 17): hash results written in groups,
// every event still linked to its file; the store worker's thread below the
// agents' priority while the rest of the process keeps its own; the sensor's
// threads lowered but for the ring reader and the main thread (nice, the
// fallback), or all but the ring reader at SCHED_IDLE, raised by the reader
// while a batch waits for JS; with nothing lost.
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
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

/** A shell under the agent's comm in a temp dir, and that dir. */
function agentShell(comm: string): { d: string; sh: string } {
  const d = tempDir();
  const sh = join(d, comm);
  copyFileSync('/bin/sh', sh);
  chmodSync(sh, 0o755);
  return { d, sh };
}

describe.skipIf(kernelSkip !== null)('the sensor\'s threads below the agents, but for the ring reader and the main thread', () => {
  it('lowers the others to nice 10 and still delivers every event of an agent', async () => {
    const { d, sh } = agentShell('bgprio-agent');
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

const policy = (tid: number): number | null => {
  try {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[38]);
  } catch {
    return null; // exited
  }
};
const SCHED_OTHER = 0;
const SCHED_IDLE = 5;

describe.skipIf(kernelSkip !== null)('the sensor\'s threads at idle priority, raised by the ring reader while events wait', () => {
  it('runs them at SCHED_IDLE, raises them when CPU hogs starve them, delivers everything, and lowers them again', async () => {
    const { d, sh } = agentShell('idleprio-agent');
    const rec = await startSensor([agent('idleprio', { comm: ['idleprio-agent'] })]);
    const hogs: ReturnType<typeof spawn>[] = [];
    try {
      const r = lowerBackgroundThreads((tids) => rec.backend.idleThreads(tids));
      expect(r).toMatchObject({ mode: 'idle', kept: 1 });
      const tids = readdirSync('/proc/self/task').map(Number);
      const reader = tids.find((t) => readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trim() === 'ring-reader')!;
      expect(policy(reader)).toBe(SCHED_OTHER);
      expect(policy(process.pid)).toBe(SCHED_IDLE);
      expect(rec.backend.priority()).toMatchObject({ enabled: true, boosted: false, boosts: 0, lastError: 0 });

      // One nice-0 spinner per CPU, bounded in time: the idle threads get only
      // what the spinners leave; the agent's events still all arrive.
      // Each in its own process group, killed as a group below: killing `timeout` alone would leave its spinner.
      for (let i = 0; i < availableParallelism(); i++) {
        hogs.push(spawn('timeout', ['-s', 'KILL', '4', 'sh', '-c', 'while :; do :; done'], { stdio: 'ignore', detached: true }));
      }
      const target = join(d, 'data.txt');
      writeFileSync(target, 'x\n');
      const reads = (n: number) => execFileSync(sh, ['-c', `i=0; while [ $i -lt ${n} ]; do read x < ${target}; i=$((i+1)); done`]);
      const opens = () => rec.events.filter((e) => e.type === 'open' && e.path === target).length;
      reads(300);
      await waitForEvents(rec.events, () => opens() >= 300, 30_000, '300 opens under CPU hogs');
      expect(rec.sensor.counters().lost).toBe(0);

      // JS behind: the main thread busy while a batch waits. The reader raises
      // the threads past the bound (the main thread's policy changes under it).
      const boosts = rec.backend.priority()!.boosts;
      reads(100);
      const busyUntil = Date.now() + 3000;
      let raised = false;
      while (!raised && Date.now() < busyUntil) raised = policy(process.pid) === SCHED_OTHER;
      expect(raised).toBe(true);
      expect(rec.backend.priority()).toMatchObject({ boosted: true, boosts: boosts + 1 });
      await waitForEvents(rec.events, () => opens() >= 400, 30_000, '100 more opens');
      expect(rec.sensor.counters().lost).toBe(0);

      // Nothing waits any more: lowered again within a poll round or two.
      const deadline = Date.now() + 5000;
      while (rec.backend.priority()!.boosted && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
      expect(rec.backend.priority()).toMatchObject({ boosted: false, lastError: 0 });
      expect(rec.backend.priority()!.boostedMs).toBeGreaterThan(0);
      expect(policy(process.pid)).toBe(SCHED_IDLE);

      // Once JS says alive(), silence counts as behind too (a starved main thread,
      // or a store that does not answer, with no batch waiting): raised, then
      // lowered again once it speaks.
      const { aliveEveryMs, boostAfterMs, boosts: before } = rec.backend.priority()!;
      rec.backend.alive();
      const silentUntil = Date.now() + 3000;
      while (!rec.backend.priority()!.boosted && Date.now() < silentUntil) await new Promise((res) => setTimeout(res, 20));
      expect(rec.backend.priority()).toMatchObject({ boosted: true, boosts: before + 1 });
      expect(Date.now() - (silentUntil - 3000)).toBeGreaterThanOrEqual(aliveEveryMs + boostAfterMs - 50);
      for (let i = 0; i < 100 && rec.backend.priority()!.boosted; i++) {
        rec.backend.alive();
        await new Promise((res) => setTimeout(res, 20));
      }
      expect(rec.backend.priority()!.boosted).toBe(false);
    } finally {
      for (const h of hogs) {
        try {
          process.kill(-h.pid!, 'SIGKILL');
        } catch {
          // the group is gone already
        }
      }
      await rec.stop();
    }
    // Stopped: back to normal priority for good.
    expect(policy(process.pid)).toBe(SCHED_OTHER);
  }, 60_000);
});
