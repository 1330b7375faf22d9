// Where the forwarder reads alerts from. An interface, because the alerts
// engine (issue 11) owns the table: SqliteAlertSource reads its `alert_chain`
// (rows of kind 'alert'; repeats of a deduplicated alert are not shipped) or
// else an `alerts` table, by the columns it finds. storeAlertSource() looks
// for the table again now and then, so alerts the collector starts writing
// after the forwarder started are shipped too.
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
  /** the sensor whose events completed it, when the table says */
  sensorId: string | null;
  /** what the alert is about (a path, a destination), when the table says */
  subject: string | null;
}

export interface AlertSource {
  /** alerts with id > afterId, in id order, at most limit */
  readAfter(afterId: bigint, limit: number): ForwardAlert[];
  /** how many alerts have id > afterId (the lag figure) */
  countAfter(afterId: bigint): number;
}

export const NO_ALERTS: AlertSource = { readAfter: () => [], countAfter: () => 0 };

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
  private readonly count: Database.Statement;

  private constructor(db: Database.Database, readonly table: string, cols: Set<string>) {
    const agentExpr = cols.has('agent_id') ? '(SELECT name FROM agents WHERE id = a.agent_id)' : cols.has('agent') ? 'a.agent' : 'NULL';
    const kind = cols.has('kind') ? `AND a.kind = 'alert'` : '';
    this.select = db.prepare(`SELECT a.*, ${agentExpr} AS f_agent FROM ${table} a WHERE a.id > ? ${kind} ORDER BY a.id LIMIT ?`).safeIntegers(true);
    this.count = db.prepare(`SELECT count(*) AS n FROM ${table} a WHERE a.id > ? ${kind}`);
  }

  /** null when the store has no alerts table (alerts not built or not yet created). */
  static open(db: Database.Database): SqliteAlertSource | null {
    for (const table of ['alert_chain', 'alerts']) {
      const cols = new Set((db.prepare(`SELECT name FROM pragma_table_info(?)`).all(table) as { name: string }[]).map((r) => r.name));
      if (cols.has('id') && cols.has('rule')) return new SqliteAlertSource(db, table, cols);
    }
    return null;
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
      sensorId: asText(r.sensor_id),
      subject: asText(r.subject),
    }));
  }

  countAfter(afterId: bigint): number {
    return (this.count.get(afterId) as { n: number }).n;
  }
}

export const alertTime = (a: ForwardAlert): string => isoFromNs(a.tsNs);

const RECHECK_MS = 5000;

/** The store's alerts, from whichever table holds them, found when it appears. */
export function storeAlertSource(db: Database.Database): AlertSource {
  let source = SqliteAlertSource.open(db);
  let checkedAt = Date.now();
  // An empty legacy `alerts` table (the store's schema has one) gives way to alert_chain when that appears.
  const settled = () => source !== null && (source.table === 'alert_chain' || source.countAfter(0n) > 0);
  const current = (): AlertSource | null => {
    if (!settled() && Date.now() - checkedAt >= RECHECK_MS) {
      checkedAt = Date.now();
      source = SqliteAlertSource.open(db);
    }
    return source;
  };
  return {
    readAfter: (afterId, limit) => current()?.readAfter(afterId, limit) ?? [],
    countAfter: (afterId) => current()?.countAfter(afterId) ?? 0,
  };
}
