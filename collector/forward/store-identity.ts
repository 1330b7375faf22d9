// A random name for this store, made once and kept in the store, so that
// alert uids from two collectors never collide in one SIEM.
import type Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';

export function storeUid(db: Database.Database): string {
  db.exec(`CREATE TABLE IF NOT EXISTS forward_identity (id INTEGER PRIMARY KEY CHECK (id = 1), store_uid TEXT NOT NULL)`);
  db.prepare('INSERT OR IGNORE INTO forward_identity (id, store_uid) VALUES (1, ?)').run(randomUUID());
  return (db.prepare('SELECT store_uid FROM forward_identity WHERE id = 1').get() as { store_uid: string }).store_uid;
}
