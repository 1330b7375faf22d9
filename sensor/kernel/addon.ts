// The native addon (native/, built into build/Release/agent_sensor.node):
// its JS API typed, and where to find it from source (vitest) or dist/.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface AddonOptions {
  ringBytes: number;
  traceAll: boolean;
  selfPid: number;
  wakeupBytes?: number;
  pollMs?: number;
  batchBytes?: number;
  trackedMax?: number;
  watchCompat?: boolean;
  watchOpenRaces?: boolean;
}

export interface TrackedEntry {
  agentId: number;
  agentPid: number;
  startNs: bigint;
  flags: number;
}

export interface AddonCounters {
  truncated: number;
  pendingFull: number;
  trackedFull: number;
  /** index = event type; kernel ring-full drops plus batches the queue to JS dropped */
  lost: number[];
  lostTotal: number;
  delivered: number;
  batches: number;
  queueDropped: number;
  malformed?: number;
  pollError?: number;
  staleTracked?: number;
  restarted?: number;
  compatSyscalls?: number;
  /** agent id -> processes the kernel could not track (non-zero only) */
  agentUntracked?: Record<string, number>;
}

export interface KernelSensorHandle {
  start(): void;
  stop(): void;
  setRule(kind: 'comm' | 'exe' | 'cgroup', key: string | bigint | Buffer, agentId: number, candidate: boolean): void;
  deleteRule(kind: 'comm' | 'exe' | 'cgroup', key: string | bigint | Buffer): void;
  track(tgid: number, agentId: number, candidate?: boolean, startNs?: bigint, agentPid?: number): void;
  untrack(tgid: number): void;
  decide(tgid: number, startNs: bigint | undefined, expectAgentPid: number, agentId: number, newAgentPid?: number): 'ok' | 'gone' | 'stale';
  trackedAgent(tgid: number): number | null;
  trackedEntry(tgid: number): TrackedEntry | null;
  counters(): AddonCounters;
  unavailable(): string[];
  /** these threads at SCHED_IDLE, raised by the ring reader while a batch waits for JS (native/src/thread_policy.h) */
  idleThreads(tids: number[]): void;
  priority(): ThreadPriority;
  /** JS runs and keeps up: to be said at least every aliveEveryMs once said at all, else the threads are raised */
  alive(): void;
}

export interface ThreadPriority {
  /** threads were handed over */
  enabled: boolean;
  /** raised to normal priority now */
  boosted: boolean;
  threads: number;
  boosts: number;
  boostedMs: number;
  /** -errno of the last change refused, 0 if none */
  lastError: number;
  /** how long a batch may wait for JS before the threads are raised */
  boostAfterMs: number;
  /** how often JS says alive() (once it has) */
  aliveEveryMs: number;
}

export interface AgentSensorAddon {
  KernelSensor: new (options: AddonOptions, onBatch: (buf: Buffer) => void) => KernelSensorHandle;
}

/** The package root: the nearest directory up from this file with our package.json. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && JSON.parse(readFileSync(pkg, 'utf8')).name === 'agent-sensor') return dir;
    dir = dirname(dir);
  }
  throw new Error('cannot find the agent-sensor package root');
}

export function addonPath(): string {
  return join(packageRoot(), 'build/Release/agent_sensor.node');
}

export function loadAddon(): AgentSensorAddon {
  const path = addonPath();
  if (!existsSync(path)) {
    throw new Error(`native addon not built (${path} missing): run \`bash scripts/build.sh --native\``);
  }
  return createRequire(import.meta.url)(path) as AgentSensorAddon;
}
