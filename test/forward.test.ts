// The forwarder without a network: the OCSF mapping of each event type and of
// an alert, syslog framing and header hygiene, backoff, type filters, and the
// count of events retention deleted before they were shipped. Outputs here are
// an in-memory list; the real servers are in forward-syslog and
// forward-clickhouse tests.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteAlertSource, storeAlertSource } from '../collector/forward/alert-source.js';
import { Backoff } from '../collector/forward/backoff.js';
import { readCursors } from '../collector/forward/cursor-table.js';
import { parseDestination } from '../collector/forward/destination.js';
import { openForwardDatabase } from '../collector/forward/forward-db.js';
import { Forwarder } from '../collector/forward/forwarder.js';
import type { ForwardRecord } from '../collector/forward/ocsf-common.js';
import type { ForwardOutput } from '../collector/forward/output.js';
import { headerToken, octetFrame, sdValue, syslogMessage, syslogTime } from '../collector/forward/syslog-format.js';
import { ALERT_SCHEMA_SQL } from '../collector/store/alert-chain.js';
import { EventStore } from '../collector/store/event-store.js';
import { allTypes, opens, testStore, type TestStore } from './helpers/forward-store.js';

class MemoryOutput implements ForwardOutput {
  readonly name = 'memory://test';
  readonly settleMs = 0;
  readonly epoch = 0;
  records: ForwardRecord[] = [];
  failNext = 0;
  async send(records: ForwardRecord[]): Promise<void> {
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('destination down');
    }
    this.records.push(...records);
  }
  async close(): Promise<void> {}
}

const open: TestStore[] = [];
afterEach(async () => {
  for (const t of open.splice(0)) {
    await t.store.close();
    rmSync(join(t.stateDir, '..'), { recursive: true, force: true });
  }
});
function store(): TestStore {
  const t = testStore();
  open.push(t);
  return t;
}
const PRODUCT = { version: '0.1.0' };

async function drain(f: Forwarder): Promise<void> {
  for (let i = 0; i < 100 && (await f.step()); i++);
}

