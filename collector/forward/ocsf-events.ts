// Stored events -> OCSF 1.3.0 records: Process Activity (exec, fork, exit),
// File System Activity (open, unlink, rename, link), Network Activity
// (connect), DNS Activity (dns). OCSF.md documents every field; a fact with
// no OCSF home goes to `unmapped` under a name that says what it is.
import type { ByteString } from '../../proto/events/types.js';
import { rcodeNumber } from '../../proto/net/dns-message.js';
import type { QueriedEvent } from '../query/event-query.js';
import {
  baseName, baseRecord, ocsfText, SEVERITY, statusOf, type ForwardRecord, type OcsfObject, type ProductInfo,
} from './ocsf-common.js';

export const OCSF_CLASS = {
  fileSystemActivity: 1001,
  processActivity: 1007,
  detectionFinding: 2004,
  networkActivity: 4001,
  dnsActivity: 4003,
} as const;

/** Where an event sits in the store and in its sensor's stream. */
export interface EventOrigin {
  eventId: bigint;
  sensorId: string;
  bootId: string;
  seq: bigint;
  /** position in its batch */
  index: number;
}

/** (sensor, boot, batch seq, position): unique and stable however often the record is resent. */
export const eventUid = (o: EventOrigin): string => `${o.sensorId}/${o.bootId}/${o.seq}/${o.index}`;

/** b64: exact bytes of fields that are not UTF-8; facts: what has no OCSF home (both end in unmapped) */
type Ctx = { b64: OcsfObject; raw: OcsfObject };

const text = (ctx: Ctx, v: ByteString, name: string): string => ocsfText(v, name, ctx.b64);

function fileObject(ctx: Ctx, path: ByteString, name: string, typeId = 0): OcsfObject {
  const p = text(ctx, path, name);
  return { path: p, name: baseName(p), type_id: typeId, type: FILE_TYPE[typeId] ?? 'Unknown' };
}
const FILE_TYPE: Record<number, string> = { 0: 'Unknown', 1: 'Regular File', 2: 'Folder', 7: 'Symbolic Link' };

function actorOf(ctx: Ctx, e: QueriedEvent, agentPid: number | undefined): OcsfObject {
  const actor: OcsfObject = {
    process: { pid: e.pid, tid: e.tid, name: text(ctx, e.comm, 'actor.process.name'), parent_process: { pid: e.ppid } },
    user: { uid: String(e.uid), groups: [{ uid: String(e.gid) }] },
  };
  if (e.agent !== null) actor.app_name = e.agent;
  if (agentPid !== undefined) actor.app_uid = `${e.agent ?? ''}#${agentPid}`;
  return actor;
}

function processActivity(ctx: Ctx, e: QueriedEvent): { activity: [number, string]; fields: OcsfObject } {
  switch (e.type) {
    case 'exec': {
      const argv = e.argv.map((a, i) => text(ctx, a, `argv.${i}`));
      const file = fileObject(ctx, e.exe ?? e.filename, e.exe ? 'process.file.path' : 'filename', 1);
      if (e.exe) ctx.raw.filename_text = text(ctx, e.filename, 'filename');
      if (e.cwd) ctx.raw.cwd = text(ctx, e.cwd, 'cwd');
      ctx.raw.argv = argv; // cmd_line joins with spaces and so cannot say where an argument ends
      ctx.raw.start_ns = e.startNs;
      return {
        activity: [1, 'Launch'],
        fields: {
          process: {
            pid: e.pid, tid: e.tid, name: text(ctx, e.comm, 'process.name'), cmd_line: argv.join(' '), file,
            parent_process: { pid: e.ppid }, user: { uid: String(e.uid) },
          },
        },
      };
    }
    case 'fork':
      ctx.raw.start_ns = e.startNs;
      return {
        activity: [99, 'Fork'],
        fields: { process: { pid: e.pid, name: text(ctx, e.comm, 'process.name'), parent_process: { pid: e.ppid }, user: { uid: String(e.uid) } } },
      };
    case 'exit': {
      const fields: OcsfObject = { process: { pid: e.pid, name: text(ctx, e.comm, 'process.name'), user: { uid: String(e.uid) } } };
      if (e.code !== null) fields.exit_code = e.code;
      if (e.signal !== null) ctx.raw.signal = e.signal;
      return { activity: [2, 'Terminate'], fields };
    }
    default:
      throw new Error(`not a process event: ${e.type}`);
  }
}

function fileActivity(ctx: Ctx, e: QueriedEvent): { activity: [number, string]; fields: OcsfObject } {
  switch (e.type) {
    case 'open': {
      const file = fileObject(ctx, e.path, 'file.path');
      if (e.sha256) file.hashes = [{ algorithm_id: 3, algorithm: 'SHA-256', value: e.sha256 }];
      if (e.rawPath !== undefined) ctx.raw.raw_path = text(ctx, e.rawPath, 'raw_path');
      Object.assign(ctx.raw, { access: e.access, mode: e.mode, syscall: e.syscall });
      if (e.hashState) ctx.raw.hash_state = e.hashState;
      if (e.hashedAt) ctx.raw.hashed_at = e.hashedAt;
      if (e.hashSource) ctx.raw.hash_source = e.hashSource;
      return { activity: [14, 'Open'], fields: { file, access_mask: e.flags, ...statusOf(e.result) } };
    }
    case 'unlink':
      return { activity: [4, 'Delete'], fields: { file: fileObject(ctx, e.path, 'file.path', e.rmdir ? 2 : 0), ...statusOf(e.result) } };
    case 'rename':
      ctx.raw.rename_flags = e.flags;
      return {
        activity: [5, 'Rename'],
        fields: { file: fileObject(ctx, e.path, 'file.path'), file_result: fileObject(ctx, e.newpath, 'file_result.path'), ...statusOf(e.result) },
      };
    case 'link':
      ctx.raw.link_kind = e.symbolic ? 'symbolic' : 'hard';
      ctx.raw.link_target = text(ctx, e.path, 'link_target');
      return { activity: [1, 'Create'], fields: { file: fileObject(ctx, e.newpath, 'file.path', e.symbolic ? 7 : 0), ...statusOf(e.result) } };
    default:
      throw new Error(`not a file event: ${e.type}`);
  }
}

