// The forwarder's durable position per destination, in the store itself, so
// it survives restarts and is read by `sensor status` beside the data it
// points into. A cursor names the last batch and event examined (batch ids
// are AUTOINCREMENT and never reused; event ids can be once retention emptied
// the table) and the ordinal of that event among all events ever committed,
// which is how events retention deleted before they were shipped are counted.
import type Database from 'better-sqlite3';

export const CURSOR_SQL = `
CREATE TABLE IF NOT EXISTS forward_cursors (
  dest           TEXT PRIMARY KEY,
  last_batch_id  INTEGER NOT NULL,
  last_event_id  INTEGER NOT NULL,   -- last event examined in last_batch_id (-1: none of it)
  event_ordinal  INTEGER NOT NULL,   -- events examined since the store began, pruned ones included
  last_alert_id  INTEGER NOT NULL DEFAULT 0,
  shipped_events INTEGER NOT NULL DEFAULT 0,
  shipped_alerts INTEGER NOT NULL DEFAULT 0,
  missed_events  INTEGER NOT NULL DEFAULT 0,  -- deleted by retention before they were shipped
  last_error     TEXT,
  last_error_ns  INTEGER,
  updated_ns     INTEGER NOT NULL
) WITHOUT ROWID;
`;

export interface Cursor {
  batchId: bigint;
  eventId: bigint;
  ordinal: bigint;
  alertId: bigint;
}

export interface CursorRow extends Cursor {
  dest: string;
  shippedEvents: number;
  shippedAlerts: number;
  missedEvents: number;
  lastError: string | null;
  lastErrorNs: bigint | null;
  updatedNs: bigint;
}

const nowNs = (): bigint => BigInt(Date.now()) * 1_000_000n;

export class CursorTable {
  private readonly get: Database.Statement;
  private readonly put: Database.Statement;
  private readonly error: Database.Statement;

  constructor(db: Database.Database) {
    db.exec(CURSOR_SQL);
    this.get = db.prepare('SELECT * FROM forward_cursors WHERE dest = ?').safeIntegers(true);
    this.put = db.prepare(
      `INSERT INTO forward_cursors (dest, last_batch_id, last_event_id, event_ordinal, last_alert_id,
         shipped_events, shipped_alerts, missed_events, updated_ns)
       VALUES (@dest, @batchId, @eventId, @ordinal, @alertId, @shippedEvents, @shippedAlerts, @missed, @now)
       ON CONFLICT (dest) DO UPDATE SET last_batch_id = excluded.last_batch_id, last_event_id = excluded.last_event_id,
         event_ordinal = excluded.event_ordinal, last_alert_id = excluded.last_alert_id,
         shipped_events = shipped_events + excluded.shipped_events, shipped_alerts = shipped_alerts + excluded.shipped_alerts,
         missed_events = missed_events + excluded.missed_events, updated_ns = excluded.updated_ns,
         last_error = CASE WHEN excluded.shipped_events + excluded.shipped_alerts > 0 THEN NULL ELSE last_error END`,
    );
    this.error = db.prepare('UPDATE forward_cursors SET last_error = ?, last_error_ns = ? WHERE dest = ?');
  }

  read(dest: string): CursorRow | null {
    const r = this.get.get(dest) as Record<string, bigint | string | null> | undefined;
    return r ? rowOf(r) : null;
  }

  /** Moves the cursor and adds to its counters, in one statement. */
  advance(dest: string, c: Cursor, delta: { shippedEvents: number; shippedAlerts: number; missed: number }): void {
    this.put.run({
      dest, batchId: c.batchId, eventId: c.eventId, ordinal: c.ordinal, alertId: c.alertId,
      shippedEvents: delta.shippedEvents, shippedAlerts: delta.shippedAlerts, missed: delta.missed, now: nowNs(),
    });
  }

  noteError(dest: string, message: string): void {
    this.error.run(message.slice(0, 500), nowNs(), dest);
  }
}

function rowOf(r: Record<string, bigint | string | null>): CursorRow {
  const n = (v: unknown) => Number(v as bigint);
  return {
    dest: r.dest as string, batchId: r.last_batch_id as bigint, eventId: r.last_event_id as bigint,
    ordinal: r.event_ordinal as bigint, alertId: r.last_alert_id as bigint,
    shippedEvents: n(r.shipped_events), shippedAlerts: n(r.shipped_alerts), missedEvents: n(r.missed_events),
    lastError: r.last_error as string | null, lastErrorNs: r.last_error_ns as bigint | null, updatedNs: r.updated_ns as bigint,
  };
}

/** Every destination's cursor, for status: none when no forwarder ever ran. */
export function readCursors(db: Database.Database): CursorRow[] {
  const exists = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'forward_cursors'`).get();
  if (!exists) return [];
  return (db.prepare('SELECT * FROM forward_cursors ORDER BY dest').safeIntegers(true).all() as Record<string, bigint | string | null>[]).map(rowOf);
}
