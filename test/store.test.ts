// The collector's SQLite store on real SQLite in temp dirs: round trip,
// idempotent batches, the hash chain against edits made with the sqlite3
// CLI, retention, file modes and the bytes each event costs on disk.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { EventStore } from '../collector/store/event-store.js';
import { verifyChain } from '../collector/store/verify.js';
import { queryEvents } from '../collector/query/event-query.js';
import type { SensorEvent } from '../proto/events/types.js';

const dirs: string[] = [];
const stores: EventStore[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function openStore(opts: Partial<Parameters<typeof EventStore.open>[0]> = {}): EventStore {
  const stateDir = join(mkdtempSync(join(tmpdir(), 'store-test-')), 'state');
  dirs.push(join(stateDir, '..'));
  const s = EventStore.open({ stateDir, hashing: { enabled: false }, ...opts });
  stores.push(s);
  return s;
}

const T0 = 1_795_000_000_000_000_000n;
let tick = 0n;
function base(type: SensorEvent['type'], pid = 4242) {
  const tsNs = T0 + tick++ * 1_000n;
  return {
    type, ts: '', tsNs: tsNs.toString(), pid, tid: pid, ppid: 1, uid: 1000, gid: 1000, comm: 'claude',
    agent: 'claude-code', agentPid: 4000, cgroupId: '18446744073709551000', netns: 4026531840, mntns: 4026531841,
  };
}
const NON_UTF8 = { b64: Buffer.from([0x2f, 0x74, 0x6d, 0x70, 0x2f, 0xff, 0xfe, 0x41]).toString('base64') }; // "/tmp/\xff\xfeA"

function allTypes(): SensorEvent[] {
  return [
    { ...base('exec'), type: 'exec', filename: '/usr/bin/git', argv: ['git', 'status', '', NON_UTF8], startNs: '123456789', exe: '/usr/bin/git', cwd: '/home/u' },
    { ...base('fork'), type: 'fork', startNs: '123456999' },
    { ...base('open'), type: 'open', path: NON_UTF8, rawPath: 'x/../\xff', flags: 0o2000000, mode: 0, access: 'read', result: 3, syscall: 'openat' },
    { ...base('open'), type: 'open', path: '/etc/hosts', flags: 0o101, mode: 0o644, access: 'write', result: -13, syscall: 'openat2', truncated: true },
    { ...base('connect'), type: 'connect', family: 'inet6', proto: 'tcp', addr: '2001:db8::1', port: 443, result: -115, host: 'example.com' },
    { ...base('connect'), type: 'connect', family: 'unix', proto: 'unix', addr: '@abstract', port: 0, result: 0, datagram: true },
    { ...base('unlink'), type: 'unlink', path: '/tmp/d', rmdir: true, result: 0 },
    { ...base('rename'), type: 'rename', path: '/tmp/a', newpath: NON_UTF8, flags: 1, result: 0 },
    { ...base('link'), type: 'link', path: 'target', newpath: '/tmp/l', symbolic: true, result: 0 },
    { ...base('dns'), type: 'dns', qname: 'api.anthropic.com', qtype: 'AAAA', addr: '127.0.0.53', port: 53 },
    { ...base('exit'), type: 'exit', code: null, signal: 9 },
  ] as SensorEvent[];
}

const withoutTs = (e: SensorEvent) => ({ ...e, ts: undefined });

function sqlite(db: string, sql: string): string {
  return execFileSync('sqlite3', [db, sql], { encoding: 'utf8' });
}

describe('EventStore', () => {
  it('round-trips every event type, non-UTF-8 bytes included', () => {
    const s = openStore();
    const events = allTypes();
    const r = s.commitBatch({ sensorId: 'host-a', bootId: 'boot-1', seq: 1n, events });
    expect(r.duplicate).toBe(false);
    expect(r.eventIds).toHaveLength(events.length);
    const rows = queryEvents(s.database, { limit: 100 });
    expect(rows.map((x) => withoutTs(x.event))).toEqual(events.map(withoutTs));
    expect(rows[0]!.event.ts).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
    expect(rows.every((x) => x.sensorId === 'host-a')).toBe(true);
    expect(rows.map((x) => x.id)).toEqual(r.eventIds);
    // the raw bytes are what is stored
    const hex = sqlite(s.path, `SELECT hex(bytes) FROM strings WHERE bytes = x'2f746d702ffffe41'`).trim();
    expect(hex).toBe('2F746D702FFFFE41');
    // processes are filled from fork and exec
    const procs = sqlite(s.path, 'SELECT pid, start_ns, exit_signal FROM processes ORDER BY start_ns').trim();
    expect(procs).toBe('4242|123456789|\n4242|123456999|9');
  });

  it('commits a batch once: a re-sent (sensor, boot, seq) is a duplicate', () => {
    const s = openStore();
    const events = allTypes().slice(0, 3);
    const first = s.commitBatch({ sensorId: 'h', bootId: 'b', seq: 7n, events });
    const again = s.commitBatch({ sensorId: 'h', bootId: 'b', seq: 7n, events });
    expect(again).toEqual({ duplicate: true, eventIds: first.eventIds });
    expect(s.status()).toMatchObject({ batches: 1, events: 3 });
    expect(s.lastSeq('h', 'b')).toBe(7n);
    expect(s.lastSeq('h', 'other')).toBeNull();
    expect(Number(sqlite(s.path, 'SELECT count(*) FROM events'))).toBe(3);
  });

  it('keeps the chain across reopen and verifies it', async () => {
    const s = openStore();
    const dir = join(s.path, '..');
    for (let i = 1n; i <= 5n; i++) s.commitBatch({ sensorId: 'h', bootId: 'b', seq: i, events: allTypes() });
    await s.close();
    stores.pop();
    const again = EventStore.open({ stateDir: dir, hashing: { enabled: false } });
    stores.push(again);
    again.commitBatch({ sensorId: 'h', bootId: 'b', seq: 6n, events: [] });
    const v = verifyChain(again.database);
    expect(v).toMatchObject({ ok: true, batches: 6, events: 55 });
    expect(again.status()).toMatchObject({ batches: 6, events: 55 });
  });

  it('names the batch whose stored row was edited with the sqlite3 CLI', async () => {
    const s = openStore();
    for (let i = 1n; i <= 4n; i++) s.commitBatch({ sensorId: 'h', bootId: 'b', seq: i, events: allTypes() });
    const victim = sqlite(s.path, 'SELECT batch_id FROM events WHERE id = 25').trim(); // in batch 3
    sqlite(s.path, 'UPDATE events SET pid = 1 WHERE id = 25');
    const v = verifyChain(s.database);
    expect(v.ok).toBe(false);
    expect(v.firstBad).toMatchObject({ batchId: BigInt(victim), seq: 3n, sensorId: 'h', problem: 'altered' });
  });

  it('detects an edited interned string (a path) in the batches using it', () => {
    const s = openStore();
    s.commitBatch({ sensorId: 'h', bootId: 'b', seq: 1n, events: allTypes().slice(0, 1) });
    s.commitBatch({ sensorId: 'h', bootId: 'b', seq: 2n, events: allTypes().slice(6, 7) });
    sqlite(s.path, `UPDATE strings SET bytes = CAST('/tmp/e' AS BLOB) WHERE bytes = CAST('/tmp/d' AS BLOB)`);
    expect(verifyChain(s.database).firstBad).toMatchObject({ seq: 2n, problem: 'altered' });
  });

  it('names a deleted batch row, and a deleted last batch', () => {
    const s = openStore();
    for (let i = 1n; i <= 4n; i++) s.commitBatch({ sensorId: 'h', bootId: 'b', seq: i, events: allTypes() });
    sqlite(s.path, 'DELETE FROM batches WHERE seq = 4');
    expect(verifyChain(s.database).firstBad).toMatchObject({ batchId: 4n, problem: 'truncated' });
    sqlite(s.path, 'DELETE FROM batches WHERE seq = 2');
    const v = verifyChain(s.database);
    expect(v.firstBad).toMatchObject({ batchId: 2n, problem: 'deleted' });
    expect(v.firstBad!.detail).toContain('missing before batch 3');
  });

  it('names the batch that lost an event row, and extra rows outside every batch', () => {
    const s = openStore();
    for (let i = 1n; i <= 3n; i++) s.commitBatch({ sensorId: 'h', bootId: 'b', seq: i, events: allTypes() });
    sqlite(s.path, 'INSERT INTO events SELECT 1000, batch_id, type, ts_ns, pid, tid, ppid, uid, gid, comm_sid, agent_id, cgroup, netns, mntns, bits, path_sid, newpath_sid, flags, mode, access, syscall, result, family, proto, addr_sid, port, host_sid, code, signal, qname_sid, qtype_sid, start_ns, exe_sid, cwd_sid, argv, agent_pid FROM events WHERE id = 5');
    expect(verifyChain(s.database).firstBad).toMatchObject({ batchId: 1n, seq: 1n, problem: 'extra-events' });
    sqlite(s.path, 'DELETE FROM events WHERE id = 1000; DELETE FROM events WHERE id = 13');
    expect(verifyChain(s.database).firstBad).toMatchObject({ batchId: 2n, seq: 2n, problem: 'altered' });
  });

  it('detects reordered batches', () => {
    const s = openStore();
    for (let i = 1n; i <= 3n; i++) s.commitBatch({ sensorId: 'h', bootId: 'b', seq: i, events: allTypes() });
    sqlite(s.path, 'UPDATE batches SET id = 100 WHERE id = 2; UPDATE batches SET id = 2 WHERE id = 3; UPDATE batches SET id = 3 WHERE id = 100;');
    expect(verifyChain(s.database).firstBad).toMatchObject({ batchId: 2n, seq: 3n, problem: 'reordered' });
  });

  it('prunes by age in chunks and the chain still verifies from its anchor', () => {
    const s = openStore({ retention: { maxAgeDays: 1 } });
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(Date.now() - 2 * 86_400_000); // the first 70 batches arrive two days ago
      for (let i = 1n; i <= 70n; i++) s.commitBatch({ sensorId: 'h', bootId: 'b', seq: i, events: allTypes() });
    } finally {
      vi.useRealTimers();
    }
    for (let i = 71n; i <= 100n; i++) s.commitBatch({ sensorId: 'h', bootId: 'b', seq: i, events: allTypes() });
    const pruned = s.pruneNow();
    expect(pruned).toMatchObject({ batches: 70, events: 770 });
    expect(s.status()).toMatchObject({ batches: 30, events: 330, prunedBatches: 70 });
    const v = verifyChain(s.database);
    expect(v).toMatchObject({ ok: true, batches: 30, anchorBatchId: 70n, prunedBatches: 70 });
    s.commitBatch({ sensorId: 'h', bootId: 'b', seq: 101n, events: allTypes() });
    expect(verifyChain(s.database)).toMatchObject({ ok: true, batches: 31 });
  });

  it('sweeps strings, processes and files only pruned batches used', async () => {
    const s = openStore({ retention: { maxAgeDays: 1 }, hashing: {} });
    const old = allTypes().map((e) => (e.type === 'open' ? { ...e, path: '/tmp/only-old', result: 3, access: 'read' } : e)) as SensorEvent[];
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(Date.now() - 2 * 86_400_000);
      s.commitBatch({ sensorId: 'h', bootId: 'b', seq: 1n, events: old });
    } finally {
      vi.useRealTimers();
    }
    await s.hashIdle();
    s.commitBatch({ sensorId: 'h', bootId: 'b', seq: 2n, events: allTypes().filter((e) => e.type === 'dns') });
    const count = (sql: string) => Number(sqlite(s.path, sql).trim());
    expect(count(`SELECT count(*) FROM strings WHERE bytes = CAST('/tmp/only-old' AS BLOB)`)).toBe(1);
    expect(count('SELECT count(*) FROM processes')).toBe(2);
    expect(count('SELECT count(*) FROM files')).toBe(1);
    const r = s.pruneNow();
    expect(r).toMatchObject({ batches: 1, events: 11 });
    expect(r.swept).toBeGreaterThan(5);
    expect(count(`SELECT count(*) FROM strings WHERE bytes = CAST('/tmp/only-old' AS BLOB)`)).toBe(0);
    expect(count(`SELECT count(*) FROM strings WHERE bytes = CAST('api.anthropic.com' AS BLOB)`)).toBe(1);
    expect(count('SELECT count(*) FROM processes')).toBe(0);
    expect(count('SELECT count(*) FROM files')).toBe(0);
    // the writer's cache forgot the swept ids: the old strings come back as new rows
    s.commitBatch({ sensorId: 'h', bootId: 'b', seq: 3n, events: allTypes() });
    expect(verifyChain(s.database)).toMatchObject({ ok: true, batches: 2 });
    expect(queryEvents(s.database, { limit: 100 }).map((x) => x.event.comm)).toEqual(Array(12).fill('claude'));
  });

  it('prunes on its timer without being asked', async () => {
    const s = openStore({ retention: { maxAgeDays: 0, intervalMs: 20 } });
    for (let i = 1n; i <= 5n; i++) s.commitBatch({ sensorId: 'h', bootId: 'b', seq: i, events: allTypes() });
    for (let i = 0; i < 250 && s.status().batches > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(s.status()).toMatchObject({ batches: 0, events: 0, prunedBatches: 5 });
    expect(verifyChain(s.database)).toMatchObject({ ok: true, batches: 0, anchorBatchId: 5n });
    s.commitBatch({ sensorId: 'h', bootId: 'b', seq: 6n, events: allTypes() });
    expect(verifyChain(s.database)).toMatchObject({ ok: true });
  });

  it('verifies while another connection keeps committing', () => {
    const s = openStore();
    const reader = EventStore.open({ stateDir: join(s.path, '..'), readonly: true });
    stores.push(reader);
    for (let i = 1n; i <= 50n; i++) {
      s.commitBatch({ sensorId: 'h', bootId: 'b', seq: i, events: allTypes() });
      if (i % 10n === 0n) expect(verifyChain(reader.database)).toMatchObject({ ok: true, batches: Number(i) });
    }
  });

  it('prunes by size until under the cap, verify passes', () => {
    const s = openStore({ retention: { maxBytes: 400_000 } });
    for (let i = 1n; i <= 300n; i++) s.commitBatch({ sensorId: 'h', bootId: 'b', seq: i, events: allTypes() });
    const before = s.status();
    expect(before.usedBytes).toBeGreaterThan(400_000);
    const pruned = s.pruneNow();
    expect(pruned.batches).toBeGreaterThan(0);
    expect(s.status().usedBytes).toBeLessThanOrEqual(400_000);
    expect(verifyChain(s.database)).toMatchObject({ ok: true, batches: 300 - pruned.batches });
  });

  it('creates the state dir 0700 and the database 0600', () => {
    const s = openStore();
    s.commitBatch({ sensorId: 'h', bootId: 'b', seq: 1n, events: allTypes() });
    expect(statSync(join(s.path, '..')).mode & 0o777).toBe(0o700);
    expect(statSync(s.path).mode & 0o777).toBe(0o600);
    expect(statSync(`${s.path}-wal`).mode & 0o777).toBe(0o600);
  });

  it('rolls back a batch that fails half way and stays consistent', () => {
    const s = openStore();
    s.commitBatch({ sensorId: 'h', bootId: 'b', seq: 1n, events: allTypes() });
    const bad = [...allTypes(), { ...allTypes()[0]!, pid: 1.5 } as SensorEvent];
    expect(() => s.commitBatch({ sensorId: 'h', bootId: 'b', seq: 2n, events: bad })).toThrow();
    s.commitBatch({ sensorId: 'h', bootId: 'b', seq: 2n, events: [{ ...allTypes()[2]!, path: '/brand/new' } as SensorEvent] });
    expect(verifyChain(s.database)).toMatchObject({ ok: true, batches: 2, events: 12 });
    expect(queryEvents(s.database, { limit: 1 })[0]!.event).toMatchObject({ path: '/brand/new' });
  });

  it('stores an event in at most 200 bytes on disk (indexes included)', () => {
    const s = openStore();
    const n = 20_000;
    const per = 500;
    const paths = Array.from({ length: 400 }, (_, i) => `/home/user/project/src/module-${i}/file.ts`);
    let commitMs = 0;
    for (let b = 0; b < n / per; b++) {
      const events: SensorEvent[] = [];
      for (let i = 0; i < per; i++) {
        const k = b * per + i;
        const pick = k % 10;
        if (pick < 7) events.push({ ...base('open', 5000 + (k % 50)), type: 'open', path: paths[k % paths.length]!, flags: 0, mode: 0, access: 'read', result: 3, syscall: 'openat' });
        else if (pick < 8) events.push({ ...base('connect', 5000 + (k % 50)), type: 'connect', family: 'inet', proto: 'tcp', addr: `10.0.0.${k % 20}`, port: 443, result: 0 });
        else if (pick < 9) events.push({ ...base('exec', 5000 + (k % 50)), type: 'exec', filename: '/usr/bin/rg', argv: ['rg', '-n', `pattern${k % 30}`, 'src/'], startNs: String(k) });
        else events.push({ ...base('exit', 5000 + (k % 50)), type: 'exit', code: 0, signal: null });
      }
      const t = performance.now();
      s.commitBatch({ sensorId: 'host-a', bootId: 'boot-1', seq: BigInt(b + 1), events });
      commitMs += performance.now() - t;
    }
    s.database.pragma('wal_checkpoint(TRUNCATE)');
    const bytes = statSync(s.path).size;
    const perEvent = bytes / n;
    console.log(`store: ${n} events (70% open, 10% connect, 10% exec, 10% exit) -> ${bytes} bytes, ${perEvent.toFixed(1)} bytes/event; ` +
      `commit ${(n / (commitMs / 1000)).toFixed(0)} events/s in batches of ${per} (informational, not asserted)`);
    expect(perEvent).toBeLessThanOrEqual(200);
  });

  it('keeps every acknowledged batch when the collector process is killed with SIGKILL', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'store-kill-'));
    dirs.push(dir);
    const stateDir = join(dir, 'state');
    const script = join(dir, 'writer.ts');
    // A child that commits batches and prints "ack <seq>" only after commitBatch returned.
    writeFileSync(script, `
      import { writeSync } from 'node:fs';
      import { EventStore } from ${JSON.stringify(resolve('collector/store/event-store.ts'))};
      const s = EventStore.open({ stateDir: ${JSON.stringify(stateDir)}, hashing: { enabled: false } });
      const events = JSON.parse(process.argv[2]);
      const until = Date.now() + 20000;
      for (let seq = 1n; seq <= 100000n && Date.now() < until; seq++) {
        s.commitBatch({ sensorId: 'h', bootId: 'b', seq, events });
        writeSync(1, 'ack ' + seq + '\\n');
      }
    `);
    const child = spawn(resolve('node_modules/.bin/vite-node'), [script, JSON.stringify(allTypes())], { stdio: ['ignore', 'pipe', 'inherit'] });
    let lastAck = 0n;
    await new Promise<void>((done, fail) => {
      const timer = setTimeout(() => fail(new Error('the writer acknowledged nothing in 30 s')), 30_000);
      let buf = '';
      child.stdout!.on('data', (chunk: Buffer) => {
        buf += chunk.toString();
        for (const m of buf.matchAll(/ack (\d+)\n/g)) lastAck = BigInt(m[1]!);
        buf = buf.slice(buf.lastIndexOf('\n') + 1);
        if (lastAck >= 200n && child.exitCode === null && !child.killed) {
          child.kill('SIGKILL');
          clearTimeout(timer);
        }
      });
      child.on('exit', () => done());
    });
    expect(lastAck).toBeGreaterThanOrEqual(200n);
    const s = EventStore.open({ stateDir, hashing: { enabled: false } });
    stores.push(s);
    expect(s.lastSeq('h', 'b')! >= lastAck).toBe(true);
    expect(verifyChain(s.database)).toMatchObject({ ok: true });
  });
});
