// Tool calls joined to the actions they caused. A shell call is tied to the
// exec that runs its script (the shell with -c SCRIPT, or one of the script's
// commands), then every fork, exec, open and connect of that process tree is
// tied to the same call until the tree exits or its window ends. A file tool
// call is tied to the agent's opens of that path within the window. Either
// side may come first: a transcript can be written after the command ran
// (Gemini CLI records a call once it finished), captured HTTP before. So
// recent agent events are kept (bounded) and a late call is matched against
// them. An agent exec no call claimed once its window has passed is reported
// as `no_tool_call`: the agent acted on its own, which a detector can judge.
import type { ActionEvent } from './action-event.js';
import type { IntentCall } from './intent-call.js';
import { argvMatchesIntent } from './shell-command.js';

export type LinkRelation = 'shell' | 'command' | 'descendant' | 'open' | 'connect' | 'file' | 'no_tool_call';

export interface IntentLink {
  /** IntentCall.key, or null for no_tool_call */
  callKey: string | null;
  eventId: number;
  relation: LinkRelation;
  /** process generations below the matched exec (0 for the exec itself) */
  depth: number;
  tsMs: number;
}

export interface JoinOptions {
  /** how long after a call its exec/open may come, and how long before (late calls) */
  windowMs: number;
  /** how long a matched process tree stays tied to its call */
  treeMs: number;
  maxRecentEvents: number;
  maxCalls: number;
  maxTrackedPids: number;
  /** the home directory of an agent event's user, for ~ in commands */
  homeOf?: (ev: ActionEvent) => string | undefined;
}

export const DEFAULT_JOIN_OPTIONS: JoinOptions = {
  windowMs: 60_000,
  treeMs: 10 * 60_000,
  maxRecentEvents: 20_000,
  maxCalls: 2_000,
  maxTrackedPids: 10_000,
};

interface Tree { callKey: string; depth: number; untilMs: number }
interface CallState { call: IntentCall; matchedExec?: number }

export class IntentJoiner {
  private readonly opts: JoinOptions;
  /** recent agent events, oldest first, from index `head` on (a queue without O(n) shifts) */
  private recent: ActionEvent[] = [];
  private head = 0;
  private readonly calls = new Map<string, CallState>();
  private readonly trees = new Map<number, Tree>();
  /** event ids already linked, so a late call does not claim them twice */
  private readonly linked = new Set<number>();
  private readonly reportedUnexplained = new Set<number>();
  readonly stats = { eventsDropped: 0, callsDropped: 0, treesDropped: 0 };

  constructor(options: Partial<JoinOptions> = {}) {
    this.opts = { ...DEFAULT_JOIN_OPTIONS, ...options };
  }

  /** A tool call became known. Returns links to events already seen. */
  addCall(call: IntentCall): IntentLink[] {
    if (this.calls.has(call.key)) return [];
    if (this.calls.size >= this.opts.maxCalls) {
      this.calls.delete(this.calls.keys().next().value as string);
      this.stats.callsDropped++;
    }
    const st: CallState = { call };
    this.calls.set(call.key, st);
    const out: IntentLink[] = [];
    // Late call: look back for its exec (closest in time first) or opens.
    const candidates = this.recent
      .map((ev, i) => ({ ev, i }))
      .filter(({ i }) => i >= this.head)
      .filter(({ ev }) => Math.abs(ev.tsMs - call.tsMs) <= this.opts.windowMs && this.sameAgent(call, ev) && !this.linked.has(ev.id))
      .sort((a, b) => Math.abs(a.ev.tsMs - call.tsMs) - Math.abs(b.ev.tsMs - call.tsMs));
    if (call.shell) {
      const hit = candidates.find(({ ev }) => ev.type === 'exec' && !this.trees.has(ev.pid) && this.execMatches(call, ev));
      if (hit) {
        out.push(this.rootExec(st, hit.ev));
        // Replay what the tree did after its exec.
        for (const ev of this.recent.slice(hit.i + 1)) out.push(...this.treeEvent(ev));
      }
    } else if (call.filePath) {
      for (const { ev } of candidates) {
        const l = this.fileLink(call, ev);
        if (l) out.push(l);
      }
    }
    return out.sort((a, b) => a.tsMs - b.tsMs);
  }

  /** A stored event, in order. Returns the links it completes. */
  event(ev: ActionEvent): IntentLink[] {
    if (ev.agent === null && ev.agentPid === undefined && !this.trees.has(ev.pid) && !this.trees.has(ev.ppid)) return [];
    this.remember(ev);
    const out = this.treeEvent(ev);
    if (out.length > 0) return out;
    if (ev.type === 'exec') {
      for (const st of this.calls.values()) {
        const c = st.call;
        if (!c.shell || st.matchedExec !== undefined || !this.sameAgent(c, ev) || Math.abs(ev.tsMs - c.tsMs) > this.opts.windowMs) continue;
        if (this.execMatches(c, ev)) return [this.rootExec(st, ev)];
      }
    } else if (ev.type === 'open') {
      for (const st of this.calls.values()) {
        const l = st.call.filePath ? this.fileLink(st.call, ev) : undefined;
        if (l) return [l];
      }
    }
    return [];
  }

