// The native addon against the real kernel: load, track a child process,
// see its opens arrive as raw ring records, and account for every record a
// tiny ring could not hold. Record offsets come straight from bpf/events.h
// so this test does not depend on the TypeScript decoder.
import { execFileSync, spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');
const ADDON = join(ROOT, 'build/Release/agent_sensor.node');
const PYTHON = ['/usr/bin/python3', '/usr/local/bin/python3'].find((p) => existsSync(p));

// bpf/events.h
const EV_OPEN = 4;
const HDR_SIZE = 80;
const OPEN_PATH_LEN = 96; // open_event.path_len (u16)
const OPEN_DATA = 152;    // open_event.data[]

interface Counters {
  truncated: number; pendingFull: number; trackedFull: number; lost: number[]; lostTotal: number;
  delivered: number; batches: number; queueDropped: number;
}
interface KernelSensor {
  start(): void; stop(): void;
  setRule(kind: 'comm' | 'exe' | 'cgroup', key: string | bigint | Buffer, agentId: number, candidate: boolean): void;
  deleteRule(kind: 'comm' | 'exe' | 'cgroup', key: string | bigint | Buffer): void;
  track(tgid: number, agentId: number, candidate?: boolean): void;
  untrack(tgid: number): void;
  trackedAgent(tgid: number): number | null;
  counters(): Counters;
  unavailable(): string[];
}
type KernelSensorCtor = new (opts: { ringBytes: number; traceAll: boolean; selfPid: number; wakeupBytes?: number;
  pollMs?: number; batchBytes?: number }, onBatch: (buf: Buffer) => void) => KernelSensor;

function skipReason(): string | null {
  if (process.getuid?.() !== 0) return 'not root: loading BPF needs root';
  if (!existsSync(ADDON)) return `addon not built (${ADDON}); run: bash scripts/build.sh --native`;
  if (!PYTHON) return 'no python3 to run the tester process';
  return null;
}
const reason = skipReason();
if (reason) console.warn(`native.test: skipping: ${reason}`);

/** Every open record in a batch, as pid + path. */
function opensIn(buf: Buffer): { pid: number; path: string }[] {
  const out: { pid: number; path: string }[] = [];
  for (let off = 0; off + HDR_SIZE <= buf.length;) {
    const size = buf.readUInt32LE(off + 4);
    if (size < HDR_SIZE || off + size > buf.length) throw new Error(`bad record size ${size} at ${off}`);
    if (buf.readUInt16LE(off) === EV_OPEN) {
      const len = buf.readUInt16LE(off + OPEN_PATH_LEN);
      out.push({ pid: buf.readUInt32LE(off + 16), path: buf.toString('latin1', off + OPEN_DATA, off + OPEN_DATA + len) });
    }
    off += size;
  }
  return out;
}

/** A python process that opens `path` N times per "N path" line on stdin and answers "done". */
class Opener {
  readonly proc: ChildProcessWithoutNullStreams;
  private lines: string[] = [];
  private waiters: (() => void)[] = [];

  constructor() {
    const script = [
      'import os, sys',
      'sys.stdout.write("ready\\n"); sys.stdout.flush()',
      'while True:',
      '    line = sys.stdin.readline()',
      '    if not line: break',
      '    n, path = line.rstrip("\\n").split(" ", 1)',
      '    for _ in range(int(n)): os.close(os.open(path, os.O_RDONLY))',
      '    sys.stdout.write("done\\n"); sys.stdout.flush()',
    ].join('\n');
    this.proc = spawn(PYTHON!, ['-c', script], { stdio: ['pipe', 'pipe', 'pipe'] });
    let partial = '';
    this.proc.stdout.on('data', (d: Buffer) => {
      const parts = (partial + d.toString()).split('\n');
      partial = parts.pop()!;
      this.lines.push(...parts);
      this.waiters.splice(0).forEach((w) => w());
    });
  }

  get pid(): number { return this.proc.pid!; }

  async next(): Promise<string> {
    for (let i = 0; i < 1000 && this.lines.length === 0; i++) {
      await new Promise<void>((res) => { this.waiters.push(res); setTimeout(res, 50); });
    }
    const line = this.lines.shift();
    if (line === undefined) throw new Error('tester process did not answer');
    return line;
  }

  async open(path: string, times: number): Promise<void> {
    this.proc.stdin.write(`${times} ${path}\n`);
    expect(await this.next()).toBe('done');
  }

  kill(): void { this.proc.kill('SIGKILL'); }
}

/** Polls `done` every 20 ms, at most `ms` (bounded in count and time). */
async function waitFor(done: () => boolean, ms = 5000): Promise<boolean> {
  for (let i = 0; i < ms / 20 && !done(); i++) await new Promise((r) => setTimeout(r, 20));
  return done();
}

describe.skipIf(reason !== null)('native addon (real kernel)', () => {
  let Ctor: KernelSensorCtor;
  let dir: string;
  let target: string;

  beforeAll(() => {
    Ctor = createRequire(import.meta.url)(ADDON).KernelSensor as KernelSensorCtor;
    dir = mkdtempSync(join(tmpdir(), 'as-native-'));
    target = join(dir, 'opened-by-tester');
    writeFileSync(target, 'x');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function sensor(ringBytes: number, onOpen: (o: { pid: number; path: string }) => void,
    tuning: { wakeupBytes?: number; pollMs?: number } = {}): KernelSensor {
    return new Ctor({ ringBytes, traceAll: false, selfPid: process.pid, pollMs: 10, ...tuning },
      (buf) => opensIn(buf).forEach(onOpen));
  }

  it('validates its arguments with TypeErrors', () => {
    expect(() => new (Ctor as unknown as new (...a: unknown[]) => unknown)(1, () => {})).toThrow(TypeError);
    expect(() => new (Ctor as unknown as new (...a: unknown[]) => unknown)({ ringBytes: 4096 }, 1)).toThrow(TypeError);
    const ks = sensor(1 << 16, () => {});
    expect(() => ks.track(1, 1)).toThrow(/not started/);
    expect(() => ks.setRule('nope' as 'comm', 'x', 1, false)).toThrow(TypeError);
  });

  it('loads under a profiler\'s SIGPROF storm (the verifier gives up on a pending signal)', () => {
    // node --cpu-prof signals its main thread every 100 µs here; before the
    // loader blocked signals, every load try failed with EAGAIN.
    const dir = mkdtempSync(join(tmpdir(), 'as-prof-'));
    try {
      const script = `const { KernelSensor } = require(${JSON.stringify(ADDON)});
        const ks = new KernelSensor({ ringBytes: 1 << 16, traceAll: false, selfPid: process.pid }, () => {});
        try { ks.start(); console.log('loaded'); } catch (e) { console.log('failed: ' + e.message.split('\\n')[0]); } finally { ks.stop(); }`;
      const r = spawnSync(process.execPath, ['--cpu-prof', '--cpu-prof-interval', '100', '--cpu-prof-dir', dir, '-e', script], { encoding: 'utf8', timeout: 60_000 });
      expect(r.stdout.trim()).toBe('loaded');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects a ring size that is not a power of two with EINVAL', () => {
    const ks = sensor(5000, () => {});
    let err: NodeJS.ErrnoException | undefined;
    try { ks.start(); } catch (e) { err = e as NodeJS.ErrnoException; }
    expect(err?.code).toBe('EINVAL');
    expect(err?.errno).toBe(-22);
    expect(err?.message).toMatch(/power of two/);
    ks.stop();
  });

  it('delivers the open records of a tracked process, and restarts after stop', async () => {
    const opener = new Opener();
    try {
      expect(await opener.next()).toBe('ready');
      const seen: { pid: number; path: string }[] = [];
      const ks = sensor(1 << 20, (o) => { if (o.pid === opener.pid) seen.push(o); });
      for (let run = 0; run < 2; run++) {
        seen.length = 0;
        ks.start();
        expect(Array.isArray(ks.unavailable())).toBe(true);
        ks.track(opener.pid, 7);
        expect(ks.trackedAgent(opener.pid)).toBe(7);
        expect(ks.trackedAgent(0x7ffffff0)).toBeNull();
        await opener.open(target, 1);
        expect(await waitFor(() => seen.some((o) => o.path === target))).toBe(true);

        ks.untrack(opener.pid);
        expect(ks.trackedAgent(opener.pid)).toBeNull();
        const before = seen.length;
        await opener.open(target, 3);
        ks.stop();
        ks.stop(); // idempotent
        await new Promise((r) => setTimeout(r, 100));
        expect(seen.length, 'no records once untracked').toBe(before);
      }
    } finally {
      opener.kill();
    }
  });

  it('keeps and deletes rules of every kind', () => {
    const ks = sensor(1 << 16, () => {});
    ks.start();
    try {
      ks.setRule('comm', 'python3', 3, true);
      ks.setRule('exe', Buffer.from('/usr/bin/python3.11'), 3, false);
      ks.setRule('cgroup', 12345n, 4, false);
      ks.deleteRule('comm', 'python3');
      ks.deleteRule('exe', '/usr/bin/python3.11');
      ks.deleteRule('cgroup', 12345n);
      ks.deleteRule('cgroup', 999n); // absent: not an error
      expect(() => ks.setRule('comm', 'sixteen-bytes-xx', 1, false)).toThrow(RangeError);
    } finally {
      ks.stop();
    }
  });

  it('reports counters with the documented shape', () => {
    const ks = sensor(1 << 16, () => {});
    ks.start();
    const c = ks.counters();
    ks.stop();
    for (const k of ['truncated', 'pendingFull', 'trackedFull', 'lostTotal', 'delivered', 'batches', 'queueDropped']) {
      expect(typeof c[k as keyof Counters], k).toBe('number');
    }
    expect(c.lost).toHaveLength(16);
    expect(c.lostTotal).toBe(c.lost.reduce((a, b) => a + b, 0));
  });

  it('with a tiny ring, every open is either delivered or counted lost', async () => {
    const attempts = 3000;
    const opener = new Opener();
    try {
      expect(await opener.next()).toBe('ready');
      let opens = 0;
      // The kernel never wakes the reader (threshold above the ring size),
      // so the ring overflows between polls and loss is certain.
      const ks = sensor(4096, (o) => { if (o.pid === opener.pid && o.path === target) opens++; },
        { wakeupBytes: 1 << 30, pollMs: 50 });
      ks.start();
      ks.track(opener.pid, 9);
      await opener.open(target, attempts);
      ks.stop(); // detaches, drains, then queued batches still reach us
      const settled = await waitFor(() => opens + ks.counters().lost[EV_OPEN] >= attempts);
      const c = ks.counters();
      console.log(`native.test: tiny ring: ${opens} opens delivered, ${c.lost[EV_OPEN]} lost ` +
        `(queueDropped ${c.queueDropped}) of ${attempts}`);
      expect(settled).toBe(true);
      expect(c.lost[EV_OPEN]).toBeGreaterThan(0);
      expect(opens + c.lost[EV_OPEN]).toBe(attempts);
      expect(c.delivered + c.lostTotal).toBeGreaterThanOrEqual(attempts);
    } finally {
      opener.kill();
    }
  });

  it('a JS consumer too slow for the queue loses whole batches, counted by type', async () => {
    const attempts = 20_000;
    const opener = new Opener();
    const pause = new Int32Array(new SharedArrayBuffer(4));
    try {
      expect(await opener.next()).toBe('ready');
      let opens = 0;
      const ks = new Ctor({ ringBytes: 16 << 20, traceAll: false, selfPid: process.pid, pollMs: 10, batchBytes: 4096 },
        (buf) => {
          for (const o of opensIn(buf)) if (o.pid === opener.pid && o.path === target) opens++;
          Atomics.wait(pause, 0, 0, 5); // a consumer that falls behind
        });
      ks.start();
      ks.track(opener.pid, 9);
      await opener.open(target, attempts);
      ks.stop();
      const settled = await waitFor(() => opens + ks.counters().lost[EV_OPEN] >= attempts, 20_000);
      const c = ks.counters();
      console.log(`native.test: slow consumer: ${opens} opens delivered in ${c.batches} batches, ` +
        `${c.queueDropped} records dropped at the queue, ${c.lost[EV_OPEN]} opens lost of ${attempts}`);
      expect(settled).toBe(true);
      expect(c.queueDropped).toBeGreaterThan(0);
      expect(opens + c.lost[EV_OPEN]).toBe(attempts);
    } finally {
      opener.kill();
    }
  });

  it('a process that exits while the sensor runs stops it cleanly (cleanup hook)', () => {
    const script = `
      const { KernelSensor } = require(${JSON.stringify(ADDON)});
      const ks = new KernelSensor({ ringBytes: 1 << 20, traceAll: true, selfPid: process.pid, pollMs: 10 }, () => {});
      ks.start();
      process.stdout.write('started\\n');
      setTimeout(() => process.exit(3), 200);`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60_000 });
    expect(r.stdout).toBe('started\n');
    expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ status: 3, signal: null, stderr: '' });
  });

  it('an onBatch that throws surfaces as an uncaught exception, not a warning', () => {
    const script = `
      const { KernelSensor } = require(${JSON.stringify(ADDON)});
      const ks = new KernelSensor({ ringBytes: 1 << 20, traceAll: true, selfPid: process.pid, pollMs: 10 },
        () => { throw new Error('onBatch-bug'); });
      ks.start();
      // Make an event of our own: an idle machine may produce none.
      setInterval(() => require('child_process').spawn('/bin/true'), 200);
      setTimeout(() => process.exit(0), 30_000);`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('onBatch-bug');
  });
});

