// The intent part of `sensor timeline`: per tool call of the instance, one
// line `tool call run_shell_command "cat ~/.ssh/id_rsa" → exec cat → open
// /home/u/.ssh/id_rsa → alert secret_read` (formatIntentLine escapes hostile
// bytes), one `no tool call → exec curl` line per action the join found no
// call behind; and alert evidence names the tool call that caused the
// alert's events, or says there was none.
import type Database from 'better-sqlite3';
import { displayString } from '../../proto/events/bytes.js';
import type { Timeline, TimelineEntry } from '../query/timeline.js';
import { hasIntentTables } from './intent-rows.js';
import { formatIntentLine, type TimelineStep } from './join/timeline-line.js';

export interface IntentStep extends TimelineStep {
  /** event id (steps of kind alert: the alert id) */
  id: string;
  relation?: string;
}

export interface IntentEntry {
  ts: string;
  toolName: string | null;
  subject: string | null;
  callId: string | null;
  kind: string | null;
  argsSha256: string | null;
  source: string | null;
  provider: string | null;
  model: string | null;
  steps: IntentStep[];
  line: string;
}

interface CallRow {
  id: number; call_id: string | null; tool_name: string; kind: string; subject: string; args_sha256: string;
  ts_ms: number; source: string; provider: string; model: string | null;
}

const MAX_CALLS = 10_000;
/** steps on one text line; --json has them all */
const MAX_LINE_STEPS = 12;

/** Opens every program makes (loader, libraries, /proc, /sys, /dev): in --json, not on the line. */
const NOISE = /^(\/etc\/ld\.so\.|\/(usr\/)?lib(32|64|x32)?\/|\/(proc|sys|dev)(\/|$)|\/etc\/(nsswitch\.conf|localtime|locale\.alias|passwd|group)$)|\.so(\.[0-9.]+)?$/;

