// The Sensor: a Backend plus everything above it. It pushes the agent rules
// into the kernel, tracks agents that were running before it started (/proc
// scan), decides interpreter candidates from argv (agents/candidates.ts),
// names agents, attributes connects to the host names the agent resolved
// (dns/attribution.ts), and hands out batches of SensorEvents through
// onEvents() or async iteration. Exec facts (exe, cwd) come from the kernel,
// never from a later look at /proc.
import { CandidateGate, type CandidateCounters } from './agents/candidates.js';
import type { AgentSpec } from './agents/config.js';
import { AgentRegistry, type Agent } from './agents/registry.js';
import type { Backend, BackendCounters, KernelEvent } from './backends/backend.js';
import { HostAttribution } from './dns/attribution.js';
import { CgroupIds, ProcessCache, runningAgents, scanProcesses, startTicksOf, type ProcessRecord } from './enrich/procfs.js';
import type { SensorEvent } from '../proto/events/types.js';
import { processHome } from '../collector/sensitive/agent-home.js';

export interface SensorOptions {
  backend: Backend;
  agents: AgentSpec[];
  /** trace every process; agents are still named */
  traceAll?: boolean;
  /** the pid the kernel leaves out; also never found by the /proc scan */
  selfPid?: number;
  /** find agents already running at start (default true) */
  scanProc?: boolean;
  /** diagnostics (rule warnings); default: stderr */
  log?: (msg: string) => void;
  /** events buffered for async iteration before the oldest are dropped (counted) */
  iteratorBuffer?: number;
}

export interface SensorCounters extends BackendCounters {
  sensor: CandidateCounters & {
    /** events waiting for an argv decision right now */
    held: number;
    /** processes found running at start and tracked */
    alreadyRunning: number;
    /** kernel rules or tracks the backend refused */
    ruleErrors: number;
    /** events dropped because an async iterator did not keep up */
    iteratorDropped: number;
    /** exceptions thrown by onEvents listeners (caught) */
    listenerErrors: number;
    /** connect events given a host from a DNS answer the agent received */
    hostsAttributed: number;
    /** running agents the scan found gone (or replaced) right after tracking them: untracked again */
    scanVanished: number;
  };
  /**
   * agent name ("(undecided)" for candidates) -> its processes the kernel
   * could not track (map full): their events after the flagged exec/fork
   * are not seen
   */
  untrackedByAgent: Record<string, number>;
}

type Listener = (events: SensorEvent[]) => void;

export class Sensor {
  readonly registry: AgentRegistry;
  private readonly gate: CandidateGate;
  private readonly listeners = new Set<Listener>();
  private readonly cache = new ProcessCache();
  private readonly hosts = new HostAttribution();
  private readonly log: (msg: string) => void;
  private readonly selfPid: number;
  private readonly trackedAtStart = new Set<number>();
  /** pid -> root of its agent instance, for backends whose records do not carry it (bpftrace) */
  private readonly roots = new Map<number, number>();
  private scanVanished = 0;
  private ruleErrors = 0;
  private iteratorDropped = 0;
  private listenerErrors = 0;
  private started = false;
  private stopped = false;

  constructor(private readonly options: SensorOptions) {
    this.log = options.log ?? ((m) => process.stderr.write(`sensor: ${m}\n`));
    this.selfPid = options.selfPid ?? process.pid;
    this.registry = new AgentRegistry(options.agents);
    this.gate = new CandidateGate(this.registry, options.backend, options.traceAll ?? false);
  }

  get backend(): Backend {
    return this.options.backend;
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.stopped = false;
    for (const w of this.registry.warnings) this.log(w);
    await this.options.backend.start((events) => this.receive(events));
    this.started = true;
    for (const rule of this.registry.kernelRules()) {
      try {
        this.options.backend.setRule(rule);
      } catch (err) {
        this.ruleErrors++;
        this.log(`rule ${rule.kind} ${String(rule.key)} not installed: ${(err as Error).message}`);
      }
    }
    if (this.options.scanProc ?? true) {
      // Twice: a child forked by an agent while the first pass ran is caught by the second.
      this.trackRunningAgents();
      this.trackRunningAgents();
    }
    // Started means watching: the rules and tracks above must be in force.
    await this.options.backend.settled?.();
  }

