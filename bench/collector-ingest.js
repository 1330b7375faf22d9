#!/usr/bin/env node
// Transport + collector without the kernel (profiling aid for bench/e2e.js):
// a CollectorClient pushes synthetic open events as fast as they are acked
// (bounded in flight) to a collector child process on a private socket.
//   node bench/collector-ingest.js [events]
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { CollectorClient } from '../dist/sensor/transport/collector-client.js';
import { collectorStatus } from '../dist/sensor/transport/collector-rpc.js';
import { syntheticOpen } from './store-ingest.js';

const N = Number(process.argv[2] ?? 300_000);
const ROOT = new URL('..', import.meta.url).pathname;
const WORK = mkdtempSync(join(tmpdir(), 'as-collector-ingest-'));
const SOCKET = `unix://${join(WORK, 'c.sock')}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const cpu = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
};

/** CPU seconds per thread of a process, summed by thread name (main and store worker show apart). */
const threads = (pid) => {
  const out = {};
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const f = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = `${f.slice(f.indexOf("(") + 1, f.lastIndexOf(")"))}${tid === String(pid) ? " (main)" : ` ${tid}`}`;
      const v = f.split(') ')[1].split(' ');
      out[name] = (out[name] ?? 0) + (Number(v[11]) + Number(v[12])) / 100;
    } catch {
      // the thread ended
    }
  }
  return out;
};

const prof = process.env.PROF_DIR ? ['--cpu-prof', '--cpu-prof-dir', process.env.PROF_DIR] : [];
const child = spawn(process.execPath, [...prof, join(ROOT, 'bin/sensor.js'), 'collector', '--listen', SOCKET, '--state-dir', join(WORK, 'state')],
  { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, LOG_LEVEL: 'warn' } });
const exited = new Promise((r) => child.on('exit', r));
for (let i = 0; i < 100; i++) {
  try {
    await collectorStatus({ address: SOCKET, timeoutMs: 500 });
    break;
  } catch {
    await sleep(100);
  }
}
const client = new CollectorClient({ address: SOCKET, sensorId: 'ci', bootId: 'b', bufferBytes: 1 << 30, logger: pino({ level: 'warn' }) });
client.start();
const base = BigInt(Date.now()) * 1_000_000n;
const c0 = { me: cpu(process.pid), collector: cpu(child.pid) };
const th0 = threads(child.pid);
const t0 = performance.now();
let pushed = 0;
const inFlight = Number(process.env.IN_FLIGHT ?? 40_000);
while (pushed < N) {
  const c = client.counters();
  if (pushed - c.acked >= inFlight) {
    await sleep(1);
    continue;
  }
  const chunk = [];
  for (let i = 0; i < 1000; i++, pushed++) chunk.push(syntheticOpen(pushed, base + BigInt(pushed)));
  client.push(chunk);
  await new Promise((r) => setImmediate(r));
}
client.flush();
while (client.counters().acked < N) await sleep(1);
const secs = (performance.now() - t0) / 1000;
const c1 = { me: cpu(process.pid) - c0.me, collector: cpu(child.pid) - c0.collector };
console.log(`collector ingest: ${Math.round(N / secs)} events/s acked (${N} in ${secs.toFixed(2)} s); ` +
  `client ${((1e6 * c1.me) / N).toFixed(1)} us/event (incl. event building), collector ${((1e6 * c1.collector) / N).toFixed(1)} us/event`);
const th1 = threads(child.pid);
const perThread = Object.entries(th1).map(([k, v]) => [k, v - (th0[k] ?? 0)]).filter(([, v]) => v > 0.005)
  .sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${((1e6 * v) / N).toFixed(1)}`);
console.log(`  collector threads, us/event: ${perThread.join(', ')}`);
await client.close(1000);
child.kill('SIGINT');
await exited;
rmSync(WORK, { recursive: true, force: true });
