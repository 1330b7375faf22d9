// What `sensor status` reads from the store besides its counters: the span of
// stored events, and each agent's state, live instances and last alert. Every
// query is an index or rowid lookup or runs over the small detect tables, so
// a status poll costs the ingest nothing noticeable on a large store.
import type Database from 'better-sqlite3';

export interface AgentHealthRow {
  name: string;
  state: 'learning' | 'detecting';
  liveInstances: number;
  instances: number;
  alerts: number;
  lastAlert: { tsNs: bigint; rule: string; severity: string } | null;
}

export interface StoreHealthRows {
  /** the event retention removes next (lowest id); null: empty */
  oldestEventNs: bigint | null;
  newestEventNs: bigint | null;
  agents: AgentHealthRow[];
}

const tableExists = (db: Database.Database, name: string): boolean =>
  Boolean(db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`).get(name));

export function storeHealthRows(db: Database.Database): StoreHealthRows {
  // Events go in in id order: the lowest id is the oldest stored, a rowid lookup.
  const ts = (order: 'ASC' | 'DESC'): bigint | null =>
    ((db.prepare(`SELECT ts_ns FROM events ORDER BY id ${order} LIMIT 1`).safeIntegers(true).get() as { ts_ns: bigint } | undefined)?.ts_ns) ?? null;
  const agents = new Map<string, AgentHealthRow>();
  const agent = (name: string): AgentHealthRow => {
    let a = agents.get(name);
    if (!a) {
      a = { name, state: 'learning', liveInstances: 0, instances: 0, alerts: 0, lastAlert: null };
      agents.set(name, a);
    }
    return a;
  };
  if (tableExists(db, 'baselines')) {
    for (const r of db.prepare('SELECT agent, state FROM baselines').all() as { agent: string; state: 'learning' | 'detecting' }[]) {
      agent(r.agent).state = r.state;
    }
  }
  if (tableExists(db, 'agent_instances')) {
    const rows = db.prepare(
      'SELECT agent, count(*) AS n, sum(end_ns IS NULL) AS live FROM agent_instances GROUP BY agent',
    ).all() as { agent: string; n: number; live: number }[];
    for (const r of rows) Object.assign(agent(r.agent), { instances: r.n, liveInstances: r.live });
  }
  if (tableExists(db, 'alert_chain')) {
    // SQLite takes the other columns from the row holding max(): the newest alert's rule and severity.
    const rows = db.prepare(
      `SELECT agent, count(*) AS n, max(ts_ns) AS ts, rule, severity FROM alert_chain WHERE kind = 'alert' GROUP BY agent`,
    ).safeIntegers(true).all() as { agent: string; n: bigint; ts: bigint; rule: string; severity: string }[];
    for (const r of rows) Object.assign(agent(r.agent), { alerts: Number(r.n), lastAlert: { tsNs: r.ts, rule: r.rule, severity: r.severity } });
  }
  return { oldestEventNs: ts('ASC'), newestEventNs: ts('DESC'), agents: [...agents.values()].sort((a, b) => a.name.localeCompare(b.name)) };
}
