// The store's half of intent: model turns, their tool calls, and the links
// from a call to the events it caused (or `no_tool_call`). Every row goes
// under the chained-rows hash chain (collector/store/chained-rows.ts) in the
// transaction that writes it: one chained row per turn, per tool call and
// per link, each naming the newest committed batch, so `sensor verify` sees a
// row edited, added or deleted and retention drops them with that batch.
// Tool calls keep the subject shown on the timeline (command or path, at
// most 512 characters) and a digest of the arguments, never the arguments (a
// write_file call carries whole file contents, which may be secrets).
import type Database from 'better-sqlite3';
import type { ChainedKind, ChainedRowWriter } from '../store/chained-rows.js';
import { canonicalValues } from '../store/canonical.js';
import type { IntentLink, LinkRelation } from './join/intent-joiner.js';
import type { TurnRecord } from './turn-record.js';

export const MODEL_TURN = 'model_turn';
export const TOOL_CALL = 'tool_call';
export const INTENT_LINK = 'intent_link';

export const INTENT_SCHEMA_SQL = `
-- Model turns seen on the wire or in an agent's session files (collector/intent).
CREATE TABLE IF NOT EXISTS model_turns (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  batch_id      INTEGER NOT NULL,   -- newest committed batch when written (retention, chain)
  ts_ms         INTEGER NOT NULL,
  sensor_id     TEXT NOT NULL,
  agent         TEXT,
  agent_pid     INTEGER,
  pid           INTEGER,
  source        TEXT NOT NULL,      -- http | claude-code | codex | gemini-cli | qwen-code
  api           TEXT,
  provider      TEXT NOT NULL,
  model         TEXT,
  response_model TEXT,
  input_tokens  INTEGER,
  output_tokens INTEGER,
  incomplete    INTEGER NOT NULL,
  remote        TEXT,
  session_id    TEXT,
  content       TEXT                -- the agent's keepContent only; else NULL
);
CREATE INDEX IF NOT EXISTS model_turns_batch ON model_turns (batch_id);
CREATE INDEX IF NOT EXISTS model_turns_agent ON model_turns (agent_pid, ts_ms);
CREATE TABLE IF NOT EXISTS tool_calls (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  batch_id    INTEGER NOT NULL,
  turn_id     INTEGER NOT NULL,
  call_key    TEXT NOT NULL UNIQUE,
  call_id     TEXT,
  tool_name   TEXT NOT NULL,
  kind        TEXT NOT NULL CHECK (kind IN ('shell','file','other')),
  subject     TEXT NOT NULL,       -- command or path, at most 512 characters
  args_sha256 TEXT NOT NULL,
  incomplete  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS tool_calls_batch ON tool_calls (batch_id);
CREATE TABLE IF NOT EXISTS intent_links (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  batch_id     INTEGER NOT NULL,
  tool_call_id INTEGER,            -- NULL: no tool call behind the event
  event_id     INTEGER NOT NULL,
  relation     TEXT NOT NULL CHECK (relation IN ('shell','command','descendant','open','connect','file','no_tool_call')),
  depth        INTEGER NOT NULL,
  UNIQUE (event_id, tool_call_id)
);
CREATE INDEX IF NOT EXISTS intent_links_batch ON intent_links (batch_id);
CREATE INDEX IF NOT EXISTS intent_links_call ON intent_links (tool_call_id);
`;

const n = (v: number | undefined | null): number | null => (v === undefined ? null : v);
const s = (v: string | undefined | null): string | null => (v === undefined ? null : v);

type Stmts = ReturnType<typeof prepare>;
const cache = new WeakMap<Database.Database, Stmts>();

function prepare(db: Database.Database) {
  return {
    turn: db.prepare('SELECT * FROM model_turns WHERE id = ?').safeIntegers(true),
    call: db.prepare('SELECT * FROM tool_calls WHERE id = ?').safeIntegers(true),
    link: db.prepare('SELECT * FROM intent_links WHERE id = ?').safeIntegers(true),
    countTurns: db.prepare('SELECT count(*) FROM model_turns WHERE batch_id > ?').pluck().safeIntegers(true),
    countCalls: db.prepare('SELECT count(*) FROM tool_calls WHERE batch_id > ?').pluck().safeIntegers(true),
    countLinks: db.prepare('SELECT count(*) FROM intent_links WHERE batch_id > ?').pluck().safeIntegers(true),
  };
}

function stmts(db: Database.Database): Stmts {
  let st = cache.get(db);
  if (!st) cache.set(db, (st = prepare(db)));
  return st;
}

type Row = Record<string, bigint | number | string | Buffer | null>;

/** Canonical bytes of a row as stored, every column in table order (the write and verify both call this). */
function rowContent(kind: string, row: Row | undefined, batchId: bigint): Buffer | null {
  if (!row || row.batch_id !== batchId) return null;
  return canonicalValues([kind, ...Object.values(row).map((v) => (typeof v === 'number' ? BigInt(v) : v))]);
}

function kindOf(name: string, pick: (st: Stmts) => Database.Statement, count: (st: Stmts) => Database.Statement): ChainedKind {
  return {
    contentOf: (db, batchId, ref) => (hasIntentTables(db) ? rowContent(name, pick(stmts(db)).get(ref) as Row | undefined, batchId) : null),
    countAfter: (db, batchId) => (hasIntentTables(db) ? (count(stmts(db)).get(batchId) as bigint) : 0n),
  };
}

