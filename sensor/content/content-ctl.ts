// Drives native/content/content-ctl (the content-capture object's loader):
// starts it, writes its commands on stdin, reads its frames from stdout.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeContentRecord, FrameReader, type ContentRecord } from './content-record.js';

export interface ContentBounds {
  /** bytes of one write/read captured, at most 16384 */
  maxWrite: number;
  /** per connection and direction */
  maxConnEgress: number;
  maxConnIngress: number;
}

export const DEFAULT_CONTENT_BOUNDS: ContentBounds = { maxWrite: 16384, maxConnEgress: 256 * 1024, maxConnIngress: 1024 * 1024 };

export interface ContentCounters {
  records: number;
  bytes: number;
  cutWriteBytes: number;
  cutConnBytes: number;
  lostRecords: number;
  lostBytes: number;
  readFaults: number;
  tlsSockets: number;
  trackedFull: number;
  /** socket level: TCP bytes sent again (retransmits), not captured twice */
  retransBytes?: number;
  /** socket level: agent sockets registered at connect/sendmsg */
  sockets?: number;
}

/**
 * Where plain-socket content is taken: `socket` (cgroup programs on agent
 * sockets only, the default when they attach), `syscall` (tracepoints on
 * write/sendto/writev/sendmsg of every process, the fallback); `auto` picks
 * the first that works.
 */
export type ContentMode = 'auto' | 'socket' | 'syscall';

/** The loader's path: AGENT_SENSOR_CONTENT_CTL, else the one built in this checkout. */
export function contentCtlPath(): string {
  if (process.env.AGENT_SENSOR_CONTENT_CTL) return process.env.AGENT_SENSOR_CONTENT_CTL;
  // dist/sensor/content/ or sensor/content/: the package root is the first parent with package.json.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5 && !existsSync(join(dir, 'package.json')); i++) dir = dirname(dir);
  return join(dir, 'bpf', 'content', '.output', 'content-ctl');
}

type Waiter = { key: string; resolve: (v: Record<string, unknown>) => void };

export class ContentCtl {
  private readonly frames = new FrameReader();
  private waiters: Waiter[] = [];
  private exited = false;
  readonly stats = { badRecords: 0, messages: 0 };
  /** the level the loader captures plain sockets at, and why not the socket level when it fell back */
  mode: 'socket' | 'syscall' = 'syscall';
  fallback = '';
  private pending = '';
  private flushing = false;

  private constructor(private readonly child: ChildProcessWithoutNullStreams, private readonly onRecord: (r: ContentRecord) => void,
    private readonly onMessage: (m: Record<string, unknown>) => void) {
    child.stdout.on('data', (chunk: Buffer) => this.frames.push(chunk, (t, p) => this.frame(t, p)));
    child.on('exit', () => {
      this.exited = true;
      for (const w of this.waiters.splice(0)) w.resolve({ ok: false, error: 'content-ctl exited' });
    });
  }

