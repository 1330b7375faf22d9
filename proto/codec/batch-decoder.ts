// A hand-written decoder for EventBatch on the collector's hot path: wire
// bytes straight to SensorEvents. protobufjs's generic path (decode, then
// toObject with 64-bit integers through Long.toString, then fromProtoEvent)
// cost more per event than the SQLite insert. The result is the same as
// fromProtoEvent(protoCodecs().batch.decode(bytes).events[i]) for every event
// (test/transport.test.ts checks it against that reference), and a semantic
// problem with an event (no known payload, a bad enum) is not thrown but
// returned as `invalid`, so the server still refuses the batch with a
// REJECTED ack; only bytes that are not protobuf at all throw.
//
// Mirror of event-encoder.ts; field numbers as in sensor.proto.
import { decodePbTurn, MAX_TURNS_PER_BATCH } from './turn-proto.js';
import { byteString } from '../events/bytes.js';
import type { ByteString, EventBase, EventType, OpenedInode, SensorEvent } from '../events/types.js';
import { InvalidEventError } from './convert.js';
import { protoRoot, PROTO_PACKAGE, type PbEventBatch, type PbSensorHealth, type PbTransportCounters, type PbUndelivered } from './proto.js';

export interface DecodedBatch extends Omit<PbEventBatch, 'events'> {
  /** the events, converted (up to the first invalid one) */
  sensorEvents: SensorEvent[];
  /** how many events the batch carried on the wire */
  eventCount: number;
  /** the first event that cannot become a SensorEvent */
  invalid?: { index: number; message: string };
}

const PAYLOADS: (EventType | undefined)[] = [
  undefined, 'exec', 'fork', 'exit', 'open', 'connect', 'unlink', 'rename', 'link', 'dns',
];

class Wire {
  pos: number;
  constructor(readonly buf: Buffer, start: number, readonly end: number) {
    this.pos = start;
  }

  /** Varint up to 32 bits (wider ones are cut, as protobufjs's uint32 does). Unrolled: the hottest call. */
  u32(): number {
    const b = this.buf;
    let p = this.pos;
    if (p + 10 > b.length) return this.u32Checked(); // else reading on is safe; overrunning `end` is checked below
    let x = b[p++]!;
    let v = x & 0x7f;
    if (x >= 0x80) {
      x = b[p++]!;
      v |= (x & 0x7f) << 7;
      if (x >= 0x80) {
        x = b[p++]!;
        v |= (x & 0x7f) << 14;
        if (x >= 0x80) {
          x = b[p++]!;
          v |= (x & 0x7f) << 21;
          if (x >= 0x80) {
            x = b[p++]!;
            v |= (x & 0x0f) << 28;
            // bits past 32 are dropped; at most 5 more bytes
            for (let i = 0; x >= 0x80 && i < 5; i++) x = b[p++]!;
            if (x >= 0x80) throw new Error('invalid varint encoding');
          }
        }
      }
    }
    if (p > this.end) throw new RangeError('index out of range: truncated varint');
    this.pos = p;
    return v >>> 0;
  }