  /**
   * Time has reached `nowMs`: agent execs older than the window that no call
   * claimed are reported once as no_tool_call; expired state is dropped.
   */
  flush(nowMs: number): IntentLink[] {
    const out: IntentLink[] = [];
    const horizon = nowMs - this.opts.windowMs;
    for (let i = this.head; i < this.recent.length; i++) {
      const ev = this.recent[i];
      if (ev.tsMs > horizon) break;
      if (ev.type === 'exec' && !this.linked.has(ev.id) && !this.reportedUnexplained.has(ev.id)) {
        this.reportedUnexplained.add(ev.id);
        out.push({ callKey: null, eventId: ev.id, relation: 'no_tool_call', depth: 0, tsMs: ev.tsMs });
      }
    }
    // Keep events one more window: a call may still claim opens of them.
    const keepFrom = nowMs - 2 * this.opts.windowMs;
    while (this.head < this.recent.length && this.recent[this.head].tsMs < keepFrom) this.forgetOldest();
    this.compact();
    for (const [key, st] of this.calls) if (st.call.tsMs < keepFrom) this.calls.delete(key);
    for (const [pid, t] of this.trees) if (t.untilMs < nowMs) this.trees.delete(pid);
    return out;
  }

  private remember(ev: ActionEvent): void {
    this.recent.push(ev);
    if (this.recent.length - this.head > this.opts.maxRecentEvents) {
      this.forgetOldest();
      this.stats.eventsDropped++;
    }
    this.compact();
  }

  private forgetOldest(): void {
    const old = this.recent[this.head++];
    this.linked.delete(old.id);
    this.reportedUnexplained.delete(old.id);
  }

  /** Drop the consumed front once it is large, so memory stays bounded. */
  private compact(): void {
    if (this.head > 4096 && this.head * 2 > this.recent.length) {
      this.recent = this.recent.slice(this.head);
      this.head = 0;
    }
  }

  /** Links of an event inside a tree already tied to a call. */
  private treeEvent(ev: ActionEvent): IntentLink[] {
    if (ev.type === 'fork') {
      const parent = this.trees.get(ev.ppid);
      if (parent && ev.tsMs <= parent.untilMs) this.track(ev.pid, { ...parent, depth: parent.depth + 1 });
      return [];
    }
    const tree = this.trees.get(ev.pid);
    if (!tree || ev.tsMs > tree.untilMs) return [];
    if (ev.type === 'exit') { this.trees.delete(ev.pid); return []; }
    const relation: LinkRelation | undefined = ev.type === 'exec' ? 'descendant' : ev.type === 'open' ? 'open' : ev.type === 'connect' ? 'connect' : undefined;
    if (!relation || this.linked.has(ev.id)) return [];
    this.linked.add(ev.id);
    return [{ callKey: tree.callKey, eventId: ev.id, relation, depth: tree.depth, tsMs: ev.tsMs }];
  }

  private rootExec(st: CallState, ev: ActionEvent): IntentLink {
    st.matchedExec = ev.id;
    this.linked.add(ev.id);
    this.track(ev.pid, { callKey: st.call.key, depth: 0, untilMs: ev.tsMs + this.opts.treeMs });
    const how = argvMatchesIntent(ev.argv ?? [], st.call.shell!, this.opts.homeOf?.(ev)) ?? 'command';
    return { callKey: st.call.key, eventId: ev.id, relation: how, depth: 0, tsMs: ev.tsMs };
  }

  private track(pid: number, tree: Tree): void {
    if (this.trees.size >= this.opts.maxTrackedPids && !this.trees.has(pid)) {
      this.trees.delete(this.trees.keys().next().value as number);
      this.stats.treesDropped++;
    }
    this.trees.set(pid, tree);
  }

  private execMatches(call: IntentCall, ev: ActionEvent): boolean {
    return !!call.shell && !!ev.argv && argvMatchesIntent(ev.argv, call.shell, this.opts.homeOf?.(ev)) !== undefined;
  }

  private fileLink(call: IntentCall, ev: ActionEvent): IntentLink | undefined {
    if (ev.type !== 'open' || ev.path !== call.filePath || this.linked.has(ev.id)) return undefined;
    if (!this.sameAgent(call, ev) || Math.abs(ev.tsMs - call.tsMs) > this.opts.windowMs) return undefined;
    // A write tool is not explained by a read-only open, nor the reverse.
    if (call.fileAccess === 'write' && ev.access === 'read') return undefined;
    if (call.fileAccess === 'read' && ev.access === 'write') return undefined;
    this.linked.add(ev.id);
    return { callKey: call.key, eventId: ev.id, relation: 'file', depth: 0, tsMs: ev.tsMs };
  }

  /** The call and the event belong to the same agent instance (as far as both say). */
  private sameAgent(call: IntentCall, ev: ActionEvent): boolean {
    if (call.agentPid !== undefined && ev.agentPid !== undefined) return call.agentPid === ev.agentPid;
    if (call.agent !== undefined && ev.agent !== null) return call.agent === ev.agent;
    return ev.agent !== null || ev.agentPid !== undefined;
  }
}
