// Who contained which agent instance, when and why (`sensor isolate`,
// `sensor release`, automatic responses): one row per action in the store's
// `responses` table, written by the CLI beside the running collector (SQLite
// WAL, busy timeout), so it works while `sensor run` holds the store.
//
// Tamper evidence: the rows carry a hash chain of their own, hash =
// SHA-256(prev_hash || canonical JSON of the row), each row naming the newest
// committed batch and its link when written (so it sits in the batch chain's
// order), and meta 'responses_head' names the last row (so cutting the newest
// rows off shows). `sensor verify` walks it with verifyResponses().
//
// The one writer beside the collector's: the state directory's lock
// (state-dir-lock.ts) keeps a second collector out, while these rare rows
// go in through SQLite's own write lock (busy timeout), touching no table of
// the batch chain.
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { makeDirs } from '../make-dirs.js';
import { applyWriterPragmas, createSchema, DB_FILE_NAME } from './schema.js';

export const RESPONSES_SQL = `
CREATE TABLE IF NOT EXISTS responses (
  id        INTEGER PRIMARY KEY AUTOINCREMENT,
  ts_ns     INTEGER NOT NULL,        -- epoch ns
  action    TEXT NOT NULL,           -- isolate | limit (egress grants) | freeze | release
  agent     TEXT,
  root_pid  INTEGER NOT NULL,        -- the instance (agentPid)
  actor     TEXT NOT NULL,           -- user@host (uid) or auto:<rule>
  reason    TEXT,
  details   TEXT NOT NULL,           -- JSON: pids, mode, cgroups moved
  batch_id  INTEGER,                 -- newest committed batch when written
  batch_hash BLOB,                   -- its chain link
  prev_hash BLOB NOT NULL,
  hash      BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS responses_root ON responses (root_pid, id);
`;

export type ResponseAction = 'isolate' | 'limit' | 'freeze' | 'release';

export interface ResponseInput {
  action: ResponseAction;
  agent: string | null;
  rootPid: number;
  actor: string;
  reason: string | null;
  details: Record<string, unknown>;
}

export interface ResponseRow extends ResponseInput {
  id: number;
  tsNs: string;
  ts: string;
  hash: string;
}

const GENESIS = Buffer.alloc(32);

function canonical(r: { id: number; tsNs: string } & ResponseInput, detailsJson: string, batchId: number | null, batchHash: Buffer | null): Buffer {
  return Buffer.from(JSON.stringify(['agent-sensor/response/v1', r.id, r.tsNs, r.action, r.agent, r.rootPid, r.actor, r.reason, detailsJson,
    batchId, batchHash === null ? null : batchHash.toString('hex')]), 'utf8');
}

const link = (prev: Buffer, bytes: Buffer): Buffer => createHash('sha256').update(prev).update(bytes).digest();

interface RawRow {
  id: number; ts_ns: bigint; action: string; agent: string | null; root_pid: number; actor: string;
  reason: string | null; details: string; batch_id: bigint | null; batch_hash: Buffer | null; prev_hash: Buffer; hash: Buffer;
}

function toRow(r: RawRow): ResponseRow {
  const tsNs = r.ts_ns.toString();
  return {
    id: Number(r.id), tsNs, ts: new Date(Number(r.ts_ns / 1_000_000n)).toISOString(), action: r.action as ResponseAction,
    agent: r.agent, rootPid: Number(r.root_pid), actor: r.actor, reason: r.reason,
    details: JSON.parse(r.details) as Record<string, unknown>, hash: r.hash.toString('hex'),
  };
}

