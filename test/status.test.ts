// `sensor status` as a user runs it (bin/sensor.js, compiled) against a real
// collector (gRPC on a unix socket, SQLite store) fed by real transport
// clients: exit 0 healthy, 1 degraded (forced loss, a silent sensor, a
// forwarder's error, left-out programs), 2 down; --json is one plain object
// with numbers as numbers; the human view names every section. The last
// block runs the real `sensor run` (root, BPF) and reads its health.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { CollectorServer } from '../collector/server/collector-server.js';
import { EventStore } from '../collector/store/event-store.js';
import { storeHealthRows } from '../collector/store/health-rows.js';
import { AlertChainWriter } from '../collector/store/alert-chain.js';
import { InstanceWriter, writeBaseline } from '../collector/store/detect-rows.js';
import type { PbSensorHealth } from '../proto/codec/proto.js';
import type { SensorEvent } from '../proto/events/types.js';
import { CollectorClient } from '../sensor/transport/collector-client.js';
import { SensorHealthReport } from '../sensor/transport/sensor-health.js';
import { BIN, ROOT, sensorProc, skipReason, until } from './helpers/sensor-cli.js';

const quiet = pino({ level: process.env.TEST_LOG ?? 'silent' });
const built = existsSync(join(ROOT, 'dist/sensor/cli/main.js'));

interface Run { code: number; out: string; err: string }

/** Runs the shipped CLI without blocking this process (the collector under test lives here). */
function sensor(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 30_000 }, (err, out, errText) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, out, err: errText });
    });
  });
}

/** Every leaf of a JSON value with the key it sits under. */
function* leaves(o: unknown, key = ''): Generator<[string, unknown]> {
  if (Array.isArray(o)) for (const v of o) yield* leaves(v, key);
  else if (o && typeof o === 'object') for (const [k, v] of Object.entries(o)) yield* leaves(v, k);
  else yield [key, o];
}

function forks(from: number, n: number): SensorEvent[] {
  return Array.from({ length: n }, (_, i) => ({
    type: 'fork', ts: '2026-12-06T00:00:00.000000000Z', tsNs: String(1_796_000_000_000_000_000n + BigInt(from + i)),
    pid: from + i, tid: from + i, ppid: 1, uid: 0, gid: 0, comm: 'node', agent: 'claude-code',
    cgroupId: '1', netns: 1, mntns: 1, agentPid: 0, startNs: String(from + i),
  })) as SensorEvent[];
}

function health(over: Partial<PbSensorHealth> = {}): PbSensorHealth {
  return {
    version: '0.1.0', backend: 'libbpf', attached: ['tp_sched_process_exec'], left_out: [], kernel: '6.18.0-test',
    started_ns: String(BigInt(Date.now() - 10_000) * 1_000_000n), events_by_type: { fork: '20' },
    kernel_ring_lost: '0', queue_to_js_lost: '0', stopped: false, heartbeat_ms: '30000', ...over,
  };
}

describe('the sensor\'s health report', () => {
  it('splits the addon\'s loss into kernel ring and queue to JS, and counts events by type', () => {
    const report = new SensorHealthReport({
      backend: () => 'bpftrace', unavailable: () => ['tp_btf_x'],
      counters: () => ({ delivered: 5, lost: 10, lostByType: { open: 10 }, truncated: 0, other: { queueDropped: 3 } }),
    }, 30_000);
    report.noteEvents(forks(1, 4));
    report.noteEvents([{ ...forks(9, 1)[0]!, type: 'exit', code: 0, signal: null } as SensorEvent]);
    const h = report.report(true);
    expect(h).toMatchObject({
      backend: 'bpftrace', attached: [], left_out: ['tp_btf_x'], kernel_ring_lost: '7', queue_to_js_lost: '3',
      events_by_type: { fork: '4', exit: '1' }, stopped: true, heartbeat_ms: '30000',
    });
    expect(h.version).toMatch(/^\d+\.\d+/);
    expect(BigInt(h.started_ns!)).toBeGreaterThan(0n);
  });
});

