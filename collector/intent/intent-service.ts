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
import { UserHomes } from '../sensitive/user-homes.js';
import { actionOfEvent, type ActionEvent } from './join/action-event.js';
import { IntentJoiner, type IntentLink, type JoinOptions } from './join/intent-joiner.js';
import { IntentRows } from './intent-rows.js';
import { intentCallOfRecord, type TurnRecord } from './turn-record.js';

export interface IntentServiceOptions {
  flushMs?: number;
  join?: Partial<JoinOptions>;
  passwdFile?: string;
  /** an action with no tool call behind it, in an instance whose intent is visible (the detector's feed) */
  onUnexplained?: (u: UnexplainedAction) => void;
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
  private readonly joiner: IntentJoiner;
  private readonly homes: UserHomes;
  /** agentPid -> uid of its events (for ~ in commands) */
  private readonly uids = new Map<number, number>();
  /** `${sensorId}:${agentPid}` -> time of its first whole turn, and when turns were cut (newest last, bounded) */
  private readonly visible = new Map<string, { firstMs?: number; cutMs: number[] }>();
  /** execs the joiner may still report as no_tool_call: id -> what is needed to judge them */
  private readonly execs = new Map<number, { sensorId: string; action: ActionEvent }>();
  private readonly timer: NodeJS.Timeout;
  readonly stats = { turns: 0, calls: 0, links: 0, noToolCall: 0, errors: 0 };

  constructor(store: EventStore, private readonly log: Logger, private readonly opts: IntentServiceOptions = {}) {
    this.rows = new IntentRows(store.database, () => store.rowChain);
    this.homes = new UserHomes(opts.passwdFile);
    this.joiner = new IntentJoiner({
      ...opts.join,
      homeOf: (ev) => {
        const uid = ev.agentPid !== undefined ? this.uids.get(ev.agentPid) : undefined;
        return uid === undefined ? undefined : this.homes.homeOf(uid);
      },
    });
    store.onCommitted((b) => this.committed(b));
    this.timer = setInterval(() => this.flush(Date.now()), opts.flushMs ?? 2000);
    this.timer.unref();
  }

  /** Turns from a sensor: stored, then their calls joined. */
  turns(records: TurnRecord[]): void {
    for (const t of records) {
      try {
        this.rows.storeTurn(t);
        this.stats.turns++;
        if (t.agentPid !== null) this.noteVisible(`${t.sensorId}:${t.agentPid}`, t);
        const links: IntentLink[] = [];
        for (const c of t.calls) {
          const call = intentCallOfRecord(t, c);
          this.stats.calls++;
          if (call) links.push(...this.joiner.addCall(call));
        }
        this.store(links);
      } catch (err) {
        this.fail(err);
      }
    }
  }

  /** Judges what is left (at close). */
  close(): void {
    clearInterval(this.timer);
  }

  flush(nowMs: number): void {
    try {
      const unexplained = this.joiner.flush(nowMs);
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
      const horizon = nowMs - 3 * (this.opts.join?.windowMs ?? 60_000);
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
    try {
      const links: IntentLink[] = [];
      batch.events.forEach((ev, i) => {
        if (!JOINED_TYPES.has(ev.type)) return;
        const id = Number(batch.ids[i]!);
        const a = actionOfEvent(id, ev);
        if (ev.agentPid && ev.type === 'exec') {
          this.uids.set(ev.agentPid, ev.uid);
          if (this.uids.size > MAX_INSTANCES) this.uids.delete(this.uids.keys().next().value!);
          if (this.execs.size < 100_000) this.execs.set(id, { sensorId: batch.sensorId, action: a });
        }
        links.push(...this.joiner.event(a));
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
  }

  private fail(err: unknown): void {
    this.stats.errors++;
    this.log.warn({ err: (err as Error).message }, 'intent rows not stored');
  }
}