// The loader alone (no Node), against native/test/mini.bpf.c: the paths the
// real programs do not take on this kernel.
const TOOLS = ['clang', 'bpftool', 'cc'];
const missingTool = TOOLS.find((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
const cliReason = process.getuid?.() !== 0 ? 'not root: loading BPF needs root'
  : missingTool ? `${missingTool} not installed` : null;
if (cliReason) console.warn(`native.test: skipping loader CLI checks: ${cliReason}`);

describe.skipIf(cliReason !== null)('loader without Node (mini BPF object)', () => {
  let dir: string;
  const arch = process.arch === 'arm64' ? 'arm64' : 'x86';

  /** Builds mini.bpf.c (with extra clang flags) into a skeleton and the loader CLI; returns its path. */
  function buildCli(name: string, bpfFlags: string[]): string {
    const out = join(dir, name);
    execFileSync('mkdir', ['-p', out]);
    const vmlinux = join(ROOT, 'bpf/.output/vmlinux.h');
    if (existsSync(vmlinux)) execFileSync('cp', [vmlinux, out]);
    else writeFileSync(join(out, 'vmlinux.h'), execFileSync('bpftool', ['btf', 'dump', 'file', '/sys/kernel/btf/vmlinux', 'format', 'c'], { maxBuffer: 64 << 20 }));
    execFileSync('clang', ['-g', '-O2', '-target', 'bpf', `-D__TARGET_ARCH_${arch}`, ...bpfFlags, `-I${out}`, `-I${join(ROOT, 'bpf')}`,
      '-c', join(ROOT, 'native/test/mini.bpf.c'), '-o', join(out, 'mini.o')]);
    writeFileSync(join(out, 'sensor.skel.h'), execFileSync('bpftool', ['gen', 'skeleton', join(out, 'mini.o'), 'name', 'sensor_bpf']));
    const src = (f: string) => join(ROOT, 'native/src', f);
    execFileSync('cc', ['-O1', `-I${out}`, `-I${join(ROOT, 'native/src')}`, `-I${join(ROOT, 'bpf')}`, '-o', join(out, 'cli'),
      join(ROOT, 'native/test/loader_cli.c'), src('loader.c'), src('loader_maps.c'), src('hooks.c'), src('libbpf_log.c'),
      '-lbpf', '-lelf', '-lz', '-lpthread']);
    return join(out, 'cli');
  }

  beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'as-loader-')); });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('leaves out programs whose hook this kernel lacks, and serves the maps', () => {
    const r = spawnSync(buildCli('ok', []), { encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines.filter((l) => l.startsWith('unavailable ')).sort()).toEqual(
      ['unavailable tp_btf_no_such', 'unavailable tp_no_such_event']);
    expect(lines).toEqual(expect.arrayContaining(['track 0', 'tracked_agent 0 7', 'untracked_agent -2', 'rule 0',
      'rule_too_long -22', 'counters 0', 'poll 0']));
  });

  it('names the program the verifier rejected and quotes the verifier', () => {
    const r = spawnSync(buildCli('bad', ['-DVERIFIER_REJECTS']), { encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/^error EACCES BPF program 'tp_rejected' failed to load/);
    expect(r.stdout).toContain('-- END PROG LOAD LOG --');
  });
});

