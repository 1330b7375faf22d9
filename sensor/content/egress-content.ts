// Egress content DLP in the sensor: starts the content-capture loader
// (content-ctl.ts), tells it which processes are agents (from the sensor's
// own exec/fork/exit events, and launch cgroups before their first exec) and
// which files to put the TLS uprobes on (the agent's executable when it
// exports SSL_write/SSL_read, e.g. node; the libssl it maps), scans what
// comes back (egress-scanner.ts) and reports each secret found leaving as an
// EgressFinding (a `secret_egress` alert in the collector).
//
// Records of a process the kernel tracks before the sensor has heard of it
// (a launched agent's first exec, its early forks) are held briefly until its
// exec/fork event names the agent, then scanned; held too long, dropped and
// counted. Where an agent's executable and libraries export no SSL entry
// points, its TLS content cannot be seen: logged once per agent and program
// as "egress content: not visible".
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { displayString } from '../../proto/events/bytes.js';
import type { EgressFinding } from '../../collector/detect/egress-finding.js';
import type { SensorEvent } from '../../proto/events/types.js';
import { exportedSslSymbols, tlsVisibilityOf } from '../tls/ssl-symbols.js';
import { ContentCtl, DEFAULT_CONTENT_BOUNDS, type ContentBounds, type ContentCounters } from './content-ctl.js';
import type { ContentRecord } from './content-record.js';
import { EgressScanner, type EgressScanResult } from './egress-scanner.js';
import { ReadSecrets } from './read-secrets.js';

export interface EgressContentOptions {
  sensorId: string;
  bounds?: Partial<ContentBounds>;
  log: (msg: string) => void;
  report: (f: EgressFinding) => void;
  /** loader path (tests) */
  ctlPath?: string;
  /** called when the per-agent TLS visibility notes change */
  onVisibility?: (notes: TlsVisibilityNote[]) => void;
  /**
   * Files to put the TLS uprobes on at start rather than at an agent's exec
   * (see preattach()); run.ts passes the node binary it runs on.
   */
  preattach?: string[];
  /** every data record of an agent process, both directions (intent-capture.ts parses model turns from them) */
  onContent?: (r: ContentRecord, agent: string, agentPid: number) => void;
}

const HOLD_MS = 10_000;
const HOLD_MAX_RECORDS = 256;
/**
 * A finding waits for the open events of what the agent read (they come
 * through the sensor's own pipeline: until it has delivered an event newer
 * than the send) and the look at those files (SETTLE_MS at least), and a TLS
 * one for its socket (the BIND record follows the SSL_write); never longer
 * than MAX_WAIT_MS.
 */
const SETTLE_MS = 200;
const MAX_WAIT_MS = 3000;
/**
 * An agent process is forgotten this long after its exit event: content-ctl
 * wakes only past a fill mark and otherwise polls every 50 ms, so the last
 * records of a short-lived process may come after the exit.
 */
const EXIT_GRACE_MS = 300;

interface ProcInfo {
  agent: string;
  agentPid: number;
}

export interface TlsVisibilityNote {
  agent: string;
  exe: string;
  visible: boolean;
  targets: string[];
}

export class EgressContent {
  private readonly procs = new Map<number, ProcInfo>();
  /** exited processes still waiting for their last records (EXIT_GRACE_MS) */
  private readonly exiting = new Map<number, NodeJS.Timeout>();
  private readonly held = new Map<number, { since: number; recs: ContentRecord[] }>();
  private readonly tlsRemote = new Map<string, string>();
  private readonly attached = new Map<string, Promise<boolean>>();
  private readonly waiting: { settle: number; due: number; f: EgressFinding; tlsKey?: string; fpIds: string[][]; readIds: Set<string> }[] = [];
  private readonly notes = new Map<string, TlsVisibilityNote>();
  private readonly dlpKey = randomBytes(32);
  private readonly reads = new ReadSecrets(this.dlpKey);
  private readonly scanner = new EgressScanner(this.dlpKey, this.reads);
  private readonly timer: NodeJS.Timeout;
  private readonly monoToRealNs = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();
  /** the newest event time the sensor delivered (realtime ns): its opens before that are in */
  private eventsUpTo = 0n;
  readonly stats = { findings: 0, heldDropped: 0, records: 0, bytes: 0 };