describe.skipIf(!built)('sensor status against a real collector', () => {
  let dir: string;
  let store: EventStore;
  let server: CollectorServer;
  let address: string;
  const clients: CollectorClient[] = [];

  const client = (sensorId: string, h: (stopped: boolean) => PbSensorHealth, extra: Partial<ConstructorParameters<typeof CollectorClient>[0]> = {}) => {
    const c = new CollectorClient({ address, sensorId, bootId: `boot-${sensorId}`, logger: quiet, health: h, heartbeatMs: 0, ...extra });
    clients.push(c);
    c.start();
    return c;
  };
  const status = (...args: string[]) => sensor(['status', '--collector', address, '--state-dir', join(dir, 'nostate'), ...args]);
  const statusJson = async (...args: string[]) => {
    const r = await status('--json', ...args);
    return { ...r, json: JSON.parse(r.out) as Record<string, any> };
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'status-'));
    store = EventStore.open({ stateDir: join(dir, 'state'), hashing: { enabled: false } });
    server = await CollectorServer.start({
      listen: `unix://${join(dir, 'c.sock')}`, store, logger: quiet,
      storePath: join(dir, 'state', 'events.db'), storeHealth: () => storeHealthRows(store.database),
    });
    address = `unix://${join(dir, 'c.sock')}`;
  });

  afterAll(async () => {
    for (const c of clients) await c.close(0);
    await server?.close(200);
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('healthy: exit 0, one plain object, numbers as numbers, every section named in the human view', async () => {
    const c = client('healthy-1', (stopped) => health({ stopped }));
    c.reportHealth();
    c.push(forks(1, 20));
    await until(() => c.counters().acked === 20, 'acks');
    await new Promise((r) => setTimeout(r, 1000)); // the counters after the acks ride on a report 500 ms later
    const { code, json, err } = await statusJson();
    expect(err).toBe('');
    expect(code).toBe(0);
    expect(json.state).toBe('healthy');
    // no JSON hidden in a string, and every loss figure a number
    const pairs = [...leaves(json)];
    expect(pairs.filter(([, v]) => typeof v === 'string' && /^\s*[[{]/.test(v))).toEqual([]);
    for (const k of ['kernelRingLost', 'queueToJsLost', 'sensorBufferDropped', 'hashQueueDropped', 'forwarderLost']) {
      expect(typeof json.loss[k], k).toBe('number');
    }
    expect(json.loss.dlpQueueDropped).toBeNull(); // no DLP queue runs: said, not a made-up zero
    expect(json.store).toMatchObject({ path: join(dir, 'state', 'events.db'), events: 20 });
    expect(json.store.batches).toBeGreaterThanOrEqual(2); // the start report and the events (empty batches carry reports)
    expect(typeof json.store.bytes).toBe('number');
    expect(json.store.oldestEventAt).toMatch(/^2026-/);
    expect(json.forwarders).toEqual([]); // present, empty: nothing registered
    const s = json.sensors.find((x: any) => x.sensorId === 'healthy-1');
    expect(s).toMatchObject({ state: 'running', backend: 'libbpf', kernel: '6.18.0-test', attached: ['tp_sched_process_exec'], leftOut: [] });
    expect(s.transport.acked).toBe(20);
    expect(typeof s.uptimeSeconds).toBe('number');

    const text = await status();
    expect(text.code).toBe(0);
    for (const section of ['status: HEALTHY', 'collector:', 'sensors:', 'events per second', 'loss since start, by stage:',
      'kernel ring', 'queue to JS', 'sensor buffer', 'hash queue', 'DLP queue', 'store:', 'retention:', 'forwarders:', 'agents:',
      'containment in force', 'files read: 0 hashed, 0 linked to a version hashed before (0 from the kernel\'s inode alone)']) {
      expect(text.out, section).toContain(section);
    }
    expect(text.out).toContain('backend libbpf, kernel 6.18.0-test');
    await c.close(5000); // stops in order: a silent sensor in the later tests is theirs only
  });

  it('events per second by type come from the reports over the last minute', async () => {
    let n = 0;
    const c = client('rate-1', (stopped) => health({ events_by_type: { open: String(n) }, stopped }));
    c.reportHealth();
    await until(() => c.counters().batchesAcked >= 1, 'first report acked');
    await new Promise((r) => setTimeout(r, 1500));
    n = 300;
    c.reportHealth();
    await new Promise((r) => setTimeout(r, 300));
    const { json } = await statusJson();
    const s = json.sensors.find((x: any) => x.sensorId === 'rate-1');
    expect(s.eventsPerSecond.open).toBeGreaterThan(60); // 300 events in ~1.5-2 s (not 300 over the 10 s run)
    expect(s.eventsPerSecond.open).toBeLessThan(300);
    await c.close(5000); // stops in order: not counted as silent later
  });

  it('a sensor that stopped in order is "stopped", not silent', async () => {
    const c = client('stopping-1', (stopped) => health({ stopped }));
    c.reportHealth();
    c.push(forks(100, 3));
    await until(() => c.counters().acked === 3, 'acks');
    await c.close(5000);
    await new Promise((r) => setTimeout(r, 1500));
    const { json } = await statusJson('--silent-after', '1');
    expect(json.sensors.find((x: any) => x.sensorId === 'stopping-1').state).toBe('stopped');
  });

  it('degraded (exit 1): a sensor silent past --silent-after', async () => {
    const c = client('silent-1', () => health());
    c.reportHealth();
    await until(() => c.counters().batchesAcked >= 1, 'its report acked');
    await new Promise((r) => setTimeout(r, 2600));
    const { code, json } = await statusJson('--silent-after', '1');
    expect(code).toBe(1);
    expect(json.state).toBe('degraded');
    expect(json.problems.join('\n')).toMatch(/sensor silent-1 .* silent for \d+ s/);
    await c.close(2000);
  });

  it('degraded (exit 1): a forced loss in the kernel ring and in the sensor, and left-out programs', async () => {
    const c = client('lossy-1', () => health({ kernel_ring_lost: '5', left_out: ['tp_btf_sched_switch'] }), {
      sensorLoss: () => ({ 'ring:open': 5, 'untracked-processes:claude-code': 2 }),
    });
    c.reportHealth();
    c.push(forks(200, 2));
    await until(() => c.counters().acked === 2, 'acks');
    const { code, json } = await statusJson();
    expect(code).toBe(1);
    expect(json.loss.kernelRingLost).toBeGreaterThanOrEqual(5);
    expect(json.loss.otherSensorLost).toBeGreaterThanOrEqual(2);
    const problems = json.problems.join('\n');
    expect(problems).toContain('kernelRingLost 5');
    expect(problems).toContain('left out programs: tp_btf_sched_switch');
    const s = json.sensors.find((x: any) => x.sensorId === 'lossy-1');
    expect(s.lossByCause).toEqual({ 'ring:open': 5, 'untracked-processes:claude-code': 2 });
    const text = await status();
    expect(text.code).toBe(1);
    expect(text.out).toContain('status: DEGRADED');
    expect(text.out).toContain('sensor loss: ring:open=5 untracked-processes:claude-code=2');
    await c.close(2000);
  });

  it('a forwarder reports destination, lag and last error through the registry; an error degrades', async () => {
    const now = BigInt(Date.now()) * 1_000_000n;
    const unregister = server.forwarders.register({
      health: () => ({
        name: 'syslog-1', destination: 'tcp://127.0.0.1:6514', lagEvents: 42, oldestUnshippedNs: now - 5_000_000_000n, shipped: 100,
        lost: 0, lastError: { message: 'connect ECONNREFUSED 127.0.0.1:6514', atNs: now }, lastSuccessNs: now - 6_000_000_000n,
      }),
    });
    try {
      const { code, json } = await statusJson();
      expect(code).toBe(1);
      const f = json.forwarders[0];
      expect(f).toMatchObject({ name: 'syslog-1', destination: 'tcp://127.0.0.1:6514', lagEvents: 42, shipped: 100, lost: 0,
        lastError: 'connect ECONNREFUSED 127.0.0.1:6514' });
      expect(f.lagSeconds).toBeGreaterThanOrEqual(5);
      expect(json.problems.join('\n')).toContain('forwarder syslog-1');
      expect((await status()).out).toMatch(/syslog-1 -> tcp:\/\/127\.0\.0\.1:6514: lag 42 events/);
    } finally {
      unregister();
    }
  });

  it('each agent with its state, live instances and last alert (the engine\'s tables)', async () => {
    const db = store.database;
    const inst = new InstanceWriter(db); // creates the engine's tables
    writeBaseline(db, {
      agent: 'claude-code', state: 'detecting', learnFrom: 1, detectFrom: 2, endedBy: 'complete', learnMs: 1, learnEvents: 1,
      body: '{}', digest: 'x', updatedAt: 3,
    });
    inst.create('healthy-1', 'claude-code', 4242, 1n);
    const ended = inst.create('healthy-1', 'claude-code', 4243, 1n);
    db.prepare('UPDATE agent_instances SET end_ns = 2 WHERE id = ?').run(ended);
    inst.create('healthy-1', 'codex', 5000, 1n);
    const alerts = new AlertChainWriter(db);
    db.transaction(() => alerts.append({
      kind: 'alert', alertId: null, tsNs: 1_796_000_000_000_000_000n, sensorId: 'healthy-1', agent: 'claude-code', agentPid: 4242,
      pid: 4242, rule: 'credential-read', severity: 'high', subject: 's', summary: 'read ~/.ssh/id_rsa', evidence: '[]', baseline: null,
      count: 1, ...alerts.batchLink(), createdAt: Date.now(),
    }))();
    const { json } = await statusJson();
    const claude = json.agents.find((a: any) => a.name === 'claude-code');
    expect(claude).toMatchObject({ state: 'detecting', liveInstances: 1, instances: 2, alerts: 1,
      lastAlert: { rule: 'credential-read', severity: 'high' } });
    expect(claude.lastAlert.at).toMatch(/^2026-/);
    expect(json.agents.find((a: any) => a.name === 'codex')).toMatchObject({ state: 'learning', liveInstances: 1, lastAlert: null });
    expect((await status()).out).toMatch(/claude-code: detecting, 1 live of 2 instances, 1 alerts, last alert \S+ high credential-read/);
  });

  it('down (exit 2): no collector answers; --json still prints an object saying so', async () => {
    const gone = `unix://${join(dir, 'nobody.sock')}`;
    const r = await sensor(['status', '--collector', gone, '--json', '--state-dir', join(dir, 'nostate')]);
    expect(r.code).toBe(2);
    const json = JSON.parse(r.out);
    expect(json).toMatchObject({ state: 'down', collector: { address: gone } });
    expect(json.problems[0]).toMatch(/no collector at .*nobody\.sock/);
    const text = await sensor(['status', '--collector', gone, '--state-dir', join(dir, 'nostate')]);
    expect(text.code).toBe(2);
    expect(text.out).toContain('status: DOWN');
  });
});

describe.skipIf(skipReason !== null)('sensor status of a real `sensor run` (root, BPF)', () => {
  it('healthy with the programs the kernel has attached, then down once it stops', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'status-run-'));
    const address = `unix://${join(dir, 'c.sock')}`;
    const run = sensorProc(['run', '--state-dir', join(dir, 'state'), '--listen', address, '--agent-comm', 'statusagent', '--stats-every', '0']);
    try {
      let r: Run = { code: -1, out: '', err: '' };
      await until(() => run.err().includes('sensor running'), 'sensor running', 120_000);
      // the first report goes out right after start; allow for a loaded machine
      for (let i = 0; i < 50; i++) {
        r = await sensor(['status', '--collector', address, '--json', '--state-dir', join(dir, 'state')]);
        if (JSON.parse(r.out).sensors?.length) break;
        await new Promise((res) => setTimeout(res, 200));
      }
      const json = JSON.parse(r.out);
      expect(json.problems).toEqual([]);
      expect(r.code).toBe(0);
      const s = json.sensors[0];
      expect(s.backend).toBe('libbpf');
      expect(s.kernel).toMatch(/^\d+\.\d+/);
      // names from the kernel (kallsyms), e.g. tp_sched_process_exec
      expect(s.attached.length).toBeGreaterThan(5);
      expect(s.attached.some((p: string) => /exec/.test(p))).toBe(true);
      // every thread but the ring reader at SCHED_IDLE, raised while events wait (background-threads.ts)
      expect(s.priority).toMatchObject({ mode: 'idle', boostAfterMs: 200 });
      expect(s.priority.threads).toBeGreaterThan(3);
      expect(json.store.path).toBe(join(dir, 'state', 'events.db'));
    } finally {
      run.child.kill('SIGINT');
      await run.exited;
    }
    const down = await sensor(['status', '--collector', address, '--json', '--state-dir', join(dir, 'state')]);
    expect(down.code).toBe(2);
    expect(JSON.parse(down.out).state).toBe('down');
    rmSync(dir, { recursive: true, force: true });
  }, 180_000);
});
