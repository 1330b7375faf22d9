// The collector's SQLite layout. One file per collector, in a 0700 state dir.
//
// Size: the target is <= 200 bytes on disk per stored event, indexes
// included. Every repeated byte string (comm, paths, addresses, DNS names,
// sensor ids) is interned once in `strings` and events carry small integer
// ids, so an index on "path" or "addr" is an index on a 1-4 byte integer
// rather than on the path bytes. Agent names have their own small table.
// Strings are BLOBs of the raw bytes: a non-UTF-8 path round-trips exactly.
//
// Durability: journal_mode=WAL with synchronous=FULL by default: the WAL is
// fsync'ed at every commit, so an acked batch survives a power loss or an OS
// crash, not only kill -9 of the collector (the sensor drops a batch once it
// is acked). NORMAL (commits only in the page cache until a checkpoint) can
// still be chosen with the `synchronous` option where speed matters more;
// bench/store-ingest.js measures the difference (SYNC=NORMAL|FULL).
import type Database from 'better-sqlite3';
import { INTENT_SCHEMA_SQL } from '../intent/intent-rows.js';

export const DB_FILE_NAME = 'events.db';
// 2: chained_rows (file hashes under the chain), batches.rows_head_* and
// content_sha256, files.hash_source, no events.file_id.
export const SCHEMA_VERSION = 2;

export const SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;

