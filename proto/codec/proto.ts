// Loads proto/agentsensor/v1/sensor.proto with protobufjs at run time (no
// generated code) and exposes the message codecs and the gRPC service
// definition both sides use. Conversion options are fixed here so every
// decoded object looks the same: field names as in the .proto (keepCase),
// 64-bit integers as decimal strings (exact), enums as their names, bytes as
// Buffers, and the name of the set oneof member in `payload`.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import type { ServiceDefinition } from '@grpc/grpc-js';

export const PROTO_RELATIVE_PATH = 'proto/agentsensor/v1/sensor.proto';
export const PROTO_PACKAGE = 'agentsensor.v1';

/** Finds the .proto from this module, whether it runs from sensor/ (tests) or dist/sensor/. */
export function protoPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    const candidate = join(dir, PROTO_RELATIVE_PATH);
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new Error(`cannot find ${PROTO_RELATIVE_PATH} above ${fileURLToPath(import.meta.url)}`);
}

const TO_OBJECT: protobuf.IConversionOptions = { longs: String, enums: String, oneofs: true, defaults: false };

export interface Codec<T> {
  type: protobuf.Type;
  encode(value: T): Buffer;
  decode(bytes: Uint8Array): T;
}

function codec<T>(type: protobuf.Type): Codec<T> {
  return {
    type,
    encode: (value) => Buffer.from(type.encode(type.fromObject(value as object)).finish()),
    decode: (bytes) => type.toObject(type.decode(bytes), TO_OBJECT) as T,
  };
}

let loaded: protobuf.Root | undefined;

export function protoRoot(): protobuf.Root {
  if (!loaded) {
    const root = new protobuf.Root();
    root.loadSync(protoPath(), { keepCase: true });
    root.resolveAll();
    loaded = root;
  }
  return loaded;
}

export function messageType(name: string): protobuf.Type {
  return protoRoot().lookupType(`${PROTO_PACKAGE}.${name}`);
}

// ---- plain-object shapes of the messages (as decoded with TO_OBJECT) ----

export type U64 = string; // decimal
export interface PbExec { filename?: Buffer; argv?: Buffer[]; start_ns?: U64; exe?: Buffer; cwd?: Buffer; home?: Buffer }
export interface PbFork { start_ns?: U64 }
export interface PbExit { code?: number; signal?: number }
export interface PbFileIdentity { dev?: U64; ino?: U64; mode?: number; size?: U64; mtime_ns?: U64; ctime_ns?: U64; generation?: number }
export interface PbOpen {
  path?: Buffer; raw_path?: Buffer; flags?: number; mode?: number; access?: string;
  result?: number; syscall?: string; sha256?: string; inode?: PbFileIdentity;
}
export interface PbConnect {
  family?: string; proto?: string; addr?: Buffer; port?: number; result?: number; datagram?: boolean; host?: string;
}
export interface PbUnlink { path?: Buffer; rmdir?: boolean; result?: number }
export interface PbRename { path?: Buffer; newpath?: Buffer; flags?: number; result?: number }
export interface PbLink { path?: Buffer; newpath?: Buffer; symbolic?: boolean; result?: number }
export interface PbDns {
  qname?: string; qtype?: string; addr?: string; port?: number;
  response?: boolean; rcode?: string; answers?: string[]; ttl?: number;
}

export interface PbEvent {
  payload?: string;
  exec?: PbExec; fork?: PbFork; exit?: PbExit; open?: PbOpen; connect?: PbConnect;
  unlink?: PbUnlink; rename?: PbRename; link?: PbLink; dns?: PbDns;
  ts_ns?: U64; pid?: number; tid?: number; ppid?: number; uid?: number; gid?: number;
  comm?: Buffer; agent?: string; cgroup_id?: U64; netns?: number; mntns?: number; truncated?: boolean;
  agent_pid?: number; untracked?: boolean; compat?: boolean; arg_changed?: boolean;
}

export interface PbTransportCounters {
  sent?: U64; acked?: U64; resent?: U64; dropped?: U64; buffered?: U64; rejected?: U64;
  sensor_loss?: Record<string, U64>;
}

export interface PbUndelivered { boot_id?: string; events?: U64; batches?: U64 }

export interface PbSensorHealth {
  version?: string; backend?: string; attached?: string[]; left_out?: string[]; kernel?: string;
  started_ns?: U64; events_by_type?: Record<string, U64>; kernel_ring_lost?: U64; queue_to_js_lost?: U64;
  stopped?: boolean; heartbeat_ms?: U64; priority?: PbThreadPriority;
}

export interface PbThreadPriority {
  mode?: string; threads?: number; boosted?: boolean; boosts?: U64; boosted_ms?: U64; boost_after_ms?: U64;
}

export interface PbToolCallRecord {
  key?: string; call_id?: string; tool_name?: string; kind?: string; subject?: string; file_path?: string;
  file_access?: string; args_sha256?: string; incomplete?: boolean; echoed?: boolean;
}

