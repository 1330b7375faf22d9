// `sensor query --sql`: an analyst's escape hatch, strictly read-only. The
// database is opened read-only, PRAGMA query_only forbids writes on that
// connection too, and a statement SQLite says would write is refused before
// it runs, with a message that says so.
import type Database from 'better-sqlite3';
import { byteString } from '../../proto/events/bytes.js';
import { createSqlViews } from './sql-views.js';

export class WriteRefusedError extends Error {
  readonly exitCode = 2;
}

export type JsonValue = string | number | null | { b64: string };

/** Converts a result row to JSON-safe values: text as is, blobs as UTF-8 or {b64}, big integers as strings. */
export function jsonRow(row: Record<string, unknown>): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {};
  for (const [k, v] of Object.entries(row)) {
    if (typeof v === 'bigint') out[k] = v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
    else if (Buffer.isBuffer(v)) out[k] = byteString(v);
    else out[k] = v as string | number | null;
  }
  return out;
}

/** Runs one read-only statement; the views of ./sql-views.ts (events_v, files_v) are there to use. */
export function* runReadOnlySql(db: Database.Database, sql: string): Generator<Record<string, JsonValue>> {
  createSqlViews(db);
  const stmt = db.prepare(sql);
  if (!stmt.readonly) {
    throw new WriteRefusedError('sensor query --sql runs read-only statements only (SELECT, EXPLAIN, read-only PRAGMA); this statement would write to the store');
  }
  if (!stmt.reader) {
    stmt.run();
    return;
  }
  for (const row of stmt.safeIntegers(true).iterate()) yield jsonRow(row as Record<string, unknown>);
}
