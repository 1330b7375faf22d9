// Alerts and baseline snapshots under a hash chain of their own, linked to
// the batch chain: every row records the newest committed batch and its link
// when it was written, and hash = SHA-256(prev_hash || canonical row bytes).
// Rows are only ever appended: a repeat of a deduplicated alert is a row of
// kind 'repeat' that adds to its alert's count, and a saved baseline is a row
// of kind 'baseline' carrying the digest of the stored baseline body. So
// `sensor verify` (verify-alerts.ts) can tell an alert edited, deleted or
// added, a baseline swapped, or the chain cut short (meta 'alert_head').
import { createHash } from 'node:crypto';
import type Database from 'better-sqlite3';

export const ALERT_CANON_VERSION = 'agent-sensor/alert/v1';
export const ALERT_GENESIS = Buffer.alloc(32);

export const ALERT_SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS alert_chain (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  kind        TEXT NOT NULL CHECK (kind IN ('alert', 'repeat', 'baseline')),
  alert_id    INTEGER,            -- repeat: the alert it counts
  ts_ns       INTEGER NOT NULL,   -- the completing event's time (repeat: the last repeat's)
  sensor_id   TEXT,
  agent       TEXT NOT NULL,
  agent_pid   INTEGER,
  pid         INTEGER,
  rule        TEXT,
  severity    TEXT,
  subject     TEXT,
  summary     TEXT,
  evidence    TEXT,               -- JSON array of event ids
  baseline    TEXT,               -- alert: the baseline fact; baseline row: the body's SHA-256 (hex)
  count       INTEGER NOT NULL,   -- occurrences this row adds
  batch_id    INTEGER,            -- newest committed batch when written
  batch_hash  BLOB,               -- its chain link
  created_at  INTEGER NOT NULL,   -- epoch ms
  prev_hash   BLOB NOT NULL,
  hash        BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS alert_chain_kind_ts ON alert_chain (kind, ts_ns);
CREATE INDEX IF NOT EXISTS alert_chain_alert ON alert_chain (alert_id) WHERE alert_id IS NOT NULL;
`;

export interface AlertChainRow {
  kind: 'alert' | 'repeat' | 'baseline';
  alertId: number | null;
  tsNs: bigint;
  sensorId: string | null;
  agent: string;
  agentPid: number | null;
  pid: number | null;
  rule: string | null;
  severity: string | null;
  subject: string | null;
  summary: string | null;
  evidence: string | null;
  baseline: string | null;
  count: number;
  batchId: bigint | null;
  batchHash: Buffer | null;
  createdAt: number;
}

/** The bytes a row's link is computed over (id included: a row cannot move). */
export function canonicalAlertBytes(id: bigint, r: AlertChainRow): Buffer {
  const fields = [
    ALERT_CANON_VERSION, String(id), r.kind, r.alertId, String(r.tsNs), r.sensorId, r.agent, r.agentPid, r.pid, r.rule,
    r.severity, r.subject, r.summary, r.evidence, r.baseline, r.count, r.batchId === null ? null : String(r.batchId),
    r.batchHash === null ? null : r.batchHash.toString('hex'), r.createdAt,
  ];
  return Buffer.from(JSON.stringify(fields), 'utf8');
}

export function alertLink(prev: Buffer, id: bigint, r: AlertChainRow): Buffer {
  return createHash('sha256').update(prev).update(canonicalAlertBytes(id, r)).digest();
}

export function createAlertSchema(db: Database.Database): void {
  db.exec(ALERT_SCHEMA_SQL);
}

/** Appends rows to the chain; call inside a transaction. */
export class AlertChainWriter {
  private head: Buffer;
  private readonly insert: Database.Statement;
  private readonly setHash: Database.Statement;
  private readonly setHead: Database.Statement;
  private readonly lastBatch: Database.Statement;

  constructor(private readonly db: Database.Database) {
    createAlertSchema(db);
    const last = db.prepare('SELECT hash FROM alert_chain ORDER BY id DESC LIMIT 1').get() as { hash: Buffer } | undefined;
    this.head = last?.hash ?? ALERT_GENESIS;
    this.insert = db.prepare(
      `INSERT INTO alert_chain (kind, alert_id, ts_ns, sensor_id, agent, agent_pid, pid, rule, severity, subject, summary,
         evidence, baseline, count, batch_id, batch_hash, created_at, prev_hash, hash)
       VALUES (${Array(18).fill('?').join(', ')}, x'')`,
    );
    this.setHash = db.prepare('UPDATE alert_chain SET hash = ? WHERE id = ?');
    this.setHead = db.prepare(`INSERT INTO meta (key, value) VALUES ('alert_head', ?)
                               ON CONFLICT (key) DO UPDATE SET value = excluded.value`);
    this.lastBatch = db.prepare('SELECT id, hash FROM batches ORDER BY id DESC LIMIT 1').safeIntegers(true);
  }

  /** The newest committed batch, to link a row to. */
  batchLink(): { batchId: bigint | null; batchHash: Buffer | null } {
    const b = this.lastBatch.get() as { id: bigint; hash: Buffer } | undefined;
    return { batchId: b?.id ?? null, batchHash: b?.hash ?? null };
  }

  /** Appends one row; returns its id. Must run inside a transaction (the head moves with it). */
  append(r: AlertChainRow): number {
    const id = BigInt(this.insert.run(
      r.kind, r.alertId, r.tsNs, r.sensorId, r.agent, r.agentPid, r.pid, r.rule, r.severity, r.subject, r.summary,
      r.evidence, r.baseline, r.count, r.batchId, r.batchHash, r.createdAt, this.head,
    ).lastInsertRowid);
    const link = alertLink(this.head, id, r);
    this.setHash.run(link, id);
    this.setHead.run(`${id}:${link.toString('hex')}`);
    this.head = link;
    return Number(id);
  }

  /** After a failed transaction: the head is whatever was last committed. */
  reload(): void {
    const last = this.db.prepare('SELECT hash FROM alert_chain ORDER BY id DESC LIMIT 1').get() as { hash: Buffer } | undefined;
    this.head = last?.hash ?? ALERT_GENESIS;
  }
}