  private constructor(private readonly ctl: ContentCtl | null, private readonly opts: EgressContentOptions, ctlHolder: { set?: (c: EgressContent) => void }) {
    ctlHolder.set?.(this);
    this.timer = setInterval(() => this.tick(), 100);
    this.timer.unref();
  }

  /** Loads the capture; rejects when the loader cannot (the sensor then runs without content capture). */
  static async start(opts: EgressContentOptions): Promise<EgressContent> {
    const holder: { self?: EgressContent; set?: (c: EgressContent) => void } = {};
    holder.set = (c) => (holder.self = c);
    const early: ContentRecord[] = [];
    const ctl = await ContentCtl.start({ ...DEFAULT_CONTENT_BOUNDS, ...opts.bounds }, (r) => (holder.self ? holder.self.record(r) : early.push(r)),
      (m) => opts.log(`content-ctl: ${JSON.stringify(m)}`), opts.ctlPath);
    opts.log(ctl.mode === 'socket' ? 'egress content: plain sockets captured at the socket level, both ways (agent sockets only)'
      : `egress content: plain sockets captured at the syscall tracepoints, what they send only${ctl.fallback ? ` (socket level unavailable: ${ctl.fallback})` : ''}`);
    const self = new EgressContent(ctl, opts, holder);
    for (const r of early) self.record(r);
    for (const path of opts.preattach ?? []) await self.preattach(path);
    return self;
  }

  /** The sensor's events: who is an agent, and which binaries it runs. */
  observe(events: SensorEvent[]): void {
    for (const ev of events) {
      const ts = BigInt(ev.tsNs);
      if (ts > this.eventsUpTo) this.eventsUpTo = ts;
      if (ev.type === 'open') {
        this.reads.note(ev);
        continue;
      }
      if (ev.type === 'exit') {
        const pid = ev.pid;
        if (!this.exiting.has(pid)) this.exiting.set(pid, setTimeout(() => this.forget(pid), EXIT_GRACE_MS));
        continue;
      }
      if (!ev.agent || !ev.agentPid) continue;
      if ((ev.type === 'exec' || ev.type === 'fork') && this.exiting.has(ev.pid)) this.forget(ev.pid); // the pid reused
      if (ev.type !== 'exec' && ev.type !== 'fork' && this.procs.has(ev.pid)) continue;
      const known = this.procs.has(ev.pid);
      this.procs.set(ev.pid, { agent: ev.agent, agentPid: ev.agentPid });
      if (!known) this.ctl?.track(ev.pid);
      if (ev.type === 'exec') void this.attachTls(ev.pid, ev.agent, bytesText(ev.exe ?? ev.filename));
      const h = this.held.get(ev.pid);
      if (h) {
        this.held.delete(ev.pid);
        for (const r of h.recs) this.record(r);
      }
    }
  }

  /** A launch cgroup: its processes are captured from their exec on; resolves once in force. */
  async watchCgroup(id: bigint): Promise<void> {
    await this.ctl?.cgroup(id);
  }

  unwatchCgroup(id: bigint): void {
    this.ctl?.uncgroup(id);
  }

  /** Per agent and program: can its TLS content be seen (and where the uprobes are). */
  tlsVisibility(): TlsVisibilityNote[] {
    return [...this.notes.values()];
  }

  /** What agents receive on plain sockets is captured too (the socket level; not at the syscall fallback). */
  get plainIngress(): boolean {
    return this.ctl?.mode === 'socket';
  }

  counters(): Promise<ContentCounters | undefined> {
    return this.ctl?.counters() ?? Promise.resolve(undefined);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.ctl?.stop();
    for (const pid of [...this.exiting.keys()]) this.forget(pid);
    this.tick(true);
  }