  /** Subscribe to batches of events; returns the unsubscribe function. */
  onEvents(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Async iteration over single events until stop() (or the loop breaks). */
  async *events(): AsyncGenerator<SensorEvent> {
    if (this.stopped) return; // iterating a stopped sensor ends at once instead of waiting forever
    const max = this.options.iteratorBuffer ?? 1_000_000;
    const queue: SensorEvent[] = [];
    let wake: (() => void) | null = null;
    let done = false;
    const off = this.onEvents((evs) => {
      for (const e of evs) {
        if (queue.length >= max) {
          queue.shift();
          this.iteratorDropped++;
        }
        queue.push(e);
      }
      wake?.();
    });
    const stopped = (): void => {
      done = true;
      wake?.();
    };
    this.stopWaiters.add(stopped);
    try {
      for (;;) {
        while (queue.length > 0) yield queue.shift()!;
        if (done) return;
        await new Promise<void>((r) => (wake = r));
        wake = null;
      }
    } finally {
      off();
      this.stopWaiters.delete(stopped);
    }
  }

  [Symbol.asyncIterator](): AsyncGenerator<SensorEvent> {
    return this.events();
  }

  counters(): SensorCounters {
    return {
      ...this.options.backend.counters(),
      sensor: {
        ...this.gate.counters,
        held: this.gate.heldCount(),
        alreadyRunning: this.trackedAtStart.size,
        ruleErrors: this.ruleErrors,
        iteratorDropped: this.iteratorDropped,
        listenerErrors: this.listenerErrors,
        hostsAttributed: this.hosts.attributed,
        scanVanished: this.scanVanished,
      },
      untrackedByAgent: this.untrackedByAgent(),
    };
  }

  private untrackedByAgent(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [id, n] of Object.entries(this.options.backend.counters().untrackedByAgent ?? {})) {
      const name = Number(id) === 0 ? '(undecided)' : (this.registry.nameOf(Number(id)) ?? `agent #${id}`);
      out[name] = (out[name] ?? 0) + n;
    }
    return out;
  }

  /**
   * Makes every process that execs in cgroup `cgroupId` (cgroup v2 inode
   * number) from now on an instance of the agent named `agentName` (added to
   * the registry when the name is new). For `sensor launch`-style wrappers
   * that put an agent in a cgroup of its own before exec'ing it.
   */
  addCgroupAgent(cgroupId: bigint, agentName: string): Agent {
    const agent = this.registry.addAgent(agentName);
    // The registry knows it too: an interpreter candidate exec'd in the cgroup is this agent (candidates.ts).
    if (!this.registry.addCgroup(cgroupId, agent)) throw new Error(`cgroup ${cgroupId} already belongs to another agent`);
    this.options.backend.setRule({ kind: 'cgroup', key: cgroupId, agentId: agent.id, candidate: false });
    return agent;
  }

  /**
   * addCgroupAgent for `sensor launch`: resolves once the rule is in force in
   * the kernel; `configured`: the name is an agent of the config.
   */
  async watchCgroup(agentName: string, cgroupId: bigint): Promise<{ agentId: number; configured: boolean }> {
    if (!this.started) throw new Error('the sensor is not running');
    const agent = this.addCgroupAgent(cgroupId, agentName);
    await this.options.backend.settled?.();
    return { agentId: agent.id, configured: this.registry.isConfigured(agent) };
  }

  /** Undoes addCgroupAgent (processes already tracked stay tracked). */
  removeCgroupAgent(cgroupId: bigint): void {
    this.registry.removeCgroup(cgroupId);
    if (this.started) this.options.backend.deleteRule?.({ kind: 'cgroup', key: cgroupId });
  }

  /** What exec/fork events told us about a pid (recent processes only). */
  processInfo(pid: number): ProcessRecord | undefined {
    return this.cache.get(pid);
  }