  /** The same near the end of the buffer, every byte bounds-checked. */
  private u32Checked(): number {
    let v = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new RangeError('index out of range: truncated varint');
      const x = this.buf[this.pos++]!;
      if (i < 4) v |= (x & 0x7f) << (7 * i);
      else if (i === 4) v |= (x & 0x0f) << 28;
      if (x < 0x80) return v >>> 0;
    }
    throw new Error('invalid varint encoding');
  }

  s32(): number {
    const n = this.u32();
    return (n >>> 1) ^ -(n & 1);
  }

  bool(): boolean {
    this.varint64();
    return (this.lo | this.hi) !== 0;
  }

  private lo = 0;
  private hi = 0;
  /** Reads a varint of up to 64 bits into this.lo / this.hi (unsigned 32-bit halves). */
  private varint64(): void {
    const b = this.buf;
    let lo = 0;
    let hi = 0;
    let i = 0;
    for (; i < 10; i++) {
      if (this.pos >= this.end) throw new RangeError('index out of range: truncated varint');
      const x = b[this.pos++]!;
      if (i < 4) lo |= (x & 0x7f) << (i * 7);
      else if (i === 4) {
        lo |= (x & 0x0f) << 28;
        hi |= (x & 0x7f) >> 4;
      } else hi |= (x & 0x7f) << (i * 7 - 32);
      if (x < 0x80) break;
    }
    if (i === 10) throw new Error('invalid varint encoding');
    this.lo = lo >>> 0;
    this.hi = hi >>> 0;
  }

  /** uint64 as a decimal string (exact). */
  u64(): string {
    this.varint64();
    const { lo, hi } = this;
    if (hi < 0x200000) return String(hi * 4294967296 + lo); // below 2^53: exact as a Number
    return ((BigInt(hi) << 32n) | BigInt(lo)).toString();
  }

  /** Start and end of a length-delimited field's content. */
  len(): number {
    const n = this.u32();
    if (this.pos + n > this.end) throw new RangeError(`index out of range: ${this.pos} + ${n} > ${this.end}`);
    return n;
  }

  bytes(): Buffer {
    const n = this.len();
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  string(): string {
    const n = this.len();
    const s = this.buf.toString('utf8', this.pos, this.pos + n);
    this.pos += n;
    return s;
  }

  byteString(): ByteString {
    return byteString(this.bytes());
  }

  skip(wire: number): void {
    switch (wire) {
      case 0:
        this.varint64();
        return;
      case 1:
        this.pos += 8;
        break;
      case 2: {
        const n = this.len(); // read before adding: `pos += len()` would add to the old pos
        this.pos += n;
        return;
      }
      case 5:
        this.pos += 4;
        break;
      case 3: {
        for (;;) {
          const tag = this.u32();
          if ((tag & 7) === 4) return;
          this.skip(tag & 7);
        }
      }
      default:
        throw new Error(`invalid wire type ${wire} at offset ${this.pos}`);
    }
    if (this.pos > this.end) throw new RangeError('index out of range');
  }
}

interface EnumNames {
  access: string[];
  syscall: string[];
  family: string[];
  proto: string[];
}
let enumNames: EnumNames | undefined;

/** Number -> lowercase name of the proto's enums (OPEN_ACCESS_READ = 1 -> names[1] = 'read'). */
function names(): EnumNames {
  if (enumNames) return enumNames;
  const load = (name: string, prefix: string, allowed: readonly string[]) => {
    const out: string[] = [];
    for (const [k, v] of Object.entries(protoRoot().lookupEnum(`${PROTO_PACKAGE}.${name}`).values)) {
      const n = k.slice(prefix.length + 1).toLowerCase();
      if (allowed.includes(n)) out[v] = n;
    }
    return out;
  };
  enumNames = {
    access: load('OpenAccess', 'OPEN_ACCESS', ['read', 'write', 'readwrite']),
    syscall: load('OpenSyscall', 'OPEN_SYSCALL', ['open', 'creat', 'openat', 'openat2']),
    family: load('SocketFamily', 'SOCKET_FAMILY', ['inet', 'inet6', 'unix', 'other']),
    proto: load('SocketProto', 'SOCKET_PROTO', ['tcp', 'udp', 'raw', 'unix', 'other']),
  };
  return enumNames;
}

/** The same message as convert.ts's enumValue for a value it does not accept. */
function enumOf<T extends string>(table: string[], prefix: string, enumName: string, v: number | undefined, field: string): T {
  const n = v === undefined ? undefined : table[v];
  if (n === undefined) {
    const wire = v === undefined ? undefined
      : (Object.entries(protoRoot().lookupEnum(`${PROTO_PACKAGE}.${enumName}`).values).find(([, x]) => x === v)?.[0] ?? v);
    throw new InvalidEventError(`${field}: unexpected value ${JSON.stringify(wire)}`);
  }
  return n as T;
}

// ISO text per second, cached: events of a batch share their second.
let isoSecond = -1;
let isoPrefix = '';
/** Epoch ns (decimal string) -> 2026-11-28T11:40:35.123456789Z, as convert.ts's isoFromNs. */
export function isoFromNsFast(tsNs: string): string {
  if (tsNs.length < 10 || tsNs.length > 19 || tsNs[0] === '-') return isoSlow(tsNs);
  const sec = Number(tsNs.slice(0, tsNs.length - 9));
  if (sec !== isoSecond) {
    const iso = new Date(sec * 1000).toISOString();
    if (iso.length !== 24) return isoSlow(tsNs);
    isoSecond = sec;
    isoPrefix = iso.slice(0, 20);
  }
  return `${isoPrefix}${tsNs.slice(tsNs.length - 9)}Z`;
}
function isoSlow(tsNs: string): string {
  const ns = BigInt(tsNs);
  const seconds = ns / 1_000_000_000n;
  const fraction = (ns % 1_000_000_000n).toString().padStart(9, '0');
  return new Date(Number(seconds) * 1000).toISOString().replace(/\.\d{3}Z$/, `.${fraction}Z`);
}

