// The forwarder into a real ClickHouse 18.16 (clickhouse-server started here
// on loopback with its own config and data dir): tables per OCSF class made
// by the forwarder, nanosecond times exact in an integer column, two sensors'
// data in one database queried together, hostile content stored as sent, and
// the server down for a while and back with nothing lost.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDestination } from '../collector/forward/destination.js';
import { openForwardDatabase } from '../collector/forward/forward-db.js';
import { Forwarder } from '../collector/forward/forwarder.js';
import { allTypes, hostile, opens, SYSLOG_HEADER_PATH, testStore, type TestStore } from './helpers/forward-store.js';
import { clickhouse, clickhouseSkipReason, type ClickHouse } from './helpers/forward-servers.js';

const skip = clickhouseSkipReason();
if (skip) console.warn(`forward-clickhouse: skipping: ${skip}`);

const PRODUCT = { version: 'test' };

async function until(what: string, ok: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out: ${what}`);
}

describe.skipIf(skip !== null)('forwarding to ClickHouse', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fwd-ch-'));
  let ch: ClickHouse;
  let a: TestStore;
  let b: TestStore;
  beforeAll(async () => {
    ch = await clickhouse(join(dir, 'ch'));
    a = testStore(join(dir, 'a'), 'sensor-a');
    b = testStore(join(dir, 'b'), 'sensor-b');
  }, 90_000);
  afterAll(async () => {
    await ch?.stop();
    await a?.store.close();
    await b?.store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const num = async (sql: string) => Number((await ch.query(sql)).trim());

  it('creates its tables, inserts every class, and a query spans two sensors', async () => {
    const eventsA = [...allTypes(), ...hostile()];
    a.commit(eventsA);
    b.commit([...allTypes(), ...opens(40, 'b')]);
    const url = `clickhouse+http://127.0.0.1:${ch.port}/fleet`;
    const forwarders = [a, b].map((s) => {
      const db = openForwardDatabase(s.stateDir);
      const f = new Forwarder({ db, output: parseDestination(url), product: PRODUCT, collectorName: 'test', pollMs: 50 });
      f.start();
      return { f, db };
    });
    const total = eventsA.length + allTypes().length + 40;
    await until('all rows', async () => {
      try {
        return (await num(`SELECT (SELECT count() FROM fleet.process_activity) + (SELECT count() FROM fleet.file_system_activity)
          + (SELECT count() FROM fleet.network_activity) + (SELECT count() FROM fleet.dns_activity)`)) >= total;
      } catch {
        return false;
      }
    });
    for (const { f, db } of forwarders) {
      await f.stop();
      db.close();
    }
    expect((await ch.query('SHOW TABLES FROM fleet')).trim().split('\n').sort())
      .toEqual(['detection_finding', 'dns_activity', 'file_system_activity', 'network_activity', 'process_activity']);
    // the fleet view: one query over both sensors' data
    const perSensor = await ch.query(`SELECT device_uid, agent, count() FROM fleet.file_system_activity FINAL
      WHERE agent = 'claude-code' GROUP BY device_uid, agent ORDER BY device_uid FORMAT TSV`);
    expect(perSensor.trim().split('\n')).toEqual([`sensor-a\tclaude-code\t${5 + hostile().length - 1}`, `sensor-b\tclaude-code\t${5 + 40}`]);
    const across = await ch.query(`SELECT count(), uniqExact(device_uid) FROM (
      SELECT device_uid FROM fleet.network_activity WHERE dst_port = 4444 UNION ALL
      SELECT device_uid FROM fleet.dns_activity WHERE query_hostname = 'api.anthropic.com') FORMAT TSV`);
    expect(across.trim()).toBe('6\t2');
    // nanoseconds exact in UInt64; seconds in the MATERIALIZED DateTime
    const first = eventsA[0]!;
    expect((await ch.query(`SELECT time_ns, toUnixTimestamp(time) FROM fleet.process_activity
      WHERE device_uid = 'sensor-a' AND activity_id = 1 AND process_path = '/usr/bin/git' FORMAT TSV`)).trim())
      .toBe(`${first.tsNs}\t${BigInt(first.tsNs) / 1_000_000_000n}`);
    // hostile content is data: stored exactly, one row each
    expect(await num(`SELECT count() FROM fleet.file_system_activity WHERE file_path = '/tmp/x\\n${SYSLOG_HEADER_PATH}\\n'`)).toBe(1);
    expect(await num(`SELECT count() FROM fleet.file_system_activity WHERE length(file_path) = 4095`)).toBe(1);
    const raw = JSON.parse((await ch.query(`SELECT raw FROM fleet.network_activity WHERE dst_port = 443 AND device_uid = 'sensor-a' FORMAT JSONEachRow`)).trim()).raw;
    expect(JSON.parse(raw).dst_endpoint).toEqual({ ip: '2001:db8::1', port: 443, hostname: 'example.com' });
  }, 120_000);

  it('loses nothing while ClickHouse is down and inserts it all once it is back', async () => {
    const db = openForwardDatabase(a.stateDir);
    const url = `clickhouse+http://127.0.0.1:${ch.port}/fleet`;
    const f = new Forwarder({
      db, output: parseDestination(url), product: PRODUCT, collectorName: 'test', pollMs: 50, batchSize: 100,
      backoff: { initialMs: 100, maxMs: 1000, jitter: 0.5 },
    });
    f.start();
    const down = `SELECT count(), uniqExact(uid) FROM fleet.file_system_activity WHERE file_path LIKE '/work/down/%' FORMAT TSV`;
    a.commit(opens(100, 'down'));
    await until('first 100', async () => (await ch.query(down)).startsWith('100\t'));
    await ch.stop();
    for (let i = 0; i < 5; i++) a.commit(opens(200, 'down').map((e, j) => ({ ...e, path: `/work/down/${i}-${j}` }) as typeof e));
    await until('failures while down', async () => f.status().sendFailures >= 2);
    expect(f.status().lagEvents).toBeGreaterThanOrEqual(1000);
    await ch.start();
    await until('all 1100 once back', async () => Number((await ch.query(down)).split('\t')[1]) >= 1100, 60_000);
    await f.stop();
    const [count, unique] = (await ch.query(down)).trim().split('\t').map(Number);
    expect(unique).toBe(1100);
    expect(count).toBe(1100); // HTTP 200 is an acknowledgement: no resend after a success
    expect(f.status().lagEvents).toBe(0);
    db.close();
  }, 180_000);
});
