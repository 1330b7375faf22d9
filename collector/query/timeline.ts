// `sensor timeline`: one chronology of an agent instance from the store:
// its process tree (execs and forks), reads with hashes, writes, deletes,
// renames, connects with host names, DNS, and alerts when the store has them.
import type Database from 'better-sqlite3';
import { displayString, toBytes } from '../../proto/events/bytes.js';
import type { ByteString } from '../../proto/events/types.js';
import { listResponses, type ResponseRow } from '../store/response-log.js';
import { credentialClass } from './credential-paths.js';
import type { QueriedEvent } from './event-query.js';
import { instanceAlerts, instanceEvents, type StoredAlert } from './instance-events.js';

export const TIMELINE_MAX_EVENTS = 100_000;

export type EntryKind = 'exec' | 'fork' | 'exit' | 'read' | 'write' | 'delete' | 'rename' | 'link' | 'connect' | 'dns' | 'alert' | 'response';

export interface TimelineEntry {
  tsNs: string;
  ts: string;
  kind: EntryKind;
  pid: number | null;
  comm: string | null;
  /** one line a person reads */
  text: string;
  /** event id in the store (alerts: alert id) */
  id: string;
  /** the stored event or alert, field names as the event contract */
  event?: QueriedEvent;
  alert?: StoredAlert;
  response?: ResponseRow;
  /** credential class of a path read (built-in list) */
  sensitive?: string;
  failed?: boolean;
}

export interface ProcessNode {
  pid: number;
  ppid: number;
  startNs: string | null;
  argv: string[];
  exe: string | null;
  exit: string | null;
  children: ProcessNode[];
}

export interface Timeline {
  rootPid: number;
  agent: string | null;
  from: string | null;
  to: string | null;
  counts: Record<string, number>;
  tree: ProcessNode | null;
  entries: TimelineEntry[];
  truncated: boolean;
}

const str = (b: ByteString | undefined): string => (b === undefined ? '' : displayString(b));
const pathText = (b: ByteString): string => toBytes(b).toString('utf8');

const errno = (r: number): string => (r < 0 ? ` FAILED (errno ${-r})` : '');

function entryOf(id: bigint, e: QueriedEvent): TimelineEntry | null {
  const base = { tsNs: e.tsNs, ts: e.ts, pid: e.pid, comm: str(e.comm), id: id.toString(), event: e };
  switch (e.type) {
    case 'exec':
      return { ...base, kind: 'exec', text: `exec ${str(e.filename)} ${e.argv.map((a) => str(a)).join(' ')}` };
    case 'fork':
      return { ...base, kind: 'fork', text: `forked by ${e.ppid}` };
    case 'exit':
      return { ...base, kind: 'exit', text: e.signal !== null ? `killed by signal ${e.signal}` : `exit ${e.code}` };
    case 'open': {
      const kind = e.access === 'read' ? 'read' : 'write';
      const hash = e.sha256 ? ` sha256 ${e.sha256}` : e.hashState ? ` (${e.hashState})` : '';
      const cls = kind === 'read' && e.result >= 0 ? credentialClass(pathText(e.path))?.kind : undefined;
      return {
        ...base, kind, text: `${kind === 'read' ? 'read' : e.access === 'write' ? 'write' : 'read+write'} ${str(e.path)}${hash}${cls ? ` [credential: ${cls}]` : ''}${errno(e.result)}`,
        ...(cls ? { sensitive: cls } : {}), ...(e.result < 0 ? { failed: true } : {}),
      };
    }
    case 'unlink':
      return { ...base, kind: 'delete', text: `${e.rmdir ? 'rmdir' : 'delete'} ${str(e.path)}${errno(e.result)}`, ...(e.result < 0 ? { failed: true } : {}) };
    case 'rename':
      return { ...base, kind: 'rename', text: `rename ${str(e.path)} -> ${str(e.newpath)}${errno(e.result)}`, ...(e.result < 0 ? { failed: true } : {}) };
    case 'link':
      return { ...base, kind: 'link', text: `${e.symbolic ? 'symlink' : 'link'} ${str(e.newpath)} -> ${str(e.path)}${errno(e.result)}` };
    case 'connect': {
      const where = e.family === 'unix' ? str(e.addr) : `${str(e.addr)}:${e.port}`;
      const refused = e.result === -1 ? ' REFUSED (EPERM: isolated?)' : e.result < 0 && e.result !== -115 ? errno(e.result) : '';
      return {
        ...base, kind: 'connect',
        text: `${e.datagram ? 'send' : 'connect'} ${e.proto} ${where}${e.host ? ` (${e.host})` : ''}${refused}`,
        ...(e.result < 0 && e.result !== -115 ? { failed: true } : {}),
      };
    }
    case 'dns':
      return {
        ...base, kind: 'dns',
        text: e.response ? `dns answer ${e.qname} ${e.qtype}: ${e.rcode}${e.answers?.length ? ` ${e.answers.join(' ')}` : ''}` : `dns query ${e.qname} ${e.qtype} via ${e.addr}:${e.port}`,
      };
  }
}

