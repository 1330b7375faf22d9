// Reads stored events after a cursor, in commit order (batch by batch, each
// batch's id range in order), through its own read transaction so a batch is
// never seen half pruned. The cursor moves over every event examined, also
// over those a type filter leaves out, so the filter never re-reads them.
import type Database from 'better-sqlite3';
import { EVENT_TYPE_NUMBER, type EventType } from '../../proto/events/types.js';
import { queriedEventOf, type QueriedEvent } from '../query/event-query.js';
import { WANTS_HASH_SQL } from '../store/event-rows.js';
import { StringReader } from '../store/interning.js';
import type { RawEventRow } from '../store/stored-rows.js';
import type { Cursor } from './cursor-table.js';
import type { EventOrigin } from './ocsf-events.js';

export interface ReadEvent {
  origin: EventOrigin;
  event: QueriedEvent;
}

export interface ReadResult {
  events: ReadEvent[];
  /** where the next read starts; commit it once `events` are delivered */
  next: Cursor;
  examined: number;
  /** events retention deleted between the cursor and the oldest kept batch */
  missed: number;
}

export interface Lag {
  /** committed events not yet examined */
  events: number;
  /** age of the oldest of them (0 when none) */
  seconds: number;
}

interface BatchRow {
  id: bigint;
  sensor_id: string;
  boot_id: string;
  seq: bigint;
  event_count: bigint;
  first_event_id: bigint | null;
  received_at: bigint;
}

const BATCHES_PER_READ = 256;

export class EventReader {
  private readonly anchor: Database.Statement;
  private readonly batches: Database.Statement;
  private readonly events: Database.Statement;
  private readonly pending: Database.Statement;
  private readonly oldestPending: Database.Statement;
  private readonly readTx: (c: Cursor, max: number) => ReadResult;

  /** types: only these types are returned (undefined: all); alerts-only passes []. */
  constructor(private readonly db: Database.Database, types?: EventType[]) {
    this.anchor = db.prepare('SELECT batch_id, pruned_events FROM chain_anchor WHERE id = 1').safeIntegers(true);
    this.batches = db.prepare(
      `SELECT id, sensor_id, boot_id, seq, event_count, first_event_id, received_at FROM batches WHERE id >= ? ORDER BY id LIMIT ${BATCHES_PER_READ}`,
    ).safeIntegers(true);
    const typeFilter = types === undefined ? '' : `AND e.type IN (${types.map((t) => EVENT_TYPE_NUMBER[t]).join(', ') || 'NULL'})`;
    this.events = db.prepare(
      `SELECT e.*, f.sha256 AS q_sha256, f.state AS q_state, f.hashed_at AS q_hashed_at, f.hash_source AS q_hash_source FROM events e
         LEFT JOIN file_links l ON l.batch_id = e.batch_id AND l.path_sid = e.path_sid AND ${WANTS_HASH_SQL}
         LEFT JOIN files f ON f.id = l.file_id
        WHERE e.id BETWEEN ? AND ? ${typeFilter} ORDER BY e.id`,
    ).safeIntegers(true);
    this.pending = db.prepare(
      `SELECT coalesce(sum(CASE WHEN id = @b THEN max(0, first_event_id + event_count - 1 - @e) ELSE event_count END), 0) AS n
         FROM batches WHERE id >= @b AND first_event_id IS NOT NULL`,
    ).safeIntegers(true);
    this.oldestPending = db.prepare(
      `SELECT received_at FROM batches WHERE first_event_id IS NOT NULL AND event_count > 0
          AND (id > @b OR (id = @b AND first_event_id + event_count - 1 > @e)) ORDER BY id LIMIT 1`,
    ).safeIntegers(true);
    this.readTx = db.transaction((c: Cursor, max: number) => this.readLocked(c, max));
  }

  /** Where a destination seen for the first time starts: the oldest event retention kept. */
  startCursor(): Cursor {
    const a = this.anchor.get() as { batch_id: bigint; pruned_events: bigint } | undefined;
    return { batchId: a?.batch_id ?? 0n, eventId: -1n, ordinal: a?.pruned_events ?? 0n, alertId: 0n };
  }

  read(cursor: Cursor, maxExamined: number): ReadResult {
    return this.readTx(cursor, maxExamined);
  }

  lag(c: Cursor, nowMs = Date.now()): Lag {
    const n = (this.pending.get({ b: c.batchId, e: c.eventId }) as { n: bigint }).n;
    const oldest = this.oldestPending.get({ b: c.batchId, e: c.eventId }) as { received_at: bigint } | undefined;
    return { events: Number(n), seconds: oldest ? Math.max(0, (nowMs - Number(oldest.received_at)) / 1000) : 0 };
  }

  private readLocked(cursor: Cursor, maxExamined: number): ReadResult {
    let c = { ...cursor };
    let missed = 0;
    const a = this.anchor.get() as { batch_id: bigint; pruned_events: bigint } | undefined;
    if (a && a.batch_id >= c.batchId) {
      // Retention pruned the cursor's batch and maybe more: what it deleted unexamined is missed.
      if (a.pruned_events > c.ordinal) missed = Number(a.pruned_events - c.ordinal);
      c = { ...c, batchId: a.batch_id, eventId: -1n, ordinal: a.pruned_events > c.ordinal ? a.pruned_events : c.ordinal };
    }
    const out: ReadEvent[] = [];
    let examined = 0;
    const strings = new StringReader(this.db); // per read: retention may sweep and reuse string ids
    for (const b of this.batches.all(c.batchId) as BatchRow[]) {
      if (examined >= maxExamined) break;
      if (b.first_event_id === null || b.event_count === 0n) {
        c = { ...c, batchId: b.id, eventId: -1n };
        continue;
      }
      const first = b.first_event_id;
      const last = first + b.event_count - 1n;
      const start = b.id === c.batchId && c.eventId + 1n > first ? c.eventId + 1n : first;
      if (start > last) {
        c = { ...c, batchId: b.id, eventId: last };
        continue;
      }
      const room = BigInt(maxExamined - examined);
      const end = last < start + room - 1n ? last : start + room - 1n;
      for (const r of this.events.all(start, end) as RawEventRow[]) {
        const { stored, event } = queriedEventOf(r, strings);
        out.push({
          origin: { eventId: stored.id, sensorId: b.sensor_id, bootId: b.boot_id, seq: b.seq, index: Number(stored.id - first) },
          event,
        });
      }
      const n = end - start + 1n;
      examined += Number(n);
      c = { ...c, batchId: b.id, eventId: end, ordinal: c.ordinal + n };
    }
    return { events: out, next: c, examined, missed };
  }
}
