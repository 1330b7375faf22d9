// The judging half's other tables: baselines (one body per agent, its
// digest chained in alert_chain at every save), requests from
// `sensor baseline --freeze | --relearn` (written by the CLI, applied by the
// collector's engine, which owns the in-memory baseline), and agent
// instances (derived from exec and exit events of the instance roots, kept
// so `sensor agents` need not scan the events).
import { createHash } from 'node:crypto';
import type Database from 'better-sqlite3';

export const DETECT_SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS baselines (
  agent        TEXT PRIMARY KEY,
  state        TEXT NOT NULL CHECK (state IN ('learning', 'detecting')),
  learn_from   INTEGER NOT NULL,   -- epoch ms learning (re)started
  detect_from  INTEGER,            -- epoch ms learning ended
  ended_by     TEXT,               -- 'complete' | 'freeze'
  learn_ms     INTEGER NOT NULL,   -- the learning target in force: duration
  learn_events INTEGER NOT NULL,   -- and event count
  body         TEXT NOT NULL,      -- JSON (collector/detect/baseline.ts)
  digest       TEXT NOT NULL,      -- SHA-256 hex of state || body, chained in alert_chain
  updated_at   INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS baseline_requests (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  agent        TEXT NOT NULL,
  op           TEXT NOT NULL CHECK (op IN ('freeze', 'relearn')),
  requested_at INTEGER NOT NULL,
  applied_at   INTEGER,
  result       TEXT
);

CREATE TABLE IF NOT EXISTS agent_instances (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  sensor_id  TEXT NOT NULL,
  agent      TEXT NOT NULL,
  agent_pid  INTEGER NOT NULL,
  start_ns   INTEGER,
  end_ns     INTEGER,
  exit_code  INTEGER,
  uid        INTEGER,
  home       TEXT,
  cwd        TEXT,
  exe        TEXT,
  argv       TEXT,   -- JSON array
  events     INTEGER NOT NULL DEFAULT 0,
  last_ns    INTEGER
);
CREATE INDEX IF NOT EXISTS agent_instances_agent ON agent_instances (agent, id);
`;

export function createDetectSchema(db: Database.Database): void {
  db.exec(DETECT_SCHEMA_SQL);
}

export interface BaselineRecord {
  agent: string;
  state: 'learning' | 'detecting';
  learnFrom: number;
  detectFrom: number | null;
  endedBy: string | null;
  learnMs: number;
  learnEvents: number;
  body: string;
  digest: string;
  updatedAt: number;
}

export const baselineDigest = (state: string, body: string): string =>
  createHash('sha256').update(state).update('\n').update(body).digest('hex');

const tableExists = (db: Database.Database, name: string): boolean =>
  Boolean(db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`).get(name));

export function readBaselines(db: Database.Database): BaselineRecord[] {
  if (!tableExists(db, 'baselines')) return [];
  return (db.prepare('SELECT * FROM baselines ORDER BY agent').all() as Record<string, unknown>[]).map((r) => ({
    agent: r.agent as string, state: r.state as BaselineRecord['state'], learnFrom: r.learn_from as number,
    detectFrom: (r.detect_from as number | null) ?? null, endedBy: (r.ended_by as string | null) ?? null,
    learnMs: r.learn_ms as number, learnEvents: r.learn_events as number,
    body: r.body as string, digest: r.digest as string, updatedAt: r.updated_at as number,
  }));
}

export function writeBaseline(db: Database.Database, b: BaselineRecord): void {
  db.prepare(
    `INSERT INTO baselines (agent, state, learn_from, detect_from, ended_by, learn_ms, learn_events, body, digest, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (agent) DO UPDATE SET state = excluded.state, learn_from = excluded.learn_from,
       detect_from = excluded.detect_from, ended_by = excluded.ended_by, learn_ms = excluded.learn_ms,
       learn_events = excluded.learn_events, body = excluded.body, digest = excluded.digest, updated_at = excluded.updated_at`,
  ).run(b.agent, b.state, b.learnFrom, b.detectFrom, b.endedBy, b.learnMs, b.learnEvents, b.body, b.digest, b.updatedAt);
}

export interface BaselineRequest {
  id: number;
  agent: string;
  op: 'freeze' | 'relearn';
  requestedAt: number;
  appliedAt: number | null;
  result: string | null;
}

