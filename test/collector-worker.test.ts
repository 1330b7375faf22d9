// The embedded collector on a worker thread: real gRPC over a unix socket,
// real SQLite; runs the built module (a worker cannot load TypeScript).
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { EventStore } from '../collector/store/event-store.js';
import { verifyChain } from '../collector/store/verify.js';
import type { SensorEvent } from '../sensor/events/types.js';
import { CollectorClient } from '../sensor/transport/collector-client.js';

const BUILT = resolve(__dirname, '../dist/collector/server/collector-worker.js');

describe('collector on a worker thread', () => {
  it.skipIf(!existsSync(BUILT))('stores and acks what a client sends, then stops cleanly', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'collector-worker-test-'));
    try {
      const { startCollectorWorker } = (await import(BUILT)) as typeof import('../collector/server/collector-worker.js');
      const listen = `unix://${join(dir, 'c.sock')}`;
      const collector = await startCollectorWorker({ listen, stateDir: join(dir, 'state') });
      const client = new CollectorClient({ address: listen, sensorId: 'w', bootId: 'b', logger: pino({ level: 'silent' }) });
      client.start();
      const events: SensorEvent[] = Array.from({ length: 5000 }, (_, i) => ({
        type: 'fork', ts: '', tsNs: String(1_795_000_000_000_000_000n + BigInt(i)), pid: i + 1, tid: i + 1, ppid: 1,
        uid: 0, gid: 0, comm: 'agent', agent: 'a', cgroupId: '1', netns: 1, mntns: 1, startNs: String(i),
      }));
      client.push(events);
      const counters = await client.close(20_000);
      expect(counters).toMatchObject({ acked: 5000, buffered: 0, dropped: 0 });
      await collector.stop();
      const store = EventStore.open({ stateDir: join(dir, 'state'), readonly: true });
      expect(store.status().events).toBe(5000);
      expect(verifyChain(store.database).ok).toBe(true);
      await store.close();
      // A state dir that cannot exist (under a regular file): the start fails, the worker is gone.
      await expect(startCollectorWorker({ listen: `unix://${join(dir, 'd.sock')}`, stateDir: '/etc/hostname/state' })).rejects.toThrow(/ENOTDIR|not a directory/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
