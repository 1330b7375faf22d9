// The argv decision for interpreter candidates. The kernel tracks a process
// that exec'd an interpreter (node, python3, ...) as a CANDIDATE and writes
// its events with `pending` set. Its exec event is always its first, so we
// decide on it at once: the argv matches an agent -> track(pid, agent) in the
// kernel, else untrack(pid). Pending events that were already in flight are
// held per pid until the decision, then released with the agent or dropped
// (in --all mode released as non-agent events). Children forked while the
// parent was undecided inherit the parent's decision through their fork event.
// Nothing between exec and recognition is lost.
import { AGENT_CANDIDATE, AGENT_NONE, type KernelEvent } from '../backends/backend.js';
import type { AgentRegistry } from './registry.js';

export interface KernelTracker {
  track(pid: number, agentId: number, candidate?: boolean): void;
  untrack(pid: number): void;
}

export interface CandidateCounters {
  confirmed: number;
  rejected: number;
  /** events held, then released to an agent */
  released: number;
  /** pending events of rejected candidates (not counted in --all mode, where they are released) */
  dropped: number;
  /** events held longer than HOLD_MS with no decision (their exec was lost), or undecided at stop */
  expired: number;
  /** track/untrack calls the kernel refused */
  kernelErrors: number;
}

const REJECTED = AGENT_NONE;
/** decisions remembered; pids are forgotten at exit, this only bounds leaks */
const MAX_DECISIONS = 65536;
const MAX_HELD_PER_PID = 4096;
const MAX_HELD_TOTAL = 100_000;
const HOLD_MS = 5000;

interface Held {
  since: number;
  events: KernelEvent[];
}

export class CandidateGate {
  readonly counters: CandidateCounters = { confirmed: 0, rejected: 0, released: 0, dropped: 0, expired: 0, kernelErrors: 0 };
  /** pid -> agent id (REJECTED = 0) */
  private readonly decisions = new Map<number, number>();
  private readonly held = new Map<number, Held>();
  /** undecided child pid -> parent pid, from pending fork events */
  private readonly parentOf = new Map<number, number>();
  private heldTotal = 0;

  constructor(
    private readonly registry: AgentRegistry,
    private readonly kernel: KernelTracker,
    private readonly traceAll: boolean,
  ) {}

  /** Feeds one batch; appends the events that may be emitted, in order, to `out`. */
  process(events: KernelEvent[], out: KernelEvent[]): void {
    for (const ev of events) {
      if (!ev.pending && ev.agentId !== AGENT_CANDIDATE) {
        out.push(ev);
        if (ev.type === 'exit') this.forget(ev.pid);
        continue;
      }
      const decided = this.decisions.get(ev.pid);
      if (ev.type === 'exec') {
        // always decided afresh: a pending exec starts a new candidacy (pid reuse, re-exec after untrack)
        this.decide(ev.pid, this.registry.matchCandidate(ev.argv, ev.cgroupId)?.id ?? REJECTED, out);
        this.emit(ev, this.decisions.get(ev.pid)!, out);
      } else if (decided !== undefined) {
        this.emit(ev, decided, out);
      } else if (ev.type === 'fork' && this.decisions.has(ev.ppid)) {
        this.decide(ev.pid, this.decisions.get(ev.ppid)!, out);
        this.emit(ev, this.decisions.get(ev.pid)!, out);
      } else {
        if (ev.type === 'fork') this.parentOf.set(ev.pid, ev.ppid);
        this.hold(ev);
      }
      if (ev.type === 'exit') this.forget(ev.pid);
    }
    this.expire(out);
  }

  /** Records the decision for pid, tells the kernel, releases what was held, and recurses to children. */
  private decide(pid: number, agentId: number, out: KernelEvent[]): void {
    if (this.decisions.size >= MAX_DECISIONS) this.decisions.delete(this.decisions.keys().next().value!);
    this.decisions.set(pid, agentId);
    try {
      if (agentId === REJECTED) {
        this.counters.rejected++;
        this.kernel.untrack(pid);
      } else {
        this.counters.confirmed++;
        this.kernel.track(pid, agentId, false);
      }
    } catch {
      // the map is full or the process is gone: user space still applies the decision to what it sees
      this.counters.kernelErrors++;
    }
    const held = this.held.get(pid);
    if (held) {
      this.held.delete(pid);
      this.heldTotal -= held.events.length;
      for (const ev of held.events) {
        this.emit(ev, agentId, out);
        if (agentId !== REJECTED) this.counters.released++;
      }
    }
    for (const [child, parent] of this.parentOf) {
      if (parent !== pid) continue;
      this.parentOf.delete(child);
      if (!this.decisions.has(child)) this.decide(child, agentId, out);
    }
  }

  private emit(ev: KernelEvent, agentId: number, out: KernelEvent[]): void {
    if (agentId === REJECTED && !this.traceAll) {
      this.counters.dropped++;
      return;
    }
    ev.agentId = agentId;
    ev.pending = false;
    out.push(ev);
  }

  private hold(ev: KernelEvent): void {
    let h = this.held.get(ev.pid);
    if (!h) this.held.set(ev.pid, (h = { since: Date.now(), events: [] }));
    if (h.events.length < MAX_HELD_PER_PID && this.heldTotal < MAX_HELD_TOTAL) {
      h.events.push(ev);
      this.heldTotal++;
    } else {
      this.counters.expired++; // bounded memory: a flood of undecided events is counted, not kept
    }
  }

  /** At stop: whatever is still undecided is expired now. */
  flush(out: KernelEvent[]): void {
    this.expire(out, Infinity);
  }

  /** Undecided for too long: the exec was lost. In --all mode release as non-agent, else drop. */
  private expire(out: KernelEvent[], now = Date.now()): void {
    if (this.held.size === 0) return;
    for (const [pid, h] of this.held) {
      if (now - h.since < HOLD_MS) continue;
      this.held.delete(pid);
      this.heldTotal -= h.events.length;
      this.parentOf.delete(pid);
      this.counters.expired += h.events.length;
      if (this.traceAll) for (const ev of h.events) this.emit(ev, REJECTED, out);
    }
  }

  private forget(pid: number): void {
    // an exit while undecided keeps the held events (the decision may still come from the parent)
    if (!this.held.has(pid)) {
      this.decisions.delete(pid);
      this.parentOf.delete(pid);
    }
  }

  /** events waiting for a decision */
  heldCount(): number {
    return this.heldTotal;
  }
}
