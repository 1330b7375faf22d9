// SensorEvent <-> the typed columns of the `events` table, with strings as
// raw bytes (the store interns them into ids). Both directions live here so
// that a field added to the event contract is added to storage in one place.
import { byteString, toBytes } from '../../proto/events/bytes.js';
import type { ByteString, EventType, SensorEvent } from '../../proto/events/types.js';
import { EVENT_TYPE_NUMBER } from '../../proto/events/types.js';
import { rcodeName, rcodeNumber } from '../../proto/net/dns-message.js';

/** One event as stored, strings resolved to bytes and the agent to its name. */
export interface EventColumns {
  type: number;
  tsNs: bigint;
  pid: number;
  tid: number;
  ppid: number;
  uid: number;
  gid: number;
  comm: Buffer;
  agent: string | null;
  cgroup: bigint;
  netns: number;
  mntns: number;
  bits: number;
  path: Buffer | null;
  newpath: Buffer | null;
  flags: number | null;
  mode: number | null;
  access: number | null;
  syscall: number | null;
  result: number | null;
  family: number | null;
  proto: number | null;
  addr: Buffer | null;
  port: number | null;
  host: Buffer | null;
  code: number | null;
  signal: number | null;
  qname: Buffer | null;
  qtype: Buffer | null;
  startNs: bigint | null;
  exe: Buffer | null;
  cwd: Buffer | null;
  argv: Buffer | null;
  /** root pid of the agent instance; null for non-agents and rows of older stores */
  agentPid: number | null;
}

/** Columns holding interned strings, in canonical order (see canonical.ts). */
export const STRING_COLUMNS = ['comm', 'path', 'newpath', 'addr', 'host', 'qname', 'qtype', 'exe', 'cwd'] as const;
export type StringColumn = (typeof STRING_COLUMNS)[number];

export const BIT_TRUNCATED = 1;
export const BIT_DATAGRAM = 2;
export const BIT_RMDIR = 4;
export const BIT_SYMBOLIC = 8;
/** a dns response: host = answers (comma-separated), result = rcode number, flags = ttl */
export const BIT_DNS_RESPONSE = 16;

const ACCESS = ['read', 'write', 'readwrite'] as const;
const SYSCALL = ['open', 'creat', 'openat', 'openat2'] as const;
const FAMILY = ['inet', 'inet6', 'unix', 'other'] as const;
const PROTO = ['tcp', 'udp', 'raw', 'unix', 'other'] as const;

// Codes start at 1 so that 0 never silently means a real value.
function code<T extends string>(names: readonly T[], name: T): number {
  const i = names.indexOf(name);
  if (i < 0) throw new Error(`unknown value ${JSON.stringify(name)}`);
  return i + 1;
}
function name<T extends string>(names: readonly T[], value: number | null, what: string): T {
  const n = value === null ? undefined : names[value - 1];
  if (n === undefined) throw new Error(`stored ${what} code ${value} is unknown`);
  return n;
}

const TYPE_BY_NUMBER = new Map<number, EventType>(
  Object.entries(EVENT_TYPE_NUMBER).map(([t, n]) => [n, t as EventType]),
);

const u64ToI64 = (decimal: string): bigint => BigInt.asIntN(64, BigInt(decimal));
const i64ToU64 = (v: bigint): string => BigInt.asUintN(64, v).toString();

function emptyColumns(e: SensorEvent): EventColumns {
  const typeNumber = EVENT_TYPE_NUMBER[e.type];
  if (typeNumber === undefined) throw new Error(`unknown event type ${JSON.stringify(e.type)}`);
  return {
    type: typeNumber, tsNs: BigInt(e.tsNs), pid: e.pid, tid: e.tid, ppid: e.ppid, uid: e.uid, gid: e.gid,
    comm: cachedBytes(e.comm), agent: e.agent, cgroup: u64ToI64(e.cgroupId), netns: e.netns, mntns: e.mntns,
    bits: e.truncated ? BIT_TRUNCATED : 0,
    path: null, newpath: null, flags: null, mode: null, access: null, syscall: null, result: null,
    family: null, proto: null, addr: null, port: null, host: null, code: null, signal: null,
    qname: null, qtype: null, startNs: null, exe: null, cwd: null, argv: null,
    agentPid: e.agentPid || null, // 0 (not an agent) is stored as no instance
  };
}

