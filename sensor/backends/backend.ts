// A backend turns kernel activity into typed events. Two exist: `libbpf`
// (the native addon, ./libbpf.ts) and `bpftrace` (./bpftrace.ts, the
// fallback for hosts where the addon cannot load). Both filter in the kernel
// on the same rules and yield the same events; the Sensor (../sensor.ts) owns
// everything above that: agent names, argv decisions, /proc enrichment.
import type { SensorEvent } from '../../proto/events/types.js';
import type { ThreadPriority } from '../kernel/addon.js';

export type { ThreadPriority };

export type BackendName = 'libbpf' | 'bpftrace';

/** agent id in kernel events while user space has not yet decided (argv rules) */
export const AGENT_CANDIDATE = 0xffffffff;
export const AGENT_NONE = 0;

/** A rule the kernel matches at exec. `candidate` rules need user space to confirm from argv. */
export interface KernelRule {
  kind: 'comm' | 'exe' | 'cgroup';
  /** comm (<= 15 bytes), absolute exe path, or cgroup id */
  key: string | bigint;
  agentId: number;
  candidate: boolean;
}

/** An event as a backend yields it: the agent is still a number. */
export type KernelEvent = SensorEvent & {
  agentId: number;
  /** the process was an undecided candidate when the kernel wrote this */
  pending: boolean;
};

export interface BackendCounters {
  /** events handed to user space */
  delivered: number;
  /** events the kernel or the transport to JS could not deliver, exact */
  lost: number;
  lostByType: Partial<Record<SensorEvent['type'], number>>;
  /** events delivered with a cut path/argv/payload */
  truncated: number;
  /**
   * agent id (0 = undecided candidate) -> processes of that agent the kernel
   * could not track (its map was full): none of their events after the exec
   * or fork (flagged `untracked`) are seen
   */
  untrackedByAgent?: Record<number, number>;
  /** other backend-specific counters (pairing map full, parse errors, ...) */
  other: Record<string, number>;
}

/** What became of a decision: applied, the process is gone, or the pid names another process now. */
export type DecideResult = 'ok' | 'gone' | 'stale';

export interface BackendOptions {
  /** trace every process, not only agents */
  traceAll: boolean;
  /** capacity of the kernel's tracked-process map (libbpf; default 65536) */
  trackedMax?: number;
  /**
   * flag tracked processes that make 32-bit (compat) syscalls (libbpf,
   * x86-64): one more BPF program on every syscall of the machine
   */
  watchCompat?: boolean;
  /**
   * read open paths at syscall entry as well (libbpf), flagging a buffer
   * another thread rewrote while the call blocked (argChanged): one more
   * BPF program on every open of the machine
   */
  watchOpenRaces?: boolean;
  /** the sensor's own pid, never traced */
  selfPid: number;
  /** ring buffer size in bytes (libbpf; power of two) */
  ringBytes?: number;
}

export interface Backend {
  readonly name: BackendName;
  /** load and attach; rejects with an Error whose message a user can act on */
  start(onEvents: (events: KernelEvent[]) => void): Promise<void>;
  setRule(rule: KernelRule): void;
  /** remove a rule (e.g. a cgroup rule added at run time) */
  deleteRule?(rule: Omit<KernelRule, 'agentId' | 'candidate'>): void;
  /**
   * put a running process under watch (the start-up /proc scan). agentPid:
   * the root of its agent instance (default: pid itself).
   */
  track(pid: number, agentId: number, candidate?: boolean, agentPid?: number): void;
  untrack(pid: number): void;
  /**
   * An argv decision about a tracked candidate, applied only to the process
   * it was made about: the entry whose root is expectAgentPid and, when
   * startNs is given, whose start time it is. agentId AGENT_NONE untracks;
   * a process that has exited is never tracked again.
   */
  decide(pid: number, startNs: bigint | null, expectAgentPid: number, agentId: number, newAgentPid?: number): DecideResult;
  /**
   * Resolves once every setRule/track/untrack so far is in force in the
   * kernel (bpftrace applies them asynchronously; libbpf at once).
   */
  settled?(): Promise<void>;
  counters(): BackendCounters;
  /** kernel hooks this host lacks and that were left out */
  unavailable(): string[];
  /**
   * Only where a thread of the backend stays at normal priority to watch the
   * others (libbpf's ring reader): puts these threads at idle priority,
   * raised while events wait for them (sensor/background-threads.ts).
   */
  idleThreads?(tids: number[]): void;
  /** JS keeps up (idleThreads): said at least every priority().aliveEveryMs once said, else the threads are raised */
  alive?(): void;
  /** the state of idleThreads, when the backend has it */
  priority?(): ThreadPriority | undefined;
  stop(): Promise<void>;
}
