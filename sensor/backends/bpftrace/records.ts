// Turns the script's printf lines (see ./script.ts) into KernelEvents.
//
// A record may come in several lines: E + F + A* (exec), O + P (open),
// C + U (unix connect). They are written by consecutive programs on one
// tracepoint hit, so on one CPU and adjacent in that CPU's buffer, but
// bpftrace interleaves CPUs; we pair them by pid/tid and emit a record once
// complete. A record still incomplete after STALE_MS (a part was lost) is
// emitted as truncated; parts without their record are dropped and counted.
import type {
  ByteString, ConnectEvent, EventBase, ExecEvent, ExitEvent, ForkEvent, LinkEvent, OpenEvent, RenameEvent, UnlinkEvent,
} from '../../../proto/events/types.js';
import { TimestampFormatter } from '../../kernel/clock.js';
import { bytesAt, exitStatus, openAccess, splitArgv } from '../../kernel/decode.js';
import { AF_UNIX } from '../../kernel/net.js';
import { joinNormalise } from '../../kernel/paths.js';
import { AGENT_CANDIDATE, type KernelEvent } from '../backend.js';
import { CwdResolver } from './cwd.js';
import { splitFields, unhexRx } from './lines.js';
import { connectEvent, dnsEvent } from './records-net.js';
import { FILE_CHANGE_KINDS } from './script-files.js';
import { ARGV_CHUNK, ARGV_MAX, OPEN_SYSCALLS, STRLEN } from './script.js';

const HEADER = 8;
const STALE_MS = 2000;
const AT_FDCWD = -100;

type Base = EventBase & { agentId: number; pending: boolean };

interface Pending {
  main: { fields: Buffer[]; build: (parts: Map<string, Buffer>, complete: boolean) => KernelEvent | null } | null;
  need: number;
  parts: Map<string, Buffer>;
  since: number;
}

export interface RecordStats {
  parseErrors: number;
  /** records emitted without a part that never came (lost or raced) */
  partsMissing: number;
  /** parts whose record never came */
  orphanParts: number;
  /** relative paths whose directory could not be read from /proc (process gone) */
  unresolvedPaths: number;
  truncated: number;
  /** sends to port 53 that did not read as a DNS query */
  dnsUnparsed: number;
}

export class RecordDecoder {
  readonly stats: RecordStats = { parseErrors: 0, partsMissing: 0, orphanParts: 0, unresolvedPaths: 0, truncated: 0, dnsUnparsed: 0 };
  private readonly pending = new Map<string, Pending>();
  private readonly time: TimestampFormatter;
  /** pids that exited, forgotten by the cwd resolver at the next flush (late records of other threads may follow) */
  private exited: number[] = [];

  /** `monoToEpochNs`: add to bpftrace's nsecs (CLOCK_MONOTONIC) for epoch ns */
  constructor(private readonly monoToEpochNs: bigint, private readonly now: () => number = Date.now,
    readonly cwd: CwdResolver = new CwdResolver()) {
    this.time = new TimestampFormatter(0n);
  }

  /** One printf line; complete records are appended to `out`. */
  push(line: Buffer, out: KernelEvent[]): void {
    try {
      this.dispatch(line, out);
    } catch {
      this.stats.parseErrors++;
    }
  }

  /** Emits records whose parts are overdue (call now and then, and at stop with force). */
  flushStale(out: KernelEvent[], force = false): void {
    for (const pid of this.exited) this.cwd.forget(pid);
    this.exited = [];
    const limit = this.now() - STALE_MS;
    for (const [key, p] of this.pending) {
      if (!force && p.since > limit) continue;
      this.pending.delete(key);
      if (!p.main) {
        this.stats.orphanParts += p.parts.size;
        continue;
      }
      this.stats.partsMissing++;
      this.emit(p, false, out);
    }
  }

