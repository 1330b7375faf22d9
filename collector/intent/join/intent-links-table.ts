// The store's half of the intent join: one row per tool call the join used
// and one per link (call -> event, or event -> no_tool_call). Not yet under
// the hash chain: the chain is being reworked in another branch, and these
// rows must be hashed like events and alerts (canonicalIntentRow gives the
// bytes to feed it) before the join is switched on. Tool calls keep the
// subject shown on the timeline (the command or path, bounded) and a digest
// of the arguments, never the arguments themselves (a write_file call
// carries whole file contents, which may be secrets).
import type Database from 'better-sqlite3';
import type { IntentCall } from './intent-call.js';
import type { IntentLink, LinkRelation } from './intent-joiner.js';

export const INTENT_SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS tool_calls (
  id         INTEGER PRIMARY KEY,
  call_key   TEXT NOT NULL UNIQUE,
  ts_ms      INTEGER NOT NULL,
  source     TEXT NOT NULL,      -- http | claude-code | codex | gemini-cli | qwen-code
  provider   TEXT NOT NULL,
  model      TEXT,
  session_id TEXT,
  call_id    TEXT,
  agent      TEXT,
  agent_pid  INTEGER,
  tool_name  TEXT NOT NULL,
  kind       TEXT NOT NULL CHECK (kind IN ('shell','file')),
  subject    TEXT NOT NULL,      -- command or path, at most 512 characters
  args_sha256 TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS tool_calls_ts ON tool_calls (ts_ms);

CREATE TABLE IF NOT EXISTS intent_links (
  id           INTEGER PRIMARY KEY,
  tool_call_id INTEGER REFERENCES tool_calls (id),  -- NULL: no tool call behind the event
  event_id     INTEGER NOT NULL,
  relation     TEXT NOT NULL CHECK (relation IN ('shell','command','descendant','open','connect','file','no_tool_call')),
  depth        INTEGER NOT NULL,
  UNIQUE (event_id, tool_call_id)
);
CREATE INDEX IF NOT EXISTS intent_links_call ON intent_links (tool_call_id);
`;

export interface StoredLink { callKey: string | null; toolName: string | null; subject: string | null; eventId: number; relation: LinkRelation; depth: number }

export class IntentLinksTable {
  private readonly insertCall;
  private readonly callId;
  private readonly insertLink;
  private readonly linksOfEvent;
  private readonly linksOfCall;

  constructor(private readonly db: Database.Database) {
    db.exec(INTENT_SCHEMA_SQL);
    this.insertCall = db.prepare(`INSERT OR IGNORE INTO tool_calls
      (call_key, ts_ms, source, provider, model, session_id, call_id, agent, agent_pid, tool_name, kind, subject, args_sha256)
      VALUES (@key, @tsMs, @source, @provider, @model, @sessionId, @callId, @agent, @agentPid, @toolName, @kind, @subject, @sha)`);
    this.callId = db.prepare('SELECT id FROM tool_calls WHERE call_key = ?').pluck();
    this.insertLink = db.prepare('INSERT OR IGNORE INTO intent_links (tool_call_id, event_id, relation, depth) VALUES (?, ?, ?, ?)');
    const select = `SELECT c.call_key AS callKey, c.tool_name AS toolName, c.subject, l.event_id AS eventId, l.relation, l.depth
      FROM intent_links l LEFT JOIN tool_calls c ON c.id = l.tool_call_id`;
    this.linksOfEvent = db.prepare(`${select} WHERE l.event_id = ? ORDER BY l.id`);
    this.linksOfCall = db.prepare(`${select} WHERE c.call_key = ? ORDER BY l.event_id`);
  }

  /** Store calls and links in one transaction; a link's call is stored first. */
  store(calls: IntentCall[], links: IntentLink[]): void {
    this.db.transaction(() => {
      for (const c of calls) {
        this.insertCall.run({
          key: c.key, tsMs: c.tsMs, source: c.source, provider: c.provider, model: c.model ?? null, sessionId: c.sessionId ?? null,
          callId: c.callId ?? null, agent: c.agent ?? null, agentPid: c.agentPid ?? null, toolName: c.toolName,
          kind: c.shell ? 'shell' : 'file', subject: c.subject.slice(0, 512), sha: c.argumentsSha256,
        });
      }
      for (const l of links) {
        const id = l.callKey === null ? null : (this.callId.get(l.callKey) as number | undefined);
        if (l.callKey !== null && id === undefined) throw new Error(`intent link to unknown tool call ${JSON.stringify(l.callKey)}`);
        this.insertLink.run(id ?? null, l.eventId, l.relation, l.depth);
      }
    })();
  }

  ofEvent(eventId: number): StoredLink[] { return this.linksOfEvent.all(eventId) as StoredLink[]; }
  ofCall(callKey: string): StoredLink[] { return this.linksOfCall.all(callKey) as StoredLink[]; }
}

/** Canonical bytes of a link row, for the hash chain (stable key order, no floats). */
export function canonicalIntentRow(call: IntentCall | null, link: IntentLink): Buffer {
  return Buffer.from(JSON.stringify([
    'intent_link/1', link.eventId, link.relation, link.depth,
    call ? [call.key, call.tsMs, call.source, call.provider, call.model ?? null, call.toolName, call.shell ? 'shell' : 'file', call.subject.slice(0, 512), call.argumentsSha256] : null,
  ]));
}
