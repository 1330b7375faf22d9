#!/usr/bin/env node
// End-to-end benchmark: kernel -> Sensor (libbpf) -> CollectorClient -> gRPC
// over a private unix socket -> collector -> SQLite commit -> ack. Prints the
// figures beside their targets. Needs root and the built tree
// (bash scripts/build.sh). BENCH_QUICK=1: under a minute; full: under 5.
//
// The collector runs as its own process (`sensor collector`), as it does in a
// deployment with a separate collector, so its RSS is its own;
// E2E_EMBEDDED=1 runs it inside this process instead, as `sensor run` does.
// The collector itself keeps its
// store on a worker thread (collector/server/store-worker.ts); the cpu line
// shows its busiest threads apart, the store worker being the one that caps
// throughput.
// Latency is kernel ts -> the commit's transaction start (batches.received_at,
// epoch ms), read back from the store after the phase.
//
// Diagnostics: E2E_TIMELINE=1 prints delivered/sent/acked every 250 ms of the
// throughput phase and the workload's own CPU; E2E_COLLECTOR_PROF=<dir>
// writes a CPU profile of the collector process (never profile this process:
// the profiler's signals make the BPF verifier return EAGAIN).
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { Sensor } from '../dist/sensor/sensor.js';
import { LibbpfBackend } from '../dist/sensor/backends/libbpf.js';
import { CollectorClient } from '../dist/sensor/transport/collector-client.js';
import { collectorStatus } from '../dist/sensor/transport/collector-rpc.js';
import { newBootId } from '../dist/sensor/transport/identity.js';

const ROOT = new URL('..', import.meta.url).pathname;
const QUICK = process.env.BENCH_QUICK === '1';
// '1': the collector in this process, as `sensor run` embeds it.
const EMBEDDED = process.env.E2E_EMBEDDED === '1';
const WORK = mkdtempSync(join(tmpdir(), 'agent-sensor-e2e-'));
const STATE = join(WORK, 'state');
const SOCKET = `unix://${join(WORK, 'collector.sock')}`;
const AGENT = join(WORK, 'as-e2e-agent');
const READER = join(WORK, 'as-e2e-reader'); // a copy of cat: opens files for read
const DATA = join(WORK, 'data.txt');

const PLAN = QUICK
  ? { rate: 100_000, secs: 3, latencyRate: 10_000, latencySecs: 3, files: 24, fileMiB: 4 }
  : { rate: 100_000, secs: 10, latencyRate: 10_000, latencySecs: 10, files: 64, fileMiB: 4 };
const DEADLINE_MS = QUICK ? 60_000 : 300_000;

const log = pino({ level: 'warn' }, pino.destination(2));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const fmt = (n) => Math.round(n).toLocaleString('en-US');

function prepare() {
  execFileSync('cc', ['-O2', '-pthread', '-o', AGENT, join(ROOT, 'bench/workload.c')]);
  copyFileSync('/bin/cat', READER);
  writeFileSync(DATA, 'benchmark payload\n');
}

async function startCollector() {
  if (EMBEDDED) {
    const { startCollector: start } = await import('../dist/sensor/cli/commands/collector.js');
    const c = await start({ listen: SOCKET, stateDir: STATE, maxMessageBytes: 16 << 20 }, log);
    return { pid: process.pid, stop: c.stop };
  }
  const prof = process.env.E2E_COLLECTOR_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.E2E_COLLECTOR_PROF] : [];
  const child = spawn(process.execPath, [...prof, join(ROOT, 'bin/sensor.js'), 'collector', '--listen', SOCKET, '--state-dir', STATE],
    { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, LOG_LEVEL: 'warn' } });
  const exited = new Promise((r) => child.on('exit', r));
  for (let i = 0; i < 200; i++) {
    try {
      await collectorStatus({ address: SOCKET, timeoutMs: 500 });
      break;
    } catch {
      if (child.exitCode !== null) throw new Error('collector exited at start');
      await sleep(100);
    }
  }
  return {
    pid: child.pid,
    stop: async () => {
      child.kill('SIGINT');
      await Promise.race([exited, sleep(15_000)]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
    kill: () => child.exitCode === null && child.kill('SIGKILL'),
  };
}

/** The store's figures from `Status`: its health message and the collector's file counters. */
const storeOf = async () => {
  const st = await collectorStatus({ address: SOCKET, timeoutMs: 10_000 });
  const n = (v) => Number(v ?? 0);
  const c = st.counters ?? {};
  return {
    events: n(st.store?.events ?? st.events), hashDropped: n(st.store?.hash_dropped),
    hashQueue: n(st.store?.hash_queue) + n(c.deferredHashWrites), hashed: n(c.filesHashed), hashCacheHits: n(c.filesLinked),
  };
};

function run(binary, args, stdout = 'pipe') {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ['ignore', stdout, 'inherit'] });
    let out = '';
    child.stdout?.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`${binary} exited ${code}`))));
  });
}