/** One Event message; field by field as fromProtoEvent builds it. */
function decodeEvent(w: Wire, end: number): SensorEvent {
  let payload: EventType | undefined;
  let pStart = 0;
  let pEnd = 0;
  let tsNs = '0';
  let pid = 0, tid = 0, ppid = 0, uid = 0, gid = 0, netns = 0, mntns = 0;
  let comm: ByteString = '';
  let agent: string | null = null;
  let cgroupId = '0';
  let truncated: boolean | undefined;
  let untracked: boolean | undefined;
  let compat: boolean | undefined;
  let argChanged: boolean | undefined;
  let agentPid = 0;
  while (w.pos < end) {
    const tag = w.u32();
    const field = tag >>> 3;
    if (field >= 1 && field <= 9 && (tag & 7) === 2) {
      const n = w.len();
      payload = PAYLOADS[field];
      pStart = w.pos;
      pEnd = w.pos + n;
      w.pos = pEnd;
      continue;
    }
    switch (tag) {
      case (20 << 3): tsNs = w.u64(); break;
      case (21 << 3): pid = w.u32(); break;
      case (22 << 3): tid = w.u32(); break;
      case (23 << 3): ppid = w.u32(); break;
      case (24 << 3): uid = w.u32(); break;
      case (25 << 3): gid = w.u32(); break;
      case (26 << 3) | 2: comm = w.byteString(); break;
      case (27 << 3) | 2: agent = w.string(); break;
      case (28 << 3): cgroupId = w.u64(); break;
      case (29 << 3): netns = w.u32(); break;
      case (30 << 3): mntns = w.u32(); break;
      case (31 << 3): truncated = w.bool(); break;
      case (32 << 3): agentPid = w.u32(); break;
      case (33 << 3): untracked = w.bool(); break;
      case (34 << 3): compat = w.bool(); break;
      case (35 << 3): argChanged = w.bool(); break;
      default: w.skip(tag & 7);
    }
  }
  if (w.pos !== end) throw new RangeError('index out of range: event overruns its length');
  if (payload === undefined) throw new InvalidEventError('event has no known payload');
  const base: Omit<EventBase, 'type'> = {
    ts: isoFromNsFast(tsNs), tsNs, pid, tid, ppid, uid, gid, comm, agent, cgroupId, netns, mntns, agentPid,
  };
  if (truncated !== undefined) base.truncated = truncated;
  if (untracked !== undefined) base.untracked = untracked;
  if (compat !== undefined) base.compat = compat;
  if (argChanged !== undefined) base.argChanged = argChanged;
  return decodePayload(new Wire(w.buf, pStart, pEnd), payload, base);
}

/** A FileIdentity message (the length-delimited field's content). */
function fileIdentity(w: Wire): OpenedInode {
  const n = w.len();
  const sub = new Wire(w.buf, w.pos, w.pos + n);
  w.pos += n;
  const id: OpenedInode = { dev: 0, ino: '0', generation: 0, mode: 0, size: '0', mtimeNs: '0', ctimeNs: '0' };
  while (sub.pos < sub.end) {
    const tag = sub.u32();
    switch (tag) {
      case (1 << 3): id.dev = Number(sub.u64()); break;
      case (2 << 3): id.ino = sub.u64(); break;
      case (3 << 3): id.mode = sub.u32(); break;
      case (4 << 3): id.size = sub.u64(); break;
      case (5 << 3): id.mtimeNs = sub.u64(); break;
      case (6 << 3): id.ctimeNs = sub.u64(); break;
      case (7 << 3): id.generation = sub.u32(); break;
      default: sub.skip(tag & 7);
    }
  }
  return id;
}

