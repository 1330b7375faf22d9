#!/usr/bin/env node
// Detection benchmark (issue 11): what the judging engine costs and how fast
// it answers. Needs root and the built tree. BENCH_QUICK=1: about a minute.
//   1. kernel -> store events/s with the detectors off (`--no-detect`) and on
//      (the agent's baseline frozen, so every detector judges every event),
//      same workload, each on a fresh store; and how soon the engine has
//      judged everything after the last ack.
//   2. alert latency: a scripted agent connects to new ports after its
//      baseline is frozen; latency = alert row written (created_at) - the
//      event's kernel time, p50/p99.
//   3. baseline size per agent: the stored body of each agent above, and of a
//      synthetic agent fed far more distinct paths, destinations and
//      executables than the caps (the size stays bounded).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { Sensor } from '../dist/sensor/sensor.js';
import { LibbpfBackend } from '../dist/sensor/backends/libbpf.js';
import { CollectorClient } from '../dist/sensor/transport/collector-client.js';
import { collectorStatus } from '../dist/sensor/transport/collector-rpc.js';
import { newBootId } from '../dist/sensor/transport/identity.js';
import { EventStore } from '../dist/collector/store/event-store.js';
import { attachDetection } from '../dist/collector/detect/attach.js';

const ROOT = new URL('..', import.meta.url).pathname;
const QUICK = process.env.BENCH_QUICK === '1';
const WORK = mkdtempSync(join(tmpdir(), 'agent-sensor-detect-bench-'));
const BIN = join(ROOT, 'bin/sensor.js');
const LOAD = join(WORK, 'as-det-load'); // bench/workload.c
const SCRIPTED = join(WORK, 'as-det-agent'); // test/fixtures/detect-agent.c
const DATA = join(WORK, 'data.txt');
const PLAN = QUICK ? { rate: 60_000, secs: 3, rounds: 1, alertRuns: 10, portsPerRun: 10 } : { rate: 60_000, secs: 8, rounds: 2, alertRuns: 30, portsPerRun: 10 };
const DEADLINE_MS = QUICK ? 120_000 : 400_000;

const log = pino({ level: 'warn' }, pino.destination(2));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const fmt = (n) => Math.round(n).toLocaleString('en-US');
const pct = (xs, p) => xs[Math.min(xs.length - 1, Math.floor((xs.length - 1) * p))];

function prepare() {
  execFileSync('cc', ['-O2', '-static', '-pthread', '-o', LOAD, join(ROOT, 'bench/workload.c')]);
  execFileSync('cc', ['-O1', '-o', SCRIPTED, join(ROOT, 'test/fixtures/detect-agent.c')]);
  writeFileSync(DATA, 'benchmark payload\n');
}

async function startCollector(stateDir, socket, detect) {
  const child = spawn(process.execPath, [BIN, 'collector', '--listen', `unix://${socket}`, '--state-dir', stateDir, ...(detect ? [] : ['--no-detect'])],
    { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, LOG_LEVEL: 'error' } });
  const exited = new Promise((r) => child.on('exit', r));
  for (let i = 0; i < 200; i++) {
    try {
      await collectorStatus({ address: `unix://${socket}`, timeoutMs: 500 });
      break;
    } catch {
      if (child.exitCode !== null) throw new Error('collector exited at start');
      await sleep(100);
    }
  }
  return {
    stop: async () => {
      child.kill('SIGINT');
      await Promise.race([exited, sleep(15_000)]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
    kill: () => child.exitCode === null && child.kill('SIGKILL'),
  };
}

function runAsync(binary, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`${binary} exited ${code}`))));
  });
}

async function settle(client, seen, timeoutMs) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const c = client.counters();
    if (c.acked + c.dropped + c.rejected >= seen() && c.buffered === 0) return performance.now();
    if (Date.now() > until) return null;
    await sleep(2);
  }
}

const freeze = (stateDir, agent) => execFileSync(process.execPath, [BIN, 'baseline', '--state-dir', stateDir, '--agent', agent, '--freeze'], { encoding: 'utf8' });

/** Events of the agent the engine has judged: instance rows carry their counts once the instance exits. */
function judgedEvents(stateDir, agent) {
  const db = new Database(join(stateDir, 'events.db'), { readonly: true });
  try {
    return db.prepare('SELECT coalesce(sum(events), 0) AS n FROM agent_instances WHERE agent = ?').pluck().get(agent);
  } catch {
    return 0;
  } finally {
    db.close();
  }
}

