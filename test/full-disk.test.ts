// A full disk under the collector loses nothing: commits fail, nothing is
// acked, the sensor keeps its batches and resends; once there is room again
// every event is stored exactly once and the chain verifies. The disk is a
// tiny tmpfs mounted for the test (root) and grown afterwards.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CollectorServer } from '../collector/server/collector-server.js';
import { EventStore } from '../collector/store/event-store.js';
import { verifyChain } from '../collector/store/verify.js';
import type { SensorEvent } from '../proto/events/types.js';
import { CollectorClient } from '../sensor/transport/collector-client.js';

const skip = process.getuid?.() !== 0 ? 'needs root to mount a tmpfs' : null;
if (skip) console.warn(`full-disk: skipping: ${skip}`);
const quiet = pino({ level: process.env.TEST_LOG ?? 'silent' });

/** Opens with long unique paths, so the store needs far more room than the disk has. */
function opens(from: number, count: number): SensorEvent[] {
  return Array.from({ length: count }, (_, i) => {
    const n = from + i;
    const tsNs = String(1_764_330_035_000_000_000n + BigInt(n));
    return {
      type: 'open', ts: new Date(Number(BigInt(tsNs) / 1_000_000n)).toISOString(), tsNs, pid: 4242, tid: 4242, ppid: 1,
      uid: 0, gid: 0, comm: 'agent', agent: 'full-disk', cgroupId: '1', netns: 1, mntns: 1,
      path: `/home/user/project/${'deep/'.repeat(30)}file-${n}`, flags: 0, mode: 0, access: 'read', result: 3, syscall: 'openat',
    } as SensorEvent;
  });
}

describe.skipIf(skip !== null)('collector on a full disk', () => {
  let dir: string;
  let disk: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'as-full-'));
    disk = join(dir, 'disk');
    mkdirSync(disk);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', disk]);
  });

  afterAll(() => {
    try {
      execFileSync('umount', ['-l', disk]);
    } catch {
      // already gone
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('acks nothing it could not commit, and stores everything once there is room', async () => {
    const store = EventStore.open({ stateDir: join(disk, 'state'), hashing: { enabled: false } });
    const server = await CollectorServer.start({ listen: `unix://${join(dir, 'collector.sock')}`, store, logger: quiet });
    const client = new CollectorClient({
      address: `unix://${join(dir, 'collector.sock')}`, sensorId: 'disk', bootId: 'boot-disk', logger: quiet,
      maxBatchEvents: 500, backoff: { initialMs: 20, maxMs: 200 },
    });
    client.start();
    const total = 20_000;
    for (let i = 0; i < total; i += 1000) client.push(opens(i, 1000));

    // The disk fills: some batches stay unacked, and the sensor holds them.
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && client.counters().acked + client.counters().buffered < total) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 500));
    const stuck = client.counters();
    expect(stuck.acked).toBeLessThan(total);
    expect(stuck.buffered).toBeGreaterThan(0);
    expect(stuck.dropped).toBe(0);
    expect(store.status().events).toBe(stuck.acked); // acked == committed, nothing more

    execFileSync('mount', ['-o', 'remount,size=256m', disk]); // room again
    const done = await client.close(30_000);
    expect(done).toMatchObject({ acked: total, dropped: 0, buffered: 0 });
    expect(store.status().events).toBe(total);
    expect(verifyChain(store.database).ok).toBe(true);
    await server.close(500);
    await store.close();
  });
});