describe('OCSF mapping', () => {
  it('puts each event type in its class with its fields in OCSF places', async () => {
    const t = store();
    t.commit(allTypes());
    const db = openForwardDatabase(t.stateDir);
    const out = new MemoryOutput();
    await drain(new Forwarder({ db, output: out, product: PRODUCT, collectorName: 'c' }));
    const o = out.records.map((r) => r.ocsf as Record<string, any>);
    expect(o.map((r) => [r.unmapped.event_type, r.class_uid, r.activity_id, r.type_uid])).toEqual([
      ['exec', 1007, 1, 100701], ['fork', 1007, 99, 100799], ['open', 1001, 14, 100114], ['open', 1001, 14, 100114],
      ['connect', 4001, 1, 400101], ['connect', 4001, 5, 400105], ['connect', 4001, 1, 400101], ['unlink', 1001, 4, 100104],
      ['rename', 1001, 5, 100105], ['link', 1001, 1, 100101], ['dns', 4003, 1, 400301], ['dns', 4003, 2, 400302], ['exit', 1007, 2, 100702],
    ]);
    const [exec, , badOpen, denied, v6, refused, unix, rmdir, rename, link, query, answer, exit] = o;
    expect(exec.metadata).toMatchObject({ version: '1.3.0', product: { name: 'agent-sensor', version: '0.1.0' }, uid: expect.stringMatching(/^sensor-a\/boot-1\/\d+\/0$/) });
    expect(exec.device).toMatchObject({ uid: 'sensor-a' });
    expect(exec.actor).toMatchObject({ app_name: 'claude-code', app_uid: 'claude-code#4242', process: { pid: 4242, name: 'claude' }, user: { uid: '1000' } });
    expect(exec.unmapped.agent_pid).toBe(4242);
    expect(exec.process).toMatchObject({ pid: 4242, file: { path: '/usr/bin/git', name: 'git' }, cmd_line: 'git status  /tmp/\\xff\\xfeA' });
    expect(exec.unmapped).toMatchObject({ cwd: '/home/u', start_ns: '123456789', argv: ['git', 'status', '', '/tmp/\\xff\\xfeA'] });
    expect(Buffer.from(exec.unmapped.raw_b64['argv.3'], 'base64')).toEqual(Buffer.from([0x2f, 0x74, 0x6d, 0x70, 0x2f, 0xff, 0xfe, 0x41]));
    expect(exec.time).toBe(Number(BigInt(exec.unmapped.time_ns) / 1_000_000n));
    expect(badOpen.file.path).toBe('/tmp/\\xff\\xfeA');
    expect(badOpen.unmapped.raw_b64['file.path']).toBeDefined();
    expect(denied).toMatchObject({ status_id: 2, status_code: 'EACCES', access_mask: 0o101, unmapped: { access: 'write', truncated: true } });
    expect(v6).toMatchObject({ status_id: 1, status_code: 'EINPROGRESS', dst_endpoint: { ip: '2001:db8::1', port: 443, hostname: 'example.com' },
      connection_info: { protocol_name: 'tcp', protocol_num: 6, protocol_ver_id: 6, direction_id: 2 } });
    expect(refused).toMatchObject({ activity_name: 'Refuse', status_code: 'ECONNREFUSED' });
    expect(unix.dst_endpoint).toBeUndefined();
    expect(unix.unmapped).toMatchObject({ unix_path: '@abstract', datagram: true });
    expect(rmdir.file).toMatchObject({ path: '/tmp/d', type_id: 2 });
    expect(rename).toMatchObject({ file: { path: '/tmp/a' }, file_result: { path: '/tmp/\\xff\\xfeA' } });
    expect(link).toMatchObject({ file: { path: '/tmp/l', type_id: 7 }, unmapped: { link_kind: 'symbolic', link_target: 'target' } });
    expect(query).toMatchObject({ query: { hostname: 'api.anthropic.com', type: 'AAAA' }, dst_endpoint: { ip: '127.0.0.53', port: 53 } });
    expect(answer).toMatchObject({ rcode: 'NOERROR', rcode_id: 0, answers: [{ rdata: '160.79.104.10', ttl: 300 }], src_endpoint: { ip: '127.0.0.53' } });
    expect(exit.exit_code).toBeUndefined();
    expect(exit.unmapped.signal).toBe(9);
    db.close();
  });

  it('maps an alert to a Detection Finding whose related events are the forwarded uids of its evidence', async () => {
    const t = store();
    t.commit(allTypes());
    const raw = t.store.database;
    // The alerts engine (issue 11) writes these rows; the store's alerts table is what it will fill.
    raw.prepare(`INSERT INTO alerts (ts_ns, agent_id, rule, severity, event_id, details) VALUES (?, (SELECT id FROM agents WHERE name = 'claude-code'), 'new_destination', 'high', 6, 'connect 10.0.0.5:4444: a destination claude-code never used')`)
      .run(1_795_000_000_500_000_000n);
    const db = openForwardDatabase(t.stateDir);
    const out = new MemoryOutput();
    await drain(new Forwarder({ db, output: out, product: PRODUCT, collectorName: 'c', alerts: SqliteAlertSource.open(db)! }));
    const finding = out.records.find((r) => r.classUid === 2004)!.ocsf as Record<string, any>;
    expect(finding).toMatchObject({
      class_uid: 2004, category_uid: 2, activity_id: 1, type_uid: 200401, severity_id: 4, severity: 'High', status_id: 1,
      message: 'connect 10.0.0.5:4444: a destination claude-code never used',
      finding_info: { title: 'new_destination', analytic: { name: 'new_destination', type_id: 1 }, related_events: [{ uid: expect.stringMatching(/^sensor-a\/boot-1\/\d+\/5$/) }] },
      actor: { app_name: 'claude-code' }, device: { uid: 'sensor-a' },
    });
    const refused = out.records.find((r) => r.uid === finding.finding_info.related_events[0].uid)!;
    expect((refused.ocsf as Record<string, any>).dst_endpoint.port).toBe(4444);
    db.close();
  });
  it('reads the alerts engine\'s alert_chain (issue 11) once it appears: alerts only, not repeats or baselines', async () => {
    const t = store();
    t.commit(allTypes());
    const db = openForwardDatabase(t.stateDir);
    const out = new MemoryOutput();
    const f = new Forwarder({ db, output: out, product: PRODUCT, collectorName: 'c', alerts: storeAlertSource(db) });
    await drain(f);
    // The alerts engine's own table (collector/store/alert-chain.ts), made after the forwarder started, if the store has none yet.
    t.store.database.exec(ALERT_SCHEMA_SQL);
    t.store.database.exec('DELETE FROM alert_chain');
    const ins = t.store.database.prepare(`INSERT INTO alert_chain (kind, alert_id, ts_ns, sensor_id, agent, agent_pid, pid, rule, severity, subject, summary, evidence, baseline, count, created_at, prev_hash, hash)
      VALUES (?, ?, 1795000000900000000, 'sensor-a', 'claude-code', 4200, 4242, ?, ?, ?, ?, ?, ?, 1, 0, x'', x'')`);
    ins.run('alert', null, 'new_area', 'medium', '~/.aws', 'read ~/.aws/credentials: an area claude-code never touched', '[3, 4]', 'areas seen: {cwd}, ~/.cache');
    ins.run('repeat', 1, null, null, null, null, null, null);
    ins.run('baseline', null, null, null, null, null, null, 'ab12');
    await new Promise((r) => setTimeout(r, 5100)); // the source looks for the table again every 5 s
    expect(f.status().lagAlerts).toBe(1);
    await drain(f);
    const findings = out.records.filter((r) => r.classUid === 2004).map((r) => r.ocsf as Record<string, any>);
    expect(findings).toHaveLength(1);
    expect(findings[0]).toMatchObject({
      severity_id: 3, device: { uid: 'sensor-a' }, actor: { app_name: 'claude-code', app_uid: 'claude-code#4200', process: { pid: 4242 } },
      finding_info: { title: 'new_area', desc: 'read ~/.aws/credentials: an area claude-code never touched' },
      unmapped: { agent_pid: 4200, subject: '~/.aws', baseline: 'areas seen: {cwd}, ~/.cache', evidence_event_ids: ['3', '4'] },
    });
    expect(findings[0]!.finding_info.related_events).toHaveLength(2);
    expect(f.status().lagAlerts).toBe(0);
    db.close();
  }, 20_000);
});

