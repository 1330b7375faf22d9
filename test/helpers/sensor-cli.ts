// The shipped CLI (bin/sensor.js -> dist/) as end-to-end tests drive it: a
// `sensor run` with its own state dir and socket, `sensor launch` under it,
// and `sensor query --json`. Needs root and a built dist/ (skipReason says).
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, afterEach } from 'vitest';

export const ROOT = resolve(import.meta.dirname, '../..');
export const BIN = join(ROOT, 'bin/sensor.js');

export const skipReason: string | null = process.getuid?.() !== 0 ? 'needs root to load BPF programs'
  : !existsSync(join(ROOT, 'dist/sensor/cli/main.js')) ? 'dist/ not built: run `bash scripts/build.sh`' : null;

export interface Proc {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function sensorProc(args: string[], options: SpawnOptions = {}): Proc {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.once('exit', (code, signal) => r({ code, signal })));
  return { child, out: () => out, err: () => err, exited };
}

export async function until(cond: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** `sensor run` on a private socket and state dir; resolves once `sensor launch` can find it. */
export async function startSensorRun(stateDir: string, socket: string, extra: string[] = []): Promise<Proc> {
  const run = sensorProc(['run', '--state-dir', stateDir, '--listen', `unix://${socket}`, '--stats-every', '0', ...extra]);
  await until(() => run.err().includes('sensor running') || run.child.exitCode !== null, 'sensor run to start');
  if (!run.err().includes('sensor running')) throw new Error(`sensor run exited:\n${run.err()}`);
  return run;
}

export async function stopSensorRun(run: Proc): Promise<void> {
  if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGINT');
  const t = setTimeout(() => run.child.kill('SIGKILL'), 15_000);
  await run.exited;
  clearTimeout(t);
}

/**
 * Inside a describe of tests that share one `sensor run`: a failed test prints
 * the sensor's stderr; at the end the sensor, the model server and the
 * scratch directory go. (A getter: the hooks run after beforeAll set them.)
 */
export function sensorRunLifecycle(state: () => { run?: Proc; server?: { close(): Promise<void> }; dir?: string }): void {
  afterEach((ctx) => {
    const { run } = state();
    if (ctx.task.result?.state === 'fail' && run) console.log(`--- sensor run\n${run.err().slice(-4000)}`);
  });
  afterAll(async () => {
    const { run, server, dir } = state();
    if (run) await stopSensorRun(run);
    await server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
}

export const launchArgs = (stateDir: string, agent: string): string[] => ['launch', '--state-dir', stateDir, '--agent', agent, '--'];

export type QueriedEvent = Record<string, unknown> & { type: string; pid: number; ppid: number; agent: string | null; agentPid?: number };

export function queryJson(stateDir: string, ...args: string[]): QueriedEvent[] {
  return execFileSync(process.execPath, [BIN, 'query', '--state-dir', stateDir, '--json', '--limit', '100000', ...args], { encoding: 'utf8', maxBuffer: 512 * 1024 * 1024 })
    .split('\n').filter(Boolean).map((l) => JSON.parse(l) as QueriedEvent);
}

/** Whether the wire (sensor.proto Event) carries agentPid yet; the store and query do either way. */
export function wireCarriesAgentPid(): boolean {
  const proto = readFileSync(join(ROOT, 'proto/agentsensor/v1/sensor.proto'), 'utf8');
  const event = /message Event \{([\s\S]*?)\n\}/.exec(proto)?.[1] ?? '';
  return /\bagent_pid\b/.test(event);
}
