// The shipped CLI end to end (bin/sensor.js, compiled): an agent reads files
// while its collector is killed with SIGKILL mid-stream, three times. After
// restarts every event is stored exactly once, every read file carries the
// right SHA-256 (`sensor query --json`), and the hash chain verifies.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin/sensor.js');
const skip = process.getuid?.() !== 0 ? 'needs root to load BPF programs'
  : !existsSync(join(ROOT, 'dist/sensor/cli/main.js')) ? 'dist/ not built: run `bash scripts/build.sh`' : null;
if (skip) console.warn(`collector-e2e: skipping: ${skip}`);

const FILES = 120;
const ROUNDS = 6;

interface Proc { child: ChildProcess; err: () => string; exited: Promise<number | null> }

function sensor(args: string[]): Proc {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  return { child, err: () => err, exited: new Promise((r) => child.once('exit', (code) => r(code))) };
}

async function until(cond: () => boolean, what: string, timeoutMs = 60_000, detail = () => ''): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${detail()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const query = (stateDir: string, ...args: string[]): Array<Record<string, unknown>> =>
  execFileSync(process.execPath, [BIN, 'query', '--state-dir', stateDir, '--json', '--limit', '100000', ...args], { encoding: 'utf8' })
    .split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);

describe.skipIf(skip !== null)('collector killed mid-stream, then queried and verified (bin/sensor.js)', () => {
  let dir: string;
  let stateDir: string;
  let socket: string;
  let agentName: string;
  const procs: Proc[] = [];
  const digests = new Map<string, string>();

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'as-col-e2e-'));
    stateDir = join(dir, 'state');
    socket = join(dir, 'run', 'collector.sock');
    mkdirSync(join(dir, 'files'));
    for (let i = 0; i < FILES; i++) {
      const path = join(dir, 'files', `f-${String(i).padStart(4, '0')}`);
      const content = randomBytes(64 + i * 37);
      writeFileSync(path, content);
      digests.set(path, createHash('sha256').update(content).digest('hex'));
    }
    agentName = `ascol${process.pid % 100000}`;
    copyFileSync('/bin/bash', join(dir, agentName));
    execFileSync('chmod', ['+x', join(dir, agentName)]);
  });

  afterAll(async () => {
    for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.exited));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const startCollector = async (): Promise<Proc> => {
    const c = sensor(['collector', '--listen', `unix://${socket}`, '--state-dir', stateDir]);
    procs.push(c);
    await until(() => c.err().includes('collector listening') || c.child.exitCode !== null, 'the collector');
    if (c.child.exitCode !== null) throw new Error(c.err());
    return c;
  };

  it('stores every event once, hashes what was read, and the chain verifies', async () => {
    let collector = await startCollector();
    const run = sensor(['run', '--collector', `unix://${socket}`, '--agent-comm', agentName, '--sensor-id', 'col-e2e']);
    procs.push(run);
    await until(() => run.err().includes('sensor running') || run.child.exitCode !== null, 'the sensor');
    expect(run.child.exitCode).toBeNull();

    // The agent: bash under a distinctive name reading every file each round, pausing between rounds.
    const list = [...digests.keys()].join(' ');
    const script = `for r in $(seq ${ROUNDS}); do for f in ${list}; do : < "$f"; done; /bin/sleep 0.25; done`;
    const agentRun = spawn(join(dir, agentName), ['-c', script], { stdio: 'ignore' });
    const agentDone = new Promise<number | null>((r) => agentRun.once('exit', (code) => r(code)));

    for (let kill = 0; kill < 3; kill++) {
      await new Promise((r) => setTimeout(r, 300));
      collector.child.kill('SIGKILL');
      await collector.exited;
      collector = await startCollector();
    }
    expect(await agentDone).toBe(0);

    const reads = (): Array<Record<string, unknown>> =>
      query(stateDir, '--type', 'open', '--path', `${dir}/files/f-*`).filter((e) => e.comm === agentName);
    await until(() => reads().length >= FILES * ROUNDS, `${FILES * ROUNDS} stored opens`);
    // Settled: a hash, or another outcome (hashState). A read with neither never got its hash job.
    const unsettled = () => reads().filter((e) => typeof e.sha256 !== 'string' && typeof e.hashState !== 'string');
    await until(() => unsettled().length === 0, 'every read hashed', 60_000, () => {
      const left = unsettled();
      return `: ${left.length} reads without a hash result, e.g. ${JSON.stringify(left.slice(0, 3).map((e) => [e.id, e.path, e.ts]))}; ` +
        `collector: ${collector.err().slice(-1500)}`;
    });
    const stored = reads();
    expect(stored.filter((e) => e.hashState !== undefined).map((e) => [e.path, e.hashState])).toEqual([]);
    expect(stored).toHaveLength(FILES * ROUNDS); // exactly once: resends were not stored twice
    for (const e of stored) expect(e.sha256).toBe(digests.get(e.path as string));

    const verify = spawn(process.execPath, [BIN, 'verify', '--state-dir', stateDir], { stdio: 'ignore' });
    expect(await new Promise((r) => verify.once('exit', r))).toBe(0);

    run.child.kill('SIGINT');
    expect(await run.exited).toBe(0);
    expect(run.err()).toMatch(/dropped 0, rejected 0, unacked 0/);
    collector.child.kill('SIGINT');
    await collector.exited;
  }, 180_000);
});