/** Waits until the collector acked every event the sensor handed over. */
async function settle(client, seen, timeoutMs) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const c = client.counters();
    if (c.acked + c.dropped + c.rejected >= seen() && c.buffered === 0) return performance.now();
    if (Date.now() > until) return null;
    await sleep(2);
  }
}

function rssKiB(pid) {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const v = (k) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? 0);
  return { rss: v('VmRSS'), hwm: v('VmHWM') };
}

/** CPU seconds (user + system) a process used so far. */
function cpuSecs(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
}

/** CPU seconds per thread of a process (the collector's main thread and its store worker apart). */
function threadSecs(pid) {
  const out = new Map();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const s = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const f = s.split(') ')[1].split(' ');
      out.set(tid, { name: tid === String(pid) ? 'main' : s.slice(s.indexOf('(') + 1, s.lastIndexOf(')')), secs: (Number(f[11]) + Number(f[12])) / 100 });
    } catch {
      // the thread ended
    }
  }
  return out;
}

/** The busiest threads between two threadSecs() samples, as 'name tid: x us/event'. */
function busiestThreads(before, after, events) {
  return [...after].map(([tid, t]) => ({ tid, name: t.name, secs: t.secs - (before.get(tid)?.secs ?? 0) }))
    .filter((t) => t.secs > 0.01).sort((a, b) => b.secs - a.secs).slice(0, 3)
    .map((t) => `${t.name}${t.name === 'main' ? '' : ` ${t.tid}`} ${((1e6 * t.secs) / events).toFixed(1)}`).join(', ');
}

const pct = (xs, p) => xs[Math.min(xs.length - 1, Math.floor((xs.length - 1) * p))];

