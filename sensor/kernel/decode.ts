// Raw ring-buffer records (bpf/events.h) -> typed KernelEvents. One Buffer
// holds many records back to back; each starts with struct event_header whose
// `size` is the record length. This runs for every event (200k+/s), so it
// reads fields straight from the Buffer at the offsets in ./layout.ts and
// allocates only the strings and objects the events consist of.
// Little-endian hosts only (x86-64, arm64), as the BPF records are host order.
import type { KernelEvent } from '../backends/backend.js';
import { byteString } from '../../proto/events/bytes.js';
import type { ByteString, EventBase } from '../../proto/events/types.js';
import { TimestampFormatter, type BootClock } from './clock.js';
import {
  CONNECT_EVENT as C, CONNF_DATAGRAM, DNS_EVENT as D, DNSF_RESPONSE, EV, EVENT_HEADER as H, EVF_ARG_CHANGED, EVF_COMPAT,
  EVF_KPATH_SAME, EVF_PENDING, EVF_TRUNCATED, EVF_UNTRACKED,
  EXEC_EVENT as X, EXIT_EVENT as E, FILE_IDENTITY, FORK_EVENT as F, LNKF_SYMBOLIC, OPEN_EVENT as O, RENAME_EVENT as R,
  UNLF_RMDIR, UNLINK_EVENT as U,
} from './layout.js';
import { familyName, inetAddrText, protoName, unixPathBytes } from './net.js';
import { isCleanAbsolute, joinNormalise } from './paths.js';
import { openSyscallName } from './syscalls.js';

/** What a DNS payload says; rcode/answers/ttl only for a response. */
export interface ParsedDns {
  qname: string;
  qtype: string;
  rcode?: string;
  /** addresses the asked name resolved to (CNAMEs followed) */
  answers?: string[];
  /** smallest TTL behind those addresses, seconds */
  ttl?: number;
}

/** sensor/kernel/dns-parser.ts, injected so the decoder works without it */
export type DnsParser = (payload: Uint8Array, response: boolean) => ParsedDns | null;

export interface DecodeStats {
  /** records whose size or lengths did not fit the batch; the rest of that batch is skipped */
  malformed: number;
  unknownType: number;
  /** dns records whose payload is not a DNS query (or response), or no parser available */
  dnsUnparsed: number;
}

const O_ACCMODE = 0o3;
const O_WRONLY = 0o1;
const O_RDWR = 0o2;
const O_CREAT = 0o100;
const O_TRUNC = 0o1000;

export function openAccess(flags: number): 'read' | 'write' | 'readwrite' {
  const acc = flags & O_ACCMODE;
  if (acc === O_RDWR) return 'readwrite';
  if (acc === O_WRONLY || flags & (O_CREAT | O_TRUNC)) return 'write';
  return 'read';
}

/** Raw wait status (code << 8 | signal) -> code or signal. */
export function exitStatus(status: number): { code: number | null; signal: number | null } {
  const sig = status & 0x7f;
  return sig === 0 ? { code: (status >> 8) & 0xff, signal: null } : { code: null, signal: sig };
}

// Buffer#latin1Slice is what toString('latin1', s, e) ends in, minus the
// argument checks; it exists on every Node Buffer but is not in the typings.
type Latin1 = { latin1Slice(start: number, end: number): string };

// latin1 maps a byte >= 0x80 to U+0080..U+00FF: one regex scan (native code
// over a one-byte string) finds it, several times faster than a JS byte loop.
const NON_ASCII = /[\u0080-\u00ff]/;

/** ASCII (the common case) via latin1, which is cheap; anything else through byteString. */
export function bytesAt(buf: Buffer, start: number, end: number): ByteString {
  const text = (buf as unknown as Latin1).latin1Slice(start, end);
  return NON_ASCII.test(text) ? byteString(buf.subarray(start, end)) : text;
}

function cString(buf: Buffer, start: number, max: number): ByteString {
  let end = start;
  const limit = start + max;
  while (end < limit && buf[end] !== 0) end++;
  return bytesAt(buf, start, end);
}

/** NUL-separated argv area; a trailing NUL does not start another argument. */
export function splitArgv(area: Uint8Array): ByteString[] {
  const args: ByteString[] = [];
  let start = 0;
  for (let i = 0; i < area.length; i++) {
    if (area[i] !== 0) continue;
    args.push(byteString(area.subarray(start, i)));
    start = i + 1;
  }
  if (start < area.length) args.push(byteString(area.subarray(start)));
  return args;
}

