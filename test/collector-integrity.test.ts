// Issue 9, the collector process as a whole: queries off the ingest path
// (item 2), a dead store worker is fatal and says why (9), retention on by
// default and visible in status (10), batches a sensor could not deliver are
// reported by its next run (11). Real gRPC over unix sockets, real SQLite;
// the worker-thread parts need dist/ (workers run compiled JavaScript).
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { CollectorServer } from '../collector/server/collector-server.js';
import { EventStore } from '../collector/store/event-store.js';
import { queryEvents } from '../collector/query/event-query.js';
import { encodeBatch, encodeEvent } from '../proto/codec/batch-encoder.js';
import type { SensorEvent } from '../proto/events/types.js';
import { byteSize, retentionFromOptions } from '../sensor/cli/commands/collector.js';
import { renderStatus } from '../sensor/cli/commands/status.js';
import { CollectorClient } from '../sensor/transport/collector-client.js';
import { collectorStatus, queryCollector } from '../sensor/transport/collector-rpc.js';

const ROOT = resolve(import.meta.dirname, '..');
const DIST = join(ROOT, 'dist');
const quiet = pino({ level: process.env.TEST_LOG ?? 'silent' });
const noDist = !existsSync(join(DIST, 'sensor/cli/commands/collector.js')) ? 'dist/ not built: run `bash scripts/build.sh`' : null;
if (noDist) console.warn(`collector-integrity: skipping the worker-thread tests: ${noDist}`);

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'as-integrity-'));
  dirs.push(d);
  return d;
}

function forks(from: number, count: number): SensorEvent[] {
  return Array.from({ length: count }, (_, i) => ({
    type: 'fork', ts: '', tsNs: String(1_795_000_000_000_000_000n + BigInt(from + i)), pid: from + i, tid: from + i, ppid: 1,
    uid: 0, gid: 0, comm: 'agent', agent: 'a', cgroupId: '1', netns: 1, mntns: 1, startNs: String(from + i),
  })) as SensorEvent[];
}

async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.skipIf(noDist !== null)('a large Query does not hold acks back (item 2)', () => {
  it('a batch sent after a 100k-row Query started is acked before the Query is answered', async () => {
    const { startCollector } = (await import(join(DIST, 'sensor/cli/commands/collector.js'))) as typeof import('../sensor/cli/commands/collector.js');
    const dir = tempDir();
    const address = `unix://${join(dir, 'run', 'c.sock')}`;
    const collector = await startCollector({ listen: address, stateDir: join(dir, 'state'), maxMessageBytes: 16 << 20 }, quiet);
    try {
      const loader = new CollectorClient({ address, sensorId: 'big', bootId: 'b', logger: quiet });
      loader.start();
      for (let i = 0; i < 50; i++) loader.push(forks(i * 2000, 2000));
      expect(await loader.close(120_000)).toMatchObject({ acked: 100_000, buffered: 0 });

      const live = new CollectorClient({ address, sensorId: 'live', bootId: 'b', logger: quiet });
      live.start();
      live.push(forks(1, 1));
      await until(() => live.counters().acked === 1, 'the first live ack');

      let answeredAt = 0;
      const big = queryCollector({ address, timeoutMs: 120_000 }, { limit: 100_000 }).then((rows) => {
        answeredAt = performance.now();
        return rows;
      });
      await new Promise((r) => setTimeout(r, 50)); // the Query is on its way
      live.push(forks(2, 1));
      live.flush();
      await until(() => live.counters().acked === 2 || answeredAt > 0, 'the second live ack', 120_000);
      const ackedAt = performance.now();
      expect(live.counters().acked).toBe(2);
      expect(answeredAt).toBe(0); // the ack did not wait for the Query
      expect((await big).length).toBe(100_000);
      expect(answeredAt).toBeGreaterThan(ackedAt);
      await live.close(5000);
    } finally {
      await collector.stop();
    }
  }, 240_000);
});

describe.skipIf(noDist !== null)('a store worker that dies is fatal, with its cause (item 9)', () => {
  it('reports the worker\'s death (out of memory) to its owner; later commits fail, nothing hangs', async () => {
    const { WorkerStore } = (await import(join(DIST, 'collector/server/store-worker.js'))) as typeof import('../collector/server/store-worker.js');
    const dir = tempDir();
    let death: Error | undefined;
    const store = await WorkerStore.open({ stateDir: join(dir, 'state'), workerHeapMb: 48, onDeath: (err) => (death = err) });
    try {
      // A batch whose decoded events outgrow the worker's heap: decoding it kills the thread.
      const huge = encodeBatch({ sensorId: 's', bootId: 'b', seq: 1n, droppedBefore: 0n }, forks(0, 400_000).map(encodeEvent));
      const outcome = await store.commitEncoded(huge, 1, { sensorId: null, remote: false }).catch((err: Error) => err);
      expect(outcome).toBeInstanceOf(Error);
      await until(() => death !== undefined, 'onDeath');
      expect(death!.message).toMatch(/memory|exited/i);
      await expect(store.commitEncoded(encodeBatch({ sensorId: 's', bootId: 'b', seq: 2n, droppedBefore: 0n }, []), 1,
        { sensorId: null, remote: false })).rejects.toThrow(/store is closed/);
    } finally {
      await store.close();
    }
  }, 120_000);
});