  private dispatch(line: Buffer, out: KernelEvent[]): void {
    const tag = String.fromCharCode(line[0]);
    switch (tag) {
      case 'E': return this.main(`x${this.pidOf(line)}`, line, 2, (f) => 1 + Math.ceil(Math.min(Number(f[HEADER + 2].toString()), ARGV_MAX) / ARGV_CHUNK), (f, parts, complete) => this.exec(f, parts, complete), out);
      case 'O': return this.main(`o${this.tidOf(line)}`, line, 4, () => 1, (f, parts, complete) => this.open(f, parts, complete), out);
      case 'C': return this.main(`c${this.tidOf(line)}`, line, 5, (f) => (Number(BigInt(f[HEADER + 3].toString()) >> 48n) === AF_UNIX ? 1 : 0),
        (f, parts) => connectEvent(this.base(f, 'connect'), f, parts), out);
      case 'N': return this.main(`n${this.tidOf(line)}:${this.field(line, HEADER + 1).toString()}`, line, 6, () => 1,
        (f, parts, complete) => dnsEvent(this.base(f, 'dns'), f, parts, complete, this.stats), out);
      case 'M': return this.main(`m${this.tidOf(line)}`, line, 3, (f) => (twoPaths(f) ? 2 : 1), (f, parts, complete) => this.fileChange(f, parts, complete), out);
      case 'G': return this.single(line, 5, (f) => { const ev = connectEvent(this.base(f, 'connect'), f, new Map()); (ev as ConnectEvent).datagram = true; return ev; }, out);
      case 'K': return this.single(line, 1, (f) => this.fork(f), out);
      case 'X': return this.single(line, 1, (f) => this.exit(f), out);
      case 'F': return this.part(line, 'x', 'F', out);
      case 'A': return this.part(line, 'x', 'A', out);
      case 'P': return this.part(line, 'o', 'P', out);
      case 'U': return this.part(line, 'c', 'U', out);
      case 'Q': return this.part(line, 'n', 'Q', out);
      case 'm': return this.part(line, 'm', 'm', out);
      case 'W': return this.chdir(line);
      default: this.stats.parseErrors++;
    }
  }

  private chdir(line: Buffer): void {
    const s = splitFields(line, 3);
    if (!s) throw new Error('short line');
    this.cwd.changed(Number(s.fields[2].toString()), BigInt(s.fields[1].toString()));
  }

  private pidOf(line: Buffer): number {
    return Number(BigInt(this.field(line, 2).toString()) >> 32n);
  }

  private tidOf(line: Buffer): number {
    return Number(BigInt(this.field(line, 2).toString()) & 0xffffffffn);
  }

  private field(line: Buffer, index: number): Buffer {
    const s = splitFields(line, index + 1);
    if (!s) throw new Error('short line');
    return s.fields[index];
  }

  private single(line: Buffer, extra: number, build: (f: Buffer[]) => KernelEvent, out: KernelEvent[]): void {
    const s = splitFields(line, 1 + HEADER + extra);
    if (!s) throw new Error('short line');
    out.push(build(s.fields));
  }

  private main(key: string, line: Buffer, extra: number, partsNeeded: (f: Buffer[]) => number,
    build: (f: Buffer[], parts: Map<string, Buffer>, complete: boolean) => KernelEvent | null, out: KernelEvent[]): void {
    const s = splitFields(line, 1 + HEADER + extra);
    if (!s) throw new Error('short line');
    const fields = s.fields;
    let p = this.pending.get(key);
    if (p?.main) { // the previous record of this thread lost a part
      this.pending.delete(key);
      this.stats.partsMissing++;
      this.emit(p, false, out);
      p = undefined;
    }
    if (!p) {
      p = { main: null, need: 0, parts: new Map(), since: this.now() };
      this.pending.set(key, p);
    }
    p.main = { fields, build: (parts, complete) => build(fields, parts, complete) };
    p.need = partsNeeded(fields);
    this.tryComplete(key, p, out);
  }

  private part(line: Buffer, prefix: string, tag: string, out: KernelEvent[]): void {
    const isArgv = tag === 'A';
    // A: piece number; Q: sendmmsg message number; m: path number and the "path went on" byte
    const indexed = isArgv || tag === 'Q' || tag === 'm';
    const s = splitFields(line, tag === 'm' ? 4 : indexed ? 3 : 2);
    if (!s) throw new Error('short line');
    const id = Number(s.fields[1].toString());
    const key = tag === 'Q' ? `${prefix}${id}:${Number(s.fields[2].toString())}` : `${prefix}${id}`;
    let p = this.pending.get(key);
    if (!p) {
      p = { main: null, need: 0, parts: new Map(), since: this.now() };
      this.pending.set(key, p);
    }
    const name = isArgv || tag === 'm' ? `${tag}${Number(s.fields[2].toString())}` : tag;
    if (p.parts.has(name)) this.stats.orphanParts++; // a leftover from a record that was lost
    // m: the first byte says whether the path went on past what str() read
    p.parts.set(name, tag === 'm' ? Buffer.concat([Buffer.from([Number(s.fields[3].toString()) ? 1 : 0]), s.rest]) : Buffer.from(s.rest));
    this.tryComplete(key, p, out);
  }

