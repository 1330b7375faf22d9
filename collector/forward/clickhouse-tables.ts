// ClickHouse tables the forwarder creates: one per OCSF class. Why not one
// wide table: each class has its own fields (a process's command line, a
// connection's destination, a finding's title) and its own way of being
// searched, so each table gets typed columns for its class and a sort key for
// it; columns common to all (time, sensor, agent, uid, severity, the whole
// OCSF record as JSON in `raw`) are named alike in every table, so a query
// across classes is a UNION ALL of the same column list.
//
// ClickHouse 18.16 has no DateTime64: `time_ns` holds the nanoseconds as
// UInt64 and `time` (seconds, MATERIALIZED from it) serves partitions and
// date functions. ReplacingMergeTree keyed on (device_uid, time_ns, uid)
// folds the duplicates at-least-once delivery can cause when parts merge;
// `SELECT ... FINAL` (or uniqExact(uid)) counts exactly before that.
import type { ForwardRecord, OcsfObject, OcsfValue } from './ocsf-common.js';
import { OCSF_CLASS } from './ocsf-events.js';

type Column = [name: string, type: string, value: (o: OcsfObject) => OcsfValue | undefined];

const get = (o: OcsfValue | undefined, path: string): OcsfValue | undefined => {
  let v: OcsfValue | undefined = o;
  for (const k of path.split('.')) {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
    v = (v as OcsfObject)[k];
  }
  return v;
};
const str = (path: string) => (o: OcsfObject) => {
  const v = get(o, path);
  return v === undefined || v === null ? '' : typeof v === 'string' ? v : JSON.stringify(v);
};
const num = (path: string) => (o: OcsfObject) => {
  const v = get(o, path);
  return typeof v === 'number' ? v : 0;
};
const nullableNum = (path: string) => (o: OcsfObject) => {
  const v = get(o, path);
  return typeof v === 'number' ? v : null;
};

const COMMON: Column[] = [
  ['uid', 'String', str('metadata.uid')],
  ['device_uid', 'String', str('device.uid')],
  ['agent', 'String', str('actor.app_name')],
  ['agent_pid', 'Nullable(Int64)', nullableNum('unmapped.agent_pid')],
  ['class_uid', 'UInt32', num('class_uid')],
  ['activity_id', 'UInt8', num('activity_id')],
  ['type_uid', 'UInt32', num('type_uid')],
  ['severity_id', 'UInt8', num('severity_id')],
  ['status_id', 'UInt8', num('status_id')],
  ['status_code', 'String', str('status_code')],
  ['actor_pid', 'UInt32', num('actor.process.pid')],
  ['actor_name', 'String', str('actor.process.name')],
  ['user_uid', 'String', str('actor.user.uid')],
];

const answers = (o: OcsfObject) => {
  const a = get(o, 'answers');
  return Array.isArray(a) ? a.map((x) => str('rdata')(x as OcsfObject)) : [];
};
const related = (o: OcsfObject) => {
  const a = get(o, 'finding_info.related_events');
  return Array.isArray(a) ? a.map((x) => str('uid')(x as OcsfObject)) : [];
};
const sha256 = (o: OcsfObject) => {
  const h = get(o, 'file.hashes');
  return Array.isArray(h) && h.length > 0 ? str('value')(h[0] as OcsfObject) : '';
};

export const CLASS_TABLES: Record<number, { table: string; columns: Column[]; orderBy: string }> = {
  [OCSF_CLASS.processActivity]: {
    table: 'process_activity',
    orderBy: 'device_uid, time_ns, uid',
    columns: [
      ['process_pid', 'UInt32', num('process.pid')],
      ['process_name', 'String', str('process.name')],
      ['process_path', 'String', str('process.file.path')],
      ['cmd_line', 'String', str('process.cmd_line')],
      ['parent_pid', 'UInt32', num('process.parent_process.pid')],
      ['exit_code', 'Nullable(Int32)', nullableNum('exit_code')],
    ],
  },
  [OCSF_CLASS.fileSystemActivity]: {
    table: 'file_system_activity',
    orderBy: 'device_uid, time_ns, uid',
    columns: [
      ['file_path', 'String', str('file.path')],
      ['file_result_path', 'String', str('file_result.path')],
      ['file_sha256', 'String', sha256],
      ['access_mask', 'UInt32', num('access_mask')],
      ['access', 'String', str('unmapped.access')],
    ],
  },
  [OCSF_CLASS.networkActivity]: {
    table: 'network_activity',
    orderBy: 'device_uid, time_ns, uid',
    columns: [
      ['dst_ip', 'String', str('dst_endpoint.ip')],
      ['dst_port', 'UInt16', num('dst_endpoint.port')],
      ['dst_hostname', 'String', str('dst_endpoint.hostname')],
      ['protocol_name', 'String', str('connection_info.protocol_name')],
      ['unix_path', 'String', str('unmapped.unix_path')],
    ],
  },
  [OCSF_CLASS.dnsActivity]: {
    table: 'dns_activity',
    orderBy: 'device_uid, time_ns, uid',
    columns: [
      ['query_hostname', 'String', str('query.hostname')],
      ['query_type', 'String', str('query.type')],
      ['rcode', 'String', str('rcode')],
      ['answers', 'Array(String)', answers],
      ['server_ip', 'String', (o) => str('dst_endpoint.ip')(o) || str('src_endpoint.ip')(o)],
    ],
  },
  [OCSF_CLASS.detectionFinding]: {
    table: 'detection_finding',
    orderBy: 'device_uid, time_ns, uid',
    columns: [
      ['rule', 'String', str('finding_info.title')],
      ['message', 'String', str('message')],
      ['related_events', 'Array(String)', related],
      ['baseline', 'String', str('unmapped.baseline')],
    ],
  },
};

/** Database and table names: identifiers we quote, from a strict alphabet. */
export function checkIdentifier(name: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(name)) throw new Error(`not a usable ClickHouse name: ${JSON.stringify(name)}`);
  return name;
}

export function createStatements(db: string): string[] {
  const d = checkIdentifier(db);
  return [
    `CREATE DATABASE IF NOT EXISTS ${d}`,
    ...Object.values(CLASS_TABLES).map(({ table, columns, orderBy }) => {
      const cols = [
        'time_ns UInt64',
        `time DateTime MATERIALIZED toDateTime(intDiv(time_ns, 1000000000))`,
        ...[...COMMON, ...columns].map(([n, t]) => `${n} ${t}`),
        'raw String',
      ];
      return `CREATE TABLE IF NOT EXISTS ${d}.${table} (${cols.join(', ')}) ` +
        `ENGINE = ReplacingMergeTree() PARTITION BY toYYYYMM(time) ORDER BY (${orderBy})`;
    }),
  ];
}

/** One JSONEachRow line; time_ns spliced in as digits (a JS number would round it). */
export function rowLine(r: ForwardRecord): { table: string; line: string } {
  const spec = CLASS_TABLES[r.classUid];
  if (!spec) throw new Error(`no ClickHouse table for OCSF class ${r.classUid}`);
  const row: Record<string, unknown> = {};
  for (const [name, , value] of [...COMMON, ...spec.columns]) row[name] = value(r.ocsf);
  row.raw = JSON.stringify(r.ocsf);
  return { table: spec.table, line: `{"time_ns":${r.tsNs.toString()},${JSON.stringify(row).slice(1)}` };
}