  /** An exited process: no longer captured, its streams closed. */
  private forget(pid: number): void {
    clearTimeout(this.exiting.get(pid));
    this.exiting.delete(pid);
    if (this.procs.delete(pid)) this.ctl?.untrack(pid);
    this.finish(this.scanner.closeWhere((k) => k.startsWith(`tls:${pid}:`) || k.startsWith(`socket:${pid}:`)), undefined);
  }

  private async attachTls(pid: number, agent: string, exe: string): Promise<void> {
    const vis = tlsVisibilityOf(pid);
    const note: TlsVisibilityNote = { agent, exe, visible: vis.visible, targets: vis.targets.map((t) => t.path) };
    const noteKey = `${agent}\0${exe}`;
    if (!this.notes.has(noteKey)) {
      this.notes.set(noteKey, note);
      try {
        this.opts.onVisibility?.(this.tlsVisibility());
      } catch (err) {
        this.opts.log(`egress content visibility not saved: ${(err as Error).message}`);
      }
      if (!vis.visible) this.opts.log(`egress content: not visible for agent ${agent} (${exe}): no SSL_write/SSL_read exported by it or a libssl it maps; plain sockets only`);
    }
    for (const t of vis.targets) {
      let id: string;
      try {
        const st = statSync(t.path.startsWith('/proc/') ? t.path : `/proc/${pid}/exe`);
        id = `${st.dev}:${st.ino}`;
      } catch {
        continue; // gone
      }
      // The loader wants the very file mapped: /proc/PID/exe or /proc/PID/map_files/RANGE.
      const path = t.path.startsWith('/proc/') ? t.path : undefined;
      if (!path) {
        const mapped = mappedFile(pid, t.path);
        if (!mapped) continue;
        if (!this.attached.has(id)) this.attached.set(id, this.attach(mapped, agent));
      } else if (!this.attached.has(id)) {
        this.attached.set(id, this.attach(path, agent));
      }
      await this.attached.get(id);
    }
  }

  /**
   * The uprobes on a file before any agent runs it. Attaching at the exec
   * event comes late: the exec reaches user space, then libbpf resolves the
   * symbols in the file (node: a 100 MB ELF, a second or more on a loaded
   * host), while a short-lived agent has already sent its request. For the
   * runtime most agent CLIs use (node) the probes are placed up front; other
   * node processes then take a uprobe trap per SSL_write/SSL_read, which the
   * programs end at the tracked-tgid lookup (nothing copied).
   */
  async preattach(path: string): Promise<void> {
    if (exportedSslSymbols(path).length === 0) return;
    let id: string;
    try {
      const st = statSync(path);
      id = `${st.dev}:${st.ino}`;
    } catch {
      return;
    }
    if (!this.attached.has(id)) this.attached.set(id, this.attach(path, ''));
    await this.attached.get(id);
  }

  private async attach(path: string, agent: string): Promise<boolean> {
    const m = await this.ctl!.attach(path);
    if (m.ok) this.opts.log(`egress content: TLS uprobes on ${path} (${agent === '' ? 'at start' : `agent ${agent}`}, ${String(m.probes ?? '?')} probes)`);
    else this.opts.log(`egress content: no TLS uprobes on ${path}: ${String(m.error)}`);
    return m.ok === true;
  }