  /** Starts the loader; resolves once the object is loaded and attached (its `ready` line). */
  static start(bounds: ContentBounds, onRecord: (r: ContentRecord) => void, onMessage: (m: Record<string, unknown>) => void = () => {},
    path = contentCtlPath(), timeoutMs = 30_000, mode: ContentMode = contentModeFromEnv()): Promise<ContentCtl> {
    return new Promise((resolve, reject) => {
      if (!existsSync(path)) return reject(new Error(`${path} is not built (bash scripts/build.sh)`));
      const child = spawn(path, ['--max-write', String(bounds.maxWrite), '--max-conn-egress', String(bounds.maxConnEgress),
        '--max-conn-ingress', String(bounds.maxConnIngress), '--mode', mode], { stdio: ['pipe', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => { if (stderr.length < 4096) stderr += d.toString(); });
      const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error('content-ctl did not start in time')); }, timeoutMs);
      let ready = false;
      const ctl = new ContentCtl(child, onRecord, (m) => {
        if (!ready && m.ready) {
          ready = true;
          ctl.mode = m.mode === 'socket' ? 'socket' : 'syscall';
          ctl.fallback = typeof m.fallback === 'string' ? m.fallback : '';
          clearTimeout(timer);
          resolve(ctl);
          return;
        }
        onMessage(m);
      });
      child.on('error', (e) => { clearTimeout(timer); reject(e); });
      child.on('exit', (code) => {
        clearTimeout(timer);
        if (!ready) reject(new Error(`content-ctl exited (${code}): ${stderr.trim().split('\n').slice(-3).join('; ')}`));
      });
    });
  }

  /** the loader's process id (benchmarks read its programs' kernel time) */
  get pid(): number | undefined {
    return this.child.pid;
  }

  get alive(): boolean {
    return !this.exited;
  }

  track(tgid: number): void {
    this.send(`track ${tgid}`);
  }

  untrack(tgid: number): void {
    this.send(`untrack ${tgid}`);
  }

  /** Processes exec'd in this cgroup from now on are captured; resolves once the kernel map holds it. */
  cgroup(id: bigint): Promise<boolean> {
    return this.ask(`cgroup ${id}`, 'cgroup').then((m) => m.ok === true);
  }

  uncgroup(id: bigint): void {
    this.send(`uncgroup ${id}`);
  }

  /** Uprobes on SSL_write/SSL_read(_ex) of this file; resolves with the loader's answer. */
  attach(path: string): Promise<Record<string, unknown>> {
    if (/[\n\r]/.test(path)) return Promise.resolve({ ok: false, error: 'path with a newline' });
    return this.ask(`attach ${path}`, 'attach');
  }

  counters(): Promise<ContentCounters | undefined> {
    return this.ask('counters', 'counters').then((m) => m.counters as ContentCounters | undefined);
  }

  /** Closes stdin: the loader detaches everything and exits. */
  async stop(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.child.stdin.end(this.pending); // what was sent before the stop goes first
    this.pending = '';
    const t = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(t);
  }

  private ask(cmd: string, key: string): Promise<Record<string, unknown>> {
    if (this.exited) return Promise.resolve({ ok: false, error: 'content-ctl exited' });
    return new Promise((resolve) => {
      this.waiters.push({ key, resolve });
      this.send(cmd);
    });
  }

  /**
   * Commands are written together once the current batch of events is
   * handled (a setImmediate later): an agent starting a burst of processes
   * sends one `track` each, and a write each was a syscall on the main
   * thread and a wakeup of content-ctl. Order is kept: one buffer.
   */
  private send(cmd: string): void {
    if (this.exited) return;
    this.pending += `${cmd}\n`;
    if (this.flushing) return;
    this.flushing = true;
    setImmediate(() => {
      this.flushing = false;
      const out = this.pending;
      this.pending = '';
      if (!this.exited && out && this.child.stdin.writable) this.child.stdin.write(out);
    });
  }

  private frame(type: number, payload: Buffer): void {
    if (type === 1) {
      const r = decodeContentRecord(payload);
      if (r) this.onRecord(r);
      else this.stats.badRecords++;
      return;
    }
    if (type !== 2) return;
    let m: Record<string, unknown>;
    try {
      m = JSON.parse(payload.toString('utf8')) as Record<string, unknown>;
    } catch {
      return;
    }
    this.stats.messages++;
    // Answers come in the order asked: the first waiter for this kind of answer takes it.
    const key = Object.keys(m)[0]!;
    const i = this.waiters.findIndex((w) => w.key === key);
    if (i >= 0) {
      const [w] = this.waiters.splice(i, 1);
      w!.resolve(m);
      return;
    }
    this.onMessage(m);
  }
}

/** AGENT_SENSOR_CONTENT_MODE (auto|socket|syscall), else auto. */
export function contentModeFromEnv(): ContentMode {
  const m = process.env.AGENT_SENSOR_CONTENT_MODE;
  return m === 'socket' || m === 'syscall' ? m : 'auto';
}
