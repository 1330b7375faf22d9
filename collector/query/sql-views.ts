// Views for `sensor query --sql`: the events and files with names and
// strings as text, so an analyst need not join `strings` or know the type
// numbers. TEMP views on the query's own read-only connection: nothing is
// written to the store, and every store (old ones too) gets them.
//
//   events_v  one row per event (columns below; README.md, Commands)
//   files_v   one row per observed file version with its SHA-256 in hex
//
// Text columns are the stored bytes read as UTF-8 (a name that is not valid
// UTF-8 shows U+FFFD; `strings.bytes` holds the exact bytes).
import type Database from 'better-sqlite3';
import { EVENT_TYPE_NUMBER } from '../../proto/events/types.js';
import { BIT_TRUNCATED, WANTS_HASH_SQL } from '../store/event-rows.js';

// The store's codes for these fields (collector/store/event-rows.ts, from 1);
// test/cli-edges.test.ts checks events_v against queryEvents, so a drift shows.
const ACCESS = ['read', 'write', 'readwrite'];
const SYSCALL = ['open', 'creat', 'openat', 'openat2'];
const FAMILY = ['inet', 'inet6', 'unix', 'other'];
const PROTO = ['tcp', 'udp', 'raw', 'unix', 'other'];

const sqlText = (s: string): string => `'${s.replace(/'/g, "''")}'`;
const caseOf = (column: string, names: string[]): string =>
  `CASE ${column} ${names.map((n, i) => `WHEN ${i + 1} THEN ${sqlText(n)}`).join(' ')} END`;
const typeCase = (column: string): string =>
  `CASE ${column} ${Object.entries(EVENT_TYPE_NUMBER).map(([t, n]) => `WHEN ${n} THEN ${sqlText(t)}`).join(' ')} END`;
const str = (sid: string): string => `(SELECT CAST(bytes AS TEXT) FROM strings WHERE id = ${sid})`;
const iso = (ns: string): string =>
  `strftime('%Y-%m-%dT%H:%M:%S', ${ns} / 1000000000, 'unixepoch') || printf('.%09dZ', ${ns} % 1000000000)`;

export const SQL_VIEW_NAMES = ['events_v', 'files_v'] as const;

const ARGV_TEXT_SQL = 'as_argv_text';

const EVENTS_V = `
CREATE TEMP VIEW IF NOT EXISTS events_v AS
SELECT e.id AS id, e.batch_id AS batch_id, ${iso('e.ts_ns')} AS ts, e.ts_ns AS ts_ns,
       b.sensor_id AS sensor_id, (SELECT name FROM agents WHERE id = e.agent_id) AS agent,
       ${typeCase('e.type')} AS type, e.pid AS pid, e.tid AS tid, e.ppid AS ppid, e.uid AS uid, e.gid AS gid,
       ${str('e.comm_sid')} AS comm, ${str('e.path_sid')} AS path, ${str('e.newpath_sid')} AS newpath,
       ${caseOf('e.access', ACCESS)} AS access, ${caseOf('e.syscall', SYSCALL)} AS syscall,
       e.result AS result, e.flags AS flags, e.mode AS mode,
       ${caseOf('e.family', FAMILY)} AS family, ${caseOf('e.proto', PROTO)} AS proto,
       ${str('e.addr_sid')} AS addr, e.port AS port, ${str('e.host_sid')} AS host,
       ${str('e.qname_sid')} AS qname, ${str('e.qtype_sid')} AS qtype, e.code AS code, e.signal AS signal,
       ${str('e.exe_sid')} AS exe, ${str('e.cwd_sid')} AS cwd, ${ARGV_TEXT_SQL}(e.argv) AS argv,
       (e.bits & ${BIT_TRUNCATED}) != 0 AS truncated,
       CASE WHEN ${WANTS_HASH_SQL} THEN (
         SELECT lower(hex(sha256)) FROM files WHERE id =
           (SELECT file_id FROM file_links WHERE batch_id = e.batch_id AND path_sid = e.path_sid)) END AS sha256
  FROM events e JOIN batches b ON b.id = e.batch_id`;

const FILES_V = `
CREATE TEMP VIEW IF NOT EXISTS files_v AS
SELECT f.id AS id, ${str('f.path_sid')} AS path, f.state AS state, lower(hex(f.sha256)) AS sha256,
       f.size AS size, f.dev AS dev, f.ino AS ino, f.mtime_ns AS mtime_ns, f.hashed_at AS hashed_at, f.hash_source AS hash_source
  FROM files f`;

/** Creates the views on this connection (a read-only one: only TEMP objects can be made). */
export function createSqlViews(db: Database.Database): void {
  db.function(ARGV_TEXT_SQL, { deterministic: true }, (argv: unknown) => {
    if (!Buffer.isBuffer(argv)) return null;
    // NUL-terminated elements (event-rows.ts encodeArgv), joined with spaces
    const parts = argv.toString('utf8').split('\0');
    parts.pop();
    return parts.join(' ');
  });
  const queryOnly = db.pragma('query_only', { simple: true });
  db.pragma('query_only = OFF'); // TEMP objects only; the main database stays read-only
  try {
    db.exec(EVENTS_V);
    db.exec(FILES_V);
  } finally {
    if (queryOnly) db.pragma('query_only = ON');
  }
}