  /** Stops the backend; events still queued are delivered before this resolves. */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    this.stopped = true;
    await this.options.backend.stop();
    const out: KernelEvent[] = [];
    this.gate.flush(out); // candidates still undecided: released as non-agent (--all) or counted expired
    this.resolveNames(out);
    for (const ev of out) this.hosts.observe(ev);
    this.deliver(out);
    for (const s of this.stopWaiters) s();
  }

  private readonly stopWaiters = new Set<() => void>();

  private receive(events: KernelEvent[]): void {
    const out: KernelEvent[] = [];
    this.gate.process(events, out);
    if (out.length === 0) return;
    this.resolveNames(out);
    for (const ev of out) {
      if (ev.agentPid === undefined) this.fillAgentPid(ev);
      if (ev.type === 'exec') {
        this.cache.set(ev.pid, { exe: ev.exe ?? ev.filename, argv: ev.argv, startNs: ev.startNs });
        // What `~` means for the instance, read while its root surely lives
        // (a short script is gone before its batch reaches the collector).
        if (ev.agent !== null && ev.agentPid === ev.pid && ev.home === undefined) {
          const home = processHome(ev.pid, ev.uid);
          if (home !== null) ev.home = home;
        }
      } else if (ev.type === 'fork') {
        const parent = this.cache.get(ev.ppid);
        this.cache.set(ev.pid, { exe: parent?.exe, argv: parent?.argv, startNs: ev.startNs });
      } else {
        this.hosts.observe(ev); // names must be resolved: answers are scoped by agent
      }
    }
    this.deliver(out);
  }

  private deliver(out: KernelEvent[]): void {
    if (out.length === 0) return;
    for (const l of this.listeners) {
      try {
        l(out);
      } catch (err) {
        // one consumer's bug must not stop the others, nor unwind into the native callback
        this.listenerErrors++;
        if (this.listenerErrors === 1) this.log(`an event listener threw (reported once): ${(err as Error).stack ?? String(err)}`);
      }
    }
  }

  /** The root of an agent instance where the backend does not say: an agent's exec starts one, fork passes it on. */
  private fillAgentPid(ev: KernelEvent): void {
    if (ev.agentId === 0) {
      ev.agentPid = 0;
    } else {
      if (!this.roots.has(ev.pid)) {
        this.roots.set(ev.pid, ev.type === 'fork' ? (this.roots.get(ev.ppid) ?? ev.ppid) : ev.pid);
        if (this.roots.size > 65536) this.roots.delete(this.roots.keys().next().value!);
      }
      ev.agentPid = this.roots.get(ev.pid)!;
    }
    if (ev.type === 'exit') this.roots.delete(ev.pid);
  }

  private resolveNames(events: KernelEvent[]): void {
    for (const ev of events) ev.agent = this.registry.nameOf(ev.agentId);
  }

  private trackRunningAgents(): void {
    const procs = scanProcesses(new CgroupIds());
    const roots = new Map<number, number>();
    const found = runningAgents(procs, (p) => this.registry.matchProcess(p)?.id ?? null, this.selfPid, roots);
    const startOf = new Map(procs.map((p) => [p.pid, p.startTicks]));
    for (const [pid, agentId] of found) {
      const root = roots.get(pid) ?? pid;
      if (this.trackedAtStart.has(pid)) continue; // the second pass: already tracked
      try {
        this.options.backend.track(pid, agentId, false, root);
      } catch (err) {
        this.ruleErrors++;
        this.log(`could not track running agent pid ${pid}: ${(err as Error).message}`);
        continue;
      }
      // It may have exited between the scan and the track: an entry for a
      // dead pid would name whoever gets the pid next. Look again, and take
      // the entry back when the process is gone or is another one now.
      const now = startTicksOf(pid);
      if (now === null || now !== startOf.get(pid)) {
        this.scanVanished++;
        try {
          this.options.backend.decide(pid, null, root, 0);
        } catch {
          this.ruleErrors++;
        }
        continue;
      }
      this.roots.set(pid, root);
      this.trackedAtStart.add(pid);
    }
    for (const p of procs) {
      if (found.has(p.pid) && !this.cache.get(p.pid)) this.cache.set(p.pid, { exe: p.exe ?? undefined, argv: p.argv });
    }
  }
}