// Bytes of recent strings: an agent repeats its comm and paths thousands of
// times a second. The Buffers are shared, so nothing downstream may write to them.
const BYTES_CACHE_MAX = 4096;
let bytesCache = new Map<string, Buffer>();
function cachedBytes(v: ByteString): Buffer {
  if (typeof v !== 'string') return toBytes(v);
  let b = bytesCache.get(v);
  if (b === undefined) {
    if (bytesCache.size >= BYTES_CACHE_MAX) bytesCache = new Map();
    b = Buffer.from(v, 'utf8');
    bytesCache.set(v, b);
  }
  return b;
}

const opt = (v: ByteString | undefined): Buffer | null => (v === undefined ? null : cachedBytes(v));

/** argv as NUL-terminated elements: [] and [""] stay distinct. */
export function encodeArgv(argv: ByteString[]): Buffer {
  return Buffer.concat(argv.flatMap((a) => [toBytes(a), Buffer.from([0])]));
}
export function decodeArgv(raw: Buffer): ByteString[] {
  const out: ByteString[] = [];
  let start = 0;
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === 0) {
      out.push(byteString(raw.subarray(start, i)));
      start = i + 1;
    }
  }
  return out;
}

export function toColumns(e: SensorEvent): EventColumns {
  const c = emptyColumns(e);
  switch (e.type) {
    case 'exec':
      c.path = toBytes(e.filename);
      c.argv = encodeArgv(e.argv);
      c.startNs = BigInt(e.startNs);
      c.exe = opt(e.exe);
      c.cwd = opt(e.cwd);
      break;
    case 'fork':
      c.startNs = BigInt(e.startNs);
      break;
    case 'exit':
      c.code = e.code;
      c.signal = e.signal;
      break;
    case 'open':
      c.path = cachedBytes(e.path);
      c.newpath = opt(e.rawPath);
      c.flags = e.flags;
      c.mode = e.mode;
      c.access = code(ACCESS, e.access);
      c.syscall = code(SYSCALL, e.syscall);
      c.result = e.result;
      break;
    case 'connect':
      c.family = code(FAMILY, e.family);
      c.proto = code(PROTO, e.proto);
      c.addr = toBytes(e.addr);
      c.port = e.port;
      c.result = e.result;
      c.host = e.host === undefined ? null : Buffer.from(e.host, 'utf8');
      if (e.datagram) c.bits |= BIT_DATAGRAM;
      break;
    case 'unlink':
      c.path = toBytes(e.path);
      c.result = e.result;
      if (e.rmdir) c.bits |= BIT_RMDIR;
      break;
    case 'rename':
      c.path = toBytes(e.path);
      c.newpath = toBytes(e.newpath);
      c.flags = e.flags;
      c.result = e.result;
      break;
    case 'link':
      c.path = toBytes(e.path);
      c.newpath = toBytes(e.newpath);
      c.result = e.result;
      if (e.symbolic) c.bits |= BIT_SYMBOLIC;
      break;
    case 'dns':
      c.qname = Buffer.from(e.qname, 'utf8');
      c.qtype = Buffer.from(e.qtype, 'utf8');
      c.addr = Buffer.from(e.addr, 'utf8');
      c.port = e.port;
      if (e.response) {
        c.bits |= BIT_DNS_RESPONSE;
        c.host = e.answers && e.answers.length > 0 ? Buffer.from(e.answers.join(','), 'utf8') : null;
        c.result = rcodeNumber(e.rcode ?? '');
        c.flags = e.ttl ?? null;
      }
      break;
  }
  return c;
}