function decodePayload(w: Wire, type: EventType, base: Omit<EventBase, 'type'>): SensorEvent {
  const n = names();
  const end = w.end;
  switch (type) {
    case 'exec': {
      let filename: ByteString = '';
      const argv: ByteString[] = [];
      let startNs = '0';
      let exe: ByteString | undefined;
      let cwd: ByteString | undefined;
      let home: ByteString | undefined;
      while (w.pos < end) {
        const tag = w.u32();
        if (tag === ((1 << 3) | 2)) filename = w.byteString();
        else if (tag === ((2 << 3) | 2)) argv.push(w.byteString());
        else if (tag === (3 << 3)) startNs = w.u64();
        else if (tag === ((4 << 3) | 2)) exe = w.byteString();
        else if (tag === ((5 << 3) | 2)) cwd = w.byteString();
        else if (tag === ((6 << 3) | 2)) home = w.byteString();
        else w.skip(tag & 7);
      }
      const e: SensorEvent = { type, ...base, filename, argv, startNs };
      if (exe !== undefined) e.exe = exe;
      if (cwd !== undefined) e.cwd = cwd;
      if (home !== undefined) e.home = home;
      return e;
    }
    case 'fork': {
      let startNs = '0';
      while (w.pos < end) {
        const tag = w.u32();
        if (tag === (1 << 3)) startNs = w.u64();
        else w.skip(tag & 7);
      }
      return { type, ...base, startNs };
    }
    case 'exit': {
      let code: number | null = null;
      let signal: number | null = null;
      while (w.pos < end) {
        const tag = w.u32();
        if (tag === (1 << 3)) code = w.u32();
        else if (tag === (2 << 3)) signal = w.u32();
        else w.skip(tag & 7);
      }
      return { type, ...base, code, signal };
    }
    case 'open': {
      let path: ByteString = '';
      let rawPath: ByteString | undefined;
      let flags = 0, mode = 0, result = 0;
      let access: number | undefined;
      let syscall: number | undefined;
      let sha256: string | undefined;
      let inode: OpenedInode | undefined;
      while (w.pos < end) {
        const tag = w.u32();
        switch (tag) {
          case (1 << 3) | 2: path = w.byteString(); break;
          case (2 << 3) | 2: rawPath = w.byteString(); break;
          case (3 << 3): flags = w.u32(); break;
          case (4 << 3): mode = w.u32(); break;
          case (5 << 3): access = w.u32() | 0; break;
          case (6 << 3): result = w.s32(); break;
          case (7 << 3): syscall = w.u32() | 0; break;
          case (8 << 3) | 2: sha256 = w.string(); break;
          case (9 << 3) | 2: inode = fileIdentity(w); break;
          default: w.skip(tag & 7);
        }
      }
      const e: SensorEvent = {
        type, ...base, path, flags, mode,
        access: enumOf(n.access, 'OPEN_ACCESS', 'OpenAccess', access, 'open.access'), result,
        syscall: enumOf(n.syscall, 'OPEN_SYSCALL', 'OpenSyscall', syscall, 'open.syscall'),
      };
      if (rawPath !== undefined) e.rawPath = rawPath;
      if (sha256 !== undefined) e.sha256 = sha256;
      if (inode !== undefined) e.inode = inode;
      return e;
    }
    case 'connect': {
      let family: number | undefined;
      let proto: number | undefined;
      let addr: ByteString = '';
      let port = 0, result = 0;
      let datagram: boolean | undefined;
      let host: string | undefined;
      while (w.pos < end) {
        const tag = w.u32();
        switch (tag) {
          case (1 << 3): family = w.u32() | 0; break;
          case (2 << 3): proto = w.u32() | 0; break;
          case (3 << 3) | 2: addr = w.byteString(); break;
          case (4 << 3): port = w.u32(); break;
          case (5 << 3): result = w.s32(); break;
          case (6 << 3): datagram = w.bool(); break;
          case (7 << 3) | 2: host = w.string(); break;
          default: w.skip(tag & 7);
        }
      }
      const e: SensorEvent = {
        type, ...base, family: enumOf(n.family, 'SOCKET_FAMILY', 'SocketFamily', family, 'connect.family'),
        proto: enumOf(n.proto, 'SOCKET_PROTO', 'SocketProto', proto, 'connect.proto'), addr, port, result,
      };
      if (datagram !== undefined) e.datagram = datagram;
      if (host !== undefined) e.host = host;
      return e;
    }
    case 'unlink': {
      let path: ByteString = '';
      let rmdir = false;
      let result = 0;
      while (w.pos < end) {
        const tag = w.u32();
        if (tag === ((1 << 3) | 2)) path = w.byteString();
        else if (tag === (2 << 3)) rmdir = w.bool();
        else if (tag === (3 << 3)) result = w.s32();
        else w.skip(tag & 7);
      }
      return { type, ...base, path, rmdir, result };
    }
    case 'rename':
    case 'link': {
      let path: ByteString = '';
      let newpath: ByteString = '';
      let third = 0;
      let result = 0;
      while (w.pos < end) {
        const tag = w.u32();
        if (tag === ((1 << 3) | 2)) path = w.byteString();
        else if (tag === ((2 << 3) | 2)) newpath = w.byteString();
        else if (tag === (3 << 3)) third = type === 'link' ? Number(w.bool()) : w.u32();
        else if (tag === (4 << 3)) result = w.s32();
        else w.skip(tag & 7);
      }
      return type === 'rename'
        ? { type, ...base, path, newpath, flags: third, result }
        : { type, ...base, path, newpath, symbolic: third !== 0, result };
    }
    case 'dns': {
      let qname = '', qtype = '', addr = '', rcode = '';
      let port = 0;
      let response = false;
      let ttl: number | undefined;
      const answers: string[] = [];
      while (w.pos < end) {
        const tag = w.u32();
        if (tag === ((1 << 3) | 2)) qname = w.string();
        else if (tag === ((2 << 3) | 2)) qtype = w.string();
        else if (tag === ((3 << 3) | 2)) addr = w.string();
        else if (tag === (4 << 3)) port = w.u32();
        else if (tag === (5 << 3)) response = w.bool();
        else if (tag === ((6 << 3) | 2)) rcode = w.string();
        else if (tag === ((7 << 3) | 2)) answers.push(w.string());
        else if (tag === (8 << 3)) ttl = w.u32();
        else w.skip(tag & 7);
      }
      const e: SensorEvent = { type, ...base, qname, qtype, addr, port };
      if (response) {
        e.response = true;
        e.rcode = rcode;
        e.answers = answers;
        if (ttl !== undefined) e.ttl = ttl;
      }
      return e;
    }
  }
}

