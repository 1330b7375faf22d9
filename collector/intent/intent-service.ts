// Intent, live, beside the writer store (on its thread): turns from the
// sensor (captured HTTP, session transcripts) are stored under the chain and
// their tool calls handed to the joiner; committed agent events go to the
// joiner in order; a timer flushes it. Links are stored as they come.
//
// `no_tool_call` is only said where it means something: for an agent
// instance whose turns this collector has seen (intent visible), for execs
// after its first turn, and not of the agent's root process (its own
// start-up or respawn). Elsewhere silence is no evidence: the capture may not
// see that agent's traffic at all (HTTP/2, rustls, no transcripts).
import type { Logger } from 'pino';
import type { CommittedBatch, EventStore } from '../store/event-store.js';
import { agentHomes } from '../sensitive/agent-home.js';
import { UserHomes } from '../sensitive/user-homes.js';
import { actionOfEvent, type ActionEvent } from './join/action-event.js';
import { IntentJoiner, type IntentLink, type JoinOptions } from './join/intent-joiner.js';
import { IntentRows } from './intent-rows.js';
import { intentCallOfRecord, type TurnRecord } from './turn-record.js';
import { GenAiSpanExporter, type ExportedAction } from './otel/genai-span-export.js';
import { emptyTurn } from './turn.js';

export interface IntentServiceOptions {
  flushMs?: number;
  join?: Partial<JoinOptions>;
  passwdFile?: string;
  /** an action with no tool call behind it, in an instance whose intent is visible (the detector's feed) */
  onUnexplained?: (u: UnexplainedAction) => void;
  /** OTLP/HTTP traces endpoint: each turn and its joined actions as GenAI spans */
  otelEndpoint?: string;
  /** how long a turn waits for the actions its calls cause before it is exported */
  otelSettleMs?: number;
}

interface PendingExport {
  turn: TurnRecord;
  dueMs: number;
  /** the calls this turn exports (one told again by another source is exported once, with the first) */
  keys: Set<string>;
  actions: Map<string, ExportedAction[]>;
}

export interface UnexplainedAction {
  sensorId: string;
  eventId: number;
  action: ActionEvent;
}

const JOINED_TYPES = new Set(['exec', 'fork', 'exit', 'open', 'connect']);
const MAX_INSTANCES = 4096;

export class IntentService {
  private readonly rows: IntentRows;
  /** one joiner per sensor: agent instances are named by their root pid, which only a sensor's host makes unique */
  private readonly joiners = new Map<string, IntentJoiner>();
  private readonly homes: UserHomes;
  /** `${sensorId}:${agentPid}` -> uid of its events (for ~ in commands) */
  private readonly uids = new Map<string, number>();
  /** sensors whose batches come from this host (their pids are ours to look up) */
  private readonly localSensors = new Set<string>();
  /** `${sensorId}:${agentPid}` -> time of its first whole turn, and when turns were cut (newest last, bounded) */
  private readonly visible = new Map<string, { firstMs?: number; cutMs: number[] }>();
  /** execs the joiner may still report as no_tool_call: id -> what is needed to judge them */
  private readonly execs = new Map<number, { sensorId: string; action: ActionEvent }>();
  private readonly timer: NodeJS.Timeout;
  private readonly exporter?: GenAiSpanExporter;
  /** OpenTelemetry: turns waiting for their actions, by call key; recent actions by event id */
  private readonly pending: PendingExport[] = [];
  private readonly pendingByCall = new Map<string, PendingExport>();
  private readonly recentActions = new Map<number, ActionEvent>();
  private readonly exportedKeys = new Set<string>();
  readonly stats = { turns: 0, calls: 0, links: 0, noToolCall: 0, errors: 0, spansTurns: 0 };

  constructor(store: EventStore, private readonly log: Logger, private readonly opts: IntentServiceOptions = {}) {
    this.rows = new IntentRows(store.database, () => store.rowChain);
    this.homes = new UserHomes(opts.passwdFile);
    if (opts.otelEndpoint) this.exporter = new GenAiSpanExporter({ url: opts.otelEndpoint });
    store.onCommitted((b) => this.committed(b));
    this.timer = setInterval(() => this.flush(Date.now()), opts.flushMs ?? 2000);
    this.timer.unref();
  }