/** One throughput phase on a fresh store: warm-up, freeze (detect on), then the measured workload. */
async function throughput(sensor, detect, round) {
  const stateDir = join(WORK, `state-${detect ? 'on' : 'off'}-${round}`);
  const socket = join(WORK, `c-${detect ? 'on' : 'off'}-${round}.sock`);
  const collector = await startCollector(stateDir, socket, detect);
  const client = new CollectorClient({ address: `unix://${socket}`, sensorId: 'detect-bench', bootId: newBootId(), bufferBytes: 1 << 30, bufferBatches: 1_000_000, logger: log });
  client.start();
  let delivered = 0;
  const off = sensor.onEvents((events) => {
    delivered += events.length;
    client.push(events);
  });
  try {
    await runAsync(LOAD, ['rate', '20000', '1', DATA]); // warm-up: what the baseline learns
    await settle(client, () => delivered, 60_000);
    if (detect) {
      await sleep(500);
      freeze(stateDir, 'bench');
    }
    const before = delivered;
    const judgedBefore = detect ? judgedEvents(stateDir, 'bench') : 0;
    const t0 = performance.now();
    await runAsync(LOAD, ['rate', String(PLAN.rate), String(PLAN.secs), DATA]);
    const done = await settle(client, () => delivered, 120_000);
    const events = delivered - before;
    const secs = ((done ?? performance.now()) - t0) / 1000;
    let judgedLagMs = null;
    if (detect) {
      const deadline = Date.now() + 60_000;
      while (judgedEvents(stateDir, 'bench') - judgedBefore < events && Date.now() < deadline) await sleep(20);
      judgedLagMs = performance.now() - (done ?? performance.now());
    }
    return { events, rate: events / secs, judgedLagMs, stateDir };
  } finally {
    off();
    await client.close(5000);
    await collector.stop();
  }
}

/** Alert latency: an agent with a frozen baseline connects to new ports. */
async function alertLatency(sensor) {
  const stateDir = join(WORK, 'state-alerts');
  const socket = join(WORK, 'c-alerts.sock');
  const collector = await startCollector(stateDir, socket, true);
  const client = new CollectorClient({ address: `unix://${socket}`, sensorId: 'detect-bench', bootId: newBootId(), logger: log });
  client.start();
  let delivered = 0;
  const off = sensor.onEvents((events) => {
    delivered += events.length;
    client.push(events);
  });
  try {
    for (let i = 0; i < 3; i++) spawnSync(SCRIPTED, [`r:${DATA}`, 'c:9', 'x:/bin/true'], { cwd: WORK });
    await settle(client, () => delivered, 30_000);
    await sleep(500);
    freeze(stateDir, 'bench-alerts');
    let port = 20_000;
    for (let i = 0; i < PLAN.alertRuns; i++) {
      const steps = [`r:${DATA}`, 'c:9'];
      for (let k = 0; k < PLAN.portsPerRun; k++) steps.push(`c:${port++}`);
      spawnSync(SCRIPTED, steps, { cwd: WORK });
      await sleep(30);
    }
    await settle(client, () => delivered, 30_000);
    await sleep(1500);
    const db = new Database(join(stateDir, 'events.db'), { readonly: true });
    const rows = db.prepare(`SELECT a.ts_ns, a.created_at, b.received_at FROM alert_chain a
        JOIN events e ON e.id = json_extract(a.evidence, '$[0]') JOIN batches b ON b.id = e.batch_id
       WHERE a.kind = 'alert' AND a.rule = 'new_destination'`).safeIntegers(true).all();
    db.close();
    const ms = rows.map((r) => Number(r.created_at * 1_000_000n - r.ts_ns) / 1e6).sort((a, b) => a - b);
    const afterCommit = rows.map((r) => Number(r.created_at - r.received_at)).sort((a, b) => a - b);
    return { ms, afterCommit, expected: PLAN.alertRuns * PLAN.portsPerRun, stateDir };
  } finally {
    off();
    await client.close(5000);
    await collector.stop();
  }
}

function baselineBytes(stateDir) {
  const db = new Database(join(stateDir, 'events.db'), { readonly: true });
  try {
    return db.prepare('SELECT agent, length(body) AS bytes FROM baselines ORDER BY agent').all();
  } finally {
    db.close();
  }
}

/** A synthetic agent that touches far more than the caps: the baseline stays bounded. */
async function boundedBaseline() {
  const stateDir = join(WORK, 'state-synthetic');
  const store = EventStore.open({ stateDir, hashing: { enabled: false } });
  const engine = attachDetection(store, {}, log);
  let ns = BigInt(Date.now()) * 1_000_000n;
  const base = (type, pid, extra) => ({
    type, ts: '', tsNs: String((ns += 50_000_000n)), pid, tid: pid, ppid: 1, uid: 0, gid: 0, comm: 'synthetic', agent: 'synthetic',
    agentPid: 1000, cgroupId: '1', netns: 1, mntns: 1, ...extra,
  });
  let seq = 0n;
  // Names without digits, so that generalisation keeps them apart (digits collapse to #).
  const word = (k) => [...k.toString(26)].map((c) => String.fromCharCode(97 + parseInt(c, 26))).join('');
  const N = QUICK ? 20_000 : 60_000;
  for (let i = 0; i < N; i += 1000) {
    const events = [];
    for (let k = i; k < i + 1000; k++) {
      events.push(base('open', 1000, { path: `/srv/${word(k)}/sub/f${k}`, flags: 0, mode: 0, access: 'read', result: 3, syscall: 'openat' }));
      if (k % 3 === 0) events.push(base('connect', 1000, { family: 'inet', proto: 'tcp', addr: `203.0.${(k >> 8) & 255}.${k & 255}`, port: 443, result: 0 }));
      if (k % 5 === 0) events.push(base('exec', 1001 + (k % 50), { filename: `/opt/${word(k)}/bin/run`, argv: ['run'], startNs: '1', exe: `/opt/${word(k)}/bin/run` }));
    }
    store.commitBatch({ sensorId: 'synthetic', bootId: 'b', seq: ++seq, events });
  }
  // The commits above ran back to back; the engine judges them only now, so this is its time alone.
  const t0 = performance.now();
  await engine.idle();
  const judgeMs = performance.now() - t0;
  const judged = engine.counters.events;
  await store.close();
  const b = baselineBytes(stateDir).find((r) => r.agent === 'synthetic');
  return { distinct: N, bytes: b?.bytes ?? 0, usPerEvent: (1000 * judgeMs) / judged, judged };
}

