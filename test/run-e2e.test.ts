// `sensor run` end to end on the real kernel: a tiny "agent" (a copy of cat
// under a unique name) opens marker files; the events must reach the SQLite
// store through gRPC, with the embedded collector, and with a separate
// `sensor collector` that is killed with SIGKILL between the agent's runs.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { queryEvents } from '../collector/query/event-query.js';
import { EventStore } from '../collector/store/event-store.js';
import { displayString } from '../proto/events/bytes.js';
import { collectorStatus } from '../sensor/transport/collector-rpc.js';

const ROOT = resolve(__dirname, '..');
const isRoot = process.getuid?.() === 0;
const skipReason = isRoot ? '' : 'needs root to load BPF programs';
if (skipReason) console.log(`skip run-e2e: ${skipReason}`);

interface Proc {
  child: ChildProcess;
  stderr: () => string;
  exited: Promise<number | null>;
}

async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.skipIf(!isRoot)('sensor run (real kernel, real gRPC, real SQLite)', () => {
  let dir: string;
  let entry: string;
  let agent: string;
  let agentName: string;
  const procs: Proc[] = [];

  /** Runs `sensor <args>` from the TypeScript sources in a child process. */
  const sensor = (...args: string[]): Proc => {
    const child = spawn(join(ROOT, 'node_modules/.bin/vite-node'), [entry, '--', ...args], {
      cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LOG_LEVEL: 'info' },
    });
    let err = '';
    child.stderr!.on('data', (d) => (err += d));
    child.stdout!.resume();
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const p = { child, stderr: () => err, exited };
    procs.push(p);
    return p;
  };
  const waitFor = async (p: Proc, text: string) => {
    await until(() => p.stderr().includes(text) || p.child.exitCode !== null, `"${text}" from the sensor`, 60_000);
    if (!p.stderr().includes(text)) throw new Error(`exited early:\n${p.stderr()}`);
  };
  const runAgent = (marker: string) => {
    writeFileSync(marker, 'x');
    const r = spawnSync(agent, [marker], { timeout: 10_000 });
    expect(r.status).toBe(0);
  };
  const storedOpens = (stateDir: string, glob: string): string[] => {
    let store: EventStore;
    try {
      store = EventStore.open({ stateDir, readonly: true });
    } catch {
      return []; // not created yet
    }
    try {
      return queryEvents(store.database, { types: ['open'], pathGlob: glob, limit: 1000 })
        .filter((r) => r.event.comm === agentName)
        .map((r) => displayString((r.event as { path: string }).path));
    } finally {
      void store.close();
    }
  };

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'as-run-e2e-'));
    entry = join(dir, 'sensor-entry.ts');
    writeFileSync(entry, `import { main } from ${JSON.stringify(join(ROOT, 'sensor/cli/main.js'))};\n` +
      `await main(['node', 'sensor', ...process.argv.slice(2).filter((a) => a !== '--')]);\n`);
    agentName = `ase2e${process.pid % 100000}`;
    agent = join(dir, agentName);
    copyFileSync('/usr/bin/cat', agent);
  });

  afterEach((ctx) => {
    // On failure, show what the sensor and collector said: the reason is usually there.
    if (ctx.task.result?.state === 'fail') {
      for (const p of procs) console.log(`--- ${p.child.spawnargs.slice(3).join(' ')}\n${p.stderr().slice(-4000)}`);
    }
  });

  afterAll(async () => {
    for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.exited));
    rmSync(dir, { recursive: true, force: true });
  });

  it('with the embedded collector: agent opens land in the store, status answers, SIGINT drains', async () => {
    const socket = join(dir, 'embedded', 'collector.sock');
    const stateDir = join(dir, 'state-embedded');
    const run = sensor('run', '--listen', `unix://${socket}`, '--state-dir', stateDir, '--agent-comm', agentName, '--sensor-id', 'e2e-embedded');
    await waitFor(run, 'sensor running');
    const marker = join(dir, 'marker-embedded-1');
    runAgent(marker);
    await until(() => storedOpens(stateDir, '**/marker-embedded-*').includes(marker), 'the open event in the store');
    const status = await collectorStatus({ address: `unix://${socket}` });
    expect(Number(status.events)).toBeGreaterThan(0);
    expect(status.sensors!.map((s) => s.sensor_id)).toContain('e2e-embedded');
    run.child.kill('SIGINT');
    expect(await run.exited).toBe(0);
    expect(run.stderr()).toMatch(/transport: sent (\d+), acked \1, resent \d+, dropped 0, rejected 0, unacked 0/);
  });

  it('with a separate collector killed by SIGKILL between agent runs: every open arrives exactly once', async () => {
    const socket = join(dir, 'standalone', 'collector.sock');
    const stateDir = join(dir, 'state-standalone');
    const startCollector = async () => {
      const c = sensor('collector', '--listen', `unix://${socket}`, '--state-dir', stateDir);
      await waitFor(c, 'collector listening');
      return c;
    };
    let collector = await startCollector();
    const run = sensor('run', '--collector', `unix://${socket}`, '--agent-comm', agentName, '--sensor-id', 'e2e-remote');
    await waitFor(run, 'sensor running');
    const markers: string[] = [];
    for (let round = 0; round < 3; round++) {
      const before = join(dir, `marker-remote-${round}-a`);
      runAgent(before);
      markers.push(before);
      await until(() => storedOpens(stateDir, '**/marker-remote-*').includes(before), `round ${round} open stored`);
      collector.child.kill('SIGKILL');
      await collector.exited;
      const during = join(dir, `marker-remote-${round}-b`); // produced while no collector runs
      runAgent(during);
      markers.push(during);
      collector = await startCollector();
    }
    await until(() => markers.every((m) => storedOpens(stateDir, '**/marker-remote-*').includes(m)), 'every marker stored');
    const stored = storedOpens(stateDir, '**/marker-remote-*');
    for (const m of markers) expect(stored.filter((p) => p === m)).toHaveLength(1);
    run.child.kill('SIGINT');
    expect(await run.exited).toBe(0);
    expect(run.stderr()).toMatch(/transport: sent \d+, acked \d+, resent \d+, dropped 0, rejected 0, unacked 0, reconnects [1-9]/);
    // SIGINT, not SIGTERM: under vite-node, vite's own SIGTERM handler exits 143 first.
    collector.child.kill('SIGINT');
    expect(await collector.exited).toBe(0);
  });
});
