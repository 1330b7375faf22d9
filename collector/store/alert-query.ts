// Reading alerts back for `sensor alerts`: each alert row with the repeats
// counted into it, filtered by agent, time and minimum severity.
import type Database from 'better-sqlite3';

export interface AlertFilters {
  agent?: string;
  sinceNs?: bigint;
  /** this severity and above */
  minSeverity?: 'low' | 'medium' | 'high' | 'critical';
  /** only the alert with this id */
  id?: number;
  /** only alerts stored after this id (a live feed's cursor) */
  afterId?: number;
  limit: number;
}

export interface StoredAlert {
  id: number;
  tsNs: bigint;
  lastNs: bigint;
  sensorId: string | null;
  agent: string;
  agentPid: number | null;
  pid: number | null;
  rule: string;
  severity: string;
  subject: string;
  summary: string;
  evidence: number[];
  baseline: string | null;
  count: number;
}

const RANK = ['low', 'medium', 'high', 'critical'];

export function listAlerts(db: Database.Database, f: AlertFilters): StoredAlert[] {
  const has = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alert_chain'`).get();
  if (!has) return [];
  const where = [`a.kind = 'alert'`];
  const args: (string | bigint | number)[] = [];
  if (f.agent !== undefined) {
    where.push('a.agent = ?');
    args.push(f.agent);
  }
  if (f.sinceNs !== undefined) {
    where.push('a.ts_ns >= ?');
    args.push(f.sinceNs);
  }
  if (f.id !== undefined) {
    where.push('a.id = ?');
    args.push(f.id);
  }
  if (f.afterId !== undefined) {
    where.push('a.id > ?');
    args.push(f.afterId);
  }
  if (f.minSeverity !== undefined) {
    const allowed = RANK.slice(RANK.indexOf(f.minSeverity));
    where.push(`a.severity IN (${allowed.map(() => '?').join(', ')})`);
    args.push(...allowed);
  }
  const rows = db.prepare(
    `SELECT a.*, coalesce(r.n, 0) AS repeats, coalesce(r.last, a.ts_ns) AS last_ns FROM alert_chain a
       LEFT JOIN (SELECT alert_id, sum(count) AS n, max(ts_ns) AS last FROM alert_chain WHERE kind = 'repeat' GROUP BY alert_id) r
         ON r.alert_id = a.id
      WHERE ${where.join(' AND ')} ORDER BY a.id DESC LIMIT ?`,
  ).safeIntegers(true).all(...args, f.limit) as Record<string, unknown>[];
  const n = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
  return rows.reverse().map((r) => ({
    id: Number(r.id), tsNs: r.ts_ns as bigint, lastNs: r.last_ns as bigint, sensorId: (r.sensor_id as string | null) ?? null,
    agent: r.agent as string, agentPid: n(r.agent_pid), pid: n(r.pid), rule: r.rule as string, severity: r.severity as string,
    subject: r.subject as string, summary: r.summary as string, evidence: JSON.parse((r.evidence as string) || '[]') as number[],
    baseline: (r.baseline as string | null) ?? null, count: 1 + Number(r.repeats),
  }));
}