export function decodeEventBatch(bytes: Buffer): DecodedBatch {
  const w = new Wire(bytes, 0, bytes.length);
  const out: DecodedBatch = { sensorEvents: [], eventCount: 0 };
  while (w.pos < w.end) {
    const tag = w.u32();
    switch (tag) {
      case (1 << 3) | 2: out.sensor_id = w.string(); break;
      case (2 << 3) | 2: out.boot_id = w.string(); break;
      case (3 << 3): out.seq = w.u64(); break;
      case (4 << 3) | 2: {
        const n = w.len();
        const end = w.pos + n;
        const index = out.eventCount++;
        if (out.invalid) {
          w.pos = end; // the batch is refused anyway
          break;
        }
        try {
          out.sensorEvents.push(decodeEvent(w, end));
        } catch (err) {
          if (!(err instanceof InvalidEventError)) throw err;
          out.invalid = { index, message: err.message };
        }
        w.pos = end;
        break;
      }
      case (5 << 3): out.dropped_before = w.u64(); break;
      case (6 << 3) | 2:
        out.counters = counters(w.bytes());
        break;
      case (7 << 3) | 2:
        (out.undelivered ??= []).push(undelivered(w.bytes()));
        break;
      case (8 << 3) | 2:
        out.health = sensorHealth(w.bytes());
        break;
      case (9 << 3) | 2: {
        const bytes = w.bytes();
        // Beyond the bound the rest are skipped: a batch is never refused for its turns.
        if ((out.turns ??= []).length < MAX_TURNS_PER_BATCH) out.turns.push(decodePbTurn(bytes));
        break;
      }
      default: w.skip(tag & 7);
    }
  }
  if (w.pos !== w.end) throw new RangeError('index out of range: batch overruns its length');
  return out;
}

function undelivered(bytes: Buffer): PbUndelivered {
  const type = protoRoot().lookupType(`${PROTO_PACKAGE}.Undelivered`);
  return type.toObject(type.decode(bytes), { longs: String, enums: String, oneofs: true, defaults: false }) as PbUndelivered;
}

function sensorHealth(bytes: Buffer): PbSensorHealth {
  const type = protoRoot().lookupType(`${PROTO_PACKAGE}.SensorHealth`);
  return type.toObject(type.decode(bytes), { longs: String, enums: String, oneofs: true, defaults: false }) as PbSensorHealth;
}

function counters(bytes: Buffer): PbTransportCounters {
  const type = protoRoot().lookupType(`${PROTO_PACKAGE}.TransportCounters`);
  return type.toObject(type.decode(bytes), { longs: String, enums: String, oneofs: true, defaults: false }) as PbTransportCounters;
}
