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
  /** only events of the agent instance rooted at this pid */
  agentPid?: number;
  types?: EventType[];
  /** glob (* ? [..]) over the stored path bytes; exec events match on their filename */
  pathGlob?: string;
  /** exact address text (connect/dns) or unix socket path */
  addr?: string;
  sinceNs?: bigint;
  untilNs?: bigint;
  sensorId?: string;
  /** at most this many events: the oldest after `sinceNs` when given, else the newest */
  limit: number;
}

export type QueriedEvent = SensorEvent & { sha256?: string; hashState?: string };

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
  if (f.agentPid !== undefined) {
    if (!hasAgentPidColumn(db)) return []; // a read-only store from before the column: no instance is known
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
    // CAST keeps the stored bytes as they are (no UTF-8 check), so a pattern also
    // matches non-UTF-8 paths ('?' takes one invalid byte). GLOB on the bare BLOB
    // does not match '*' reliably, hence the cast.
    where.push('e.path_sid IN (SELECT id FROM strings WHERE CAST(bytes AS TEXT) GLOB ?)');
    args.push(f.pathGlob);
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
  const sql = `SELECT e.*, b.sensor_id AS q_sensor, f.sha256 AS q_sha256, f.state AS q_state
                 FROM events e JOIN batches b ON b.id = e.batch_id
                 LEFT JOIN file_links l ON l.batch_id = e.batch_id AND l.path_sid = e.path_sid AND ${WANTS_HASH_SQL}
                 LEFT JOIN files f ON f.id = coalesce(e.file_id, l.file_id)
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
    }
    return { id: stored.id, sensorId: r.q_sensor as unknown as string, event };
  });
}

function hasAgentPidColumn(db: Database.Database): boolean {
  return db.prepare(`SELECT 1 FROM pragma_table_info('events') WHERE name = 'agent_pid'`).get() !== undefined;
}