-- last_batch: the newest batch whose rows use the string; once retention
-- pruned past it, nothing refers to it any more and it is swept.
CREATE TABLE IF NOT EXISTS strings (
  id         INTEGER PRIMARY KEY,
  bytes      BLOB NOT NULL UNIQUE,
  last_batch INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS strings_last_batch ON strings (last_batch);

CREATE TABLE IF NOT EXISTS agents (
  id   INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE
);

-- One row per committed batch; hash = SHA-256(prev_hash || canonical bytes of
-- this row and its event rows as stored). AUTOINCREMENT: ids are never
-- reused, so a deleted batch leaves a visible gap. rows_head_*: the head of
-- the chained_rows chain when this batch committed (covered by its hash), so
-- an exported batch head vouches for the file hashes recorded before it.
-- content_sha256: digest of the batch's events as received, to tell a resend
-- (same content: DUPLICATE) from a different batch under the same
-- (sensor, boot, seq) (an integrity alarm).
CREATE TABLE IF NOT EXISTS batches (
  id             INTEGER PRIMARY KEY AUTOINCREMENT,
  sensor_id      TEXT NOT NULL,
  boot_id        TEXT NOT NULL,
  seq            INTEGER NOT NULL,
  received_at    INTEGER NOT NULL,  -- epoch ms
  event_count    INTEGER NOT NULL,
  first_event_id INTEGER,           -- events of a batch are the id range [first, first+count)
  hash           BLOB NOT NULL,
  prev_hash      BLOB NOT NULL,
  rows_head_id   INTEGER NOT NULL DEFAULT 0,
  rows_head_link BLOB NOT NULL DEFAULT x'',
  content_sha256 BLOB,
  remote         INTEGER NOT NULL DEFAULT 0,  -- came over TCP: its files are not hashed here
  UNIQUE (sensor_id, boot_id, seq)
);

-- The link the chain continues from once retention pruned older batches.
CREATE TABLE IF NOT EXISTS chain_anchor (
  id             INTEGER PRIMARY KEY CHECK (id = 1),
  batch_id       INTEGER NOT NULL,  -- last pruned batch
  link           BLOB NOT NULL,     -- its hash
  pruned_batches INTEGER NOT NULL,
  pruned_events  INTEGER NOT NULL,
  updated_at     INTEGER NOT NULL,
  rows_id        INTEGER NOT NULL DEFAULT 0,   -- last pruned chained_rows row
  rows_link      BLOB NOT NULL DEFAULT x''     -- its link
);

-- Rows written after their batch (file hashes; alerts later) under a chain
-- of their own, linked to the batch chain both ways: each row's digest covers
-- the hash of the batch it is about, and each batch covers the head of this
-- chain (rows_head_*). See chained-rows.ts for the pattern and how a new kind
-- of row joins it.
CREATE TABLE IF NOT EXISTS chained_rows (
  id       INTEGER PRIMARY KEY AUTOINCREMENT,
  kind     TEXT NOT NULL,
  batch_id INTEGER NOT NULL,
  ref      INTEGER NOT NULL,  -- the kind's key of its rows (file_link: path_sid)
  digest   BLOB NOT NULL,     -- SHA-256 of the kind's canonical bytes of its rows
  link     BLOB NOT NULL      -- SHA-256(previous link || digest)
);
CREATE INDEX IF NOT EXISTS chained_rows_batch ON chained_rows (batch_id);

-- Typed columns, no JSON. *_sid columns point into strings. Which columns a
-- type uses: exec: path (= filename), argv, start_ns, exe, cwd; fork:
-- start_ns; exit: code, signal; open: path, newpath (= rawPath), flags, mode,
-- access, result, syscall (the file read: file_links); connect: family, proto, addr, port,
-- result, host; unlink/rename/link: path, newpath, flags, result; dns: qname,
-- qtype, addr, port, and for a response (bit 16) host = answers (comma-
-- separated), result = rcode, flags = ttl. bits: 1 truncated, 2 datagram,
-- 4 rmdir, 8 symbolic, 16 dns response.
CREATE TABLE IF NOT EXISTS events (
  id          INTEGER PRIMARY KEY,
  batch_id    INTEGER NOT NULL,
  type        INTEGER NOT NULL,
  ts_ns       INTEGER NOT NULL,
  pid         INTEGER NOT NULL,
  tid         INTEGER NOT NULL,
  ppid        INTEGER NOT NULL,
  uid         INTEGER NOT NULL,
  gid         INTEGER NOT NULL,
  comm_sid    INTEGER NOT NULL,
  agent_id    INTEGER,
  cgroup      INTEGER NOT NULL,
  netns       INTEGER NOT NULL,
  mntns       INTEGER NOT NULL,
  bits        INTEGER NOT NULL,
  path_sid    INTEGER,
  newpath_sid INTEGER,
  flags       INTEGER,
  mode        INTEGER,
  access      INTEGER,
  syscall     INTEGER,
  result      INTEGER,
  family      INTEGER,
  proto       INTEGER,
  addr_sid    INTEGER,
  port        INTEGER,
  host_sid    INTEGER,
  code        INTEGER,
  signal      INTEGER,
  qname_sid   INTEGER,
  qtype_sid   INTEGER,
  start_ns    INTEGER,
  exe_sid     INTEGER,
  cwd_sid     INTEGER,
  argv        BLOB,
  agent_pid   INTEGER            -- root pid of the agent instance
);
CREATE INDEX IF NOT EXISTS events_agent_ts ON events (agent_id, ts_ns);
CREATE INDEX IF NOT EXISTS events_pid_ts   ON events (pid, ts_ns);
CREATE INDEX IF NOT EXISTS events_type_ts  ON events (type, ts_ns);
CREATE INDEX IF NOT EXISTS events_path     ON events (path_sid) WHERE path_sid IS NOT NULL;
CREATE INDEX IF NOT EXISTS events_newpath  ON events (newpath_sid) WHERE newpath_sid IS NOT NULL;
CREATE INDEX IF NOT EXISTS events_exe      ON events (exe_sid) WHERE exe_sid IS NOT NULL;
CREATE INDEX IF NOT EXISTS events_addr     ON events (addr_sid) WHERE addr_sid IS NOT NULL;
CREATE INDEX IF NOT EXISTS events_agent_pid ON events (agent_pid) WHERE agent_pid IS NOT NULL;

-- (sensor, pid, start_ns) names a process; filled from fork and exec events.
CREATE TABLE IF NOT EXISTS processes (
  sensor_sid INTEGER NOT NULL,
  pid        INTEGER NOT NULL,
  start_ns   INTEGER NOT NULL,
  ppid       INTEGER,
  agent_id   INTEGER,
  exe_sid    INTEGER,
  argv       BLOB,
  exit_code  INTEGER,
  exit_signal INTEGER,
  last_batch INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (sensor_sid, pid, start_ns)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS processes_last_batch ON processes (last_batch);

-- One row per observed file version (dev, ino, size, mtime, ctime); rows
-- without content (vanished, skipped, ...) are shared per (path, state).
-- hashed_at: epoch ms the content was read (after the agent's read, never
-- at it); hash_source: how it was reached (file-hasher.ts HashSource).
CREATE TABLE IF NOT EXISTS files (
  id        INTEGER PRIMARY KEY,
  path_sid  INTEGER NOT NULL,
  dev       INTEGER,
  ino       INTEGER,
  size      INTEGER,
  mtime_ns  INTEGER,
  ctime_ns  INTEGER,
  sha256    BLOB,
  state     TEXT NOT NULL CHECK (state IN
              ('hashed','partial','vanished','replaced','not_regular','error','skipped',
               'denied','remote','other_namespace')),
  hashed_at INTEGER NOT NULL,
  hash_source TEXT,
  last_batch INTEGER NOT NULL DEFAULT 0  -- newest batch with an event linked here
);
CREATE INDEX IF NOT EXISTS files_last_batch ON files (last_batch);
CREATE INDEX IF NOT EXISTS files_identity ON files (dev, ino, size, mtime_ns, ctime_ns);
CREATE INDEX IF NOT EXISTS files_path_state ON files (path_sid, state);

-- What the opens of a batch read: every open of path_sid in batch_id that
-- wants a hash (event-rows.ts wantsHash) read file_id. One row per (batch,
-- path) rather than an UPDATE of each event row: an agent reading one file
-- thousands of times a second costs one row per batch.
CREATE TABLE IF NOT EXISTS file_links (
  batch_id INTEGER NOT NULL,
  path_sid INTEGER NOT NULL,
  file_id  INTEGER NOT NULL,
  PRIMARY KEY (batch_id, path_sid)
) WITHOUT ROWID;

-- Sensitive classes (collector/sensitive catalogue) of an agent's opens,
-- written in the batch's own transaction, under the chain as one chained row
-- of kind 'sensitive_tag' per batch (sensitive-tags.ts).
CREATE TABLE IF NOT EXISTS sensitive_tags (
  event_id INTEGER PRIMARY KEY,
  batch_id INTEGER NOT NULL,
  classes  TEXT NOT NULL            -- JSON array of class names
);
CREATE INDEX IF NOT EXISTS sensitive_tags_batch ON sensitive_tags (batch_id);

-- DLP findings of a file row (collector/dlp): classes, counts, offsets and
-- keyed fingerprints, never a secret; part of the file link's chained
-- content (file-rows.ts). Swept with the file row.
CREATE TABLE IF NOT EXISTS file_dlp (
  file_id INTEGER PRIMARY KEY,
  body    TEXT NOT NULL             -- JSON: { findings, matches, scannedBytes, truncated }
);

CREATE TABLE IF NOT EXISTS alerts (
  id       INTEGER PRIMARY KEY,
  ts_ns    INTEGER NOT NULL,
  agent_id INTEGER,
  rule     TEXT NOT NULL,
  severity TEXT NOT NULL,
  event_id INTEGER,
  details  TEXT
);
` + INTENT_SCHEMA_SQL;

export type Synchronous = 'NORMAL' | 'FULL';

/** Pragmas for a writer. auto_vacuum must be set before the first table exists. */
export function applyWriterPragmas(db: Database.Database, synchronous: Synchronous): void {
  db.pragma('auto_vacuum = INCREMENTAL');
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${synchronous}`);
  db.pragma('foreign_keys = OFF');
  db.pragma('journal_size_limit = 67108864');
  // Ingest speed: 5 indexes on events are B-tree inserts on every row; a
  // 32 MiB page cache keeps their hot pages in memory between batches.
  db.pragma('cache_size = -32768');
  db.pragma('busy_timeout = 5000');
}

