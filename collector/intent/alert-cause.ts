// Alert evidence, intent side: an alert on events a tool call caused names
// that call; an alert on an action the join found no call behind says so;
// an alert whose events the join never saw says nothing (unknown is not none).
import type Database from 'better-sqlite3';
import { linksOfEvents } from './intent-rows.js';
import { formatIntentLine } from './join/timeline-line.js';

export interface AlertCause {
  /** null: the join found no tool call behind the alert's events */
  toolCall: { toolName: string; subject: string; callKey: string } | null;
}

export function alertCause(db: Database.Database, evidence: number[]): AlertCause | undefined {
  const links = linksOfEvents(db, evidence);
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