export interface PbModelTurn {
  ts_ms?: string | number; agent?: string; agent_pid?: number; pid?: number; source?: string; api?: string; provider?: string;
  model?: string; response_model?: string; input_tokens?: string | number; output_tokens?: string | number; incomplete?: boolean;
  calls_visible?: boolean; remote?: string; session_id?: string; calls?: PbToolCallRecord[]; content?: string;
}

export interface PbEventBatch {
  sensor_id?: string; boot_id?: string; seq?: U64; events?: PbEvent[];
  dropped_before?: U64; counters?: PbTransportCounters; undelivered?: PbUndelivered[];
  health?: PbSensorHealth;
  /** model turns (turn-proto.ts) */
  turns?: PbModelTurn[];
}

export type AckStatusName = 'ACK_STATUS_UNSPECIFIED' | 'ACK_STATUS_COMMITTED' | 'ACK_STATUS_DUPLICATE' | 'ACK_STATUS_REJECTED';
export interface PbAck { sensor_id?: string; boot_id?: string; seq?: U64; status?: AckStatusName; message?: string }

export interface PbSensorStatus {
  sensor_id?: string; boot_id?: string; last_seq?: U64; last_seen_ns?: U64;
  dropped_reported?: U64; counters?: PbTransportCounters; undelivered_reported?: U64;
  health?: PbSensorHealth; events_per_second?: Record<string, number>;
}
export interface PbStoreHealth {
  path?: string; db_bytes?: U64; used_bytes?: U64; events?: U64; batches?: U64;
  oldest_event_ns?: U64; newest_event_ns?: U64; retain_days?: number; retain_bytes?: U64;
  pruned_batches?: U64; pruned_events?: U64; integrity_alarms?: U64;
  hash_queue?: U64; hash_dropped?: U64; hash_failures?: U64;
  dlp_running?: boolean; dlp_queue?: U64; dlp_dropped?: U64; wal_truncations?: U64;
}
export interface PbForwarderStatus {
  name?: string; destination?: string; lag_events?: U64; lag_ns?: U64; shipped?: U64; lost?: U64;
  last_error?: string; last_error_ns?: U64; last_success_ns?: U64;
}
export interface PbAgentStatus {
  name?: string; state?: string; live_instances?: U64; instances?: U64; alerts?: U64;
  last_alert_ns?: U64; last_alert_rule?: string; last_alert_severity?: string;
}
export interface PbStatusResponse {
  events?: U64; batches?: U64; db_bytes?: U64; sensors?: PbSensorStatus[];
  counters?: Record<string, U64>;
  store?: PbStoreHealth; forwarders?: PbForwarderStatus[]; agents?: PbAgentStatus[];
  collector_version?: string; collector_started_ns?: U64;
}
export interface PbQueryRequest {
  types?: string[]; agent?: string; pid?: number; since_ns?: U64; until_ns?: U64; sensor_id?: string; limit?: number;
  path_glob?: string; addr?: string; agent_pid?: number;
}
export interface PbStoredEvent { id?: U64; sensor_id?: string; event?: PbEvent }
export interface PbQueryResponse { events?: PbStoredEvent[] }

export interface Codecs {
  event: Codec<PbEvent>;
  batch: Codec<PbEventBatch>;
  ack: Codec<PbAck>;
  statusRequest: Codec<Record<string, never>>;
  statusResponse: Codec<PbStatusResponse>;
  queryRequest: Codec<PbQueryRequest>;
  queryResponse: Codec<PbQueryResponse>;
}

let codecs: Codecs | undefined;

export function protoCodecs(): Codecs {
  codecs ??= {
    event: codec(messageType('Event')),
    batch: codec(messageType('EventBatch')),
    ack: codec(messageType('Ack')),
    statusRequest: codec(messageType('StatusRequest')),
    statusResponse: codec(messageType('StatusResponse')),
    queryRequest: codec(messageType('QueryRequest')),
    queryResponse: codec(messageType('QueryResponse')),
  };
  return codecs;
}

export const SERVICE_NAME = `${PROTO_PACKAGE}.Collector`;
export const STREAM_PATH = `/${SERVICE_NAME}/Stream`;
export const STATUS_PATH = `/${SERVICE_NAME}/Status`;
export const QUERY_PATH = `/${SERVICE_NAME}/Query`;

/** The service as grpc-js wants it for Server.addService. */
export function collectorServiceDefinition(): ServiceDefinition {
  const c = protoCodecs();
  const method = <Req, Res>(path: string, req: Codec<Req>, res: Codec<Res>, requestStream: boolean, responseStream: boolean) => ({
    path, requestStream, responseStream, originalName: path.split('/').pop(),
    requestSerialize: req.encode, requestDeserialize: (b: Buffer) => req.decode(b),
    responseSerialize: res.encode, responseDeserialize: (b: Buffer) => res.decode(b),
  });
  return {
    Stream: method(STREAM_PATH, c.batch, c.ack, true, true),
    Status: method(STATUS_PATH, c.statusRequest, c.statusResponse, false, false),
    Query: method(QUERY_PATH, c.queryRequest, c.queryResponse, false, false),
  } as ServiceDefinition;
}
