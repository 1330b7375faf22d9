// agentPid in the store: a column on events, under the hash chain, in
// `sensor query --json` and filtered by `--agent-pid`. Stores written before
// the column must still verify, and an agentPid set or cleared afterwards
// must break the chain. Real SQLite in temp dirs.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Command } from 'commander';
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canonicalBatchBytes, CANON_VERSION, CANON_VERSION_AGENT_PID } from '../collector/store/canonical.js';
import { toColumns } from '../collector/store/event-rows.js';
import { EventStore } from '../collector/store/event-store.js';
import { DB_FILE_NAME } from '../collector/store/schema.js';
import { verifyChain } from '../collector/store/verify.js';
import { queryEvents } from '../collector/query/event-query.js';
import { register as registerQuery } from '../sensor/cli/commands/query.js';
import type { SensorEvent } from '../proto/events/types.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const tempState = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'agent-pid-store-'));
  dirs.push(d);
  return join(d, 'state');
};

let clock = 1_795_000_000_000_000_000n;
function ev(pid: number, agentPid: number | undefined, path: string): SensorEvent {
  clock += 1000n;
  return {
    type: 'open', ts: '', tsNs: clock.toString(), pid, tid: pid, ppid: 1, uid: 0, gid: 0, comm: 'agent',
    agent: agentPid === undefined ? null : 'launched', ...(agentPid === undefined ? {} : { agentPid }),
    cgroupId: '7', netns: 1, mntns: 1, path, flags: 0, mode: 0, access: 'read', result: 3, syscall: 'openat',
  };
}

const canonicalVersionOf = (events: SensorEvent[]): string => {
  const bytes = canonicalBatchBytes(
    { id: 1n, sensorId: 's', bootId: 'b', seq: 1n, receivedAt: 0n, eventCount: BigInt(events.length), firstEventId: 1n,
      rowsHeadId: 0n, rowsHeadLink: Buffer.alloc(0) },
    events.map((e, i) => ({ id: BigInt(i + 1), batchId: 1n, columns: toColumns(e) })),
  );
  return bytes.subarray(5, 5 + bytes.readUInt32BE(1)).toString('utf8');
};

async function queryCli(stateDir: string, ...args: string[]): Promise<Record<string, unknown>[]> {
  const program = new Command('sensor').exitOverride();
  registerQuery(program);
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
    return true;
  });
  try {
    await program.parseAsync(['node', 'sensor', 'query', '--state-dir', stateDir, '--json', ...args]);
  } finally {
    spy.mockRestore();
  }
  return out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('agentPid in the store', () => {
  it('is stored, returned as agentPid, filtered by --agent-pid, and verify passes', async () => {
    const stateDir = tempState();
    const s = EventStore.open({ stateDir, hashing: { enabled: false } });
    s.commitBatch({ sensorId: 's', bootId: 'b', seq: 1n, events: [ev(100, 100, '/a'), ev(101, 100, '/b'), ev(200, 200, '/c'), ev(300, undefined, '/d')] });
    s.commitBatch({ sensorId: 's', bootId: 'b', seq: 2n, events: [ev(102, 100, '/e')] });
    expect(verifyChain(s.database)).toMatchObject({ ok: true, batches: 2, events: 5 });
    await s.close();

    const instance = await queryCli(stateDir, '--agent-pid', '100');
    expect(instance.map((e) => [e.pid, e.agentPid, e.path])).toEqual([[100, 100, '/a'], [101, 100, '/b'], [102, 100, '/e']]);
    const all = await queryCli(stateDir);
    expect(all.find((e) => e.path === '/d')).not.toHaveProperty('agentPid');
    expect(all.find((e) => e.path === '/c')).toMatchObject({ agentPid: 200, agent: 'launched' });
    expect(await queryCli(stateDir, '--agent-pid', '999')).toEqual([]);
  });

  it('keeps the v1 canonical bytes for a batch without any agentPid', () => {
    expect(canonicalVersionOf([ev(1, undefined, '/x'), ev(2, undefined, '/y')])).toBe(CANON_VERSION);
    expect(canonicalVersionOf([ev(1, undefined, '/x'), ev(2, 2, '/y')])).toBe(CANON_VERSION_AGENT_PID);
  });

  it('breaks the chain when an agentPid is changed, set on an older row, or cleared', () => {
    const stateDir = tempState();
    const s = EventStore.open({ stateDir, hashing: { enabled: false } });
    s.commitBatch({ sensorId: 's', bootId: 'b', seq: 1n, events: [ev(1, undefined, '/no-agent')] });
    s.commitBatch({ sensorId: 's', bootId: 'b', seq: 2n, events: [ev(5, 5, '/mine'), ev(6, 5, '/child')] });
    const db = s.database;
    const tamper = (sql: string, check: (r: ReturnType<typeof verifyChain>) => void) => {
      db.exec('SAVEPOINT t');
      db.exec(sql);
      check(verifyChain(db));
      db.exec('ROLLBACK TO t');
      db.exec('RELEASE t');
    };
    tamper('UPDATE events SET agent_pid = 6 WHERE pid = 6', (r) => expect(r.firstBad).toMatchObject({ batchId: 2n, problem: 'altered' }));
    tamper('UPDATE events SET agent_pid = 1 WHERE pid = 1', (r) => expect(r.firstBad).toMatchObject({ batchId: 1n, problem: 'altered' }));
    tamper('UPDATE events SET agent_pid = NULL WHERE batch_id = 2', (r) => expect(r.firstBad).toMatchObject({ batchId: 2n, problem: 'altered' }));
    expect(verifyChain(db).ok).toBe(true);
    void s.close();
  });

  it('opens a store made before the column: it verifies, gains the column and index, and goes on', async () => {
    const stateDir = tempState();
    const s = EventStore.open({ stateDir, hashing: { enabled: false } });
    s.commitBatch({ sensorId: 's', bootId: 'b', seq: 1n, events: [ev(1, undefined, '/old'), ev(2, undefined, '/older')] });
    await s.close();
    // Make it what an older version wrote: no agent_pid column, no index.
    const raw = new Database(join(stateDir, DB_FILE_NAME));
    raw.exec('DROP INDEX events_agent_pid; ALTER TABLE events DROP COLUMN agent_pid;');
    raw.close();

    const old = EventStore.open({ stateDir, readonly: true });
    expect(verifyChain(old.database)).toMatchObject({ ok: true, batches: 1 });
    expect(queryEvents(old.database, { agentPid: 1, limit: 10 })).toEqual([]);
    await old.close();

    const reopened = EventStore.open({ stateDir, hashing: { enabled: false } });
    const idx = reopened.database.prepare(`SELECT name FROM pragma_index_list('events') WHERE name = 'events_agent_pid'`).all();
    expect(idx).toHaveLength(1);
    reopened.commitBatch({ sensorId: 's', bootId: 'b', seq: 2n, events: [ev(9, 9, '/new')] });
    expect(verifyChain(reopened.database)).toMatchObject({ ok: true, batches: 2, events: 3 });
    expect(queryEvents(reopened.database, { agentPid: 9, limit: 10 }).map((r) => r.event.pid)).toEqual([9]);
    const plan = reopened.database.prepare('EXPLAIN QUERY PLAN SELECT * FROM events WHERE agent_pid = 9').all() as { detail: string }[];
    expect(plan.map((p) => p.detail).join(' ')).toMatch(/events_agent_pid/);
    await reopened.close();
  });
});
