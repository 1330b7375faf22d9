// The argv decision for interpreter candidates. The kernel tracks a process
// that exec'd an interpreter (node, python3, ...) as a CANDIDATE and writes
// its events with `pending` set; every tracked entry names the root of its
// agent instance (agentPid), which a forked child inherits. The root's exec
// event is its first, so we decide on it at once: the argv matches an agent
// -> the kernel entry becomes that agent, else it is removed. Each decision
// is bound to the process it was made about (its start time, its root), so a
// late decision never lands on a process that reused the pid, and never
// brings back one that has exited.
//
// Pending events are held per root until the root is decided, then released
// with the agent or dropped (in --all mode released as non-agent events).
// A descendant inherits its root's decision, even when it exec'd something
// else before the decision came (`perl -e 'system("cat", ...)'`): only under
// a rejected root may a descendant's own exec make it an agent of its own.
// A root whose exec record was lost is decided from /proc/<pid>/cmdline when
// its held events expire.
import { readFileSync } from 'node:fs';
import { AGENT_CANDIDATE, AGENT_NONE, type DecideResult, type KernelEvent } from '../backends/backend.js';
import { splitArgv } from '../kernel/decode.js';
import type { ByteString } from '../../proto/events/types.js';
import type { AgentRegistry } from './registry.js';

export interface KernelTracker {
  decide(pid: number, startNs: bigint | null, expectAgentPid: number, agentId: number, newAgentPid?: number): DecideResult;
}

export interface CandidateCounters {
  confirmed: number;
  rejected: number;
  /** events held, then released to an agent */
  released: number;
  /** pending events of rejected candidates (not counted in --all mode, where they are released) */
  dropped: number;
  /** events held longer than HOLD_MS with no decision and no /proc to decide from, or undecided at stop */
  expired: number;
  /** roots decided from /proc/<pid>/cmdline because their exec record never came */
  decidedFromProc: number;
  /** decisions that found the process gone (exited before the decision: nothing to undo) */
  decidedGone: number;
  /** decisions refused because the pid names another process now (pid reuse) */
  decidedStale: number;
  /** decide calls the kernel refused */
  kernelErrors: number;
}

const REJECTED = AGENT_NONE;
/** decisions remembered; only bounds memory, a root's decision outlives it for its descendants */
const MAX_DECISIONS = 65536;
const MAX_APPLIED = 65536;
const MAX_HELD_PER_ROOT = 4096;
const MAX_HELD_TOTAL = 100_000;
const HOLD_MS = 5000;

interface Held {
  since: number;
  events: KernelEvent[];
}

/** argv of a live process, or null when it is gone or unreadable */
export type ReadArgv = (pid: number) => ByteString[] | null;

function procArgv(pid: number): ByteString[] | null {
  try {
    const raw = readFileSync(`/proc/${pid}/cmdline`);
    return raw.length > 0 ? splitArgv(raw) : null; // empty: a zombie or a kernel thread
  } catch {
    return null;
  }
}

export class CandidateGate {
  readonly counters: CandidateCounters = {
    confirmed: 0, rejected: 0, released: 0, dropped: 0, expired: 0, decidedFromProc: 0, decidedGone: 0,
    decidedStale: 0, kernelErrors: 0,
  };
  /** root pid -> agent id (REJECTED = 0) */
  private readonly decisions = new Map<number, number>();
  /** descendants of a rejected root that became agents of their own by their exec's argv */
  private readonly ownRoots = new Map<number, number>();
  /** pids whose kernel entry already carries their root's decision */
  private readonly applied = new Set<number>();
  /** root pid -> events waiting for its decision */
  private readonly held = new Map<number, Held>();
  private heldTotal = 0;

  constructor(
    private readonly registry: AgentRegistry,
    private readonly kernel: KernelTracker,
    private readonly traceAll: boolean,
    private readonly readArgv: ReadArgv = procArgv,
  ) {}

  /** Feeds one batch; appends the events that may be emitted, in order, to `out`. */
  process(events: KernelEvent[], out: KernelEvent[]): void {
    for (const ev of events) {
      if (!ev.pending && ev.agentId !== AGENT_CANDIDATE) {
        out.push(ev);
        if (ev.type === 'exit') this.forget(ev.pid);
        continue;
      }
      const root = ev.agentPid || ev.pid;
      if (ev.type === 'exec' && ev.pid === root) {
        // a root's exec starts a new candidacy (pid reuse, re-exec after untrack): decided afresh
        this.decideRoot(root, this.registry.matchCandidate(ev.argv, ev.cgroupId)?.id ?? REJECTED, BigInt(ev.startNs), out);
        this.settle(ev, root, out);
      } else if (this.ownRoots.has(ev.pid) || this.decisions.has(root)) {
        this.settle(ev, root, out);
      } else {
        this.hold(root, ev);
      }
      if (ev.type === 'exit') this.forget(ev.pid);
    }
    this.expire(out);
  }

