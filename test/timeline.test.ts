// `sensor timeline` from a real SQLite store, no kernel: an instance is its
// root and the processes forked under it (by the process table, with or
// without agentPid tags), in time order, with the process tree, hashes,
// credential reads, host names, alerts (old `alerts` rows or the engine's
// `alert_chain`) and containment actions; other processes stay out; hostile
// path bytes are escaped in the text.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildTimeline, renderTimeline } from '../collector/query/timeline.js';
import { storedAgentRoots } from '../collector/query/instance-events.js';
import { EventStore } from '../collector/store/event-store.js';
import { recordResponse } from '../collector/store/response-log.js';
import type { SensorEvent } from '../proto/events/types.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const T0 = 1_795_000_000_000_000_000n;
let tick = 0n;
function base(type: SensorEvent['type'], pid: number, ppid: number, agentPid?: number) {
  const tsNs = T0 + tick++ * 1_000_000n;
  return {
    type, ts: new Date(Number(tsNs / 1_000_000n)).toISOString(), tsNs: tsNs.toString(), pid, tid: pid, ppid, uid: 1000, gid: 1000,
    comm: 'agent', agent: 'tl-agent', ...(agentPid !== undefined ? { agentPid } : {}), cgroupId: '1', netns: 1, mntns: 1,
  };
}

function scripted(tagged: boolean): SensorEvent[] {
  const ap = tagged ? 100 : undefined;
  return [
    { ...base('exec', 100, 1, ap), type: 'exec', filename: '/usr/bin/agent', argv: ['agent', '--go'], startNs: '1000' },
    { ...base('open', 100, 1, ap), type: 'open', path: '/home/u/.aws/credentials', flags: 0, mode: 0, access: 'read', result: 3, syscall: 'openat' },
    { ...base('fork', 101, 100, ap), type: 'fork', startNs: '2000' },
    { ...base('exec', 101, 100, ap), type: 'exec', filename: '/tmp/payload.sh', argv: ['/tmp/payload.sh'], startNs: '2000' },
    { ...base('connect', 101, 100, ap), type: 'connect', family: 'inet', proto: 'tcp', addr: '203.0.113.9', port: 443, result: -1, host: 'exfil.example' },
    { ...base('open', 101, 100, ap), type: 'open', path: '/tmp/evil\nname', flags: 0o101, mode: 0o644, access: 'write', result: 4, syscall: 'openat' },
    { ...base('rename', 101, 100, ap), type: 'rename', path: '/tmp/a', newpath: '/tmp/b', flags: 0, result: 0 },
    { ...base('unlink', 101, 100, ap), type: 'unlink', path: '/tmp/b', rmdir: false, result: 0 },
    { ...base('exit', 101, 100, ap), type: 'exit', code: 0, signal: null },
    // not of the instance: another tree
    { ...base('exec', 200, 1), type: 'exec', filename: '/usr/bin/other', argv: ['other'], startNs: '1500' },
    { ...base('connect', 200, 1), type: 'connect', family: 'inet', proto: 'tcp', addr: '198.51.100.1', port: 80, result: 0 },
  ] as SensorEvent[];
}

function storeWith(events: SensorEvent[]): { store: EventStore; stateDir: string } {
  const stateDir = join(mkdtempSync(join(tmpdir(), 'timeline-test-')), 'state');
  dirs.push(join(stateDir, '..'));
  const store = EventStore.open({ stateDir, hashing: { enabled: false } });
  store.commitBatch({ sensorId: 's', bootId: 'b', seq: 1n, events });
  return { store, stateDir };
}

