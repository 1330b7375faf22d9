// The forwarder into a real rsyslog (started here on loopback with its own
// config): RFC 5424 with octet-counting framing over TCP and TLS, hostile
// content that must not forge a record or break framing, rsyslog down for a
// while and back with nothing lost, and a restart that resumes from the cursor.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteAlertSource } from '../collector/forward/alert-source.js';
import { parseDestination } from '../collector/forward/destination.js';
import { openForwardDatabase } from '../collector/forward/forward-db.js';
import { Forwarder } from '../collector/forward/forwarder.js';
import { readCursors } from '../collector/forward/cursor-table.js';
import { allTypes, hostile, opens, SYSLOG_HEADER_PATH, NEWLINE_ARG, testStore, type TestStore } from './helpers/forward-store.js';
import { rsyslog, rsyslogSkipReason, type Rsyslog } from './helpers/forward-servers.js';

const skip = rsyslogSkipReason();
if (skip) console.warn(`forward-syslog: skipping: ${skip}`);

const PRODUCT = { version: 'test' };
// <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] MSG
const RFC5424 = /^<(\d{1,3})>1 (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z) (\S+) agent-sensor - ([a-z_]+) \[ocsf@32473 class_uid="(\d+)" uid="([^"]*)"\] (\{.*\})$/;

