// Where the forwarder reads alerts from. An interface, because the alerts
// engine (issue 11) owns the table: SqliteAlertSource reads an `alerts` table
// by the columns it finds, and with no such table the forwarder ships events
// only.
import type Database from 'better-sqlite3';
import { isoFromNs } from '../store/event-rows.js';

/** An alert as `sensor alerts --json` shows it (issue 11). */
export interface ForwardAlert {
  id: bigint;
  tsNs: bigint;
  agent: string | null;
  agentPid: number | null;
  pid: number | null;
  rule: string;
  severity: string;
  summary: string;
  /** store event ids */
  evidence: bigint[];
  baseline: string | null;
}

export interface AlertSource {
  /** alerts with id > afterId, in id order, at most limit */
  readAfter(afterId: bigint, limit: number): ForwardAlert[];
  /** the newest alert id (for the lag figure), 0 when none */
  newestId(): bigint;
}

export const NO_ALERTS: AlertSource = { readAfter: () => [], newestId: () => 0n };

type Row = Record<string, unknown>;

const asBig = (v: unknown): bigint | null => (typeof v === 'bigint' ? v : typeof v === 'number' ? BigInt(v) : null);
const asNum = (v: unknown): number | null => (typeof v === 'bigint' ? Number(v) : typeof v === 'number' ? v : null);
const asText = (v: unknown): string | null => (typeof v === 'string' ? v : Buffer.isBuffer(v) ? v.toString('utf8') : null);

function evidenceIds(v: unknown, single: unknown): bigint[] {
  const text = asText(v);
  if (text !== null) {
    try {
      const parsed = JSON.parse(text) as unknown;
      if (Array.isArray(parsed)) return parsed.flatMap((x) => (typeof x === 'number' || (typeof x === 'string' && /^\d+$/.test(x)) ? [BigInt(x)] : []));
    } catch {
      // not JSON: a comma-separated list
      return text.split(',').filter((x) => /^\s*\d+\s*$/.test(x)).map((x) => BigInt(x.trim()));
    }
  }
  const one = asBig(single);
  return one === null ? [] : [one];
}

/** Reads alerts from the store's `alerts` table, whichever of the known columns it has. */
export class SqliteAlertSource implements AlertSource {
  private readonly select: Database.Statement;
  private readonly newest: Database.Statement;

  private constructor(db: Database.Database, cols: Set<string>) {
    const agentExpr = cols.has('agent_id') ? '(SELECT name FROM agents WHERE id = a.agent_id)' : cols.has('agent') ? 'a.agent' : 'NULL';
    this.select = db.prepare(`SELECT a.*, ${agentExpr} AS f_agent FROM alerts a WHERE a.id > ? ORDER BY a.id LIMIT ?`).safeIntegers(true);
    this.newest = db.prepare('SELECT coalesce(max(id), 0) AS id FROM alerts').safeIntegers(true);
  }

  /** null when the store has no alerts table (alerts not built or not yet created). */
  static open(db: Database.Database): SqliteAlertSource | null {
    const cols = new Set((db.prepare(`SELECT name FROM pragma_table_info('alerts')`).all() as { name: string }[]).map((r) => r.name));
    if (!cols.has('id') || !cols.has('rule')) return null;
    return new SqliteAlertSource(db, cols);
  }

  readAfter(afterId: bigint, limit: number): ForwardAlert[] {
    return (this.select.all(afterId, limit) as Row[]).map((r) => ({
      id: asBig(r.id)!,
      tsNs: asBig(r.ts_ns) ?? (typeof r.ts === 'string' ? BigInt(Date.parse(r.ts)) * 1_000_000n : 0n),
      agent: asText(r.f_agent),
      agentPid: asNum(r.agent_pid),
      pid: asNum(r.pid),
      rule: asText(r.rule) ?? '',
      severity: asText(r.severity) ?? 'medium',
      summary: asText(r.summary) ?? asText(r.details) ?? '',
      evidence: evidenceIds(r.evidence, r.event_id),
      baseline: asText(r.baseline),
    }));
  }

  newestId(): bigint {
    return (this.newest.get() as { id: bigint }).id;
  }
}

export const alertTime = (a: ForwardAlert): string => isoFromNs(a.tsNs);