function buildTree(rootPid: number, events: QueriedEvent[]): ProcessNode | null {
  const nodes = new Map<number, ProcessNode>();
  const node = (pid: number, ppid: number): ProcessNode => {
    let n = nodes.get(pid);
    if (!n) {
      n = { pid, ppid, startNs: null, argv: [], exe: null, exit: null, children: [] };
      nodes.set(pid, n);
    }
    return n;
  };
  for (const e of events) {
    if (e.type === 'fork') node(e.pid, e.ppid).startNs = e.startNs;
    else if (e.type === 'exec') {
      const n = node(e.pid, e.ppid);
      n.startNs ??= e.startNs;
      n.argv = e.argv.map((a) => str(a));
      n.exe = str(e.exe ?? e.filename);
    } else if (e.type === 'exit') node(e.pid, e.ppid).exit = e.signal !== null ? `signal ${e.signal}` : `code ${e.code}`;
    else node(e.pid, e.ppid);
  }
  if (!nodes.size) return null;
  const root = node(rootPid, 0);
  for (const n of nodes.values()) {
    if (n === root) continue;
    const parent = nodes.get(n.ppid);
    (parent && parent !== n ? parent : root).children.push(n);
  }
  return root;
}

export function buildTimeline(db: Database.Database, opts: { rootPid: number; sinceNs?: bigint; untilNs?: bigint; limit?: number }): Timeline {
  const limit = opts.limit ?? TIMELINE_MAX_EVENTS;
  const rows = instanceEvents(db, { rootPid: opts.rootPid, sinceNs: opts.sinceNs, untilNs: opts.untilNs, limit: limit + 1 });
  const truncated = rows.length > limit;
  if (truncated) rows.length = limit;
  const entries: TimelineEntry[] = [];
  for (const r of rows) {
    const e = entryOf(r.id, r.event);
    if (e) entries.push(e);
  }
  const ids = new Set(rows.map((r) => r.id));
  for (const a of instanceAlerts(db, opts.rootPid, ids)) {
    if (opts.sinceNs !== undefined && BigInt(a.tsNs) < opts.sinceNs) continue;
    if (opts.untilNs !== undefined && BigInt(a.tsNs) >= opts.untilNs) continue;
    entries.push({
      tsNs: a.tsNs, ts: nsToIso(a.tsNs), kind: 'alert', pid: null, comm: null, id: `alert-${a.id}`,
      text: `ALERT ${a.severity} ${a.rule}${a.summary ? `: ${a.summary}` : ''}`, alert: a,
    });
  }
  for (const r of listResponses(db, opts.rootPid)) {
    entries.push({
      tsNs: r.tsNs, ts: r.ts, kind: 'response', pid: null, comm: null, id: `response-${r.id}`,
      text: `RESPONSE ${r.action} by ${r.actor}${r.reason ? `: ${r.reason}` : ''}`, response: r,
    });
  }
  entries.sort((a, b) => (BigInt(a.tsNs) < BigInt(b.tsNs) ? -1 : BigInt(a.tsNs) > BigInt(b.tsNs) ? 1 : 0));
  const counts: Record<string, number> = {};
  for (const e of entries) counts[e.kind] = (counts[e.kind] ?? 0) + 1;
  const agent = rows.find((r) => r.event.agent)?.event.agent ?? null;
  return {
    rootPid: opts.rootPid, agent, from: entries[0]?.ts ?? null, to: entries.at(-1)?.ts ?? null, counts,
    tree: buildTree(opts.rootPid, rows.map((r) => r.event)), entries, truncated,
  };
}

export function nsToIso(ns: string): string {
  const n = BigInt(ns);
  const iso = new Date(Number(n / 1_000_000n)).toISOString();
  return `${iso.slice(0, 19)}.${(n % 1_000_000_000n).toString().padStart(9, '0')}Z`;
}

function renderTree(n: ProcessNode, prefix: string, last: boolean, top: boolean, out: string[]): void {
  const label = `${n.pid} ${n.argv.length ? n.argv.join(' ') : n.exe ?? '(no exec seen)'}${n.exit ? `  [${n.exit}]` : ''}`;
  out.push(top ? `  ${label}` : `  ${prefix}${last ? '└─ ' : '├─ '}${label}`);
  const kids = [...n.children].sort((a, b) => (a.startNs ?? '').localeCompare(b.startNs ?? '') || a.pid - b.pid);
  kids.forEach((c, i) => renderTree(c, top ? '' : `${prefix}${last ? '   ' : '│  '}`, i === kids.length - 1, false, out));
}

export function renderTimeline(t: Timeline): string {
  const out: string[] = [];
  out.push(`instance ${t.rootPid}${t.agent ? ` of agent ${t.agent}` : ''}: ${t.entries.length} entries${t.from ? ` from ${t.from} to ${t.to}` : ''}`);
  const counts = Object.entries(t.counts).map(([k, v]) => `${k} ${v}`).join(', ');
  if (counts) out.push(`  ${counts}`);
  if (t.truncated) out.push(`  (cut at ${TIMELINE_MAX_EVENTS} events: narrow with --since/--until)`);
  if (t.tree) {
    out.push('', 'process tree:');
    renderTree(t.tree, '', true, true, out);
  }
  out.push('', 'chronology (UTC):');
  for (const e of t.entries) {
    const who = e.pid !== null ? `${e.pid} ${e.comm ?? ''}`.trimEnd() : '';
    out.push(`  ${e.ts.slice(11, 26)}  ${who.padEnd(22)} ${e.kind.padEnd(8)} ${e.text}`);
  }
  return out.join('\n');
}
