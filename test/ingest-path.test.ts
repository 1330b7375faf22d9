// The store's fast ingest paths against their plain references: the
// canonical writer's per-event form against the generic field loop (the
// bytes the hash chain covers), and hash jobs coalesced per path of a batch.
import { afterEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canonicalEventBytes, canonicalEventBytesGeneric } from '../collector/store/canonical.js';
import { toColumns } from '../collector/store/event-rows.js';
import { EventStore } from '../collector/store/event-store.js';
import { verifyChain } from '../collector/store/verify.js';
import { queryEvents } from '../collector/query/event-query.js';
import { THIS_PROCESS } from './helpers/origin.js';
import type { SensorEvent } from '../proto/events/types.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const base = {
  ts: '', tsNs: '1764331234123456789', pid: 1, tid: 2, ppid: 3, uid: 1000, gid: 1000, comm: 'x', agent: 'ä-agent',
  cgroupId: '18446744073709551615', netns: 4026531840, mntns: 7,
} as const;

const EVENTS: SensorEvent[] = [
  { ...base, type: 'open', path: `/a/${'p'.repeat(100)}`, rawPath: { b64: '/w==' }, flags: 0o101, mode: 0o644,
    access: 'write', result: -13, syscall: 'openat2', truncated: true },
  { ...base, type: 'exec', filename: '/bin/x', argv: ['a', '', { b64: 'gA==' }], startNs: '99999999999999999', exe: '/bin/x', cwd: '/' },
  { ...base, type: 'exit', code: null, signal: 9, agent: null },
  { ...base, type: 'connect', family: 'inet6', proto: 'udp', addr: '::1', port: 53, result: -115, datagram: true, host: 'h' },
  { ...base, type: 'dns', qname: 'a.b', qtype: 'AAAA', addr: '1.1.1.1', port: 53 },
  { ...base, type: 'fork', startNs: '5', pid: 2 ** 31 + 5 },
  { ...base, type: 'unlink', path: '/t', rmdir: true, result: 0 },
  { ...base, type: 'rename', path: '/t', newpath: '/u', flags: 1, result: 0 },
  { ...base, type: 'link', path: '/t', newpath: '/u', symbolic: true, result: -17 },
];

describe('ingest fast paths', () => {
  it('writes the same canonical bytes per event as the generic field loop', () => {
    for (const e of EVENTS) {
      const c = toColumns(e);
      expect(canonicalEventBytes(c).equals(canonicalEventBytesGeneric(c)), e.type).toBe(true);
    }
  });

  it('hashes a file opened many times in one batch once and links every event to it', async () => {
    const d = mkdtempSync(join(tmpdir(), 'ingest-path-test-'));
    dirs.push(d);
    const file = join(d, 'read-often');
    writeFileSync(file, 'same content');
    const s = EventStore.open({ stateDir: join(d, 'state') });
    try {
      const opens: SensorEvent[] = Array.from({ length: 50 }, (_, i) => ({
        ...base, ...THIS_PROCESS, uid: 0, gid: 0, tsNs: String(1_795_000_000_000_000_000n + BigInt(i)), type: 'open', path: file, flags: 0, mode: 0,
        access: 'read', result: 3, syscall: 'openat',
      }));
      const r = s.commitBatch({ sensorId: 's', bootId: 'b', seq: 1n, events: opens });
      await s.hashIdle();
      const want = createHash('sha256').update('same content').digest('hex');
      const byId = new Map(queryEvents(s.database, { limit: 1000 }).map((row) => [row.id, row.event]));
      expect(r.eventIds.map((id) => (byId.get(id) as { sha256?: string }).sha256)).toEqual(opens.map(() => want));
      expect(s.status()).toMatchObject({ hashed: 1, hashCacheHits: 0, hashDropped: 0 });
      expect(verifyChain(s.database).ok).toBe(true);
    } finally {
      await s.close();
    }
  });
});