describe('retention is on by default and shows in status (item 10)', () => {
  it('defaults to 30 days and 10 GiB; 0 turns a bound off; sizes read as 500M, 10G', () => {
    expect(retentionFromOptions({})).toEqual({ maxAgeDays: 30, maxBytes: 10 * 1024 ** 3 });
    expect(retentionFromOptions({ retainDays: 0, retainBytes: byteSize('500M') })).toEqual({ maxBytes: 500 * 1024 ** 2 });
    expect(retentionFromOptions({ retainDays: 7, retainBytes: 0 })).toEqual({ maxAgeDays: 7 });
    expect(() => byteSize('lots')).toThrow(/not a size/);
  });

  it('status reports what retention pruned', async () => {
    const dir = tempDir();
    const store = EventStore.open({ stateDir: join(dir, 'state'), hashing: { enabled: false }, retention: { maxBytes: 1 } });
    const server = await CollectorServer.start({ listen: `unix://${join(dir, 'run', 'c.sock')}`, store, logger: quiet });
    try {
      for (let i = 1n; i <= 3n; i++) store.commitBatch({ sensorId: 's', bootId: 'b', seq: i, events: forks(Number(i) * 10, 5) });
      store.pruneNow();
      const status = await collectorStatus({ address: `unix://${join(dir, 'run', 'c.sock')}` });
      expect(status.store).toMatchObject({ pruned_batches: '3', pruned_events: '15', retain_bytes: '1' });
      expect(renderStatus(status)).toMatch(/pruned 3 batches, 15 events/);
    } finally {
      await server.close(200);
      await store.close();
    }
  });
});

describe('batches a sensor could not deliver are reported by its next run (item 11)', () => {
  const stores: EventStore[] = [];
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close();
  });

  it('counts them in its state dir at exit, sends them on the next connection, and the collector shows them', async () => {
    const dir = tempDir();
    const file = join(dir, 'sensor-state', 'sensor-undelivered.json');
    const address = `unix://${join(dir, 'run', 'c.sock')}`;
    // First run: no collector at all; 7 events never acked.
    const first = new CollectorClient({ address, sensorId: 's', bootId: 'run-1', logger: quiet, undeliveredFile: file, backoff: { initialMs: 50, maxMs: 100 } });
    first.start();
    first.push(forks(1, 7));
    expect(await first.close(300)).toMatchObject({ buffered: 7, acked: 0 });
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual([{ bootId: 'run-1', events: 7, batches: 1 }]);

    const store = EventStore.open({ stateDir: join(dir, 'state'), hashing: { enabled: false } });
    stores.push(store);
    const server = await CollectorServer.start({ listen: address, store, logger: quiet, query: (f) => queryEvents(store.database, f) });
    try {
      const second = new CollectorClient({ address, sensorId: 's', bootId: 'run-2', logger: quiet, undeliveredFile: file });
      second.start();
      second.push(forks(100, 2));
      expect(await second.close(10_000)).toMatchObject({ buffered: 0, acked: 2 });
      expect(existsSync(file)).toBe(false); // reported and acked: not sent again
      expect(server.stats().undeliveredReported).toBe(7);
      const status = await collectorStatus({ address });
      expect(status.sensors?.find((x) => x.boot_id === 'run-2')?.undelivered_reported).toBe('7');
      expect(renderStatus(status)).toMatch(/undelivered by earlier runs 7/);
    } finally {
      await server.close(200);
    }
  }, 60_000);

  it('refuses streams past the limit with RESOURCE_EXHAUSTED; the sensor gets in once one closes', async () => {
    const dir = tempDir();
    const address = `unix://${join(dir, 'run', 'c.sock')}`;
    const store = EventStore.open({ stateDir: join(dir, 'state'), hashing: { enabled: false } });
    stores.push(store);
    const server = await CollectorServer.start({ listen: address, store, logger: quiet, maxStreams: 1 });
    try {
      const a = new CollectorClient({ address, sensorId: 'a', bootId: 'b', logger: quiet });
      a.start();
      a.push(forks(1, 1));
      await until(() => a.counters().acked === 1, 'a acked');
      const b = new CollectorClient({ address, sensorId: 'b', bootId: 'b', logger: quiet, backoff: { initialMs: 50, maxMs: 200 } });
      b.start();
      b.push(forks(2, 1));
      await until(() => server.stats().streamsRefused > 0, 'b refused');
      expect(b.counters().acked).toBe(0);
      await a.close(1000);
      expect(await b.close(10_000)).toMatchObject({ acked: 1, buffered: 0 });
    } finally {
      await server.close(200);
    }
  }, 60_000);
});

describe.skipIf(noDist !== null)('`sensor collector` refuses a state dir another collector holds (item 6)', () => {
  it('exits non-zero naming the holder\'s pid; the holder goes on', async () => {
    const { spawn } = await import('node:child_process');
    const dir = tempDir();
    const bin = join(ROOT, 'bin/sensor.js');
    const start = (sock: string) => {
      const child = spawn(process.execPath, [bin, 'collector', '--listen', `unix://${join(dir, sock)}`, '--state-dir', join(dir, 'state')],
        { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr!.on('data', (d) => (err += d));
      return { child, err: () => err, exited: new Promise<number | null>((r) => child.once('exit', (code) => r(code))) };
    };
    const first = start('a.sock');
    try {
      await until(() => first.err().includes('collector listening') || first.child.exitCode !== null, 'the first collector');
      const second = start('b.sock');
      const code = await Promise.race([second.exited, new Promise<string>((r) => setTimeout(() => r('timeout'), 20_000))]);
      if (code === 'timeout') second.child.kill('SIGKILL');
      expect(code).not.toBe('timeout');
      expect(code).not.toBe(0);
      expect(second.err()).toContain(`in use by process ${first.child.pid}`);
      expect(first.child.exitCode).toBeNull();
    } finally {
      first.child.kill('SIGINT');
      await first.exited;
    }
  }, 60_000);
});
