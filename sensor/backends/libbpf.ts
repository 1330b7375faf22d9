// The libbpf backend: the native addon loads the BPF programs, reads the ring
// buffer on its own thread and hands batches of raw records to JS, which the
// decoder (../kernel/decode.ts) turns into events.
import type { SensorEvent } from '../../proto/events/types.js';
import { loadAddon, type KernelSensorHandle, type ThreadPriority, type TrackedEntry } from '../kernel/addon.js';
import { measureBootClock } from '../kernel/clock.js';
import { KernelDecoder, type DnsParser } from '../kernel/decode.js';
import { parseDnsPayload } from '../kernel/dns-parser.js';
import type { Backend, BackendCounters, BackendOptions, DecideResult, KernelEvent, KernelRule } from './backend.js';

const TYPE_NAMES: (SensorEvent['type'] | null)[] = [null, 'exec', 'fork', 'exit', 'open', 'connect', 'unlink', 'rename', 'link', 'dns'];
const DEFAULT_RING_BYTES = 16 << 20;

export interface LibbpfTuning {
  /** ms the reader thread waits in ring_buffer__poll */
  pollMs?: number;
  batchBytes?: number;
  wakeupBytes?: number;
  /** override the DNS payload parser (tests) */
  parseDns?: DnsParser | null;
}

export class LibbpfBackend implements Backend {
  readonly name = 'libbpf' as const;
  private handle: KernelSensorHandle | null = null;
  private decoder: KernelDecoder | null = null;
  private decodeErrors = 0;

  constructor(private readonly options: BackendOptions, private readonly tuning: LibbpfTuning = {}) {}

  async start(onEvents: (events: KernelEvent[]) => void): Promise<void> {
    const addon = loadAddon();
    const parseDns = this.tuning.parseDns !== undefined ? this.tuning.parseDns : parseDnsPayload;
    const decoder = new KernelDecoder(measureBootClock(), parseDns);
    this.decoder = decoder;
    const handle = new addon.KernelSensor({
      ringBytes: this.options.ringBytes ?? DEFAULT_RING_BYTES,
      traceAll: this.options.traceAll,
      selfPid: this.options.selfPid,
      trackedMax: this.options.trackedMax,
      watchCompat: this.options.watchCompat,
      watchOpenRaces: this.options.watchOpenRaces,
      pollMs: this.tuning.pollMs,
      batchBytes: this.tuning.batchBytes,
      wakeupBytes: this.tuning.wakeupBytes,
    }, (buf) => {
      let events: KernelEvent[];
      try {
        events = decoder.decode(buf);
      } catch {
        this.decodeErrors++;
        return;
      }
      if (events.length > 0) onEvents(events);
    });
    handle.start(); // throws with .code/.errno and a message naming what failed
    this.handle = handle;
  }

  setRule(rule: KernelRule): void {
    this.running().setRule(rule.kind, rule.key, rule.agentId, rule.candidate);
  }

  deleteRule(rule: Omit<KernelRule, 'agentId' | 'candidate'>): void {
    this.running().deleteRule(rule.kind, rule.key);
  }

  track(pid: number, agentId: number, candidate = false, agentPid?: number): void {
    this.running().track(pid, agentId, candidate, undefined, agentPid);
  }

  decide(pid: number, startNs: bigint | null, expectAgentPid: number, agentId: number, newAgentPid?: number): DecideResult {
    return this.running().decide(pid, startNs ?? undefined, expectAgentPid, agentId, newAgentPid);
  }

  /** the kernel's whole entry for a process, or null (tests, diagnostics) */
  trackedEntry(pid: number): TrackedEntry | null {
    return this.running().trackedEntry(pid);
  }

  untrack(pid: number): void {
    try {
      this.running().untrack(pid);
    } catch (err) {
      if ((err as { code?: string }).code !== 'ENOENT') throw err; // already gone: nothing to undo
    }
  }

  /** the kernel's view of a process: agent id, or null when untracked (tests, diagnostics) */
  trackedAgent(pid: number): number | null {
    return this.running().trackedAgent(pid);
  }

  counters(): BackendCounters {
    const c = this.handle?.counters();
    const lostByType: BackendCounters['lostByType'] = {};
    c?.lost.forEach((n, t) => {
      const name = TYPE_NAMES[t];
      if (n > 0 && name) lostByType[name] = n;
    });
    const stats = this.decoder?.stats;
    return {
      delivered: c?.delivered ?? 0,
      lost: c?.lostTotal ?? 0,
      lostByType,
      truncated: c?.truncated ?? 0,
      untrackedByAgent: Object.fromEntries(Object.entries(c?.agentUntracked ?? {}).map(([k, n]) => [Number(k), n])),
      other: {
        pendingFull: c?.pendingFull ?? 0,
        trackedFull: c?.trackedFull ?? 0,
        staleTracked: c?.staleTracked ?? 0,
        restartedSyscalls: c?.restarted ?? 0,
        compatSyscalls: c?.compatSyscalls ?? 0,
        batches: c?.batches ?? 0,
        queueDropped: c?.queueDropped ?? 0,
        nativeMalformed: c?.malformed ?? 0,
        pollError: c?.pollError ?? 0,
        decodeMalformed: stats?.malformed ?? 0,
        decodeUnknownType: stats?.unknownType ?? 0,
        dnsUnparsed: stats?.dnsUnparsed ?? 0,
        decodeErrors: this.decodeErrors,
      },
    };
  }

  unavailable(): string[] {
    return this.handle?.unavailable() ?? [];
  }

  idleThreads(tids: number[]): void {
    this.running().idleThreads(tids);
  }

  alive(): void {
    this.handle?.alive();
  }

  priority(): ThreadPriority | undefined {
    return this.handle?.priority();
  }

  async stop(): Promise<void> {
    const h = this.handle;
    if (!h) return;
    h.stop(); // detaches, drains the ring, then queued batches still reach onBatch
    // Let the queued batches arrive: they are delivered on later event-loop turns.
    let last = -1;
    for (let i = 0; i < 50 && h.counters().batches !== last; i++) {
      last = h.counters().batches;
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  private running(): KernelSensorHandle {
    if (!this.handle) throw new Error('libbpf backend is not started');
    return this.handle;
  }
}
