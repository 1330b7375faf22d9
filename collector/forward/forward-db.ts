// The forwarder's own connection to the collector's database: read-write
// (for its cursor table), never creating the store; the collector owns the
// schema and the pragmas of its WAL file.
import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DB_FILE_NAME } from '../store/schema.js';

/** readonly: for reporting (status); the forwarder itself writes its cursor table. */
export function openForwardDatabase(stateDir: string, readonly = false): Database.Database {
  const path = join(stateDir, DB_FILE_NAME);
  if (!existsSync(path)) throw new Error(`no store at ${path}: start the collector (sensor run or sensor collector) with this --state-dir first`);
  const db = new Database(path, { fileMustExist: true, readonly });
  db.pragma('busy_timeout = 5000');
  // The collector decides auto_vacuum and WAL and runs the checkpoints (wal-checkpointer.ts);
  // this connection only reads, and writes its own small tables.
  if (!readonly) db.pragma('wal_autocheckpoint = 0');
  return db;
}