// Word (u32) and half-word (u16) indexes of the fields read through the views.
const W_TS = H.fields.ts_ns.offset >>> 2;
const W_PID = H.fields.pid.offset >>> 2;
const W_TID = H.fields.tid.offset >>> 2;
const W_PPID = H.fields.ppid.offset >>> 2;
const W_UID = H.fields.uid.offset >>> 2;
const W_GID = H.fields.gid.offset >>> 2;
const W_NETNS = H.fields.netns.offset >>> 2;
const W_MNTNS = H.fields.mntns.offset >>> 2;
const W_AGENT_PID = H.fields.agent_pid.offset >>> 2;
const W_AGENT_ID = H.fields.agent_id.offset >>> 2;
const H_HDR_FLAGS = H.fields.flags.offset >>> 1;
const W_OPEN_RESULT = O.fields.result.offset >>> 2;
const W_OPEN_FLAGS = O.fields.flags.offset >>> 2;
const W_OPEN_MODE = O.fields.mode.offset >>> 2;
const H_PATH_LEN = O.fields.path_len.offset >>> 1;
const H_DIR_LEN = O.fields.dir_len.offset >>> 1;
const H_KPATH_LEN = O.fields.kpath_len.offset >>> 1;
const H_SYSCALL_NR = O.fields.syscall_nr.offset >>> 1;
const ID = O.fields.opened.offset;
const W_ID_DEV = (ID + FILE_IDENTITY.fields.dev.offset) >>> 2;
const W_ID_MODE = (ID + FILE_IDENTITY.fields.mode.offset) >>> 2;
const W_ID_INO = (ID + FILE_IDENTITY.fields.ino.offset) >>> 2;
const W_ID_GENERATION = (ID + FILE_IDENTITY.fields.generation.offset) >>> 2;
const W_ID_SIZE = (ID + FILE_IDENTITY.fields.size.offset) >>> 2;
const W_ID_MTIME = (ID + FILE_IDENTITY.fields.mtime_ns.offset) >>> 2;
const W_ID_CTIME = (ID + FILE_IDENTITY.fields.ctime_ns.offset) >>> 2;

/** The kernel's dev_t (MAJOR << 20 | MINOR) as stat(2) reports it (glibc's makedev). */
export function userDev(kdev: number): number {
  const major = kdev >>> 20;
  const minor = kdev & 0xfffff;
  return (minor & 0xff) + (major & 0xfff) * 0x100 + (minor & 0xfff00) * 0x1000;
}

class Malformed extends Error {}

export class KernelDecoder {
  readonly stats: DecodeStats = { malformed: 0, unknownType: 0, dnsUnparsed: 0 };
  private readonly time: TimestampFormatter;

  constructor(clock: BootClock, private readonly parseDns: DnsParser | null = null) {
    this.time = new TimestampFormatter(clock.bootToEpochNs);
  }

  // Views of the batch being decoded: the header and open fields, the
  // hottest, are read as aligned words rather than through Buffer#readUInt*
  // (argument checks and byte assembly per field). Records are 8-aligned.
  private u16: Uint16Array<ArrayBufferLike> = new Uint16Array(0);
  private u32: Uint32Array<ArrayBufferLike> = new Uint32Array(0);
  private i32: Int32Array<ArrayBufferLike> = new Int32Array(0);

  decode(buf: Buffer, out: KernelEvent[] = []): KernelEvent[] {
    if (buf.byteOffset % 4 !== 0) { // a Buffer the ring did not make (tests): an aligned copy
      const aligned = Buffer.allocUnsafeSlow(buf.length);
      buf.copy(aligned);
      buf = aligned;
    }
    this.u16 = new Uint16Array(buf.buffer, buf.byteOffset, buf.length >>> 1);
    this.u32 = new Uint32Array(buf.buffer, buf.byteOffset, buf.length >>> 2);
    this.i32 = new Int32Array(buf.buffer, buf.byteOffset, buf.length >>> 2);
    let off = 0;
    while (off + H.size <= buf.length) {
      const size = buf.readUInt32LE(off + H.fields.size.offset);
      if (size < H.size || off + size > buf.length) {
        this.stats.malformed++;
        break;
      }
      try {
        const ev = this.record(buf, off, size);
        if (ev) out.push(ev);
      } catch (err) {
        if (!(err instanceof Malformed)) throw err;
        this.stats.malformed++;
      }
      off += size;
    }
    return out;
  }