describe.each([['tagged with agentPid', true], ['untagged (older rows): by the process table', false]])('timeline, events %s', (_name, tagged) => {
  it('is the instance\'s chronology with its tree, and nothing of other processes', async () => {
    const { store } = storeWith(scripted(tagged));
    try {
      const t = buildTimeline(store.database, { rootPid: 100 });
      expect(t.agent).toBe('tl-agent');
      expect(t.entries.map((e) => e.kind)).toEqual(['exec', 'read', 'fork', 'exec', 'connect', 'write', 'rename', 'delete', 'exit']);
      expect(t.entries.every((e) => e.pid === 100 || e.pid === 101)).toBe(true);
      expect(t.entries[1]!.sensitive).toBe('aws-credentials');
      expect(t.entries[4]!.text).toBe('connect tcp 203.0.113.9:443 (exfil.example) REFUSED (EPERM: isolated?)');
      expect(t.tree).toMatchObject({ pid: 100, argv: ['agent', '--go'], children: [{ pid: 101, argv: ['/tmp/payload.sh'], exit: 'code 0' }] });
      const text = renderTimeline(t);
      expect(text).toContain('write /tmp/evil\\x0aname');
      expect(text).not.toContain('evil\nname');
      expect(text).toMatch(/└─ 101 \/tmp\/payload\.sh {2}\[code 0\]/);
      expect(storedAgentRoots(store.database, 'tl-agent')).toEqual([100, 200]);
    } finally {
      await store.close();
    }
  });
});

describe('timeline extras', () => {
  it('bounds by --since/--until and shows alerts (alerts table) and containment actions', async () => {
    tick = 0n;
    const { store, stateDir } = storeWith(scripted(true));
    try {
      const db = store.database;
      const connectId = (db.prepare(`SELECT id FROM events WHERE type = 5 AND pid = 101`).get() as { id: number }).id;
      db.prepare(`INSERT INTO alerts (ts_ns, agent_id, rule, severity, event_id, details) VALUES (?, 1, 'new_destination', 'high', ?, 'first visit')`)
        .run(T0 + 4_500_000n, connectId);
      recordResponse(stateDir, { action: 'isolate', agent: 'tl-agent', rootPid: 100, actor: 'tester', reason: 'drill', details: {} });
      const t = buildTimeline(db, { rootPid: 100 });
      expect(t.entries.find((e) => e.kind === 'alert')?.text).toBe('ALERT high new_destination: first visit');
      expect(t.entries.at(-1)).toMatchObject({ kind: 'response', text: 'RESPONSE isolate by tester: drill' });
      const window = buildTimeline(db, { rootPid: 100, sinceNs: T0 + 2_000_000n, untilNs: T0 + 5_000_000n });
      expect(window.entries.filter((e) => e.event).map((e) => e.kind)).toEqual(['fork', 'exec', 'connect']);
    } finally {
      await store.close();
    }
  });

  it('reads the alerts engine\'s alert_chain, repeats counted, by agentPid', async () => {
    const { store } = storeWith(scripted(true));
    try {
      const db = store.database;
      db.exec(`CREATE TABLE alert_chain (id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, alert_id INTEGER, ts_ns INTEGER NOT NULL,
        sensor_id TEXT, agent TEXT NOT NULL, agent_pid INTEGER, pid INTEGER, rule TEXT, severity TEXT, subject TEXT, summary TEXT,
        evidence TEXT, baseline TEXT, count INTEGER NOT NULL, batch_id INTEGER, batch_hash BLOB, created_at INTEGER NOT NULL,
        prev_hash BLOB NOT NULL, hash BLOB NOT NULL)`);
      const ins = db.prepare(`INSERT INTO alert_chain (kind, alert_id, ts_ns, agent, agent_pid, rule, severity, summary, evidence, count, created_at, prev_hash, hash)
        VALUES (?, ?, ?, 'tl-agent', ?, ?, ?, ?, ?, ?, 0, x'', x'')`);
      ins.run('alert', null, T0 + 4_000_000n, 100, 'mass_read', 'critical', 'read 900 files', '[5]', 1);
      ins.run('repeat', 1, T0 + 5_000_000n, 100, null, null, null, null, 4);
      ins.run('alert', null, T0, 200, 'other', 'low', 'not ours', '[]', 1);
      const alerts = buildTimeline(db, { rootPid: 100 }).entries.filter((e) => e.kind === 'alert');
      expect(alerts.map((a) => a.text)).toEqual(['ALERT critical mass_read: read 900 files']);
      expect(alerts[0]!.alert!.raw.total).toBe(5);
    } finally {
      await store.close();
    }
  });
});
