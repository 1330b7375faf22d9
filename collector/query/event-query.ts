// Filtered reads of stored events, answered as SensorEvent-shaped objects
// (the field names of proto/events/types.ts) plus, on opens, the sha256 of
// the content read. Used by `sensor query` and the collector's Query RPC.
import type Database from 'better-sqlite3';
import type { EventType, SensorEvent } from '../../proto/events/types.js';
import { EVENT_TYPE_NUMBER } from '../../proto/events/types.js';
import { fromColumns, WANTS_HASH_SQL } from '../store/event-rows.js';
import { StringReader } from '../store/interning.js';
import { decodeEventRow, type RawEventRow } from '../store/stored-rows.js';
import { PATH_GLOB_SQL, registerPathGlob } from './path-glob.js';

export interface EventFilters {
  agent?: string;
  pid?: number;
  /** only events of the agent instance rooted at this pid */
  agentPid?: number;
  types?: EventType[];
  /** glob (proto/events/glob.ts: * within a directory, ** across) over every path an event carries: path, newpath (rename/link target), exe */
  pathGlob?: string;
  /** exact address text (connect/dns) or unix socket path */
  addr?: string;
  sinceNs?: bigint;
  untilNs?: bigint;
  sensorId?: string;
  /** only opens tagged with a sensitive class: '' any class, else this class (or a DLP class of the content read) */
  sensitive?: string;
  /** at most this many events: the oldest after `sinceNs` when given, else the newest */
  limit: number;
}

export type QueriedEvent = SensorEvent & {
  sha256?: string; hashState?: string; hashedAt?: string; hashSource?: string;
  /** sensitive catalogue classes of the path, and `dlp:<class>` of secrets found in the content read */
  sensitive?: string[];
};

export interface QueriedRow {
  id: bigint;
  sensorId: string;
  event: QueriedEvent;
}

/** The WHERE clause of a filtered read, shared by queryEvents and countEvents. */
function eventWhere(db: Database.Database, f: EventFilters): { sql: string; args: unknown[] } {
  const where: string[] = [];
  const args: unknown[] = [];
  if (f.agent !== undefined) {
    where.push('e.agent_id = (SELECT id FROM agents WHERE name = ?)');
    args.push(f.agent);
  }
  if (f.pid !== undefined) {
    where.push('e.pid = ?');
    args.push(f.pid);
  }
  if (f.agentPid !== undefined) {
    where.push('e.agent_pid = ?');
    args.push(f.agentPid);
  }
  if (f.types && f.types.length > 0) {
    const numbers = f.types.map((t) => {
      const n = EVENT_TYPE_NUMBER[t];
      if (n === undefined) throw new Error(`unknown event type ${JSON.stringify(t)}`);
      return n;
    });
    where.push(`e.type IN (${numbers.join(', ')})`);
  }
  if (f.pathGlob !== undefined) {
    // The glob dialect of argv rules (proto/events/glob.ts), not SQLite's GLOB,
    // whose '*' crosses '/'. Matched on the stored bytes, so non-UTF-8 paths too.
    // Every path the event carries: a rename onto, or a link named, the pattern matches too.
    registerPathGlob(db);
    const matching = `SELECT id FROM strings WHERE ${PATH_GLOB_SQL}(?, bytes)`;
    where.push(`(e.path_sid IN (${matching}) OR e.newpath_sid IN (${matching}) OR e.exe_sid IN (${matching}))`);
    args.push(f.pathGlob, f.pathGlob, f.pathGlob);
  }
  if (f.addr !== undefined) {
    where.push('e.addr_sid = (SELECT id FROM strings WHERE bytes = ?)');
    args.push(Buffer.from(f.addr, 'utf8'));
  }
  if (f.sinceNs !== undefined) {
    where.push('e.ts_ns >= ?');
    args.push(f.sinceNs);
  }
  if (f.untilNs !== undefined) {
    where.push('e.ts_ns < ?');
    args.push(f.untilNs);
  }
  if (f.sensorId !== undefined) {
    where.push('b.sensor_id = ?');
    args.push(f.sensorId);
  }
  if (f.sensitive !== undefined) {
    const dlp = hasTable(db, 'file_dlp')
      ? `OR e.id IN (SELECT e2.id FROM file_links l2 JOIN file_dlp d2 ON d2.file_id = l2.file_id
                       JOIN events e2 ON e2.batch_id = l2.batch_id AND e2.path_sid = l2.path_sid
                      WHERE e2.id = e.id AND ${f.sensitive === '' ? '1' : `EXISTS (SELECT 1 FROM json_each(d2.body, '$.findings') j WHERE json_extract(j.value, '$.class') = ?)`})`
      : '';
    if (!hasTable(db, 'sensitive_tags')) where.push('0');
    else if (f.sensitive === '') where.push(`(e.id IN (SELECT event_id FROM sensitive_tags) ${dlp})`);
    else {
      const cls = f.sensitive.replace(/^dlp:/, '');
      where.push(`(e.id IN (SELECT event_id FROM sensitive_tags t, json_each(t.classes) c WHERE c.value = ?) ${dlp})`);
      args.push(cls);
      if (dlp) args.push(cls);
    }
  }
  return { sql: where.length ? `WHERE ${where.join(' AND ')}` : '', args };
}