  private record(b: Buffer, o: number, size: number): KernelEvent | null {
    const type = b.readUInt16LE(o);
    switch (type) {
      case EV.EXEC: return this.exec(b, o, size);
      case EV.FORK: return this.fork(b, o, size);
      case EV.EXIT: return this.exit(b, o, size);
      case EV.OPEN: return this.open(b, o, size);
      case EV.CONNECT: return this.connect(b, o, size);
      case EV.UNLINK: return this.unlink(b, o, size);
      case EV.RENAME:
      case EV.LINK: return this.rename(b, o, size, type);
      case EV.DNS: return this.dns(b, o, size);
      default:
        this.stats.unknownType++;
        return null;
    }
  }

  private readonly lastComm = new Int32Array(4).fill(-1);
  private lastCommText: ByteString = '';

  /** the same comm comes event after event: compare its 16 bytes, reuse the string */
  private commText(b: Buffer, at: number): ByteString {
    const c = this.lastComm;
    const i32 = this.i32;
    const w = at >>> 2;
    const w0 = i32[w];
    const w1 = i32[w + 1];
    const w2 = i32[w + 2];
    const w3 = i32[w + 3];
    if (w0 !== c[0] || w1 !== c[1] || w2 !== c[2] || w3 !== c[3]) {
      c[0] = w0;
      c[1] = w1;
      c[2] = w2;
      c[3] = w3;
      this.lastCommText = cString(b, at, H.fields.comm.size);
    }
    return this.lastCommText;
  }

  private lastCgroupLo = -1;
  private lastCgroupHi = -1;
  private lastCgroupText = '';

  /** cgroup ids repeat from event to event: reuse the last decimal text */
  private cgroupText(b: Buffer, at: number): string {
    const lo = this.u32[at >>> 2];
    const hi = this.u32[(at >>> 2) + 1];
    if (lo !== this.lastCgroupLo || hi !== this.lastCgroupHi) {
      this.lastCgroupLo = lo;
      this.lastCgroupHi = hi;
      this.lastCgroupText = b.readBigUInt64LE(at).toString();
    }
    return this.lastCgroupText;
  }

  /**
   * The header fields every event shares, plus the fields the Sensor resolves
   * later. Callers then add their own fields by assignment, always in the same
   * order: V8 keeps one hidden class per event type that way, which measured
   * several times faster than building the event with object spread.
   */
  private base<T extends KernelEvent['type']>(b: Buffer, o: number, type: T): Extract<KernelEvent, { type: T }> {
    const hf = H.fields;
    const u32 = this.u32;
    const w = o >>> 2;
    const flags = this.u16[(o + hf.flags.offset) >>> 1];
    const time = this.time;
    time.set(u32[w + W_TS], u32[w + W_TS + 1]);
    const base: EventBase & { agentId: number; pending: boolean } = {
      type,
      ts: time.ts,
      tsNs: time.tsNs,
      pid: u32[w + W_PID],
      tid: u32[w + W_TID],
      ppid: u32[w + W_PPID],
      uid: u32[w + W_UID],
      gid: u32[w + W_GID],
      comm: this.commText(b, o + hf.comm.offset),
      agent: null,
      cgroupId: this.cgroupText(b, o + hf.cgroup_id.offset),
      netns: u32[w + W_NETNS],
      mntns: u32[w + W_MNTNS],
      agentPid: u32[w + W_AGENT_PID],
      agentId: u32[w + W_AGENT_ID],
      pending: (flags & EVF_PENDING) !== 0,
    };
    if (flags & EVF_TRUNCATED) base.truncated = true;
    if (flags & (EVF_UNTRACKED | EVF_COMPAT | EVF_ARG_CHANGED)) {
      if (flags & EVF_UNTRACKED) base.untracked = true;
      if (flags & EVF_COMPAT) base.compat = true;
      if (flags & EVF_ARG_CHANGED) base.argChanged = true;
    }
    return base as Extract<KernelEvent, { type: T }>;
  }

  private exec(b: Buffer, o: number, size: number): KernelEvent {
    const x = X.fields;
    const fnLen = b.readUInt32LE(o + x.filename_len.offset);
    const argvLen = b.readUInt32LE(o + x.argv_len.offset);
    const exeLen = b.readUInt16LE(o + x.exe_len.offset);
    const cwdLen = b.readUInt16LE(o + x.cwd_len.offset);
    const data = o + x.data.offset;
    need(X.size + fnLen + argvLen + exeLen + cwdLen <= size);
    const ev = this.base(b, o, 'exec');
    ev.filename = bytesAt(b, data, data + fnLen);
    ev.argv = splitArgv(b.subarray(data + fnLen, data + fnLen + argvLen));
    ev.startNs = b.readBigUInt64LE(o + x.start_ns.offset).toString();
    const exeAt = data + fnLen + argvLen;
    if (exeLen > 0) ev.exe = bytesAt(b, exeAt, exeAt + exeLen);
    if (cwdLen > 0) ev.cwd = bytesAt(b, exeAt + exeLen, exeAt + exeLen + cwdLen);
    return ev;
  }