  private joinerOf(sensorId: string): IntentJoiner {
    let j = this.joiners.get(sensorId);
    if (!j) {
      if (this.joiners.size >= MAX_INSTANCES) this.joiners.delete(this.joiners.keys().next().value!);
      j = new IntentJoiner({
        ...this.opts.join,
        // The HOME the agent runs with (what its shell expands ~ to) when it
        // runs on this host, else the collector's passwd: right for the
        // embedded collector; a remote host's homes may differ (~ then matches less).
        homeOf: (ev) => {
          const uid = ev.agentPid !== undefined ? this.uids.get(`${sensorId}:${ev.agentPid}`) : undefined;
          const own = ev.agentPid !== undefined && uid !== undefined ? agentHomes.homeOf(sensorId, ev.agentPid, uid, this.localSensors.has(sensorId)) : null;
          if (own) return own;
          return uid === undefined ? undefined : this.homes.homeOf(uid);
        },
      });
      this.joiners.set(sensorId, j);
    }
    return j;
  }

  /** Turns from a sensor: stored, then their calls joined. */
  turns(records: TurnRecord[]): void {
    for (const t of records) {
      try {
        this.rows.storeTurn(t);
        this.stats.turns++;
        if (t.agentPid !== null) this.noteVisible(`${t.sensorId}:${t.agentPid}`, t);
        if (this.exporter) this.awaitActions(t);
        const links: IntentLink[] = [];
        for (const c of t.calls) {
          const call = intentCallOfRecord(t, c);
          this.stats.calls++;
          if (call) links.push(...this.joinerOf(t.sensorId).addCall(call));
        }
        this.store(links);
      } catch (err) {
        this.fail(err);
      }
    }
  }

  /** Stops the timer; exports what waits and flushes the exporter. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    this.exportDue(Number.MAX_SAFE_INTEGER);
    await this.exporter?.shutdown().catch((err: Error) => this.log.warn({ err: err.message }, 'OpenTelemetry export not flushed'));
  }

  private awaitActions(t: TurnRecord): void {
    const keys = new Set(t.calls.map((c) => c.key).filter((k) => !this.pendingByCall.has(k) && !this.exportedKeys.has(k)));
    const p: PendingExport = { turn: t, dueMs: Date.now() + (this.opts.otelSettleMs ?? 15_000), keys, actions: new Map() };
    if (this.pending.length >= 10_000) this.exportDue(Number.MAX_SAFE_INTEGER); // never unbounded: export early
    this.pending.push(p);
    for (const k of keys) this.pendingByCall.set(k, p);
  }

  /** Turns whose settle time has passed, with the actions joined to their calls, as GenAI spans. */
  private exportDue(nowMs: number): void {
    if (!this.exporter) return;
    while (this.pending.length && this.pending[0]!.dueMs <= nowMs) {
      const p = this.pending.shift()!;
      const t = p.turn;
      const turn = emptyTurn(t.source, t.provider);
      turn.incomplete = t.incomplete;
      if (t.api) turn.api = t.api as typeof turn.api;
      if (t.model) turn.model = t.model;
      if (t.responseModel) turn.responseModel = t.responseModel;
      if (t.inputTokens !== undefined) turn.inputTokens = t.inputTokens;
      if (t.outputTokens !== undefined) turn.outputTokens = t.outputTokens;
      if (t.sessionId) turn.sessionId = t.sessionId;
      const tools = t.calls.filter((c) => p.keys.has(c.key)).map((c) => {
        this.pendingByCall.delete(c.key);
        this.exportedKeys.add(c.key);
        if (this.exportedKeys.size > 10_000) this.exportedKeys.delete(this.exportedKeys.values().next().value!);
        return { call: { name: c.toolName, arguments: '', ...(c.callId ? { id: c.callId } : {}) }, tsMs: t.tsMs, actions: p.actions.get(c.key) ?? [] };
      });
      try {
        this.exporter.export({ turn, startMs: t.tsMs, endMs: t.tsMs, ...(t.agent ? { agent: t.agent } : {}), ...(t.agentPid ? { agentPid: t.agentPid } : {}), tools });
        this.stats.spansTurns++;
      } catch (err) {
        this.fail(err);
      }
    }
  }