async function main() {
  if (process.getuid() !== 0) {
    console.error('detect bench: needs root (loading BPF)');
    process.exit(1);
  }
  prepare();
  const guard = setTimeout(() => {
    console.error(`detect bench: over its ${DEADLINE_MS / 1000} s bound; stopping`);
    process.exit(2);
  }, DEADLINE_MS);
  const backend = new LibbpfBackend({ traceAll: false, selfPid: process.pid, ringBytes: 64 << 20 });
  const agents = [
    { name: 'bench', exe: [], comm: ['as-det-load'], cgroup: [], argv: [], interpreters: [] },
    { name: 'bench-alerts', exe: [], comm: ['as-det-agent'], cgroup: [], argv: [], interpreters: [] },
  ];
  const sensor = new Sensor({ backend, agents, scanProc: false, log: () => {} });
  await sensor.start();
  console.log(`detect bench (${QUICK ? 'quick' : 'full'}; collector in its own process, store and detectors on its worker thread; ${new Date().toISOString()})`);

  const results = { off: [], on: [] };
  let lastOn;
  for (let round = 0; round < PLAN.rounds; round++) {
    for (const detect of [false, true]) {
      const r = await throughput(sensor, detect, round);
      results[detect ? 'on' : 'off'].push(r.rate);
      if (detect) lastOn = r;
    }
  }
  const best = (xs) => Math.max(...xs);
  const off = best(results.off);
  const on = best(results.on);
  console.log(`kernel -> store, ${fmt(PLAN.rate)} opens/s offered for ${PLAN.secs} s (best of ${PLAN.rounds}): detectors off ${fmt(off)} events/s, ` +
    `on ${fmt(on)} events/s = ${(on / off).toFixed(2)}x of off    target >= 0.80x => ${on / off >= 0.8 ? 'OK' : 'BELOW'}`);
  console.log(`  all ${fmt(lastOn.events)} events judged ${lastOn.judgedLagMs === null ? '?' : `${fmt(lastOn.judgedLagMs)} ms`} after the last ack (detectors run after commit, off the ingest path)`);

  const lat = await alertLatency(sensor);
  if (lat.ms.length > 0) {
    console.log(`alert latency, event -> alert stored (${lat.ms.length}/${lat.expected} new_destination alerts): ` +
      `p50 ${pct(lat.ms, 0.5).toFixed(0)} ms, p99 ${pct(lat.ms, 0.99).toFixed(0)} ms, max ${lat.ms[lat.ms.length - 1].toFixed(0)} ms    target <= 1000 ms`);
    console.log(`  of which after the commit of the event's batch: p50 ${pct(lat.afterCommit, 0.5)} ms, p99 ${pct(lat.afterCommit, 0.99)} ms`);
  } else {
    console.log(`alert latency: no alert stored (expected ${lat.expected})`);
  }
  const sizes = [...baselineBytes(lastOn.stateDir), ...baselineBytes(lat.stateDir)];
  const synthetic = await boundedBaseline();
  console.log(`baseline size per agent: ${sizes.map((s) => `${s.agent} ${fmt(s.bytes)} B`).join(', ')}; ` +
    `synthetic agent touching ${fmt(synthetic.distinct)} distinct areas (and a third as many destinations, a fifth as many executables): ${fmt(synthetic.bytes)} B (sets capped at 4,096 keys each)`);
  console.log(`judging cost, learning that synthetic agent (every event new): ${synthetic.usPerEvent.toFixed(1)} us/event over ${fmt(synthetic.judged)} events on the store's thread`);
  await sensor.stop();
  clearTimeout(guard);
}

main().then(
  () => {
    rmSync(WORK, { recursive: true, force: true });
    process.exit(0);
  },
  (err) => {
    console.error(`detect bench failed: ${err.stack ?? err}`);
    rmSync(WORK, { recursive: true, force: true });
    process.exit(1);
  },
);