  private fork(b: Buffer, o: number, size: number): KernelEvent {
    need(F.size <= size);
    const ev = this.base(b, o, 'fork');
    ev.startNs = b.readBigUInt64LE(o + F.fields.start_ns.offset).toString();
    return ev;
  }

  private exit(b: Buffer, o: number, size: number): KernelEvent {
    need(E.size <= size);
    const status = b.readUInt32LE(o + E.fields.exit_code.offset);
    const sig = status & 0x7f;
    const ev = this.base(b, o, 'exit');
    ev.code = sig === 0 ? (status >> 8) & 0xff : null;
    ev.signal = sig === 0 ? null : sig;
    return ev;
  }

  private open(b: Buffer, o: number, size: number): KernelEvent {
    const x = O.fields;
    const u16 = this.u16;
    const h = o >>> 1;
    const pathLen = u16[h + H_PATH_LEN];
    const dirLen = u16[h + H_DIR_LEN];
    const kpathLen = u16[h + H_KPATH_LEN];
    const data = o + x.data.offset;
    need(O.size + pathLen + dirLen + kpathLen <= size);
    const flags = this.u32[(o >>> 2) + W_OPEN_FLAGS];
    const ev = this.base(b, o, 'open');
    if (u16[h + H_HDR_FLAGS] & EVF_KPATH_SAME) {
      // the kernel found the opened file's path to be the caller's own string
      ev.path = bytesAt(b, data, data + pathLen);
    } else if (kpathLen > 0) {
      // the file the kernel opened; the caller's string beside it when it says something else
      const k = data + pathLen + dirLen;
      ev.path = bytesAt(b, k, k + kpathLen);
      if (pathLen !== kpathLen || b.compare(b, k, k + kpathLen, data, data + pathLen) !== 0) {
        ev.rawPath = bytesAt(b, data, data + pathLen);
      }
    } else {
      this.setPaths(ev, b, data, pathLen, dirLen);
    }
    ev.flags = flags;
    ev.mode = this.u32[(o >>> 2) + W_OPEN_MODE];
    ev.access = openAccess(flags);
    ev.result = this.i32[(o >>> 2) + W_OPEN_RESULT];
    ev.syscall = openSyscallName(u16[h + H_SYSCALL_NR]);
    const w = o >>> 2;
    const mode = this.u32[w + W_ID_MODE]!;
    if (mode !== 0) {
      ev.inode = {
        dev: userDev(this.u32[w + W_ID_DEV]!), ino: this.u64(w + W_ID_INO), generation: this.u32[w + W_ID_GENERATION]!, mode,
        size: this.u64(w + W_ID_SIZE), mtimeNs: this.u64(w + W_ID_MTIME), ctimeNs: this.u64(w + W_ID_CTIME),
      };
    }
    return ev;
  }

  /** The u64 at 32-bit word w as a decimal string (exact). */
  private u64(w: number): string {
    const lo = this.u32[w]!;
    const hi = this.u32[w + 1]!;
    if (hi < 0x200000) return String(hi * 4294967296 + lo);
    return ((BigInt(hi) << 32n) | BigInt(lo)).toString();
  }

  private unlink(b: Buffer, o: number, size: number): KernelEvent {
    const x = U.fields;
    const pathLen = b.readUInt16LE(o + x.path_len.offset);
    const dirLen = b.readUInt16LE(o + x.dir_len.offset);
    need(U.size + pathLen + dirLen <= size);
    const ev = this.base(b, o, 'unlink');
    ev.path = this.fullPath(b, o + x.data.offset, pathLen, dirLen);
    ev.rmdir = (b.readUInt32LE(o + x.flags.offset) & UNLF_RMDIR) !== 0;
    ev.result = b.readInt32LE(o + x.result.offset);
    return ev;
  }