describe('filters', () => {
  it('ships only the chosen types, or only alerts, and moves the cursor past the rest', async () => {
    const t = store();
    t.commit(allTypes());
    const db = openForwardDatabase(t.stateDir);
    const some = new MemoryOutput();
    const f = new Forwarder({ db, output: some, dest: 'some', product: PRODUCT, collectorName: 'c', filter: { types: ['exec', 'connect'] } });
    await drain(f);
    expect(some.records.map((r) => (r.ocsf.unmapped as Record<string, string>).event_type)).toEqual(['exec', 'connect', 'connect', 'connect']);
    expect(f.status().lagEvents).toBe(0);
    const none = new MemoryOutput();
    const g = new Forwarder({ db, output: none, dest: 'alerts', product: PRODUCT, collectorName: 'c', filter: { types: [] }, alerts: SqliteAlertSource.open(db)! });
    await drain(g);
    expect(none.records).toEqual([]);
    expect(g.status().lagEvents).toBe(0);
    db.close();
  });
});

describe('durability', () => {
  it('retries after a failed send from the committed cursor, and counts what retention deleted unshipped', async () => {
    const t = store();
    const stateDir = t.stateDir;
    for (let i = 0; i < 3; i++) t.commit(opens(10, `r${i}`));
    const db = openForwardDatabase(stateDir);
    const out = new MemoryOutput();
    const f = new Forwarder({ db, output: out, product: PRODUCT, collectorName: 'c', batchSize: 10 });
    out.failNext = 1;
    await expect(f.step()).rejects.toThrow('destination down');
    // what the run loop does after a failure: back to the committed cursor
    const f2 = new Forwarder({ db, output: out, product: PRODUCT, collectorName: 'c', batchSize: 10 });
    expect(await f2.step()).toBe(true);
    expect(out.records).toHaveLength(10);
    expect(f2.status().lagEvents).toBe(20);
    // retention deletes all three batches before the other 20 were shipped
    await t.store.close();
    const pruning = EventStore.open({ stateDir, hashing: { enabled: false }, retention: { maxAgeDays: 1, intervalMs: 3_600_000 } });
    t.store = pruning;
    expect(pruning.pruneNow(Date.now() + 2 * 86_400_000).events).toBe(30);
    t.commit(opens(5, 'after'));
    await drain(f2);
    expect(out.records.map((r) => (r.ocsf.file as Record<string, string>).path).slice(10)).toEqual(opens(5, 'x').map((_, i) => `/work/after/${i}`));
    const c = readCursors(db)[0]!;
    expect(c).toMatchObject({ shippedEvents: 15, missedEvents: 20 });
    expect(f2.status()).toMatchObject({ missedEvents: 20, lagEvents: 0 });
    db.close();
  });

  it('backs off exponentially with jitter, capped', () => {
    const b = new Backoff({ initialMs: 100, maxMs: 1000, jitter: 0.5 }, () => 1);
    expect([1, 2, 3, 4, 5, 6].map(() => b.next())).toEqual([100, 200, 400, 800, 1000, 1000]);
    const low = new Backoff({ initialMs: 100, maxMs: 1000, jitter: 0.5 }, () => 0);
    expect([1, 2, 3].map(() => low.next())).toEqual([50, 100, 200]);
    b.reset();
    expect(b.next()).toBe(100);
  });
});