  private tryComplete(key: string, p: Pending, out: KernelEvent[]): void {
    if (!p.main || p.parts.size < p.need) return;
    this.pending.delete(key);
    this.emit(p, true, out);
  }

  private emit(p: Pending, complete: boolean, out: KernelEvent[]): void {
    const ev = p.main!.build(p.parts, complete);
    if (!ev) return;
    if (!complete) ev.truncated = true;
    if (ev.truncated) this.stats.truncated++;
    out.push(ev);
  }

  private base<T extends KernelEvent['type']>(f: Buffer[], type: T): Base & { type: T } {
    const epochNs = BigInt(f[1].toString()) + this.monoToEpochNs;
    const pidtid = BigInt(f[2].toString());
    const uidgid = BigInt(f[4].toString());
    const tracked = Number(BigInt(f[6].toString()) & 0xffffffffn);
    const ns = BigInt(f[7].toString());
    const comm = unhexRx(f[8], 0, f[8].length) ?? Buffer.alloc(0);
    const nul = comm.indexOf(0);
    return {
      type,
      ts: this.time.iso(epochNs),
      tsNs: epochNs.toString(),
      pid: Number(pidtid >> 32n),
      tid: Number(pidtid & 0xffffffffn),
      ppid: Number(f[3].toString()),
      uid: Number(uidgid >> 32n),
      gid: Number(uidgid & 0xffffffffn),
      comm: bytesAt(comm, 0, nul < 0 ? comm.length : nul),
      agent: null,
      cgroupId: f[5].toString(),
      netns: Number(ns >> 32n),
      mntns: Number(ns & 0xffffffffn),
      agentId: tracked,
      pending: tracked === AGENT_CANDIDATE,
    };
  }

  private exec(f: Buffer[], parts: Map<string, Buffer>, complete: boolean): KernelEvent {
    const ev = this.base(f, 'exec') as Base & ExecEvent;
    ev.startNs = f[HEADER + 1].toString();
    const argvLen = Number(f[HEADER + 2].toString());
    const filename = parts.get('F') ?? Buffer.alloc(0);
    ev.filename = bytesAt(filename, 0, filename.length);
    const chunks: Buffer[] = [];
    let intact = complete;
    for (let i = 0; i * ARGV_CHUNK < Math.min(argvLen, ARGV_MAX); i++) {
      const hex = parts.get(`A${i}`);
      const bytes = hex ? unhexRx(hex, 0, hex.length) : null;
      if (!bytes) { intact = false; break; } // keep what precedes the gap
      chunks.push(bytes);
    }
    ev.argv = splitArgv(Buffer.concat(chunks));
    // a filename of STRLEN-1 bytes may have been cut by str()
    if (!intact || argvLen > ARGV_MAX || filename.length >= STRLEN - 1) ev.truncated = true;
    this.cwd.prime(ev.pid);
    return ev;
  }

  private fork(f: Buffer[]): KernelEvent {
    const ev = this.base(f, 'fork') as Base & ForkEvent;
    ev.startNs = f[HEADER + 1].toString();
    this.cwd.prime(ev.pid);
    return ev;
  }

  private exit(f: Buffer[]): KernelEvent {
    const ev = this.base(f, 'exit') as Base & ExitEvent;
    const st = exitStatus(Number(f[HEADER + 1].toString()) >>> 0);
    ev.code = st.code;
    ev.signal = st.signal;
    this.exited.push(ev.pid);
    return ev;
  }

