// `sensor query` and `sensor verify` against a real store in a temp dir:
// the commands are registered on a fresh commander program (only these two),
// their stdout captured.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Command } from 'commander';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventStore } from '../collector/store/event-store.js';
import { parseTimeSpec } from '../collector/query/time-spec.js';
import { register as registerQuery } from '../sensor/cli/commands/query.js';
import { register as registerVerify } from '../sensor/cli/commands/verify.js';
import { displayString } from '../proto/events/bytes.js';
import type { SensorEvent } from '../proto/events/types.js';

let root: string;
let stateDir: string;
const NOW_NS = BigInt(Date.now()) * 1_000_000n;

function ev(type: SensorEvent['type'], agoSec: number, pid: number, agent: string | null, extra: object): SensorEvent {
  const tsNs = NOW_NS - BigInt(agoSec) * 1_000_000_000n;
  return {
    type, ts: '', tsNs: tsNs.toString(), pid, tid: pid, ppid: 1, uid: 0, gid: 0, comm: 'node', agent,
    cgroupId: '1', netns: 1, mntns: 1, ...extra,
  } as SensorEvent;
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'query-cli-test-'));
  stateDir = join(root, 'state');
  const store = EventStore.open({ stateDir, hashing: { enabled: false } });
  store.commitBatch({
    sensorId: 'host-a', bootId: 'b1', seq: 1n, events: [
      ev('exec', 7200, 10, 'claude-code', { filename: '/usr/bin/git', argv: ['git', 'push'], startNs: '1' }),
      ev('open', 3000, 10, 'claude-code', { path: '/home/u/.ssh/id_ed25519', flags: 0, mode: 0, access: 'read', result: 3, syscall: 'openat' }),
      ev('open', 600, 11, 'aider', { path: { b64: Buffer.from([0x2f, 0x74, 0x2f, 0xff]).toString('base64') }, flags: 0, mode: 0, access: 'read', result: 3, syscall: 'openat' }),
      ev('connect', 300, 11, 'aider', { family: 'inet', proto: 'tcp', addr: '140.82.112.3', port: 443, result: 0 }),
      ev('dns', 60, 10, 'claude-code', { qname: 'github.com', qtype: 'A', addr: '127.0.0.53', port: 53 }),
    ],
  });
  await store.close();
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function sensor(...args: string[]): Promise<{ out: string; exitCode: number }> {
  const program = new Command('sensor').exitOverride();
  registerQuery(program);
  registerVerify(program);
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
    return true;
  });
  process.exitCode = undefined;
  try {
    await program.parseAsync(['node', 'sensor', ...args]);
  } finally {
    spy.mockRestore();
  }
  const exitCode = Number(process.exitCode ?? 0);
  process.exitCode = undefined;
  return { out, exitCode };
}
const lines = (out: string) => out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));