describe('syslog format', () => {
  it('frames by byte count and keeps the header to its alphabet', () => {
    const rec: ForwardRecord = {
      ocsf: { path: 'é\n<13>1 x' }, uid: 'a"b]c\\d\ne', classUid: 1001, sensorId: 'host name\n<1>', tsNs: 1_795_000_000_123_456_789n, severityId: 1,
    };
    const msg = syslogMessage(rec);
    expect(msg).toBe('<134>1 2026-11-18T11:06:40.123456Z host_name_<1> agent-sensor - file_system_activity ' +
      '[ocsf@32473 class_uid="1001" uid="a\\"b\\]c\\\\d?e"] {"path":"é\\n<13>1 x"}');
    const frame = octetFrame(msg);
    const space = frame.indexOf(0x20);
    expect(Number(frame.subarray(0, space).toString())).toBe(frame.length - space - 1);
    expect(headerToken('', 10)).toBe('-');
    expect(sdValue('x]"\\')).toBe('x\\]\\"\\\\');
    expect(syslogTime(1_000_000_001n)).toBe('1970-01-01T00:00:01.000000Z');
  });

  it('refuses destinations it does not know, and credentials stay out of the name', () => {
    expect(() => parseDestination('http://x:1')).toThrow(/unknown destination kind/);
    expect(() => parseDestination('syslog+tcp://x')).toThrow(/host and a port/);
    expect(() => parseDestination('syslog+tcp://x:1', { ca: '/ca' })).toThrow(/syslog\+tls/);
    expect(parseDestination('clickhouse+http://u:secret@127.0.0.1:8123/db').name).toBe('clickhouse+http://127.0.0.1:8123/db');
    expect(() => parseDestination('clickhouse+http://h:1/bad-name;drop')).toThrow(/ClickHouse name/);
  });
});