export const hasResponses = (db: Database.Database): boolean =>
  db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'responses'`).get() !== undefined;

/** Appends one action; creates the store (with the collector's layout) if none exists yet. */
export function recordResponse(stateDir: string, input: ResponseInput): ResponseRow {
  // No store yet: make one with the collector's layout, without taking the
  // state directory's writer lock (a collector may start beside us).
  const fresh = !existsSync(join(stateDir, DB_FILE_NAME));
  if (fresh) makeDirs(stateDir, 0o700);
  const db = new Database(join(stateDir, DB_FILE_NAME));
  try {
    db.pragma('busy_timeout = 10000');
    if (fresh) {
      applyWriterPragmas(db, 'FULL');
      createSchema(db);
    } else {
      db.pragma('synchronous = FULL');
    }
    db.exec(RESPONSES_SQL);
    const write = db.transaction(() => {
      const last = db.prepare('SELECT id, hash FROM responses ORDER BY id DESC LIMIT 1').get() as { id: number; hash: Buffer } | undefined;
      const prev = last?.hash ?? GENESIS;
      const id = (last?.id ?? 0) + 1;
      const tsNs = (BigInt(Date.now()) * 1_000_000n).toString();
      const detailsJson = JSON.stringify(input.details);
      const batch = db.prepare('SELECT id, hash FROM batches ORDER BY id DESC LIMIT 1').get() as { id: number; hash: Buffer } | undefined;
      const hash = link(prev, canonical({ id, tsNs, ...input }, detailsJson, batch?.id ?? null, batch?.hash ?? null));
      db.prepare(`INSERT INTO responses (id, ts_ns, action, agent, root_pid, actor, reason, details, batch_id, batch_hash, prev_hash, hash)
                  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
        .run(id, BigInt(tsNs), input.action, input.agent, input.rootPid, input.actor, input.reason, detailsJson,
          batch?.id ?? null, batch?.hash ?? null, prev, hash);
      db.prepare(`INSERT INTO meta (key, value) VALUES ('responses_head', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`)
        .run(`${id}:${hash.toString('hex')}`);
      return id;
    });
    const id = write.immediate();
    return toRow(db.prepare('SELECT * FROM responses WHERE id = ?').safeIntegers(true).get(id) as RawRow);
  } finally {
    db.close();
  }
}

export function listResponses(db: Database.Database, rootPid?: number): ResponseRow[] {
  if (!hasResponses(db)) return [];
  const rows = (rootPid === undefined
    ? db.prepare('SELECT * FROM responses ORDER BY id').safeIntegers(true).all()
    : db.prepare('SELECT * FROM responses WHERE root_pid = ? ORDER BY id').safeIntegers(true).all(rootPid)) as RawRow[];
  return rows.map(toRow);
}

export interface ResponsesVerdict {
  ok: boolean;
  rows: number;
  head: string | null;
  /** id of the first row whose hash or link does not hold */
  firstBad?: number;
  /** what is wrong, in words */
  problem?: string;
}

export function verifyResponses(db: Database.Database): ResponsesVerdict {
  const recorded = (db.prepare(`SELECT value FROM meta WHERE key = 'responses_head'`).get() as { value: string } | undefined)?.value ?? null;
  if (!hasResponses(db)) {
    return recorded ? { ok: false, rows: 0, head: null, problem: `the responses table is gone (head ${recorded} recorded)` } : { ok: true, rows: 0, head: null };
  }
  let prev: Buffer = GENESIS;
  let n = 0;
  let expectId = 1;
  let last = '';
  for (const r of db.prepare('SELECT * FROM responses ORDER BY id').safeIntegers(true).iterate() as Iterable<RawRow>) {
    const row = toRow(r);
    const bytes = canonical({ ...row, reason: r.reason }, r.details, r.batch_id === null ? null : Number(r.batch_id), r.batch_hash);
    if (row.id !== expectId || !r.prev_hash.equals(prev) || !link(prev, bytes).equals(r.hash)) {
      return { ok: false, rows: n, head: prev.toString('hex'), firstBad: row.id, problem: `row ${row.id} was altered, removed before it, or moved` };
    }
    prev = r.hash;
    last = `${row.id}:${r.hash.toString('hex')}`;
    expectId++;
    n++;
  }
  if ((recorded ?? '') !== last) {
    return { ok: false, rows: n, head: n ? prev.toString('hex') : null, problem: `the last row is ${last || 'none'} but ${recorded ?? 'no head'} was recorded: rows cut off or added` };
  }
  return { ok: true, rows: n, head: n ? prev.toString('hex') : null };
}
