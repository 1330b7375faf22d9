// Alert evidence, intent side: an alert on events a tool call caused names
// that call; an alert on an action the join found no call behind says so;
// an alert whose events the join never saw says nothing (unknown is not none).
// The join links execs, opens and connects; an alert made of other events
// (the unlinks of a wipe, a rename, a DNS query) is traced to the exec of
// the process behind them (or of its parent, for a fork that did not exec).
import type Database from 'better-sqlite3';
import { EVENT_TYPE_NUMBER } from '../../proto/events/types.js';
import { linksOfEvents } from './intent-rows.js';
import { formatIntentLine } from './join/timeline-line.js';

export interface AlertCause {
  /** null: the join found no tool call behind the alert's events */
  toolCall: { toolName: string; subject: string; callKey: string } | null;
}

export function alertCause(db: Database.Database, evidence: number[]): AlertCause | undefined {
  let links = linksOfEvents(db, evidence);
  if (links.length === 0) links = linksOfEvents(db, execsBehind(db, evidence));
  if (links.length === 0) return undefined;
  const caused = links.find((l) => l.callKey !== null);
  if (caused) return { toolCall: { toolName: caused.toolName ?? '', subject: caused.subject ?? '', callKey: caused.callKey! } };
  return { toolCall: null };
}

/** ` [caused by tool call NAME "SUBJECT"]`, ` [no tool call behind it]`, or nothing; escaped. */
export function alertCauseText(c: AlertCause | undefined): string {
  if (!c) return '';
  return c.toolCall ? ` [caused by ${formatIntentLine(c.toolCall.toolName, c.toolCall.subject, [])}]` : ' [no tool call behind it]';
}

/** The exec behind each event: its process's latest exec in the same agent instance, else its parent's. */
function execsBehind(db: Database.Database, evidence: number[]): number[] {
  const ev = db.prepare('SELECT pid, ppid, ts_ns, agent_pid FROM events WHERE id = ?').safeIntegers(true);
  const exec = db.prepare(`SELECT id FROM events WHERE pid = ? AND type = ${EVENT_TYPE_NUMBER.exec} AND ts_ns <= ? AND agent_pid IS ?
    ORDER BY ts_ns DESC LIMIT 1`).pluck().safeIntegers(true);
  const out = new Set<number>();
  for (const id of evidence.slice(-32)) {
    const e = ev.get(id) as { pid: bigint; ppid: bigint; ts_ns: bigint; agent_pid: bigint | null } | undefined;
    if (!e) continue;
    const found = (exec.get(e.pid, e.ts_ns, e.agent_pid) ?? exec.get(e.ppid, e.ts_ns, e.agent_pid)) as bigint | undefined;
    if (found !== undefined) out.add(Number(found));
  }
  return [...out];
}