describe('sensor query', () => {
  it('filters by agent, type, pid, path glob, addr and time; JSON lines in contract shape', async () => {
    const all = lines((await sensor('query', '--state-dir', stateDir, '--json')).out);
    expect(all.map((e) => e.type)).toEqual(['exec', 'open', 'open', 'connect', 'dns']);
    expect(all[0]).toMatchObject({ sensorId: 'host-a', agent: 'claude-code', filename: '/usr/bin/git', argv: ['git', 'push'] });
    const byAgent = lines((await sensor('query', '--state-dir', stateDir, '--json', '--agent', 'aider')).out);
    expect(byAgent.map((e) => e.type)).toEqual(['open', 'connect']);
    const opens = lines((await sensor('query', '--state-dir', stateDir, '--json', '--type', 'open,dns', '--pid', '10')).out);
    expect(opens.map((e) => e.type)).toEqual(['open', 'dns']);
    const ssh = lines((await sensor('query', '--state-dir', stateDir, '--json', '--path', '**/.ssh/*')).out);
    expect(ssh).toHaveLength(1);
    expect(ssh[0].sensitive).toEqual(['ssh-private-key']); // tagged at commit from the catalogue
    const tagged = lines((await sensor('query', '--state-dir', stateDir, '--json', '--sensitive')).out);
    expect(tagged.map((e) => e.path)).toEqual(['/home/u/.ssh/id_ed25519']);
    expect(lines((await sensor('query', '--state-dir', stateDir, '--json', '--sensitive', 'ssh-private-key')).out)).toHaveLength(1);
    expect(lines((await sensor('query', '--state-dir', stateDir, '--json', '--sensitive', 'aws-credentials')).out)).toHaveLength(0);
    expect((await sensor('query', '--state-dir', stateDir, '--sensitive', 'ssh-private-key')).out).toContain('[sensitive: ssh-private-key]');
    const raw = lines((await sensor('query', '--state-dir', stateDir, '--json', '--path', '/t/*')).out);
    expect(raw[0].path).toEqual({ b64: Buffer.from([0x2f, 0x74, 0x2f, 0xff]).toString('base64') });
    const addr = lines((await sensor('query', '--state-dir', stateDir, '--json', '--addr', '140.82.112.3')).out);
    expect(addr).toHaveLength(1);
    const recent = lines((await sensor('query', '--state-dir', stateDir, '--json', '--since', '15m')).out);
    expect(recent.map((e) => e.type)).toEqual(['open', 'connect', 'dns']);
    const older = lines((await sensor('query', '--state-dir', stateDir, '--json', '--until', '1h')).out);
    expect(older.map((e) => e.type)).toEqual(['exec']);
    const newest2 = lines((await sensor('query', '--state-dir', stateDir, '--json', '--limit', '2')).out);
    expect(newest2.map((e) => e.type)).toEqual(['connect', 'dns']);
  });

  it('prints a table by default, bytes shown through displayString', async () => {
    const { out } = await sensor('query', '--state-dir', stateDir, '--agent', 'aider');
    expect(out.split('\n')[0]).toMatch(/^TIME \(UTC\)\s+AGENT\s+PID\s+COMM\s+TYPE\s+DETAIL$/);
    expect(out).toContain(`read ${displayString({ b64: Buffer.from([0x2f, 0x74, 0x2f, 0xff]).toString('base64') })} -> 3`);
    expect(out).toContain('tcp 140.82.112.3:443 -> 0');
  });

  it('runs read-only SQL and refuses writes', async () => {
    const { out } = await sensor('query', '--state-dir', stateDir, '--sql', 'SELECT count(*) AS n FROM events');
    expect(lines(out)).toEqual([{ n: 5 }]);
    for (const sql of ['DELETE FROM events', 'UPDATE batches SET seq = 9', 'DROP TABLE events', `INSERT INTO alerts (ts_ns, rule, severity) VALUES (1, 'x', 'y') RETURNING id`]) {
      await expect(sensor('query', '--state-dir', stateDir, '--sql', sql)).rejects.toThrow(/read-only/);
    }
    const count = execFileSync('sqlite3', [join(stateDir, 'events.db'), 'SELECT count(*) FROM events'], { encoding: 'utf8' });
    expect(count.trim()).toBe('5');
  });

  it('reads relative and absolute times', () => {
    expect(parseTimeSpec('10m', 1_000_000)).toBe(1_000_000n * 1_000_000n - 600n * 1_000_000_000n);
    expect(parseTimeSpec('2026-11-28T11:40:35.123456789Z')).toBe(1795866035123456789n);
    expect(() => parseTimeSpec('yesterday')).toThrow(/cannot read time/);
  });
});

describe('sensor verify', () => {
  it('prints OK, then names the batch after an edit and exits 1', async () => {
    const ok = await sensor('verify', '--state-dir', stateDir);
    expect(ok.exitCode).toBe(0);
    expect(ok.out).toMatch(/^OK: 1 batches, 5 events verified from genesis; head [0-9a-f]{64}\n/);
    expect(ok.out).toMatch(/\nexport: head=1:[0-9a-f]{64} batches=1 anchor=0:0{64} chained-rows=1 rows-head=1:[0-9a-f]{64}\n$/); // the sensitive tag row
    execFileSync('sqlite3', [join(stateDir, 'events.db'), `UPDATE events SET port = 80 WHERE type = 5`]);
    const bad = await sensor('verify', '--state-dir', stateDir);
    expect(bad.exitCode).toBe(1);
    expect(bad.out).toContain('TAMPERED: batch 1 (sensor host-a boot b1 seq 1) altered');
  });

  it('says which directory has no store', async () => {
    await expect(sensor('verify', '--state-dir', join(root, 'nothing'))).rejects.toThrow(/cannot open the event store .*nothing\/events\.db: .*does not exist/);
  });
});