/** For a reader: the store must be of this version (an older one lacks columns queries and verify read). */
export function checkSchemaVersion(db: Database.Database): void {
  const hasMeta = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'`).get() !== undefined;
  const row = hasMeta ? db.prepare(`SELECT value FROM meta WHERE key = 'schema_version'`).get() as { value: string } | undefined : undefined;
  if (row && Number(row.value) !== SCHEMA_VERSION) {
    throw new Error(`store schema version ${row.value} is not the supported version ${SCHEMA_VERSION}` +
      (Number(row.value) < SCHEMA_VERSION ? ' (made by an older agent-sensor: move the state directory aside to start a new store)' : ''));
  }
}

export function createSchema(db: Database.Database): void {
  // Read the version before creating anything, so an older store is left as it was.
  const hasMeta = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'`).get() !== undefined;
  const row = hasMeta
    ? db.prepare(`SELECT value FROM meta WHERE key = 'schema_version'`).get() as { value: string } | undefined
    : undefined;
  if (row && Number(row.value) === SCHEMA_VERSION) db.exec(SCHEMA_SQL);
  if (!row) {
    db.exec(SCHEMA_SQL);
    db.prepare(`INSERT INTO meta (key, value) VALUES ('schema_version', ?)`).run(String(SCHEMA_VERSION));
  } else if (Number(row.value) !== SCHEMA_VERSION) {
    throw new Error(`store schema version ${row.value} is not the supported version ${SCHEMA_VERSION}` +
      (Number(row.value) < SCHEMA_VERSION ? ' (made by an older agent-sensor: move the state directory aside to start a new store)' : ''));
  }
}

/** Where the collector keeps its database unless told otherwise. */
export const DEFAULT_STATE_DIR = '/var/lib/agent-sensor';
