// A hand-written encoder for the Event message: the sensor encodes every
// event once, on its hot path, and protobufjs's generic path (fromObject,
// 64-bit decimal strings through Long.fromString, an intermediate object)
// costs several times more. The wire format is the .proto's; field numbers
// and enum values are read from the loaded proto, and test/transport.test.ts
// checks that protobufjs decodes this output to the same event.
//
// Proto3 rules kept: plain scalars are left out when zero/empty, `optional`
// fields are written whenever set, the payload message always (its presence
// is the event type). A UTF-8 string field and a bytes field share one wire
// format, so plain-string ByteStrings are written without a Buffer copy.
import { EVENT_TYPE_NUMBER, type ByteString, type SensorEvent } from '../events/types.js';
import { protoRoot, PROTO_PACKAGE } from './proto.js';

// Written into one reused scratch buffer, then copied out once per event:
// protobufjs's Writer builds a list of operations and allocates per field.
let buf = Buffer.allocUnsafe(64 * 1024);
let pos = 0;
const VARINT = 0;
const LEN = 2;

function room(n: number): void {
  if (pos + n <= buf.length) return;
  const bigger = Buffer.allocUnsafe(Math.max(buf.length * 2, pos + n));
  buf.copy(bigger, 0, 0, pos);
  buf = bigger;
}