  /** Records the decision for a root, tells the kernel, and releases what was held for it. */
  private decideRoot(root: number, agentId: number, startNs: bigint | null, out: KernelEvent[]): void {
    if (this.decisions.size >= MAX_DECISIONS) this.decisions.delete(this.decisions.keys().next().value!);
    this.decisions.delete(root); // re-insert: Map order is the recency order
    this.decisions.set(root, agentId);
    this.ownRoots.delete(root);
    if (agentId === REJECTED) this.counters.rejected++;
    else this.counters.confirmed++;
    this.apply(root, startNs, root, agentId);
    const held = this.held.get(root);
    if (!held) return;
    this.held.delete(root);
    this.heldTotal -= held.events.length;
    for (const ev of held.events) this.settle(ev, root, out);
  }

  /** One pending event whose root is decided: its agent, the kernel entry of its process, emitted or dropped. */
  private settle(ev: KernelEvent, root: number, out: KernelEvent[]): void {
    const own = this.ownRoots.get(ev.pid);
    if (own !== undefined) {
      this.emit(ev, own, ev.pid, out);
      return;
    }
    const agentId = this.decisions.get(root) ?? REJECTED;
    if (agentId === REJECTED && ev.type === 'exec' && ev.pid !== root) {
      // under a rejected root, a descendant's own exec may still name an agent
      const mine = this.registry.matchArgv(ev.argv)?.id;
      if (mine !== undefined) {
        this.ownRoots.set(ev.pid, mine);
        this.counters.confirmed++;
        this.apply(ev.pid, BigInt(ev.startNs), root, mine, ev.pid);
        this.emit(ev, mine, ev.pid, out);
        return;
      }
    }
    if (ev.pid !== root && !this.applied.has(ev.pid)) this.apply(ev.pid, null, root, agentId);
    this.emit(ev, agentId, root, out);
  }

  /** Writes a decision into the kernel, bound to the process it is about. */
  private apply(pid: number, startNs: bigint | null, expectRoot: number, agentId: number, newRoot?: number): void {
    if (this.applied.size >= MAX_APPLIED) this.applied.delete(this.applied.values().next().value!);
    this.applied.add(pid);
    let result: DecideResult;
    try {
      result = this.kernel.decide(pid, startNs, expectRoot, agentId, newRoot);
    } catch {
      this.counters.kernelErrors++; // user space still applies the decision to what it sees
      return;
    }
    if (result === 'gone') this.counters.decidedGone++;
    else if (result === 'stale') this.counters.decidedStale++;
  }

  private emit(ev: KernelEvent, agentId: number, root: number, out: KernelEvent[]): void {
    if (agentId === REJECTED && !this.traceAll) {
      this.counters.dropped++;
      return;
    }
    ev.agentId = agentId;
    ev.agentPid = agentId === REJECTED ? 0 : root;
    ev.pending = false;
    out.push(ev);
  }

  private hold(root: number, ev: KernelEvent): void {
    let h = this.held.get(root);
    if (!h) this.held.set(root, (h = { since: Date.now(), events: [] }));
    if (h.events.length < MAX_HELD_PER_ROOT && this.heldTotal < MAX_HELD_TOTAL) {
      h.events.push(ev);
      this.heldTotal++;
    } else {
      this.counters.expired++; // bounded memory: a flood of undecided events is counted, not kept
    }
  }

  /** At stop: whatever is still undecided is expired now (no /proc decision: the events are final). */
  flush(out: KernelEvent[]): void {
    this.expire(out, Infinity);
  }

  /**
   * Undecided for too long: the root's exec record was lost. Decide from its
   * /proc/<pid>/cmdline while it lives; else (or at stop) expire the events:
   * released as non-agent in --all mode, counted as lost in any case.
   */
  private expire(out: KernelEvent[], now = Date.now()): void {
    if (this.held.size === 0) return;
    for (const [root, h] of this.held) {
      if (now - h.since < HOLD_MS) continue;
      const argv = now === Infinity ? null : this.readArgv(root);
      if (argv) {
        this.counters.decidedFromProc++;
        this.decideRoot(root, this.registry.matchArgv(argv)?.id ?? REJECTED, null, out);
        continue;
      }
      this.held.delete(root);
      this.heldTotal -= h.events.length;
      this.counters.expired += h.events.length;
      if (this.traceAll) for (const ev of h.events) this.emit(ev, REJECTED, root, out);
    }
  }

  private forget(pid: number): void {
    this.applied.delete(pid);
    this.ownRoots.delete(pid);
    // a root's decision stays (bounded): its descendants' events may still be in flight
  }

  /** events waiting for a decision */
  heldCount(): number {
    return this.heldTotal;
  }
}
