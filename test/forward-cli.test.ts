// `sensor forward` as its own process: to a real rsyslog until caught up,
// --status as JSON, the Prometheus endpoint on loopback (and refused
// elsewhere), and a resumed run that sends only what is new.
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allTypes, opens, testStore, type TestStore } from './helpers/forward-store.js';
import { freePort, rsyslog, rsyslogSkipReason, type Rsyslog } from './helpers/forward-servers.js';
import { kernelSkipReason } from './helpers/kernel.js';

const ROOT = resolve(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin/sensor.js');
const skip = rsyslogSkipReason();
if (skip) console.warn(`forward-cli: skipping: ${skip}`);

const sensor = (args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });

describe.skipIf(skip !== null)('sensor forward', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fwd-cli-'));
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

  it('ships the store to rsyslog, reports its cursor, and resumes with only what is new', () => {
    t.commit(allTypes());
    const to = `syslog+tcp://127.0.0.1:${server.tcpPort}`;
    const r = sensor(['forward', '--state-dir', t.stateDir, '--to', to, '--types', 'exec,connect', '--until-caught-up']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`forward ${to.replace(/[+.]/g, '\\$&')}: shipped 4 events, 0 alerts; lag 0`));
    expect(server.raw().filter((l) => l.includes(' process_activity ') || l.includes(' network_activity '))).toHaveLength(4);
    const status = JSON.parse(sensor(['forward', '--state-dir', t.stateDir, '--status']).stdout) as Record<string, unknown>[];
    expect(status).toEqual([expect.objectContaining({ destination: to, lagEvents: 0, shippedEvents: 4, missedEvents: 0, lastError: null })]);
    t.commit(opens(3, 'cli'));
    t.commit([allTypes()[0]!]);
    const again = sensor(['forward', '--state-dir', t.stateDir, '--to', to, '--types', 'exec,connect', '--until-caught-up']);
    expect(again.stderr).toMatch(/shipped 5 events/); // cumulative in the cursor: 4 before, 1 exec now
    expect(server.raw()).toHaveLength(5);
  }, 60_000);

  it('refuses a bad destination, a bad type and a metrics address off loopback, with a clear message', () => {
    expect(sensor(['forward', '--state-dir', t.stateDir, '--to', 'kafka://x:1']).stderr).toMatch(/kafka: unknown destination kind/);
    expect(sensor(['forward', '--state-dir', t.stateDir, '--to', 'syslog+tcp://x:1', '--types', 'exec,bogus']).stderr).toMatch(/unknown event type "bogus"/);
    const off = sensor(['forward', '--state-dir', t.stateDir, '--to', 'syslog+tcp://127.0.0.1:1', '--metrics', '0.0.0.0:9464']);
    expect(off.status).toBe(1);
    expect(off.stderr).toMatch(/loopback only/);
  });

  it('serves Prometheus metrics of the forwarder and the store on loopback', async () => {
    const port = await freePort();
    const down = await freePort(); // nothing listens: the forwarder retries and says so
    const child = spawn(process.execPath, [BIN, 'forward', '--state-dir', t.stateDir, '--to', `syslog+tcp://127.0.0.1:${down}`, '--metrics', `127.0.0.1:${port}`],
      { stdio: ['ignore', 'ignore', 'pipe'] });
    try {
      let text = '';
      for (let i = 0; i < 100 && !/forward_send_failures_total\{[^}]*\} [1-9]/.test(text); i++) {
        await new Promise((r) => setTimeout(r, 200));
        text = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text(), () => '');
      }
      const dest = `syslog+tcp://127.0.0.1:${down}`;
      expect(text).toContain(`agent_sensor_forward_up{dest="${dest}"} 0`);
      // a new destination owes everything kept
      const stored = Number(/agent_sensor_store_events (\d+)/.exec(text)![1]);
      expect(stored).toBe(allTypes().length + 3 + 1);
      expect(text).toContain(`agent_sensor_forward_lag_events{dest="${dest}"} ${stored}`);
      expect(text).toMatch(/# TYPE agent_sensor_forward_events_total counter/);
      expect(text).toMatch(/agent_sensor_process_cpu_seconds_total/);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  }, 60_000);

  it.skipIf(kernelSkipReason() !== null)('sensor run --forward ships what the live sensor stores, with metrics', async () => {
    const work = mkdtempSync(join(tmpdir(), 'fwd-run-'));
    const agentBin = join(work, 'fwdrunagent');
    copyFileSync('/bin/cat', agentBin);
    const metricsPort = await freePort();
    const run = spawn(process.execPath, [BIN, 'run', '--state-dir', join(work, 'state'), '--listen', `unix://${work}/c.sock`,
      '--agent-comm', 'fwdrunagent', '--stats-every', '0', '--forward', `syslog+tcp://127.0.0.1:${server.tcpPort}`,
      '--metrics', `127.0.0.1:${metricsPort}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    run.stderr!.on('data', (d: Buffer) => { log += d.toString(); });
    try {
      for (let i = 0; i < 150 && !log.includes('sensor running'); i++) await new Promise((r) => setTimeout(r, 200));
      expect(log).toContain('sensor running');
      const mine = () => server.raw().filter((l) => l.includes(work) && l.includes(' process_activity '));
      for (let i = 0; i < 100 && mine().length === 0; i++) {
        spawnSync(agentBin, ['/etc/hostname'], { stdio: 'ignore' });
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(mine().length).toBeGreaterThan(0);
      expect(mine()[0]).toContain('"app_name":"fwdrunagent"');
      const text = await fetch(`http://127.0.0.1:${metricsPort}/metrics`).then((r) => r.text());
      expect(text).toMatch(/agent_sensor_forward_records_sent_total\{dest="syslog\+tcp:\/\/127\.0\.0\.1:\d+"\} [1-9]/);
    } finally {
      run.kill('SIGINT');
      await new Promise((r) => run.once('exit', r));
      rmSync(work, { recursive: true, force: true });
    }
  }, 90_000);
});