/** The CLI's side: queue a request for the collector (creates the tables if the collector never ran). */
export function requestBaselineChange(db: Database.Database, agent: string, op: 'freeze' | 'relearn'): number {
  createDetectSchema(db);
  return Number(db.prepare('INSERT INTO baseline_requests (agent, op, requested_at) VALUES (?, ?, ?)')
    .run(agent, op, Date.now()).lastInsertRowid);
}

export function readRequest(db: Database.Database, id: number): BaselineRequest | undefined {
  const r = db.prepare('SELECT * FROM baseline_requests WHERE id = ?').get(id) as Record<string, unknown> | undefined;
  return r && {
    id: r.id as number, agent: r.agent as string, op: r.op as BaselineRequest['op'], requestedAt: r.requested_at as number,
    appliedAt: (r.applied_at as number | null) ?? null, result: (r.result as string | null) ?? null,
  };
}

export function pendingRequests(db: Database.Database): BaselineRequest[] {
  return (db.prepare('SELECT id FROM baseline_requests WHERE applied_at IS NULL ORDER BY id').all() as { id: number }[])
    .map((r) => readRequest(db, r.id)!);
}

export function markRequestApplied(db: Database.Database, id: number, result: string): void {
  db.prepare('UPDATE baseline_requests SET applied_at = ?, result = ? WHERE id = ?').run(Date.now(), result, id);
}

export interface InstanceRecord {
  id: number;
  sensorId: string;
  agent: string;
  agentPid: number;
  startNs: bigint | null;
  endNs: bigint | null;
  exitCode: number | null;
  uid: number | null;
  home: string | null;
  cwd: string | null;
  exe: string | null;
  argv: string[];
  events: number;
  lastNs: bigint | null;
}

export function readInstances(db: Database.Database, agent?: string, openOnly = false): InstanceRecord[] {
  if (!tableExists(db, 'agent_instances')) return [];
  const open = openOnly ? ' WHERE end_ns IS NULL AND id > (SELECT coalesce(max(id), 0) - 20000 FROM agent_instances)' : '';
  const rows = (agent === undefined
    ? db.prepare(`SELECT * FROM agent_instances${open} ORDER BY id`).safeIntegers(true).all()
    : db.prepare('SELECT * FROM agent_instances WHERE agent = ? ORDER BY id').safeIntegers(true).all(agent)) as Record<string, unknown>[];
  const n = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
  return rows.map((r) => ({
    id: Number(r.id), sensorId: r.sensor_id as string, agent: r.agent as string, agentPid: Number(r.agent_pid),
    startNs: (r.start_ns as bigint | null) ?? null, endNs: (r.end_ns as bigint | null) ?? null, exitCode: n(r.exit_code),
    uid: n(r.uid), home: (r.home as string | null) ?? null, cwd: (r.cwd as string | null) ?? null,
    exe: (r.exe as string | null) ?? null, argv: r.argv ? (JSON.parse(r.argv as string) as string[]) : [],
    events: Number(r.events), lastNs: (r.last_ns as bigint | null) ?? null,
  }));
}

/** The engine's writes of instance rows (inside its transaction). */
export class InstanceWriter {
  private readonly insert: Database.Statement;
  private readonly update: Database.Statement;

  constructor(db: Database.Database) {
    createDetectSchema(db);
    this.insert = db.prepare('INSERT INTO agent_instances (sensor_id, agent, agent_pid, start_ns) VALUES (?, ?, ?, ?)');
    this.update = db.prepare(
      `UPDATE agent_instances SET start_ns = ?, end_ns = ?, exit_code = ?, uid = ?, home = ?, cwd = ?, exe = ?, argv = ?,
         events = ?, last_ns = ? WHERE id = ?`,
    );
  }

  create(sensorId: string, agent: string, agentPid: number, startNs: bigint | null): number {
    return Number(this.insert.run(sensorId, agent, agentPid, startNs).lastInsertRowid);
  }

  save(r: Omit<InstanceRecord, 'sensorId' | 'agent' | 'agentPid'>): void {
    this.update.run(r.startNs, r.endNs, r.exitCode, r.uid, r.home, r.cwd, r.exe, JSON.stringify(r.argv), r.events, r.lastNs, r.id);
  }
}