  private record(r: ContentRecord): void {
    if (r.kind === 'bind') {
      if (r.remote) {
        this.tlsRemote.set(`${r.tgid}:${r.connId}`, r.remote);
        if (this.tlsRemote.size > 16384) this.tlsRemote.delete(this.tlsRemote.keys().next().value!);
      }
      return;
    }
    if (r.direction !== 'egress' && !this.opts.onContent) return; // ingress (answers, TLS or plain) is for the intent work, not DLP
    const info = this.procs.get(r.tgid);
    if (!info) {
      const h = this.held.get(r.tgid) ?? { since: Date.now(), recs: [] };
      if (h.recs.length >= HOLD_MAX_RECORDS) this.stats.heldDropped++;
      else h.recs.push(r);
      this.held.set(r.tgid, h);
      return;
    }
    try {
      this.opts.onContent?.(r, info.agent, info.agentPid);
    } catch (err) {
      this.opts.log(`content not handed to intent: ${(err as Error).message}`);
    }
    if (r.direction !== 'egress') return;
    this.stats.records++;
    this.stats.bytes += r.data.length;
    // With the tgid: a struct sock's address is reused by later sockets, of this process or others.
    const key = `${r.source}:${r.tgid}:${r.connId}`;
    const results = this.scanner.chunk({ key, streamOffset: r.streamOffset, data: r.data, missing: r.missing });
    if (results.length) this.finish(results, { r, info });
  }

  private finish(results: EgressScanResult[], from: { r: ContentRecord; info: ProcInfo } | undefined): void {
    if (!from) return; // closing streams at exit: the process info is gone with it
    const { r, info } = from;
    for (const res of results) {
      const tlsKey = r.source === 'tls' ? `${r.tgid}:${r.connId}` : undefined;
      const f: EgressFinding = {
        sensorId: this.opts.sensorId, agent: info.agent, agentPid: info.agentPid, pid: r.tgid,
        tsNs: String(r.ktimeNs + this.monoToRealNs), destination: r.remote ?? '?', host: res.host,
        channel: r.source, carrier: res.carrier,
        findings: res.findings.map((x) => ({
          class: x.class, count: x.count, offsets: x.offsets.slice(0, 16), fingerprints: x.fingerprints.map((fp) => fp.id.slice(0, 16)),
          ...(x.encodings ? { encodings: x.encodings } : {}),
        })),
      };
      const fpIds = res.findings.map((x) => x.fingerprints.map((fp) => fp.id));
      const now = Date.now();
      this.waiting.push({ settle: now + SETTLE_MS, due: now + MAX_WAIT_MS, f, tlsKey, fpIds, readIds: res.readIds });
    }
    this.tick();
  }

  private tick(all = false): void {
    const now = Date.now();
    for (let i = 0; i < this.waiting.length;) {
      const w = this.waiting[i]!;
      const remote = w.tlsKey ? this.tlsRemote.get(w.tlsKey) : w.f.destination;
      const caughtUp = this.eventsUpTo >= BigInt(w.f.tsNs) && now >= w.settle && this.reads.idle;
      if ((remote && caughtUp) || all || now >= w.due) {
        this.waiting.splice(i, 1);
        if (w.tlsKey) w.f.destination = remote ?? w.f.host ?? '?';
        w.f.findings.forEach((x, j) => {
          if (w.fpIds[j]!.some((id) => w.readIds.has(id) || this.reads.known.has(id))) x.read = true;
        });
        this.stats.findings++;
        try {
          this.opts.report(w.f);
        } catch (err) {
          this.opts.log(`egress finding not reported: ${(err as Error).message}`);
        }
      } else {
        i++;
      }
    }
    for (const [tgid, h] of this.held) {
      if (all || now - h.since > HOLD_MS) {
        this.stats.heldDropped += h.recs.length;
        this.held.delete(tgid);
      }
    }
  }
}

/** /proc/PID/map_files/RANGE of the first mapping of `path` (the inode mapped, not what the path names now). */
function mappedFile(pid: number, path: string): string | undefined {
  try {
    const maps = readFileSync(`/proc/${pid}/maps`, 'latin1');
    for (const line of maps.split('\n')) {
      if (line.endsWith(` ${path}`) || line.endsWith(`\t${path}`) || line.slice(line.indexOf('/')) === path) {
        return `/proc/${pid}/map_files/${line.slice(0, line.indexOf(' '))}`;
      }
    }
  } catch {
    // gone
  }
  return undefined;
}

function bytesText(v: string | { b64: string } | undefined): string {
  return v === undefined ? '?' : typeof v === 'string' ? v : displayString(v);
}