async function main() {
  if (process.getuid() !== 0) {
    console.error('e2e bench: needs root (loading BPF)');
    process.exit(1);
  }
  prepare();
  const collector = await startCollector();
  process.on('exit', () => {
    collector.kill?.();
    rmSync(WORK, { recursive: true, force: true });
  });
  const guard = setTimeout(() => {
    console.error(`e2e bench: over its ${DEADLINE_MS / 1000} s bound; stopping`);
    collector.kill?.();
    process.exit(2);
  }, DEADLINE_MS);

  const client = new CollectorClient({
    address: SOCKET, sensorId: 'e2e-bench', bootId: newBootId(), bufferBytes: 1 << 30, bufferBatches: 1_000_000, logger: log,
  });
  client.start();
  const backend = new LibbpfBackend({ traceAll: false, selfPid: process.pid, ringBytes: 64 << 20 });
  const agents = [{ name: 'bench', exe: [], comm: ['as-e2e-agent', 'as-e2e-reader'], cgroup: [], argv: [], interpreters: [] }];
  const sensor = new Sensor({ backend, agents, scanProc: false, enrich: false, log: () => {} });
  let delivered = 0;
  sensor.onEvents((events) => {
    delivered += events.length;
    client.push(events);
  });
  await sensor.start();
  const lines = [];
  const say = (s) => {
    lines.push(s);
    console.log(s);
  };
  say(`e2e bench (${QUICK ? 'quick' : 'full'}; collector ${EMBEDDED ? 'embedded in the sensor process' : 'in its own process'}; ${new Date().toISOString()})`);

  // 1. Throughput: paced opens at PLAN.rate, until every event is committed and acked.
  {
    const before = delivered;
    const cpu0 = { sensor: cpuSecs(process.pid), collector: cpuSecs(collector.pid) };
    const threads0 = EMBEDDED ? undefined : threadSecs(collector.pid);
    const t0 = performance.now();
    const timeline = [];
    const sampler = process.env.E2E_TIMELINE ? setInterval(() => {
      const t = client.counters();
      timeline.push(`${((performance.now() - t0) / 1000).toFixed(1)}s delivered ${delivered - before} sent ${t.sent} acked ${t.acked} buffered ${t.buffered}`);
    }, 250) : undefined;
    const out = process.env.E2E_TIMELINE
      ? await run('bash', ['-c', `TIMEFORMAT='workload cpu: user %U s, sys %S s'; time ${AGENT} rate ${PLAN.rate} ${PLAN.secs} ${DATA}`])
      : await run(AGENT, ['rate', String(PLAN.rate), String(PLAN.secs), DATA]);
    const tWorkload = performance.now();
    const done = await settle(client, () => delivered, 120_000);
    clearInterval(sampler);
    if (timeline.length) console.log(timeline.join('\n'));
    const opens = Number(out.split(' ')[0]);
    const cpu = { sensor: cpuSecs(process.pid) - cpu0.sensor, collector: cpuSecs(collector.pid) - cpu0.collector };
    const threads1 = EMBEDDED ? undefined : threadSecs(collector.pid);
    const c = sensor.counters();
    const t = client.counters();
    const events = delivered - before;
    const secs = ((done ?? performance.now()) - t0) / 1000;
    const loss = c.lost + t.dropped + t.rejected + (done === null ? t.buffered : 0);
    say(`throughput: offered ${fmt(PLAN.rate)} opens/s for ${PLAN.secs} s (${fmt(opens)} opens in ${((tWorkload - t0) / 1000).toFixed(2)} s); ` +
      `${fmt(events)} events committed+acked in ${secs.toFixed(2)} s = ${fmt(events / secs)} events/s end to end ` +
      `(last ack ${((done ?? tWorkload) - tWorkload).toFixed(0)} ms after the workload ended)    target >= 100,000/s`);
    say(`  loss: kernel lost ${c.lost}, transport dropped ${t.dropped}, rejected ${t.rejected}, unacked ${done === null ? t.buffered : 0}, ` +
      `delivered-opens ${events - opens} (exec/exit of the agent)    target 0 lost => ${loss === 0 && events >= opens ? 'OK' : 'LOSS'}`);
    if (!EMBEDDED) {
      say(`  cpu: sensor process ${cpu.sensor.toFixed(2)} s (${((1e6 * cpu.sensor) / events).toFixed(1)} us/event), ` +
        `collector ${cpu.collector.toFixed(2)} s (${((1e6 * cpu.collector) / events).toFixed(1)} us/event; ` +
        `busiest threads, us/event: ${busiestThreads(threads0, threads1, events)})`);
    }
  }
  const afterBulk = await storeOf();
  const rss = rssKiB(collector.pid);
  say(`collector RSS after ${fmt(afterBulk.events)} events: ${(rss.rss / 1024).toFixed(0)} MiB (peak ${(rss.hwm / 1024).toFixed(0)} MiB)` +
    `${EMBEDDED ? ' [whole sensor process]' : ''}; hash jobs dropped (queue full) ${fmt(afterBulk.hashDropped)}`);

  // 2. Latency at a steady 10k/s: kernel ts -> commit, from the store itself.
  {
    const fromNs = BigInt(Date.now()) * 1_000_000n;
    await run(AGENT, ['rate', String(PLAN.latencyRate), String(PLAN.latencySecs), DATA]);
    const toNs = BigInt(Date.now()) * 1_000_000n;
    await settle(client, () => delivered, 30_000);
    const db = new Database(join(STATE, 'events.db'), { readonly: true });
    const rows = db.prepare(`SELECT e.ts_ns AS ts, b.received_at AS at FROM events e JOIN batches b ON b.id = e.batch_id
                              WHERE e.type = 4 AND e.ts_ns >= ? AND e.ts_ns < ?`).safeIntegers(true).all(fromNs, toNs);
    db.close();
    const ms = rows.map((r) => Number(r.at * 1_000_000n - r.ts) / 1e6).sort((a, b) => a - b);
    say(`latency kernel ts -> commit at ${fmt(PLAN.latencyRate)} events/s (${fmt(ms.length)} events): ` +
      `p50 ${pct(ms, 0.5).toFixed(1)} ms, p99 ${pct(ms, 0.99).toFixed(1)} ms, max ${ms[ms.length - 1].toFixed(1)} ms    target p99 <= 250 ms`);
  }

  // 3. Hashing: fresh files read once (the collector hashes each), then re-read (cache hits).
  {
    const files = [];
    for (let i = 0; i < PLAN.files; i++) {
      const f = join(WORK, `fresh-${i}.bin`);
      writeFileSync(f, Buffer.alloc(PLAN.fileMiB << 20, `${i} `));
      files.push(f);
    }
    const bytes = PLAN.files * PLAN.fileMiB * (1 << 20);
    // Only our files count (cat also opens its libraries and locale files for read).
    const db = new Database(join(STATE, 'events.db'), { readonly: true });
    const ours = db.prepare(`SELECT count(*) AS n FROM files f JOIN strings s ON s.id = f.path_sid
                              WHERE CAST(s.bytes AS TEXT) GLOB ? AND f.state = 'hashed'`).pluck();
    const glob = join(WORK, 'fresh-*.bin');
    const idle = async () => {
      let s;
      for (let i = 0; i < 1000; i++) {
        s = await storeOf();
        if (s.hashQueue === 0) break;
        await sleep(10);
      }
      return s;
    };
    await idle(); // the earlier phases' jobs first
    const t0 = performance.now();
    await run(READER, files, 'ignore');
    let hashed = 0;
    for (let i = 0; i < 3000 && hashed < PLAN.files; i++) {
      await sleep(5);
      hashed = ours.get(glob);
    }
    const secs = (performance.now() - t0) / 1000;
    db.close();
    say(`hashing fresh files: ${hashed}/${PLAN.files} files of ${PLAN.fileMiB} MiB in ${secs.toFixed(2)} s = ` +
      `${(bytes / (1 << 20) / secs).toFixed(0)} MiB/s (page cache warm; open, read, hash and commit included)`);
    await settle(client, () => delivered, 30_000);
    const s1 = await idle();
    for (let r = 0; r < 2; r++) await run(READER, files, 'ignore');
    await settle(client, () => delivered, 30_000);
    const s2 = await idle();
    const hits = s2.hashCacheHits - s1.hashCacheHits;
    const misses = s2.hashed - s1.hashed;
    say(`hash cache on re-reads of unchanged files: ${hits} hits, ${misses} hashed again ` +
      `(${((100 * hits) / Math.max(1, hits + misses)).toFixed(1)} % hit rate; ${2 * PLAN.files} data files + cat's own libraries)`);
  }

  // 4. Bytes per stored event: after the collector closed the store (WAL checkpointed).
  await sensor.stop();
  await settle(client, () => delivered, 30_000);
  const final = await storeOf();
  await client.close(5000);
  await collector.stop();
  const size = (p) => (existsSync(p) ? statSync(p).size : 0);
  const onDisk = size(join(STATE, 'events.db')) + size(join(STATE, 'events.db-wal'));
  say(`bytes per stored event: ${(onDisk / final.events).toFixed(1)} (${fmt(onDisk)} B for ${fmt(final.events)} events, after checkpoint)    target <= 200`);
  clearTimeout(guard);
  return lines;
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`e2e bench failed: ${err.stack ?? err}`);
    process.exit(1);
  },
);