  private noteExported(links: IntentLink[]): void {
    for (const l of links) {
      if (l.callKey === null) continue;
      const p = this.pendingByCall.get(l.callKey);
      const a = this.recentActions.get(l.eventId);
      if (!p || !a || (a.type !== 'exec' && a.type !== 'open' && a.type !== 'connect')) continue;
      const list = p.actions.get(l.callKey) ?? [];
      if (list.length >= 128) continue;
      list.push({ kind: a.type, relation: l.relation, eventId: a.id, tsMs: a.tsMs, pid: a.pid,
        text: a.type === 'exec' ? a.argv?.[0] ?? a.path ?? '?' : a.type === 'open' ? a.path ?? '?' : `${a.host ?? a.addr ?? '?'}:${a.port ?? 0}` });
      p.actions.set(l.callKey, list);
    }
  }

  flush(nowMs: number): void {
    try {
      const unexplained = [...this.joiners.values()].flatMap((j) => j.flush(nowMs));
      const keep: IntentLink[] = [];
      for (const l of unexplained) {
        const e = this.execs.get(l.eventId);
        this.execs.delete(l.eventId);
        if (!e) continue;
        if (e.action.pid === e.action.agentPid || !this.intentVisible(`${e.sensorId}:${e.action.agentPid}`, e.action.tsMs)) continue;
        keep.push(l);
        this.stats.noToolCall++;
        this.opts.onUnexplained?.({ sensorId: e.sensorId, eventId: l.eventId, action: e.action });
      }
      this.store(keep);
      this.exportDue(nowMs);
      const horizon = Math.min(nowMs, Date.now()) - 3 * (this.opts.join?.windowMs ?? 60_000);
      for (const [id, e] of this.execs) {
        if (e.action.tsMs >= horizon) break;
        this.execs.delete(id);
      }
    } catch (err) {
      this.fail(err);
    }
  }

  private noteVisible(key: string, t: TurnRecord): void {
    let v = this.visible.get(key);
    if (!v) {
      if (this.visible.size >= MAX_INSTANCES) this.visible.delete(this.visible.keys().next().value!);
      this.visible.set(key, (v = { cutMs: [] }));
    }
    if (!t.callsVisible) {
      v.cutMs.push(t.tsMs);
      if (v.cutMs.length > 64) v.cutMs.shift();
    } else {
      v.firstMs ??= t.tsMs;
    }
  }

  /**
   * The instance's tool calls would have been seen around `tsMs`: a turn of
   * it with its calls visible before, and no turn whose calls were not (an
   * answer cut or not captured) within the join window either side: its
   * calls may be the missing ones.
   */
  private intentVisible(key: string, tsMs: number): boolean {
    const v = this.visible.get(key);
    if (!v || v.firstMs === undefined || tsMs < v.firstMs) return false;
    const w = this.opts.join?.windowMs ?? 60_000;
    return !v.cutMs.some((c) => Math.abs(c - tsMs) <= w);
  }

  private committed(batch: CommittedBatch): void {
    if (batch.turns) this.turns(batch.turns);
    if (batch.remote) this.localSensors.delete(batch.sensorId);
    else if (this.localSensors.size < MAX_INSTANCES) this.localSensors.add(batch.sensorId);
    const joiner = this.joinerOf(batch.sensorId);
    try {
      const links: IntentLink[] = [];
      batch.events.forEach((ev, i) => {
        if (!JOINED_TYPES.has(ev.type)) return;
        const id = Number(batch.ids[i]!);
        const a = actionOfEvent(id, ev);
        if (this.exporter) {
          this.recentActions.set(id, a);
          if (this.recentActions.size > 50_000) this.recentActions.delete(this.recentActions.keys().next().value!);
        }
        if (ev.agentPid && ev.type === 'exec') {
          this.uids.set(`${batch.sensorId}:${ev.agentPid}`, ev.uid);
          if (this.uids.size > MAX_INSTANCES) this.uids.delete(this.uids.keys().next().value!);
          if (this.execs.size < 100_000) this.execs.set(id, { sensorId: batch.sensorId, action: a });
        }
        links.push(...joiner.event(a));
      });
      this.store(links);
    } catch (err) {
      this.fail(err);
    }
  }

  private store(links: IntentLink[]): void {
    if (links.length === 0) return;
    this.rows.storeLinks(links);
    this.stats.links += links.length;
    if (this.exporter) this.noteExported(links);
  }

  private fail(err: unknown): void {
    this.stats.errors++;
    this.log.warn({ err: (err as Error).message }, 'intent rows not stored');
  }
}