const tableCache = new WeakMap<Database.Database, Map<string, boolean>>();
function hasTable(db: Database.Database, name: string): boolean {
  let m = tableCache.get(db);
  if (!m) tableCache.set(db, (m = new Map()));
  let v = m.get(name);
  if (v === undefined) {
    v = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`).get(name) !== undefined;
    m.set(name, v);
  }
  return v;
}

/** How many stored events match the filters, limit aside (for "newest 100 of 4,182"). */
export function countEvents(db: Database.Database, f: Omit<EventFilters, 'limit'>): number {
  const { sql, args } = eventWhere(db, { ...f, limit: 0 });
  const join = f.sensorId !== undefined ? 'JOIN batches b ON b.id = e.batch_id' : '';
  const row = db.prepare(`SELECT count(*) AS n FROM events e ${join} ${sql}`).get(...args) as { n: number };
  return row.n;
}

export function queryEvents(db: Database.Database, f: EventFilters): QueriedRow[] {
  const { sql: whereSql, args } = eventWhere(db, f);
  const newestFirst = f.sinceNs === undefined;
  const tags = hasTable(db, 'sensitive_tags');
  const dlp = hasTable(db, 'file_dlp');
  const sql = `SELECT e.*, b.sensor_id AS q_sensor, f.sha256 AS q_sha256, f.state AS q_state, f.hashed_at AS q_hashed_at,
                      f.hash_source AS q_hash_source, ${tags ? 't.classes' : 'NULL'} AS q_tags,
                      ${dlp ? `(SELECT json_group_array(json_extract(j.value, '$.class')) FROM json_each(d.body, '$.findings') j)` : 'NULL'} AS q_dlp
                 FROM events e JOIN batches b ON b.id = e.batch_id
                 LEFT JOIN file_links l ON l.batch_id = e.batch_id AND l.path_sid = e.path_sid AND ${WANTS_HASH_SQL}
                 LEFT JOIN files f ON f.id = l.file_id
                 ${tags ? 'LEFT JOIN sensitive_tags t ON t.event_id = e.id' : ''}
                 ${dlp ? 'LEFT JOIN file_dlp d ON d.file_id = f.id' : ''}
                ${whereSql}
                ORDER BY e.ts_ns ${newestFirst ? 'DESC' : 'ASC'}, e.id ${newestFirst ? 'DESC' : 'ASC'} LIMIT ?`;
  args.push(Math.max(0, Math.floor(f.limit)));
  const rows = db.prepare(sql).safeIntegers(true).all(...args) as RawEventRow[];
  if (newestFirst) rows.reverse();
  const strings = new StringReader(db);
  return rows.map((r) => {
    const { stored, event } = queriedEventOf(r, strings);
    const tagged = [
      ...(typeof r.q_tags === 'string' ? JSON.parse(r.q_tags) as string[] : []),
      ...(typeof r.q_dlp === 'string' ? (JSON.parse(r.q_dlp) as string[]).map((c) => `dlp:${c}`) : []),
    ];
    if (tagged.length > 0) event.sensitive = [...new Set(tagged)];
    return { id: stored.id, sensorId: r.q_sensor as unknown as string, event };
  });
}

/**
 * One stored row as the event contract has it, with the file facts the query
 * joined (q_sha256, q_state, and where selected q_hashed_at, q_hash_source).
 * Shared by the queries, the timeline and the forwarder.
 */
export function queriedEventOf(r: RawEventRow, strings: StringReader): { stored: ReturnType<typeof decodeEventRow>; event: QueriedEvent } {
  const stored = decodeEventRow(r, strings);
  const event: QueriedEvent = fromColumns(stored.columns);
  const state = r.q_state as unknown as string | null;
  if (event.type === 'open' && state !== null) {
    if (Buffer.isBuffer(r.q_sha256)) event.sha256 = r.q_sha256.toString('hex');
    if (state !== 'hashed') event.hashState = state;
    // When the content was read (always after the agent's read) and how it was reached.
    if (typeof r.q_hashed_at === 'bigint') event.hashedAt = new Date(Number(r.q_hashed_at)).toISOString();
    const source = r.q_hash_source as unknown as string | null;
    if (source) event.hashSource = source;
  }
  return { stored, event };
}