async function until(what: string, ok: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (ok()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out: ${what}`);
}

function records(lines: string[]) {
  return lines.map((l) => {
    const m = RFC5424.exec(l);
    if (!m) throw new Error(`not an RFC 5424 record of ours: ${JSON.stringify(l.slice(0, 200))}`);
    return { msgid: m[4]!, classUid: Number(m[5]), uid: m[6]!, ocsf: JSON.parse(m[7]!) as Record<string, any> };
  });
}

describe.skipIf(skip !== null)('forwarding to rsyslog', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fwd-syslog-'));
  let server: Rsyslog;
  let t: TestStore;
  beforeAll(async () => {
    server = await rsyslog(join(dir, 'rsyslog'));
    t = testStore(dir);
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
    await t?.store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes every event as one RFC 5424 record over TCP, hostile content included, none forged', async () => {
    const events = [...allTypes(), ...hostile()];
    t.commit(events);
    const db = openForwardDatabase(t.stateDir);
    const f = new Forwarder({
      db, output: parseDestination(`syslog+tcp://127.0.0.1:${server.tcpPort}`), product: PRODUCT, collectorName: 'test',
      alerts: SqliteAlertSource.open(db) ?? undefined, pollMs: 50,
    });
    f.start();
    await until('all events in rsyslog', () => server.raw().length >= events.length);
    await f.stop();
    const raw = server.raw();
    expect(raw).toHaveLength(events.length); // no extra line: nothing split a record
    const got = records(raw);
    expect(new Set(got.map((r) => r.uid)).size).toBe(events.length);
    // rsyslog's own parse of the header agrees: our app name and message ids on every line
    const parsed = server.parsed().map((l) => l.split('|'));
    expect(parsed.every((p) => p[1] === 'agent-sensor')).toBe(true);
    expect(new Set(parsed.map((p) => p[2]))).toEqual(new Set(['process_activity', 'file_system_activity', 'network_activity', 'dns_activity']));
    // hostile paths and argv come back exactly, inside the JSON
    const paths = got.filter((r) => r.classUid === 1001).map((r) => r.ocsf.file.path);
    expect(paths).toContain(`/tmp/${SYSLOG_HEADER_PATH}`);
    expect(paths).toContain(`/tmp/x\n${SYSLOG_HEADER_PATH}\n`);
    expect(paths).toContain('/tmp/ctl\x01\x07\x08\x1b[31m\x7f\u0085\u2028end');
    expect(paths.some((p: string) => p.length === 4095)).toBe(true);
    const invalid = got.find((r) => typeof r.ocsf.file?.path === 'string' && r.ocsf.file.path.startsWith('/tmp/\n\\xc0'))!;
    expect(Buffer.from(invalid.ocsf.unmapped.raw_b64['file.path'], 'base64')).toEqual(
      Buffer.concat([Buffer.from('/tmp/\n'), Buffer.from([0xc0, 0x80, 0xff]), Buffer.from('] "x" \\')]));
    const exec = got.find((r) => r.ocsf.process?.file?.path === `/tmp/${SYSLOG_HEADER_PATH}`)!;
    expect(exec.ocsf.unmapped.argv[1]).toBe(NEWLINE_ARG);
    expect(Buffer.from(exec.ocsf.unmapped.raw_b64['argv.2'], 'base64')).toEqual(Buffer.from([0x0a, 0xff, 0x0d]));
    // the messages are printable single lines: no raw control character reached rsyslog
    // eslint-disable-next-line no-control-regex
    expect(raw.every((l) => !/[\x00-\x1f\x7f\u0080-\u009f\u2028\u2029]/.test(l))).toBe(true);
    const cursor = readCursors(db).find((c) => c.dest === f.dest)!;
    expect(cursor.shippedEvents).toBe(events.length);
    expect(f.status().lagEvents).toBe(0);
    db.close();
  }, 60_000);

  it('sends over TLS, checking the server against the CA', async () => {
    const before = server.raw().length;
    const events = opens(20, 'tls');
    t.commit(events);
    const db = openForwardDatabase(t.stateDir);
    const f = new Forwarder({
      db, output: parseDestination(`syslog+tls://127.0.0.1:${server.tlsPort}`, { ca: server.ca }), product: PRODUCT,
      collectorName: 'test', pollMs: 50,
    });
    f.start();
    // a new destination starts at the oldest kept event: all of them, then the 20 new ones
    await until('TLS records in rsyslog', () => server.raw().length >= before + events.length + allTypes().length + hostile().length);
    await f.stop();
    const got = records(server.raw().slice(before));
    expect(got.filter((r) => r.ocsf.file?.path?.startsWith('/work/tls/'))).toHaveLength(20);
    // and a server whose certificate the given CA did not sign is refused
    const wrong = parseDestination(`syslog+tls://127.0.0.1:${server.tlsPort}`, {});
    await expect(wrong.send(got.slice(0, 1).map(() => ({ ocsf: {}, uid: 'x', classUid: 1001, sensorId: 's', tsNs: 1n, severityId: 1 })))).rejects.toThrow(/certificate/i);
    db.close();
  }, 60_000);

  it('loses nothing while rsyslog is down, resends after it is back, and resumes after a restart', async () => {
    const db = openForwardDatabase(t.stateDir);
    const dest = `syslog+tcp://127.0.0.1:${server.tcpPort}`;
    const mk = () => new Forwarder({
      db, output: parseDestination(dest), product: PRODUCT, collectorName: 'test', pollMs: 50,
      backoff: { initialMs: 100, maxMs: 800, jitter: 0.5 },
    });
    let f = mk();
    f.start();
    const uidsOf = () => records(server.raw()).filter((r) => r.ocsf.file?.path?.startsWith('/work/down/')).map((r) => r.ocsf.file.path as string);
    t.commit(opens(50, 'down').map((e, i) => ({ ...e, path: `/work/down/a${i}` }) as typeof e));
    await until('first 50', () => uidsOf().length >= 50);
    await server.stop();
    t.commit(opens(200, 'down').map((e, i) => ({ ...e, path: `/work/down/b${i}` }) as typeof e));
    await until('send failures while down', () => f.status().sendFailures >= 2);
    expect(f.status().lagEvents).toBeGreaterThanOrEqual(200);
    expect(readCursors(db).find((c) => c.dest === dest)!.lastError).toMatch(/ECONNREFUSED|closed/);
    await server.start();
    await until('all 250 after rsyslog is back', () => new Set(uidsOf()).size >= 250, 30_000);
    // restart: a new forwarder on the same cursor ships only what is new
    await f.stop();
    const linesBefore = server.raw().length;
    f = mk();
    f.start();
    t.commit(opens(30, 'down').map((e, i) => ({ ...e, path: `/work/down/c${i}` }) as typeof e));
    await until('30 after restart', () => new Set(uidsOf()).size >= 280);
    await f.stop();
    const paths = uidsOf();
    expect(new Set(paths).size).toBe(280);
    // at-least-once: duplicates only from the window around the outage, never a second copy of everything
    expect(paths.length).toBeLessThan(280 + 250);
    expect(server.raw().length - linesBefore).toBe(30);
    db.close();
  }, 90_000);
});