const PROTO_NUM: Record<string, number> = { tcp: 6, udp: 17 };

function networkActivity(ctx: Ctx, e: QueriedEvent): { activity: [number, string]; fields: OcsfObject } {
  if (e.type !== 'connect') throw new Error(`not a connect event: ${e.type}`);
  const status = statusOf(e.result, true);
  const activity: [number, string] = status.status_id === 1 ? [1, 'Open'] : e.result === -111 ? [5, 'Refuse'] : [4, 'Fail'];
  const connection: OcsfObject = { protocol_name: e.proto, direction_id: 2, direction: 'Outbound' };
  if (PROTO_NUM[e.proto] !== undefined) connection.protocol_num = PROTO_NUM[e.proto]!;
  if (e.family === 'inet' || e.family === 'inet6') connection.protocol_ver_id = e.family === 'inet' ? 4 : 6;
  const fields: OcsfObject = { connection_info: connection, ...status };
  if (e.family === 'inet' || e.family === 'inet6') {
    const dst: OcsfObject = { ip: text(ctx, e.addr, 'dst_endpoint.ip'), port: e.port };
    if (e.host) dst.hostname = e.host;
    fields.dst_endpoint = dst;
  } else {
    ctx.raw.unix_path = text(ctx, e.addr, 'unix_path'); // no OCSF endpoint field holds a socket path
    ctx.raw.family = e.family;
  }
  if (e.datagram) ctx.raw.datagram = true;
  return { activity, fields };
}

function dnsActivity(ctx: Ctx, e: QueriedEvent): { activity: [number, string]; fields: OcsfObject } {
  if (e.type !== 'dns') throw new Error(`not a dns event: ${e.type}`);
  const query = { hostname: e.qname, type: e.qtype, class: 'IN' };
  const server = { ip: e.addr, port: e.port };
  if (!e.response) return { activity: [1, 'Query'], fields: { query, dst_endpoint: server } };
  const fields: OcsfObject = {
    query, src_endpoint: server,
    answers: (e.answers ?? []).map((a): OcsfObject => (e.ttl !== undefined ? { rdata: a, ttl: e.ttl } : { rdata: a })),
  };
  if (e.rcode !== undefined) {
    fields.rcode = e.rcode;
    const n = rcodeNumber(e.rcode);
    if (n !== null) fields.rcode_id = n <= 11 ? n : 99;
  }
  return { activity: [2, 'Response'], fields };
}

const CLASS_OF: Record<QueriedEvent['type'], [number, number, (ctx: Ctx, e: QueriedEvent) => { activity: [number, string]; fields: OcsfObject }]> = {
  exec: [OCSF_CLASS.processActivity, 1, processActivity],
  fork: [OCSF_CLASS.processActivity, 1, processActivity],
  exit: [OCSF_CLASS.processActivity, 1, processActivity],
  open: [OCSF_CLASS.fileSystemActivity, 1, fileActivity],
  unlink: [OCSF_CLASS.fileSystemActivity, 1, fileActivity],
  rename: [OCSF_CLASS.fileSystemActivity, 1, fileActivity],
  link: [OCSF_CLASS.fileSystemActivity, 1, fileActivity],
  connect: [OCSF_CLASS.networkActivity, 4, networkActivity],
  dns: [OCSF_CLASS.dnsActivity, 4, dnsActivity],
};

export function eventToOcsf(e: QueriedEvent, origin: EventOrigin, product: ProductInfo): ForwardRecord {
  const [classUid, categoryUid, map] = CLASS_OF[e.type];
  const ctx: Ctx = { b64: {}, raw: {} };
  const agentPid = e.agentPid || undefined; // 0 or absent: not in an agent instance
  const { activity, fields } = map(ctx, e);
  const tsNs = BigInt(e.tsNs);
  const uid = eventUid(origin);
  const ocsf: OcsfObject = {
    ...baseRecord(classUid, categoryUid, activity[0], activity[1], tsNs, SEVERITY.informational, uid, origin.sensorId, product),
    actor: actorOf(ctx, e, agentPid),
    ...fields,
  };
  const unmapped: OcsfObject = {
    time_ns: e.tsNs, event_type: e.type, store_event_id: origin.eventId.toString(),
    cgroup_id: e.cgroupId, netns: e.netns, mntns: e.mntns, ...ctx.raw,
  };
  if (agentPid !== undefined) unmapped.agent_pid = agentPid;
  if (e.truncated) unmapped.truncated = true;
  if (Object.keys(ctx.b64).length > 0) unmapped.raw_b64 = ctx.b64;
  ocsf.unmapped = unmapped;
  return { ocsf, uid, classUid, sensorId: origin.sensorId, tsNs, severityId: SEVERITY.informational };
}