function lineOf(toolName: string | null, subject: string | null, steps: IntentStep[]): string {
  const seen = new Set<string>();
  const shown = steps.filter((s) => {
    if (s.kind === 'open' && NOISE.test(s.text) && s.relation !== 'file') return false;
    const k = `${s.kind}\0${s.text}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
  const line = formatIntentLine(toolName, subject, shown.slice(0, MAX_LINE_STEPS));
  return shown.length > MAX_LINE_STEPS ? `${line} → … ${shown.length - MAX_LINE_STEPS} more` : line;
}

function stepOf(e: TimelineEntry): TimelineStep | undefined {
  const ev = e.event;
  if (!ev) return undefined;
  switch (ev.type) {
    case 'exec': return { kind: 'exec', text: displayString(ev.argv[0] ?? ev.filename) };
    case 'open': return { kind: 'open', text: displayString(ev.path) };
    case 'connect': {
      const addr = displayString(ev.addr);
      return { kind: 'connect', text: ev.host ? `${ev.host}:${ev.port}` : addr.startsWith('/') || addr.startsWith('@') ? addr : `${addr}:${ev.port}` };
    }
    default: return undefined;
  }
}

/** Event ids an alert entry cites (alert_chain evidence: a JSON array of ids). */
function evidenceOf(e: TimelineEntry): string[] {
  const raw = e.alert?.raw.evidence;
  const ids: string[] = [];
  if (typeof raw === 'string') {
    try { for (const x of JSON.parse(raw) as unknown[]) ids.push(String(x)); } catch { /* not JSON */ }
  }
  if (e.alert?.eventId !== null && e.alert?.eventId !== undefined) ids.push(String(e.alert.eventId));
  return ids;
}

/**
 * Adds the instance's intent lines to a built timeline (timeline.intent) and
 * the cause to each alert entry's text. Nothing when the store has no intent tables.
 */
export function attachIntent(db: Database.Database, t: Timeline, range: { sinceNs?: bigint; untilNs?: bigint } = {}): IntentEntry[] {
  if (!hasIntentTables(db)) return [];
  const byId = new Map<string, TimelineEntry>();
  for (const e of t.entries) if (e.event) byId.set(e.id, e);
  const alertsOf = new Map<string, TimelineEntry[]>();
  for (const e of t.entries) {
    if (e.kind !== 'alert') continue;
    for (const id of evidenceOf(e)) alertsOf.set(id, [...(alertsOf.get(id) ?? []), e]);
  }
  const links = db.prepare('SELECT tool_call_id AS call, event_id AS event, relation FROM intent_links WHERE event_id = ?');
  const callLinks = db.prepare('SELECT event_id AS event, relation FROM intent_links WHERE tool_call_id = ? ORDER BY event_id');
  const callsOfTurns = db.prepare(`SELECT c.id, c.call_id, c.tool_name, c.kind, c.subject, c.args_sha256, t.ts_ms, t.source, t.provider, t.model
      FROM tool_calls c JOIN model_turns t ON t.id = c.turn_id WHERE t.agent_pid = ? ORDER BY t.ts_ms, c.id LIMIT ${MAX_CALLS}`);
  const callById = db.prepare(`SELECT c.id, c.call_id, c.tool_name, c.kind, c.subject, c.args_sha256, t.ts_ms, t.source, t.provider, t.model
      FROM tool_calls c JOIN model_turns t ON t.id = c.turn_id WHERE c.id = ?`);

  const calls = new Map<number, CallRow>();
  for (const c of callsOfTurns.all(t.rootPid) as CallRow[]) calls.set(c.id, c);
  const unexplained: string[] = [];
  const causeOf = new Map<string, CallRow | null>();
  for (const id of byId.keys()) {
    for (const l of links.all(Number(id)) as { call: number | null; event: number; relation: string }[]) {
      if (l.call === null) { unexplained.push(id); causeOf.set(id, null); continue; }
      let c = calls.get(l.call);
      if (!c) {
        c = callById.get(l.call) as CallRow | undefined;
        if (c) calls.set(c.id, c);
      }
      if (c) causeOf.set(id, c);
    }
  }
  const out: { tsMs: number; e: IntentEntry }[] = [];
  const alertStep = (id: string): IntentStep[] => (alertsOf.get(id) ?? []).map((a) => ({ kind: 'alert', text: a.alert!.rule, id: `alert-${a.alert!.id}` }));
  for (const c of calls.values()) {
    const ns = BigInt(c.ts_ms) * 1_000_000n;
    if ((range.sinceNs !== undefined && ns < range.sinceNs) || (range.untilNs !== undefined && ns >= range.untilNs)) continue;
    const steps: IntentStep[] = [];
    for (const l of callLinks.all(c.id) as { event: number; relation: string }[]) {
      const e = byId.get(String(l.event));
      const s = e ? stepOf(e) : undefined;
      if (s) steps.push({ ...s, id: String(l.event), relation: l.relation });
      steps.push(...alertStep(String(l.event)));
    }
    out.push({ tsMs: c.ts_ms, e: {
      ts: new Date(c.ts_ms).toISOString(), toolName: c.tool_name, subject: c.subject, callId: c.call_id, kind: c.kind, argsSha256: c.args_sha256,
      source: c.source, provider: c.provider, model: c.model, steps, line: lineOf(c.tool_name, c.subject, steps),
    } });
  }
  for (const id of unexplained) {
    const e = byId.get(id)!;
    const s = stepOf(e);
    if (!s) continue;
    const steps: IntentStep[] = [{ ...s, id, relation: 'no_tool_call' }, ...alertStep(id)];
    out.push({ tsMs: Number(BigInt(e.tsNs) / 1_000_000n), e: {
      ts: e.ts, toolName: null, subject: null, callId: null, kind: null, argsSha256: null, source: null, provider: null, model: null,
      steps, line: lineOf(null, null, steps),
    } });
  }
  // Alert evidence: the tool call behind the alert's events, or that there was none.
  for (const a of t.entries) {
    if (a.kind !== 'alert') continue;
    const causes = evidenceOf(a).filter((id) => causeOf.has(id)).map((id) => causeOf.get(id)!);
    if (causes.length === 0) continue;
    const c = causes.find((x) => x !== null);
    a.text += c ? ` [caused by ${formatIntentLine(c.tool_name, c.subject, [])}]` : ' [no tool call behind it]';
  }
  out.sort((a, b) => a.tsMs - b.tsMs);
  return out.map((x) => x.e);
}

export function renderIntent(entries: IntentEntry[]): string {
  if (entries.length === 0) return '';
  return ['', 'intent (tool calls the model asked for and what they caused):', ...entries.map((e) => `  ${e.ts.slice(11, 23)}  ${e.line}`)].join('\n');
}
