// Filtered reads of stored events, answered as SensorEvent-shaped objects
// (the field names of proto/events/types.ts) plus, on opens, the sha256 of
// the content read. Used by `sensor query` and the collector's Query RPC.
import type Database from 'better-sqlite3';
import type { EventType, SensorEvent } from '../../proto/events/types.js';
import { EVENT_TYPE_NUMBER } from '../../proto/events/types.js';
import { fromColumns, WANTS_HASH_SQL } from '../store/event-rows.js';
import { StringReader } from '../store/interning.js';
import { decodeEventRow, type RawEventRow } from '../store/stored-rows.js';

export interface EventFilters {
  agent?: string;
  pid?: number;
  types?: EventType[];
  /** glob (* ? [..]) over every path an event carries: path, newpath (rename/link target, an open's raw path), exe */
  pathGlob?: string;
  /** exact address text (connect/dns) or unix socket path */
  addr?: string;
  sinceNs?: bigint;
  untilNs?: bigint;
  sensorId?: string;
  /** at most this many events: the oldest after `sinceNs` when given, else the newest */
  limit: number;
}

export type QueriedEvent = SensorEvent & { sha256?: string; hashState?: string; hashedAt?: string; hashSource?: string };

export interface QueriedRow {
  id: bigint;
  sensorId: string;
  event: QueriedEvent;
}

export function queryEvents(db: Database.Database, f: EventFilters): QueriedRow[] {
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
  if (f.types && f.types.length > 0) {
    const numbers = f.types.map((t) => {
      const n = EVENT_TYPE_NUMBER[t];
      if (n === undefined) throw new Error(`unknown event type ${JSON.stringify(t)}`);
      return n;
    });
    where.push(`e.type IN (${numbers.join(', ')})`);
  }
  if (f.pathGlob !== undefined) {
    // CAST keeps the stored bytes as they are (no UTF-8 check), so a pattern also
    // matches non-UTF-8 paths ('?' takes one invalid byte). GLOB on the bare BLOB
    // does not match '*' reliably, hence the cast.
    // Every path the event carries: a rename onto, or a link named, the pattern matches too.
    const matching = 'SELECT id FROM strings WHERE CAST(bytes AS TEXT) GLOB ?';
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
  const newestFirst = f.sinceNs === undefined;
  const sql = `SELECT e.*, b.sensor_id AS q_sensor, f.sha256 AS q_sha256, f.state AS q_state, f.hashed_at AS q_hashed_at,
                      f.hash_source AS q_hash_source
                 FROM events e JOIN batches b ON b.id = e.batch_id
                 LEFT JOIN file_links l ON l.batch_id = e.batch_id AND l.path_sid = e.path_sid AND ${WANTS_HASH_SQL}
                 LEFT JOIN files f ON f.id = l.file_id
                ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
                ORDER BY e.ts_ns ${newestFirst ? 'DESC' : 'ASC'}, e.id ${newestFirst ? 'DESC' : 'ASC'} LIMIT ?`;
  args.push(Math.max(0, Math.floor(f.limit)));
  const rows = db.prepare(sql).safeIntegers(true).all(...args) as RawEventRow[];
  if (newestFirst) rows.reverse();
  const strings = new StringReader(db);
  return rows.map((r) => {
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
    return { id: stored.id, sensorId: r.q_sensor as unknown as string, event };
  });
}