/** ISO-8601 UTC with nanoseconds from epoch ns. */
export function isoFromNs(ns: bigint): string {
  const ms = ns / 1_000_000n;
  const frac = ((ns % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n;
  const base = new Date(Number(ms)).toISOString(); // ...THH:MM:SS.mmmZ
  return `${base.slice(0, 19)}.${frac.toString().padStart(9, '0')}Z`;
}

const must = <T>(v: T | null, what: string): T => {
  if (v === null) throw new Error(`stored event lacks ${what}`);
  return v;
};
const text = (b: Buffer | null, what: string): string => must(b, what).toString('utf8');

export function fromColumns(c: EventColumns): SensorEvent {
  const type = TYPE_BY_NUMBER.get(c.type);
  if (!type) throw new Error(`stored event type ${c.type} is unknown`);
  const base = {
    ts: isoFromNs(c.tsNs), tsNs: c.tsNs.toString(), pid: c.pid, tid: c.tid, ppid: c.ppid, uid: c.uid, gid: c.gid,
    comm: byteString(c.comm), agent: c.agent, ...(c.agentPid !== null ? { agentPid: c.agentPid } : {}),
    cgroupId: i64ToU64(c.cgroup), netns: c.netns, mntns: c.mntns,
    ...(c.bits & BIT_TRUNCATED ? { truncated: true } : {}),
  };
  const bs = (b: Buffer | null, what: string): ByteString => byteString(must(b, what));
  switch (type) {
    case 'exec':
      return {
        ...base, type, filename: bs(c.path, 'filename'), argv: decodeArgv(must(c.argv, 'argv')),
        startNs: must(c.startNs, 'startNs').toString(),
        ...(c.exe ? { exe: byteString(c.exe) } : {}), ...(c.cwd ? { cwd: byteString(c.cwd) } : {}),
      };
    case 'fork':
      return { ...base, type, startNs: must(c.startNs, 'startNs').toString() };
    case 'exit':
      return { ...base, type, code: c.code, signal: c.signal };
    case 'open':
      return {
        ...base, type, path: bs(c.path, 'path'), ...(c.newpath ? { rawPath: byteString(c.newpath) } : {}),
        flags: must(c.flags, 'flags'), mode: must(c.mode, 'mode'), access: name(ACCESS, c.access, 'access'),
        result: must(c.result, 'result'), syscall: name(SYSCALL, c.syscall, 'syscall'),
      };
    case 'connect':
      return {
        ...base, type, family: name(FAMILY, c.family, 'family'), proto: name(PROTO, c.proto, 'proto'),
        addr: bs(c.addr, 'addr'), port: must(c.port, 'port'), result: must(c.result, 'result'),
        ...(c.bits & BIT_DATAGRAM ? { datagram: true } : {}),
        ...(c.host ? { host: c.host.toString('utf8') } : {}),
      };
    case 'unlink':
      return { ...base, type, path: bs(c.path, 'path'), rmdir: (c.bits & BIT_RMDIR) !== 0, result: must(c.result, 'result') };
    case 'rename':
      return {
        ...base, type, path: bs(c.path, 'path'), newpath: bs(c.newpath, 'newpath'),
        flags: must(c.flags, 'flags'), result: must(c.result, 'result'),
      };
    case 'link':
      return {
        ...base, type, path: bs(c.path, 'path'), newpath: bs(c.newpath, 'newpath'),
        symbolic: (c.bits & BIT_SYMBOLIC) !== 0, result: must(c.result, 'result'),
      };
    case 'dns':
      return {
        ...base, type, qname: text(c.qname, 'qname'), qtype: text(c.qtype, 'qtype'),
        addr: text(c.addr, 'addr'), port: must(c.port, 'port'),
        ...(c.bits & BIT_DNS_RESPONSE ? dnsResponse(c) : {}),
      };
  }
}

function dnsResponse(c: EventColumns): { response: true; rcode: string; answers: string[]; ttl?: number } {
  const answers = c.host && c.host.length > 0 ? c.host.toString('utf8').split(',') : [];
  const rcode = c.result === null ? '' : rcodeName(c.result);
  return { response: true, rcode, answers, ...(c.flags !== null ? { ttl: c.flags } : {}) };
}

/** Open events whose content the collector hashes: succeeded, and the file was read. */
/** wantsHash over a stored events row aliased `e` (the query joins file_links on it). */
export const WANTS_HASH_SQL =
  `e.type = ${EVENT_TYPE_NUMBER.open} AND e.result >= 0 AND e.access IN (${code(ACCESS, 'read')}, ${code(ACCESS, 'readwrite')})`;

export function wantsHash(e: SensorEvent): e is Extract<SensorEvent, { type: 'open' }> {
  return e.type === 'open' && e.result >= 0 && (e.access === 'read' || e.access === 'readwrite');
}