function varint32(v: number): void {
  v >>>= 0;
  while (v >= 0x80) {
    buf[pos++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  buf[pos++] = v;
}

function key(field: number, wire: number): void {
  room(16);
  varint32((field << 3) | wire);
}

/** Reserves one length byte; endLen() widens it when the content turned out longer. */
function beginLen(): number {
  room(1);
  return pos++;
}
function endLen(lenPos: number): void {
  const n = pos - lenPos - 1;
  if (n < 0x80) {
    buf[lenPos] = n;
    return;
  }
  const size = n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5;
  room(size - 1);
  buf.copyWithin(lenPos + size, lenPos + 1, pos);
  pos += size - 1;
  const save = pos;
  pos = lenPos;
  varint32(n);
  pos = save;
}

function writeString(v: string): void {
  room(v.length * 3);
  pos += buf.write(v, pos, 'utf8');
}

/** 64-bit unsigned from a decimal string (the wire varint; Numbers below 2^53, BigInt above). */
function u64varint(decimal: string): void {
  room(10);
  if (decimal.length <= 15) {
    let v = Number(decimal);
    while (v >= 0x80) {
      buf[pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    buf[pos++] = v;
    return;
  }
  let b = BigInt.asUintN(64, BigInt(decimal));
  let lo = Number(b & 0xffffffffn);
  let hi = Number(b >> 32n);
  while (hi > 0 || lo >= 0x80) {
    buf[pos++] = (lo & 0x7f) | 0x80;
    lo = ((lo >>> 7) | (hi << 25)) >>> 0;
    hi >>>= 7;
  }
  buf[pos++] = lo;
  b = 0n;
}

const u32 = (f: number, v: number) => {
  if (v) {
    key(f, VARINT);
    varint32(v);
  }
};
/** sint32: zigzag */
const s32 = (f: number, v: number) => {
  if (v) {
    key(f, VARINT);
    varint32((v << 1) ^ (v >> 31));
  }
};
const u64 = (f: number, v: string) => {
  if (v && v !== '0') {
    key(f, VARINT);
    u64varint(v);
  }
};
const bool = (f: number, v: boolean) => {
  if (v) {
    key(f, VARINT);
    buf[pos++] = 1;
  }
};
const str = (f: number, v: string) => {
  if (v) optStr(f, v);
};
const enumv = (f: number, v: number) => u32(f, v);

/** A ByteString as a length-delimited field, written even when empty (repeated and optional need that). */
function byteField(f: number, v: ByteString): void {
  key(f, LEN);
  const at = beginLen();
  if (typeof v === 'string') writeString(v);
  else {
    const raw = Buffer.from(v.b64, 'base64');
    room(raw.length);
    raw.copy(buf, pos);
    pos += raw.length;
  }
  endLen(at);
}
const bytes = (f: number, v: ByteString) => {
  if (typeof v !== 'string' || v.length > 0) byteField(f, v);
};
const optBytes = (f: number, v: ByteString | undefined) => void (v !== undefined && byteField(f, v));
const optBool = (f: number, v: boolean | undefined) => {
  if (v !== undefined) {
    key(f, VARINT);
    buf[pos++] = v ? 1 : 0;
  }
};
function optStr(f: number, v: string | undefined): void {
  if (v === undefined) return;
  key(f, LEN);
  const at = beginLen();
  writeString(v);
  endLen(at);
}
const optU32 = (f: number, v: number | null | undefined) => {
  if (v !== undefined && v !== null) {
    key(f, VARINT);
    varint32(v);
  }
};

interface Numbers {
  access: Record<string, number>;
  syscall: Record<string, number>;
  family: Record<string, number>;
  proto: Record<string, number>;
}

let numbers: Numbers | undefined;

/** Enum values by our lowercase names, from the proto (OPEN_ACCESS_READ -> read). */
function enumNumbers(): Numbers {
  if (numbers) return numbers;
  const load = (name: string, prefix: string) => {
    const values = protoRoot().lookupEnum(`${PROTO_PACKAGE}.${name}`).values;
    return Object.fromEntries(Object.entries(values).map(([k, v]) => [k.slice(prefix.length + 1).toLowerCase(), v]));
  };
  numbers = {
    access: load('OpenAccess', 'OPEN_ACCESS'),
    syscall: load('OpenSyscall', 'OPEN_SYSCALL'),
    family: load('SocketFamily', 'SOCKET_FAMILY'),
    proto: load('SocketProto', 'SOCKET_PROTO'),
  };
  return numbers;
}

function payload(e: SensorEvent, n: Numbers): void {
  switch (e.type) {
    case 'exec':
      bytes(1, e.filename);
      for (const a of e.argv) byteField(2, a);
      u64(3, e.startNs);
      optBytes(4, e.exe);
      optBytes(5, e.cwd);
      optBytes(6, e.home);
      return;
    case 'fork':
      u64(1, e.startNs);
      return;
    case 'exit':
      optU32(1, e.code);
      optU32(2, e.signal);
      return;
    case 'open':
      bytes(1, e.path);
      optBytes(2, e.rawPath);
      u32(3, e.flags);
      u32(4, e.mode);
      enumv(5, n.access[e.access]!);
      s32(6, e.result);
      enumv(7, n.syscall[e.syscall]!);
      optStr(8, e.sha256);
      if (e.inode) {
        key(9, LEN);
        const at = beginLen();
        u64(1, String(e.inode.dev));
        u64(2, e.inode.ino);
        u32(3, e.inode.mode);
        u64(4, e.inode.size);
        u64(5, e.inode.mtimeNs);
        u64(6, e.inode.ctimeNs);
        u32(7, e.inode.generation);
        endLen(at);
      }
      return;
    case 'connect':
      enumv(1, n.family[e.family]!);
      enumv(2, n.proto[e.proto]!);
      bytes(3, e.addr);
      u32(4, e.port);
      s32(5, e.result);
      optBool(6, e.datagram);
      optStr(7, e.host);
      return;
    case 'unlink':
      bytes(1, e.path);
      bool(2, e.rmdir);
      s32(3, e.result);
      return;
    case 'rename':
    case 'link':
      bytes(1, e.path);
      bytes(2, e.newpath);
      if (e.type === 'rename') u32(3, e.flags);
      else bool(3, e.symbolic);
      s32(4, e.result);
      return;
    case 'dns':
      str(1, e.qname);
      str(2, e.qtype);
      str(3, e.addr);
      u32(4, e.port);
      optBool(5, e.response);
      optStr(6, e.rcode);
      if (e.answers) for (const a of e.answers) optStr(7, a);
      optU32(8, e.ttl);
      return;
  }
}

export function encodeEventFast(e: SensorEvent): Buffer {
  const n = enumNumbers();
  const field = EVENT_TYPE_NUMBER[e.type]; // = the payload's field number (test checks)
  if (field === undefined) throw new Error(`unknown event type ${JSON.stringify(e.type)}`);
  pos = 0;
  key(field, LEN);
  const at = beginLen();
  payload(e, n);
  endLen(at);
  u64(20, e.tsNs);
  u32(21, e.pid);
  u32(22, e.tid);
  u32(23, e.ppid);
  u32(24, e.uid);
  u32(25, e.gid);
  bytes(26, e.comm);
  if (e.agent !== null) optStr(27, e.agent);
  u64(28, e.cgroupId);
  u32(29, e.netns);
  u32(30, e.mntns);
  optBool(31, e.truncated);
  u32(32, e.agentPid ?? 0);
  optBool(33, e.untracked);
  optBool(34, e.compat);
  optBool(35, e.argChanged);
  const out = Buffer.allocUnsafe(pos);
  buf.copy(out, 0, 0, pos);
  return out;
}
