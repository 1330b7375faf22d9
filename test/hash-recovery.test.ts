// Hash jobs are kept in memory: a collector that dies between committing a
// batch and hashing its reads must hash them when it starts again.
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { queryEvents } from '../collector/query/event-query.js';
import { EventStore } from '../collector/store/event-store.js';
import { THIS_PROCESS } from './helpers/origin.js';
import type { SensorEvent } from '../proto/events/types.js';

describe('hashes owed at restart', () => {
  const dir = mkdtempSync(join(tmpdir(), 'as-rehash-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads committed but never hashed are hashed when the store opens again', async () => {
    const file = join(dir, 'secret.txt');
    writeFileSync(file, 'owed a hash\n');
    const open = (n: number): SensorEvent => ({
      type: 'open', ts: '2026-11-28T12:00:00.000000000Z', tsNs: String(1_795_867_200_000_000_000n + BigInt(n)),
      ...THIS_PROCESS, ppid: 1, uid: 0, gid: 0, comm: 'agent', agent: 'a', cgroupId: '1', netns: 1,
      path: file, flags: 0, mode: 0, access: 'read', result: 3, syscall: 'openat',
    });
    // As if the collector died right after the commit: no hashing ran.
    const first = EventStore.open({ stateDir: join(dir, 'state'), hashing: { enabled: false } });
    first.commitBatch({ sensorId: 's', bootId: 'b', seq: 1n, events: [open(1), open(2)] });
    await first.close();

    const again = EventStore.open({ stateDir: join(dir, 'state') });
    await again.hashIdle();
    const opens = queryEvents(again.database, { types: ['open'], limit: 10 }).map((r) => r.event as { sha256?: string });
    expect(opens).toHaveLength(2);
    const want = createHash('sha256').update('owed a hash\n').digest('hex');
    for (const e of opens) expect(e.sha256).toBe(want);
    await again.close();
  });
});