  private open(f: Buffer[], parts: Map<string, Buffer>, complete: boolean): KernelEvent | null {
    const ev = this.base(f, 'open') as Base & OpenEvent;
    ev.result = Number(f[HEADER + 1].toString());
    const flagsMode = BigInt(f[HEADER + 2].toString());
    const dfdNr = BigInt(f[HEADER + 3].toString());
    const moreByte = Number(f[HEADER + 4].toString());
    ev.flags = Number(flagsMode >> 32n);
    ev.mode = Number(flagsMode & 0xffffffffn);
    ev.access = openAccess(ev.flags);
    ev.syscall = OPEN_SYSCALLS[Number(dfdNr & 0xffffffffn)] ?? 'openat';
    const dfd = Number(BigInt.asIntN(32, dfdNr >> 32n));
    const raw = parts.get('P');
    if (!raw) {
      if (complete) return null;
      ev.path = '';
      return ev;
    }
    // str() stops at STRLEN-1 bytes; the byte after, read separately, says
    // whether the path went on.
    if (raw.length >= STRLEN - 1 && moreByte !== 0) ev.truncated = true;
    this.setPath(ev, ev.pid, dfd, raw, BigInt(f[1].toString()));
    return ev;
  }

  /**
   * Absolute paths are taken as given (normalised). Relative ones are
   * resolved against the cwd or dirfd the process had, as far as /proc can
   * still tell (see ./cwd.ts); when it cannot, path stays relative and is
   * counted in unresolvedPaths.
   */
  private setPath(ev: { path: ByteString; rawPath?: ByteString }, pid: number, dfd: number, raw: Buffer, mono: bigint): void {
    let dir: Buffer | null = Buffer.alloc(0);
    if (raw.length === 0 || raw[0] !== 0x2f) {
      dir = dfd === AT_FDCWD ? this.cwd.cwdAt(pid, mono) : this.cwd.dirOf(pid, dfd);
      if (!dir) {
        this.stats.unresolvedPaths++;
        dir = Buffer.alloc(0);
      }
    }
    const full = joinNormalise(dir, raw);
    ev.path = bytesAt(full, 0, full.length);
    if (!full.equals(raw)) ev.rawPath = bytesAt(raw, 0, raw.length);
  }

  private fileChange(f: Buffer[], parts: Map<string, Buffer>, complete: boolean): KernelEvent | null {
    const kindFlags = BigInt(f[HEADER + 2].toString());
    const kind = FILE_CHANGE_KINDS[Number((kindFlags >> 32n) & 0xffn)];
    const flags = Number(kindFlags & 0xffffffffn);
    const dfds = BigInt(f[HEADER + 3].toString());
    const result = Number(f[HEADER + 1].toString());
    const mono = BigInt(f[1].toString());
    const pid = Number(BigInt(f[2].toString()) >> 32n);
    let cut = !complete;
    const path = (i: number, dfd: number, resolve: boolean): ByteString => {
      const part = parts.get(`m${i}`);
      if (!part) return '';
      const raw = part.subarray(1);
      if (part[0] && raw.length >= STRLEN - 1) cut = true;
      if (!resolve) return bytesAt(raw, 0, raw.length);
      const ev: { path: ByteString } = { path: '' };
      this.setPath(ev, pid, dfd, raw, mono);
      return ev.path;
    };
    const dfd0 = Number(BigInt.asIntN(32, dfds >> 32n));
    const dfd1 = Number(BigInt.asIntN(32, dfds & 0xffffffffn));
    let ev: KernelEvent;
    if (kind === 'unlink' || kind === 'rmdir') {
      const u = this.base(f, 'unlink') as Base & UnlinkEvent;
      u.path = path(0, dfd0, true);
      u.rmdir = kind === 'rmdir';
      u.result = result;
      ev = u;
    } else if (kind === 'rename') {
      const r = this.base(f, 'rename') as Base & RenameEvent;
      r.path = path(0, dfd0, true);
      r.newpath = path(1, dfd1, true);
      r.flags = flags;
      r.result = result;
      ev = r;
    } else if (kind === 'link' || kind === 'symlink') {
      const l = this.base(f, 'link') as Base & LinkEvent;
      l.symbolic = kind === 'symlink';
      // a symlink's target is text stored verbatim, not a path resolved now
      l.path = path(0, dfd0, !l.symbolic);
      l.newpath = path(1, dfd1, true);
      l.result = result;
      ev = l;
    } else {
      this.stats.parseErrors++;
      return null;
    }
    if (cut) ev.truncated = true;
    return ev;
  }

}

/** rename and link records carry two paths; unlink one */
function twoPaths(f: Buffer[]): boolean {
  const kind = FILE_CHANGE_KINDS[Number((BigInt(f[HEADER + 2].toString()) >> 32n) & 0xffn)];
  return kind === 'rename' || kind === 'link' || kind === 'symlink';
}
