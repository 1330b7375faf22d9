// The collector's SQLite layout. One file per collector, in a 0700 state dir.
//
// Size: the target is <= 200 bytes on disk per stored event, indexes
// included. Every repeated byte string (comm, paths, addresses, DNS names,
// sensor ids) is interned once in `strings` and events carry small integer
// ids, so an index on "path" or "addr" is an index on a 1-4 byte integer
// rather than on the path bytes. Agent names have their own small table.
// Strings are BLOBs of the raw bytes: a non-UTF-8 path round-trips exactly.
//
// Durability: journal_mode=WAL with synchronous=NORMAL by default. A commit
// is in the WAL (the OS page cache) before commitBatch returns, so it
// survives kill -9 of the collector; only an OS crash or power loss can lose
// the last commits. synchronous=FULL (an fsync per batch) closes that gap at
// the price of ingest rate and can be chosen with the `synchronous` option.
import type Database from 'better-sqlite3';

export const DB_FILE_NAME = 'events.db';
export const SCHEMA_VERSION = 1;

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
-- reused, so a deleted batch leaves a visible gap.
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
  UNIQUE (sensor_id, boot_id, seq)
);

-- The link the chain continues from once retention pruned older batches.
CREATE TABLE IF NOT EXISTS chain_anchor (
  id             INTEGER PRIMARY KEY CHECK (id = 1),
  batch_id       INTEGER NOT NULL,  -- last pruned batch
  link           BLOB NOT NULL,     -- its hash
  pruned_batches INTEGER NOT NULL,
  pruned_events  INTEGER NOT NULL,
  updated_at     INTEGER NOT NULL
);

-- Typed columns, no JSON. *_sid columns point into strings. Which columns a
-- type uses: exec: path (= filename), argv, start_ns, exe, cwd; fork:
-- start_ns; exit: code, signal; open: path, newpath (= rawPath), flags, mode,
-- access, result, syscall, file_id (older stores; now file_links); connect: family, proto, addr, port,
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
  file_id     INTEGER,
  agent_pid   INTEGER            -- root pid of the agent instance (see addLaterColumns)
);
CREATE INDEX IF NOT EXISTS events_agent_ts ON events (agent_id, ts_ns);
CREATE INDEX IF NOT EXISTS events_pid_ts   ON events (pid, ts_ns);
CREATE INDEX IF NOT EXISTS events_type_ts  ON events (type, ts_ns);
CREATE INDEX IF NOT EXISTS events_path     ON events (path_sid) WHERE path_sid IS NOT NULL;
CREATE INDEX IF NOT EXISTS events_addr     ON events (addr_sid) WHERE addr_sid IS NOT NULL;

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
              ('hashed','partial','vanished','replaced','not_regular','error','skipped')),
  hashed_at INTEGER NOT NULL,
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

CREATE TABLE IF NOT EXISTS alerts (
  id       INTEGER PRIMARY KEY,
  ts_ns    INTEGER NOT NULL,
  agent_id INTEGER,
  rule     TEXT NOT NULL,
  severity TEXT NOT NULL,
  event_id INTEGER,
  details  TEXT
);
`;

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

export function createSchema(db: Database.Database): void {
  db.exec(SCHEMA_SQL);
  addLaterColumns(db);
  const row = db.prepare(`SELECT value FROM meta WHERE key = 'schema_version'`).get() as { value: string } | undefined;
  if (!row) {
    db.prepare(`INSERT INTO meta (key, value) VALUES ('schema_version', ?)`).run(String(SCHEMA_VERSION));
  } else if (Number(row.value) !== SCHEMA_VERSION) {
    throw new Error(`store schema version ${row.value} is not the supported version ${SCHEMA_VERSION}`);
  }
}

// Columns that came after a store's first version are added in place
// (ALTER TABLE ADD COLUMN rewrites nothing); older rows read them as NULL,
// and the canonical bytes of batches without them are unchanged.
function addLaterColumns(db: Database.Database): void {
  const columns = new Set((db.prepare(`SELECT name FROM pragma_table_info('events')`).all() as { name: string }[]).map((c) => c.name));
  if (!columns.has('agent_pid')) db.exec('ALTER TABLE events ADD COLUMN agent_pid INTEGER');
  db.exec('CREATE INDEX IF NOT EXISTS events_agent_pid ON events (agent_pid) WHERE agent_pid IS NOT NULL');
}

/** Where the collector keeps its database unless told otherwise. */
export const DEFAULT_STATE_DIR = '/var/lib/agent-sensor';