export const MODEL_TURN_KIND = kindOf(MODEL_TURN, (st) => st.turn, (st) => st.countTurns);
export const TOOL_CALL_KIND = kindOf(TOOL_CALL, (st) => st.call, (st) => st.countCalls);
export const INTENT_LINK_KIND = kindOf(INTENT_LINK, (st) => st.link, (st) => st.countLinks);

const tablesKnown = new WeakMap<Database.Database, boolean>();
/** Stores made before these tables existed (read-only opens) have none. */
export function hasIntentTables(db: Database.Database): boolean {
  let known = tablesKnown.get(db);
  if (!known) {
    known = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'intent_links'`).get() !== undefined;
    if (known) tablesKnown.set(db, true);
  }
  return known;
}

/** Writes turns, calls and links with their chained rows; call inside the store's write path (one writer). */
export class IntentRows {
  private readonly insertTurn;
  private readonly insertCall;
  private readonly callRow;
  private readonly insertLink;
  private readonly newestBatch;
  private readonly turnTx;
  private readonly linkTx;

  constructor(private readonly db: Database.Database, private readonly chain: () => ChainedRowWriter) {
    this.insertTurn = db.prepare(`INSERT INTO model_turns (batch_id, ts_ms, sensor_id, agent, agent_pid, pid, source, api, provider, model,
      response_model, input_tokens, output_tokens, incomplete, remote, session_id, content) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    this.insertCall = db.prepare(`INSERT OR IGNORE INTO tool_calls (batch_id, turn_id, call_key, call_id, tool_name, kind, subject, args_sha256, incomplete)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    this.callRow = db.prepare('SELECT id FROM tool_calls WHERE call_key = ?').pluck();
    this.insertLink = db.prepare('INSERT OR IGNORE INTO intent_links (batch_id, tool_call_id, event_id, relation, depth) VALUES (?, ?, ?, ?, ?)');
    this.newestBatch = db.prepare('SELECT coalesce(max(id), 0) FROM batches').pluck().safeIntegers(true);
    this.turnTx = db.transaction((t: TurnRecord) => this.writeTurn(t));
    this.linkTx = db.transaction((links: IntentLink[]) => this.writeLinks(links));
  }

  /** A turn and its calls (a call already stored under its key, e.g. seen again in a later request, is not repeated). */
  storeTurn(t: TurnRecord): void {
    this.guard(() => this.turnTx(t));
  }

  /** Links whose call is stored; a link to an unknown call is skipped (its turn did not reach the store). */
  storeLinks(links: IntentLink[]): void {
    if (links.length) this.guard(() => this.linkTx(links));
  }

  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.chain().reload(); // a chained row appended in the rolled back transaction is gone
      throw err;
    }
  }

  private writeTurn(t: TurnRecord): void {
    const batch = this.newestBatch.get() as bigint;
    const chain = this.chain();
    const turnId = BigInt(this.insertTurn.run(batch, t.tsMs, t.sensorId, t.agent, t.agentPid, t.pid, t.source, s(t.api), t.provider, s(t.model),
      s(t.responseModel), n(t.inputTokens), n(t.outputTokens), t.incomplete ? 1 : 0, s(t.remote), s(t.sessionId), s(t.content)).lastInsertRowid);
    chain.append(MODEL_TURN, batch, turnId, MODEL_TURN_KIND.contentOf(this.db, batch, turnId)!);
    for (const c of t.calls) {
      const r = this.insertCall.run(batch, turnId, c.key, s(c.callId), c.toolName, c.kind, c.subject.slice(0, 512), c.argsSha256, c.incomplete ? 1 : 0);
      if (r.changes === 0) continue;
      const id = BigInt(r.lastInsertRowid);
      chain.append(TOOL_CALL, batch, id, TOOL_CALL_KIND.contentOf(this.db, batch, id)!);
    }
  }

  private writeLinks(links: IntentLink[]): void {
    const batch = this.newestBatch.get() as bigint;
    const chain = this.chain();
    for (const l of links) {
      const callId = l.callKey === null ? null : (this.callRow.get(l.callKey) as number | undefined);
      if (callId === undefined) continue;
      const r = this.insertLink.run(batch, callId, l.eventId, l.relation, l.depth);
      if (r.changes === 0) continue;
      const id = BigInt(r.lastInsertRowid);
      chain.append(INTENT_LINK, batch, id, INTENT_LINK_KIND.contentOf(this.db, batch, id)!);
    }
  }
}

export interface StoredLink { callKey: string | null; toolName: string | null; subject: string | null; eventId: number; relation: LinkRelation; depth: number }

/** The links of some events (alert evidence: which tool call caused them). */
export function linksOfEvents(db: Database.Database, eventIds: number[]): StoredLink[] {
  if (!hasIntentTables(db) || eventIds.length === 0) return [];
  const out: StoredLink[] = [];
  const q = db.prepare(`SELECT c.call_key AS callKey, c.tool_name AS toolName, c.subject, l.event_id AS eventId, l.relation, l.depth
    FROM intent_links l LEFT JOIN tool_calls c ON c.id = l.tool_call_id WHERE l.event_id = ? ORDER BY l.id`);
  for (const id of eventIds.slice(0, 1000)) out.push(...(q.all(id) as StoredLink[]));
  return out;
}