  private rename(b: Buffer, o: number, size: number, type: number): KernelEvent {
    const x = R.fields;
    const pathLen = b.readUInt16LE(o + x.path_len.offset);
    const dirLen = b.readUInt16LE(o + x.dir_len.offset);
    const newLen = b.readUInt16LE(o + x.newpath_len.offset);
    const newDirLen = b.readUInt16LE(o + x.newdir_len.offset);
    const data = o + x.data.offset;
    need(R.size + pathLen + dirLen + newLen + newDirLen <= size);
    const flags = b.readUInt32LE(o + x.flags.offset);
    const result = b.readInt32LE(o + x.result.offset);
    const newpath = this.fullPath(b, data + pathLen + dirLen, newLen, newDirLen);
    if (type === EV.LINK) {
      const symbolic = (flags & LNKF_SYMBOLIC) !== 0;
      const ev = this.base(b, o, 'link');
      // a symlink's target is text stored verbatim, not a path resolved now
      ev.path = symbolic ? bytesAt(b, data, data + pathLen) : this.fullPath(b, data, pathLen, dirLen);
      ev.newpath = newpath;
      ev.symbolic = symbolic;
      ev.result = result;
      return ev;
    }
    const ev = this.base(b, o, 'rename');
    ev.path = this.fullPath(b, data, pathLen, dirLen);
    ev.newpath = newpath;
    ev.flags = flags;
    ev.result = result;
    return ev;
  }

  private connect(b: Buffer, o: number, size: number): KernelEvent {
    const x = C.fields;
    need(C.size <= size);
    const family = b.readUInt16LE(o + x.family.offset);
    const fam = familyName(family);
    const ev = this.base(b, o, 'connect');
    ev.family = fam;
    ev.proto = protoName(family, b.readUInt16LE(o + x.protocol.offset), b.readUInt16LE(o + x.sock_type.offset));
    if (fam === 'unix') {
      const len = Math.min(b.readUInt32LE(o + x.path_len.offset), x.unix_path.size);
      ev.addr = byteString(unixPathBytes(b, o + x.unix_path.offset, len));
    } else {
      ev.addr = inetAddrText(family, b, o + x.addr.offset);
    }
    ev.port = b.readUInt16LE(o + x.port.offset);
    ev.result = b.readInt32LE(o + x.result.offset);
    if (b.readUInt32LE(o + x.flags.offset) & CONNF_DATAGRAM) ev.datagram = true;
    return ev;
  }

  private dns(b: Buffer, o: number, size: number): KernelEvent | null {
    const x = D.fields;
    const len = b.readUInt32LE(o + x.payload_len.offset);
    need(D.size + len <= size);
    const response = (b.readUInt32LE(o + x.flags.offset) & DNSF_RESPONSE) !== 0;
    const payload = b.subarray(o + x.data.offset, o + x.data.offset + len);
    const q = this.parseDns ? this.parseDns(payload, response) : null;
    if (!q) {
      this.stats.dnsUnparsed++;
      return null;
    }
    const family = b.readUInt16LE(o + x.family.offset);
    const ev = this.base(b, o, 'dns');
    ev.qname = q.qname;
    ev.qtype = q.qtype;
    ev.addr = inetAddrText(family, b, o + x.addr.offset);
    ev.port = b.readUInt16LE(o + x.port.offset);
    if (response) {
      ev.response = true;
      ev.rcode = q.rcode ?? '';
      ev.answers = q.answers ?? [];
      if (q.ttl !== undefined) ev.ttl = q.ttl;
    }
    return ev;
  }

  /** path = normalise(dir + '/' + raw) */
  private fullPath(b: Buffer, at: number, pathLen: number, dirLen: number): ByteString {
    const full = joinNormalise(b.subarray(at + pathLen, at + pathLen + dirLen), b.subarray(at, at + pathLen));
    return bytesAt(full, 0, full.length);
  }

  /** path, and rawPath when the process passed something else than the normalised absolute path */
  private setPaths(ev: { path: ByteString; rawPath?: ByteString }, b: Buffer, at: number, pathLen: number, dirLen: number): void {
    if (isCleanAbsolute(b, at, at + pathLen)) {
      ev.path = bytesAt(b, at, at + pathLen);
      return;
    }
    const raw = b.subarray(at, at + pathLen);
    const full = joinNormalise(b.subarray(at + pathLen, at + pathLen + dirLen), raw);
    if (full.buffer === raw.buffer && full.byteOffset === raw.byteOffset && full.length === raw.length) {
      ev.path = bytesAt(b, at, at + pathLen);
      return;
    }
    ev.path = bytesAt(full, 0, full.length);
    ev.rawPath = bytesAt(b, at, at + pathLen);
  }
}

function need(ok: boolean): void {
  if (!ok) throw new Malformed();
}
