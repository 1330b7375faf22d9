// The stored events of one agent instance (the root pid a rule matched or
// `sensor launch` started): rows tagged with that agentPid, and, for rows
// stored before the tag existed or without it, those of the root and its
// descendants by the fork/exec process table. Used by `sensor timeline` and
// `sensor collect`.
import type Database from 'better-sqlite3';
import { WANTS_HASH_SQL } from '../store/event-rows.js';
import { StringReader } from '../store/interning.js';
import type { RawEventRow } from '../store/stored-rows.js';
import { queriedEventOf, type QueriedRow } from './event-query.js';

export interface InstanceFilter {
  rootPid: number;
  sinceNs?: bigint;
  untilNs?: bigint;
  /** at most this many events (the oldest first) */
  limit: number;
}

const hasColumn = (db: Database.Database, table: string, column: string): boolean =>
  db.prepare(`SELECT 1 FROM pragma_table_info(?) WHERE name = ?`).get(table, column) !== undefined;

export const hasTable = (db: Database.Database, table: string): boolean =>
  db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`).get(table) !== undefined;

/**
 * Pids of the instance by the process table: the root and every process
 * forked or exec'd under it, started no earlier than the root's newest start
 * (so a reused root pid does not pull in an older tree).
 */
export function instancePidsFromStore(db: Database.Database, rootPid: number): { pids: Set<number>; rootStartNs: bigint | null } {
  const root = db.prepare('SELECT max(start_ns) AS s FROM processes WHERE pid = ?').safeIntegers(true).get(rootPid) as { s: bigint | null };
  const rootStartNs = root.s;
  const pids = new Set<number>([rootPid]);
  if (rootStartNs === null) return { pids, rootStartNs };
  const rows = db.prepare('SELECT pid, ppid FROM processes WHERE start_ns >= ? ORDER BY start_ns').safeIntegers(false)
    .all(rootStartNs) as { pid: number; ppid: number | null }[];
  // Start order: a parent is always seen before its child; a second pass catches rows with equal start.
  for (let pass = 0; pass < 2; pass++) {
    for (const r of rows) if (r.ppid !== null && pids.has(r.ppid)) pids.add(r.pid);
  }
  if (hasColumn(db, 'events', 'agent_pid')) {
    for (const r of db.prepare('SELECT DISTINCT pid FROM events WHERE agent_pid = ?').all(rootPid) as { pid: number }[]) pids.add(r.pid);
  }
  return { pids, rootStartNs };
}

export function instanceEvents(db: Database.Database, f: InstanceFilter): QueriedRow[] {
  const { pids, rootStartNs } = instancePidsFromStore(db, f.rootPid);
  const args: unknown[] = [];
  const byPid = `(e.pid IN (SELECT value FROM json_each(?))${rootStartNs !== null ? ' AND e.ts_ns >= ?' : ''})`;
  args.push(JSON.stringify([...pids]));
  if (rootStartNs !== null) args.push(rootStartNsToEpoch(db, rootStartNs, f.rootPid));
  let who = byPid;
  if (hasColumn(db, 'events', 'agent_pid')) {
    who = `(e.agent_pid = ? OR ${byPid})`;
    args.unshift(f.rootPid);
  }
  const where = [who];
  if (f.sinceNs !== undefined) { where.push('e.ts_ns >= ?'); args.push(f.sinceNs); }
  if (f.untilNs !== undefined) { where.push('e.ts_ns < ?'); args.push(f.untilNs); }
  args.push(Math.max(0, Math.floor(f.limit)));
  const rows = db.prepare(
    `SELECT e.*, b.sensor_id AS q_sensor, f.sha256 AS q_sha256, f.state AS q_state
       FROM events e JOIN batches b ON b.id = e.batch_id
       LEFT JOIN file_links l ON l.batch_id = e.batch_id AND l.path_sid = e.path_sid AND ${WANTS_HASH_SQL}
       LEFT JOIN files f ON f.id = l.file_id
      WHERE ${where.join(' AND ')}
      ORDER BY e.ts_ns, e.id LIMIT ?`).safeIntegers(true).all(...args) as RawEventRow[];
  const strings = new StringReader(db);
  return rows.map((r) => {
    const { stored, event } = queriedEventOf(r, strings);
    return { id: stored.id, sensorId: r.q_sensor as unknown as string, event };
  });
}

// Process start times are boot-clock ns, event times epoch ns: the root's
// first event (its exec or fork) gives the epoch time the tree starts at.
function rootStartNsToEpoch(db: Database.Database, rootStartNs: bigint, rootPid: number): bigint {
  const r = db.prepare(`SELECT min(ts_ns) AS t FROM events WHERE pid = ? AND start_ns = ?`).safeIntegers(true)
    .get(rootPid, rootStartNs) as { t: bigint | null };
  return r.t ?? 0n;
}

export interface StoredAlert {
  id: number;
  tsNs: string;
  rule: string;
  severity: string;
  summary: string | null;
  eventId: number | null;
  raw: Record<string, unknown>;
}

/**
 * Alerts of the instance, from whatever alerts table the store has: by an
 * agent_pid column when there is one, else by the events they cite.
 */
export function instanceAlerts(db: Database.Database, rootPid: number, eventIds: Set<bigint>): StoredAlert[] {
  if (hasTable(db, 'alert_chain')) return chainedAlerts(db, rootPid);
  if (!hasTable(db, 'alerts')) return [];
  const rows = db.prepare('SELECT * FROM alerts ORDER BY id').safeIntegers(true).all() as Record<string, unknown>[];
  const byPid = hasColumn(db, 'alerts', 'agent_pid');
  const out: StoredAlert[] = [];
  for (const r of rows) {
    const cites = (v: unknown) => typeof v === 'bigint' && eventIds.has(v);
    let mine = byPid ? Number(r.agent_pid) === rootPid : cites(r.event_id);
    if (!mine && typeof r.evidence === 'string') {
      try { mine = (JSON.parse(r.evidence) as unknown[]).some((x) => eventIds.has(BigInt(String(x)))); } catch { /* not JSON */ }
    }
    if (!mine) continue;
    const plain = Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === 'bigint' ? Number(v) : Buffer.isBuffer(v) ? v.toString('hex') : v]));
    out.push({
      id: Number(r.id), tsNs: String(r.ts_ns), rule: String(r.rule), severity: String(r.severity),
      summary: typeof r.summary === 'string' ? r.summary : typeof r.details === 'string' ? r.details : null,
      eventId: typeof r.event_id === 'bigint' ? Number(r.event_id) : null, raw: plain,
    });
  }
  return out;
}

/**
 * Root pids of every stored instance of an agent, live or not: agentPid tags
 * where the store has them, else processes whose parent is not of the agent.
 */
export function storedAgentRoots(db: Database.Database, agent: string): number[] {
  const agentId = (db.prepare('SELECT id FROM agents WHERE name = ?').get(agent) as { id: number } | undefined)?.id;
  if (agentId === undefined) return [];
  const roots = new Set<number>();
  if (hasColumn(db, 'events', 'agent_pid')) {
    for (const r of db.prepare('SELECT DISTINCT agent_pid AS p FROM events WHERE agent_id = ? AND agent_pid IS NOT NULL').all(agentId) as { p: number }[]) roots.add(r.p);
  }
  const rows = db.prepare('SELECT pid, ppid FROM processes WHERE agent_id = ?').all(agentId) as { pid: number; ppid: number | null }[];
  const pids = new Set(rows.map((r) => r.pid));
  for (const r of rows) if (r.ppid === null || !pids.has(r.ppid)) roots.add(r.pid);
  // A root under another root (an untagged older row) is part of that instance.
  const parent = new Map(rows.map((r) => [r.pid, r.ppid]));
  return [...roots].filter((p) => {
    let q = parent.get(p) ?? null;
    for (let hops = 0; q !== null && hops < 64; hops++) {
      if (roots.has(q)) return false;
      q = parent.get(q) ?? null;
    }
    return true;
  }).sort((a, b) => a - b);
}

/** Alerts of the alerts engine's chain (alert_chain: kind 'alert', repeats counted in). */
function chainedAlerts(db: Database.Database, rootPid: number): StoredAlert[] {
  const rows = db.prepare(
    `SELECT a.*, a.count + coalesce((SELECT sum(r.count) FROM alert_chain r WHERE r.kind = 'repeat' AND r.alert_id = a.id), 0) AS total
       FROM alert_chain a WHERE a.kind = 'alert' AND a.agent_pid = ? ORDER BY a.id`).safeIntegers(true).all(rootPid) as Record<string, unknown>[];
  return rows.map((r) => {
    const evidence = typeof r.evidence === 'string' ? (JSON.parse(r.evidence) as number[]) : [];
    const plain = Object.fromEntries(Object.entries(r).filter(([k]) => k !== 'prev_hash' && k !== 'hash' && k !== 'batch_hash')
      .map(([k, v]) => [k, typeof v === 'bigint' ? Number(v) : v]));
    return {
      id: Number(r.id), tsNs: String(r.ts_ns), rule: String(r.rule), severity: String(r.severity),
      summary: typeof r.summary === 'string' ? r.summary : null, eventId: evidence[0] ?? null, raw: plain,
    };
  });
}
