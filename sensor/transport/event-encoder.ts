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
import protobuf from 'protobufjs';
import { EVENT_TYPE_NUMBER, type ByteString, type SensorEvent } from '../events/types.js';
import { protoRoot, PROTO_PACKAGE } from './proto.js';

type Writer = protobuf.Writer;
const VARINT = 0;
const LEN = 2;

function key(w: Writer, field: number, wire: number): Writer {
  return w.uint32(((field << 3) | wire) >>> 0);
}

/** 64-bit unsigned from a decimal string, without Long.fromString. */
function u64bits(decimal: string): number | { low: number; high: number } {
  if (decimal.length <= 15) return Number(decimal);
  const b = BigInt(decimal);
  return { low: Number(b & 0xffffffffn), high: Number((b >> 32n) & 0xffffffffn) };
}

const u32 = (w: Writer, f: number, v: number) => void (v && key(w, f, VARINT).uint32(v));
const s32 = (w: Writer, f: number, v: number) => void (v && key(w, f, VARINT).sint32(v));
const u64 = (w: Writer, f: number, v: string) => void (v && v !== '0' && key(w, f, VARINT).uint64(u64bits(v) as number));
const bool = (w: Writer, f: number, v: boolean) => void (v && key(w, f, VARINT).bool(true));
const str = (w: Writer, f: number, v: string) => void (v && key(w, f, LEN).string(v));
const enumv = (w: Writer, f: number, v: number) => u32(w, f, v);

/** A ByteString as a length-delimited field, written even when empty (repeated and optional need that). */
function byteField(w: Writer, f: number, v: ByteString): void {
  key(w, f, LEN);
  if (typeof v === 'string') w.string(v);
  else w.bytes(Buffer.from(v.b64, 'base64'));
}
const bytes = (w: Writer, f: number, v: ByteString) => {
  if (typeof v !== 'string' || v.length > 0) byteField(w, f, v);
};
const optBytes = (w: Writer, f: number, v: ByteString | undefined) => void (v !== undefined && byteField(w, f, v));
const optBool = (w: Writer, f: number, v: boolean | undefined) => void (v !== undefined && key(w, f, VARINT).bool(v));
const optStr = (w: Writer, f: number, v: string | undefined) => void (v !== undefined && key(w, f, LEN).string(v));
const optU32 = (w: Writer, f: number, v: number | null | undefined) => void (v !== undefined && v !== null && key(w, f, VARINT).uint32(v));

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

function payload(w: Writer, e: SensorEvent, n: Numbers): void {
  switch (e.type) {
    case 'exec':
      bytes(w, 1, e.filename);
      for (const a of e.argv) byteField(w, 2, a);
      u64(w, 3, e.startNs);
      optBytes(w, 4, e.exe);
      optBytes(w, 5, e.cwd);
      return;
    case 'fork':
      u64(w, 1, e.startNs);
      return;
    case 'exit':
      optU32(w, 1, e.code);
      optU32(w, 2, e.signal);
      return;
    case 'open':
      bytes(w, 1, e.path);
      optBytes(w, 2, e.rawPath);
      u32(w, 3, e.flags);
      u32(w, 4, e.mode);
      enumv(w, 5, n.access[e.access]!);
      s32(w, 6, e.result);
      enumv(w, 7, n.syscall[e.syscall]!);
      optStr(w, 8, e.sha256);
      return;
    case 'connect':
      enumv(w, 1, n.family[e.family]!);
      enumv(w, 2, n.proto[e.proto]!);
      bytes(w, 3, e.addr);
      u32(w, 4, e.port);
      s32(w, 5, e.result);
      optBool(w, 6, e.datagram);
      optStr(w, 7, e.host);
      return;
    case 'unlink':
      bytes(w, 1, e.path);
      bool(w, 2, e.rmdir);
      s32(w, 3, e.result);
      return;
    case 'rename':
    case 'link':
      bytes(w, 1, e.path);
      bytes(w, 2, e.newpath);
      if (e.type === 'rename') u32(w, 3, e.flags);
      else bool(w, 3, e.symbolic);
      s32(w, 4, e.result);
      return;
    case 'dns':
      str(w, 1, e.qname);
      str(w, 2, e.qtype);
      str(w, 3, e.addr);
      u32(w, 4, e.port);
      return;
  }
}

export function encodeEventFast(e: SensorEvent): Buffer {
  const n = enumNumbers();
  const field = EVENT_TYPE_NUMBER[e.type]; // = the payload's field number (test checks)
  if (field === undefined) throw new Error(`unknown event type ${JSON.stringify(e.type)}`);
  const w = protobuf.Writer.create();
  key(w, field, LEN).fork();
  payload(w, e, n);
  w.ldelim();
  u64(w, 20, e.tsNs);
  u32(w, 21, e.pid);
  u32(w, 22, e.tid);
  u32(w, 23, e.ppid);
  u32(w, 24, e.uid);
  u32(w, 25, e.gid);
  bytes(w, 26, e.comm);
  if (e.agent !== null) optStr(w, 27, e.agent);
  u64(w, 28, e.cgroupId);
  u32(w, 29, e.netns);
  u32(w, 30, e.mntns);
  optBool(w, 31, e.truncated);
  const out = w.finish();
  return Buffer.isBuffer(out) ? out : Buffer.from(out);
}
