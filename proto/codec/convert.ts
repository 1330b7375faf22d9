// SensorEvent <-> proto Event, lossless. Kernel strings travel as raw bytes
// (a { b64 } ByteString is decoded to its bytes, and bytes that are not
// valid UTF-8 come back as { b64 } again, see ../events/bytes.ts). `ts` is
// not sent: it is the ISO rendering of tsNs and is rebuilt from it.
import { byteString, toBytes } from '../events/bytes.js';
import type {
  ByteString, ConnectEvent, EventBase, EventType, OpenEvent, OpenSyscall, SensorEvent,
} from '../events/types.js';
import { EVENT_TYPE_NUMBER } from '../events/types.js';
import type { PbDns, PbEvent } from './proto.js';

const EVENT_TYPES = Object.keys(EVENT_TYPE_NUMBER) as EventType[];

/** A proto Event that cannot become a SensorEvent (unknown payload, bad field). */
export class InvalidEventError extends Error {
  override name = 'InvalidEventError';
}

/** Epoch ns (decimal string) -> 2026-11-28T11:40:35.123456789Z */
export function isoFromNs(tsNs: string): string {
  const ns = BigInt(tsNs);
  const seconds = ns / 1_000_000_000n;
  const fraction = (ns % 1_000_000_000n).toString().padStart(9, '0');
  return new Date(Number(seconds) * 1000).toISOString().replace(/\.\d{3}Z$/, `.${fraction}Z`);
}

const enumName = (prefix: string, value: string) => `${prefix}_${value.toUpperCase()}`;

function enumValue<T extends string>(prefix: string, name: string | undefined, allowed: readonly T[], field: string): T {
  const value = name?.startsWith(`${prefix}_`) ? name.slice(prefix.length + 1).toLowerCase() : undefined;
  if (value === undefined || !(allowed as readonly string[]).includes(value)) {
    throw new InvalidEventError(`${field}: unexpected value ${JSON.stringify(name)}`);
  }
  return value as T;
}

const OPEN_ACCESS = ['read', 'write', 'readwrite'] as const;
const OPEN_SYSCALLS: readonly OpenSyscall[] = ['open', 'creat', 'openat', 'openat2'];
const FAMILIES = ['inet', 'inet6', 'unix', 'other'] as const;
const PROTOS = ['tcp', 'udp', 'raw', 'unix', 'other'] as const;

const bytes = (value: ByteString) => toBytes(value);
const optionalBytes = (value: ByteString | undefined) => (value === undefined ? undefined : toBytes(value));
const fromBytes = (value: Buffer | undefined) => byteString(value ?? Buffer.alloc(0));

export function toProtoEvent(event: SensorEvent): PbEvent {
  const out: PbEvent = {
    ts_ns: event.tsNs,
    pid: event.pid,
    tid: event.tid,
    ppid: event.ppid,
    uid: event.uid,
    gid: event.gid,
    comm: bytes(event.comm),
    cgroup_id: event.cgroupId,
    netns: event.netns,
    mntns: event.mntns,
    agent_pid: event.agentPid,
  };
  if (event.agent !== null) out.agent = event.agent;
  if (event.truncated !== undefined) out.truncated = event.truncated;
  if (event.untracked !== undefined) out.untracked = event.untracked;
  if (event.compat !== undefined) out.compat = event.compat;
  if (event.argChanged !== undefined) out.arg_changed = event.argChanged;
  switch (event.type) {
    case 'exec':
      out.exec = {
        filename: bytes(event.filename), argv: event.argv.map(bytes), start_ns: event.startNs,
        exe: optionalBytes(event.exe), cwd: optionalBytes(event.cwd), home: optionalBytes(event.home),
      };
      break;
    case 'fork':
      out.fork = { start_ns: event.startNs };
      break;
    case 'exit':
      out.exit = { code: event.code ?? undefined, signal: event.signal ?? undefined };
      break;
    case 'open':
      out.open = {
        path: bytes(event.path), raw_path: optionalBytes(event.rawPath), flags: event.flags, mode: event.mode,
        access: enumName('OPEN_ACCESS', event.access), result: event.result,
        syscall: enumName('OPEN_SYSCALL', event.syscall), sha256: event.sha256,
        inode: event.inode && {
          dev: String(event.inode.dev), ino: event.inode.ino, mode: event.inode.mode, size: event.inode.size,
          mtime_ns: event.inode.mtimeNs, ctime_ns: event.inode.ctimeNs, generation: event.inode.generation,
        },
      };
      break;
    case 'connect':
      out.connect = {
        family: enumName('SOCKET_FAMILY', event.family), proto: enumName('SOCKET_PROTO', event.proto),
        addr: bytes(event.addr), port: event.port, result: event.result, datagram: event.datagram, host: event.host,
      };
      break;
    case 'unlink':
      out.unlink = { path: bytes(event.path), rmdir: event.rmdir, result: event.result };
      break;
    case 'rename':
      out.rename = { path: bytes(event.path), newpath: bytes(event.newpath), flags: event.flags, result: event.result };
      break;
    case 'link':
      out.link = { path: bytes(event.path), newpath: bytes(event.newpath), symbolic: event.symbolic, result: event.result };
      break;
    case 'dns':
      out.dns = {
        qname: event.qname, qtype: event.qtype, addr: event.addr, port: event.port,
        response: event.response, rcode: event.rcode, answers: event.answers ?? [], ttl: event.ttl,
      };
      break;
    default:
      throw new InvalidEventError(`unknown event type ${JSON.stringify((event as { type: unknown }).type)}`);
  }
  return out;
}

