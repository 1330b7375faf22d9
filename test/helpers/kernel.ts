// Shared helpers for tests that run against the real kernel: why a test must
// skip, building test programs, a started Sensor that records its events,
// waiting for events, and the kernel's own counters map for cross-checks.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { AgentSpec } from '../../sensor/agents/config.js';
import { LibbpfBackend, type LibbpfTuning } from '../../sensor/backends/libbpf.js';
import type { SensorEvent } from '../../proto/events/types.js';
import { Sensor, type SensorOptions } from '../../sensor/sensor.js';

export const ROOT = resolve(import.meta.dirname, '../..');
export const ADDON = join(ROOT, 'build/Release/agent_sensor.node');
export const BPF_OBJECT = join(ROOT, 'bpf/.output/sensor.bpf.o');

/** Why kernel tests cannot run here, or null when they can. Print it when skipping. */
export function kernelSkipReason(): string | null {
  if (process.getuid?.() !== 0) return 'not root: loading BPF programs needs root (CAP_BPF, CAP_PERFMON)';
  if (!existsSync(ADDON)) return `${ADDON} missing: run \`bash scripts/build.sh --native\``;
  if (!existsSync(BPF_OBJECT)) return `${BPF_OBJECT} missing: run \`make -C bpf\``;
  return null;
}

const built = new Map<string, string>();

/**
 * Compiles a C file from test/fixtures into a temp dir, named `name` (the
 * name becomes the process comm, so make it distinctive). Static when
 * possible so the program makes no loader syscalls. Cached per process.
 */
export function buildFixture(source: string, name: string): string {
  const key = `${source}\0${name}`;
  const hit = built.get(key);
  if (hit) return hit;
  const dir = mkdtempSync(join(tmpdir(), 'as-fixture-'));
  const out = join(dir, name);
  const src = join(ROOT, 'test/fixtures', source);
  try {
    execFileSync('cc', ['-static', '-O1', '-o', out, src], { stdio: 'pipe' });
  } catch {
    execFileSync('cc', ['-O1', '-o', out, src], { stdio: 'pipe' });
  }
  built.set(key, out);
  return out;
}

export interface RecordingSensor {
  sensor: Sensor;
  backend: LibbpfBackend;
  events: SensorEvent[];
  stop(): Promise<void>;
}

/** A started Sensor on the libbpf backend that appends every event to `events`. */
export async function startSensor(
  agents: AgentSpec[],
  opts: Partial<Omit<SensorOptions, 'backend' | 'agents'>> & { ringBytes?: number; trackedMax?: number; watchCompat?: boolean; watchOpenRaces?: boolean; tuning?: LibbpfTuning } = {},
): Promise<RecordingSensor> {
  const backend = new LibbpfBackend(
    { traceAll: opts.traceAll ?? false, selfPid: process.pid, ringBytes: opts.ringBytes, trackedMax: opts.trackedMax, watchCompat: opts.watchCompat, watchOpenRaces: opts.watchOpenRaces },
    { pollMs: 10, ...opts.tuning },
  );
  const logs: string[] = [];
  const sensor = new Sensor({ log: (m) => logs.push(m), ...opts, backend, agents });
  const events: SensorEvent[] = [];
  sensor.onEvents((evs) => {
    for (const e of evs) events.push(e); // not push(...evs): a large batch would overflow the argument stack
  });
  await sensor.start();
  return { sensor, backend, events, stop: () => sensor.stop() };
}

export function agent(name: string, sel: Partial<Omit<AgentSpec, 'name'>>): AgentSpec {
  return { name, exe: [], comm: [], cgroup: [], argv: [], interpreters: ['node', 'python3'], ...sel };
}

/** Resolves once pred(events) holds; rejects after timeoutMs with what was seen. */
export async function waitForEvents<T>(
  events: T[], pred: (events: T[]) => boolean, timeoutMs = 10_000, what = 'events',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 100_000; i++) {
    if (pred(events)) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${events.length} events seen)`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export interface Ran {
  pid: number;
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Runs a program to completion (bounded by timeoutMs). */
export function run(path: string, args: string[], opts: { cwd?: string; argv0?: string; timeoutMs?: number } = {}): Promise<Ran> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(path, args, { cwd: opts.cwd, argv0: opts.argv0, stdio: 'ignore', timeout: opts.timeoutMs ?? 20_000 });
    child.on('error', reject);
    child.on('exit', (code, signal) => resolvePromise({ pid: child.pid!, code, signal }));
  });
}

/** Starts a program that blocks on stdin ('wait' step); write to it to let it go on. */
export function startWaiting(path: string, args: string[]): { child: ChildProcess; done: Promise<Ran> } {
  const child = spawn(path, args, { stdio: ['pipe', 'ignore', 'ignore'], timeout: 30_000 });
  const done = new Promise<Ran>((res, rej) => {
    child.on('error', rej);
    child.on('exit', (code, signal) => res({ pid: child.pid!, code, signal }));
  });
  return { child, done };
}

/** A loopback TCP listener on an ephemeral port that accepts and closes. */
export async function loopbackServer(): Promise<{ server: Server; port: number; close(): Promise<void> }> {
  const server = createServer((s) => s.destroy());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return { server, port, close: () => new Promise((r) => server.close(() => r())) };
}

/**
 * The kernel's per-CPU `counters` map of the sensor loaded by THIS process,
 * summed over CPUs, read with bpftool (independent of the addon's reading).
 * Found through our own fds: the only PERCPU_ARRAY with 32 u64 entries.
 */
export function kernelCounters(): number[] | null {
  for (const fd of readdirSync('/proc/self/fd')) {
    let link: string;
    try {
      link = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue;
    }
    if (link !== 'anon_inode:bpf-map') continue;
    const info = readFileSync(`/proc/self/fdinfo/${fd}`, 'latin1');
    const field = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(info)?.[1]);
    if (field('map_type') !== 6 || field('max_entries') !== 32 || field('value_size') !== 8) continue;
    const dump = JSON.parse(execFileSync('bpftool', ['map', 'dump', 'id', String(field('map_id')), '-j'], { encoding: 'utf8' })) as
      Array<{ key: number; values: Array<{ value: number }> } | { formatted: { key: number; values: Array<{ value: number }> } }>;
    const sums = new Array<number>(32).fill(0);
    for (const e of dump) {
      const entry = 'formatted' in e ? e.formatted : e;
      sums[Number(entry.key)] = entry.values.reduce((n, v) => n + Number(v.value), 0);
    }
    return sums;
  }
  return null;
}

/** events of one process, of one type */
export function eventsOf<T extends SensorEvent['type']>(events: SensorEvent[], pid: number, type: T): Extract<SensorEvent, { type: T }>[] {
  return events.filter((e): e is Extract<SensorEvent, { type: T }> => e.pid === pid && e.type === type);
}