/** The response-only fields of a dns event, as DnsEvent spells them. */
type DnsResponseFields = { response: true; rcode: string; answers: string[]; ttl?: number };
function dnsResponseFields(p: PbDns): DnsResponseFields {
  const out: DnsResponseFields = { response: true, rcode: p.rcode ?? '', answers: p.answers ?? [] };
  if (p.ttl !== undefined && p.ttl !== null) out.ttl = p.ttl;
  return out;
}

/** Inverse of toProtoEvent; throws InvalidEventError on a payload this version does not know. */
export function fromProtoEvent(pb: PbEvent): SensorEvent {
  const type = pb.payload as EventType | undefined;
  if (type === undefined || !EVENT_TYPES.includes(type) || pb[type] === undefined) {
    throw new InvalidEventError('event has no known payload');
  }
  const tsNs = pb.ts_ns ?? '0';
  const base: Omit<EventBase, 'type'> = {
    ts: isoFromNs(tsNs),
    tsNs,
    pid: pb.pid ?? 0,
    tid: pb.tid ?? 0,
    ppid: pb.ppid ?? 0,
    uid: pb.uid ?? 0,
    gid: pb.gid ?? 0,
    comm: fromBytes(pb.comm),
    agent: pb.agent ?? null,
    cgroupId: pb.cgroup_id ?? '0',
    netns: pb.netns ?? 0,
    mntns: pb.mntns ?? 0,
    agentPid: pb.agent_pid ?? 0,
  };
  if (pb.truncated !== undefined) base.truncated = pb.truncated;
  if (pb.untracked !== undefined) base.untracked = pb.untracked;
  if (pb.compat !== undefined) base.compat = pb.compat;
  if (pb.arg_changed !== undefined) base.argChanged = pb.arg_changed;
  const withOptional = <T extends object>(event: T, extra: Record<string, unknown>): T => {
    for (const [k, v] of Object.entries(extra)) if (v !== undefined) (event as Record<string, unknown>)[k] = v;
    return event;
  };
  switch (type) {
    case 'exec': {
      const p = pb.exec!;
      return withOptional(
        { type, ...base, filename: fromBytes(p.filename), argv: (p.argv ?? []).map(fromBytes), startNs: p.start_ns ?? '0' },
        { exe: p.exe && byteString(p.exe), cwd: p.cwd && byteString(p.cwd), home: p.home && byteString(p.home) },
      );
    }
    case 'fork':
      return { type, ...base, startNs: pb.fork!.start_ns ?? '0' };
    case 'exit':
      return { type, ...base, code: pb.exit!.code ?? null, signal: pb.exit!.signal ?? null };
    case 'open': {
      const p = pb.open!;
      const event: OpenEvent = {
        type, ...base, path: fromBytes(p.path), flags: p.flags ?? 0, mode: p.mode ?? 0,
        access: enumValue('OPEN_ACCESS', p.access, OPEN_ACCESS, 'open.access'), result: p.result ?? 0,
        syscall: enumValue('OPEN_SYSCALL', p.syscall, OPEN_SYSCALLS, 'open.syscall'),
      };
      const id = p.inode;
      return withOptional(event, {
        rawPath: p.raw_path && byteString(p.raw_path), sha256: p.sha256,
        inode: id && {
          dev: Number(id.dev ?? 0), ino: id.ino ?? '0', generation: id.generation ?? 0, mode: id.mode ?? 0, size: id.size ?? '0',
          mtimeNs: id.mtime_ns ?? '0', ctimeNs: id.ctime_ns ?? '0',
        },
      });
    }
    case 'connect': {
      const p = pb.connect!;
      const event: ConnectEvent = {
        type, ...base, family: enumValue('SOCKET_FAMILY', p.family, FAMILIES, 'connect.family'),
        proto: enumValue('SOCKET_PROTO', p.proto, PROTOS, 'connect.proto'), addr: fromBytes(p.addr),
        port: p.port ?? 0, result: p.result ?? 0,
      };
      return withOptional(event, { datagram: p.datagram, host: p.host });
    }
    case 'unlink':
      return { type, ...base, path: fromBytes(pb.unlink!.path), rmdir: pb.unlink!.rmdir ?? false, result: pb.unlink!.result ?? 0 };
    case 'rename': {
      const p = pb.rename!;
      return { type, ...base, path: fromBytes(p.path), newpath: fromBytes(p.newpath), flags: p.flags ?? 0, result: p.result ?? 0 };
    }
    case 'link': {
      const p = pb.link!;
      return { type, ...base, path: fromBytes(p.path), newpath: fromBytes(p.newpath), symbolic: p.symbolic ?? false, result: p.result ?? 0 };
    }
    case 'dns': {
      const p = pb.dns!;
      const e: SensorEvent = { type, ...base, qname: p.qname ?? '', qtype: p.qtype ?? '', addr: p.addr ?? '', port: p.port ?? 0 };
      if (p.response) Object.assign(e, dnsResponseFields(p));
      return e;
    }
  }
}
