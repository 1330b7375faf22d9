// Picks the backend: 'libbpf' (the native addon), 'bpftrace' (fallback for
// hosts where the addon cannot be built or loaded), or 'auto' = libbpf, and
// bpftrace when libbpf fails to start. The choice and its reason go to
// stderr (through `log`) so an operator knows which one is running.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Backend, BackendCounters, BackendName, BackendOptions, DecideResult, KernelEvent, KernelRule, ThreadPriority } from './backend.js';
import { LibbpfBackend } from './libbpf.js';
import { addonPath, packageRoot } from '../kernel/addon.js';

export type BackendChoice = BackendName | 'auto';

async function createBpftrace(options: BackendOptions): Promise<Backend> {
  // loaded only when wanted: it is the fallback and most runs never need it
  let mod: { BpftraceBackend?: new (options: BackendOptions) => Backend };
  try {
    mod = await import('./bpftrace.js');
  } catch (err) {
    throw new Error(`the bpftrace backend is not available: ${(err as Error).message}`);
  }
  if (!mod.BpftraceBackend) throw new Error('the bpftrace backend module does not export BpftraceBackend');
  return new mod.BpftraceBackend(options);
}

/**
 * Why libbpf did not start, for the fallback message. A missing addon is
 * said here: an installed package (.deb) has no scripts/build.sh to point at.
 */
function libbpfFailure(err: unknown): string {
  try {
    const addon = addonPath();
    if (!existsSync(addon)) {
      const fromClone = existsSync(join(packageRoot(), 'scripts/build.sh'));
      return `the native addon is missing (${addon}; ${fromClone ? 'build it with `bash scripts/build.sh --native`' : 'reinstall agent-sensor to restore it'})`;
    }
  } catch {
    // no package root: the error itself says more
  }
  return (err as Error).message;
}

export function createBackend(choice: BackendChoice, options: BackendOptions, log: (msg: string) => void): Backend {
  return new ChosenBackend(choice, options, log);
}

/** Defers the choice to start(), where 'auto' learns whether libbpf loads. */
class ChosenBackend implements Backend {
  private inner: Backend | null = null;

  constructor(private readonly choice: BackendChoice, private readonly options: BackendOptions, private readonly log: (msg: string) => void) {}

  get name(): BackendName {
    return this.inner?.name ?? (this.choice === 'bpftrace' ? 'bpftrace' : 'libbpf');
  }

  async start(onEvents: (events: KernelEvent[]) => void): Promise<void> {
    if (this.choice === 'bpftrace') {
      const b = await createBpftrace(this.options);
      await b.start(onEvents);
      this.inner = b;
      this.log('backend: bpftrace (chosen with --backend bpftrace)');
      return;
    }
    const lib = new LibbpfBackend(this.options);
    try {
      await lib.start(onEvents);
      this.inner = lib;
      this.log(`backend: libbpf (${this.choice === 'libbpf' ? 'chosen with --backend libbpf' : 'native addon loaded'})`);
      return;
    } catch (err) {
      if (this.choice === 'libbpf') throw err;
      this.log(`backend: libbpf failed to start: ${libbpfFailure(err)}; falling back to bpftrace`);
    }
    const b = await createBpftrace(this.options);
    await b.start(onEvents);
    this.inner = b;
    this.log('backend: bpftrace (fallback)');
  }

  setRule(rule: KernelRule): void { this.started().setRule(rule); }
  deleteRule(rule: Omit<KernelRule, 'agentId' | 'candidate'>): void { this.started().deleteRule?.(rule); }
  track(pid: number, agentId: number, candidate?: boolean, agentPid?: number): void {
    this.started().track(pid, agentId, candidate, agentPid);
  }
  decide(pid: number, startNs: bigint | null, expectAgentPid: number, agentId: number, newAgentPid?: number): DecideResult {
    return this.started().decide(pid, startNs, expectAgentPid, agentId, newAgentPid);
  }
  untrack(pid: number): void { this.started().untrack(pid); }
  counters(): BackendCounters {
    return this.inner?.counters() ?? { delivered: 0, lost: 0, lostByType: {}, truncated: 0, other: {} };
  }
  unavailable(): string[] { return this.inner?.unavailable() ?? []; }
  get idleThreads(): ((tids: number[]) => void) | undefined {
    const inner = this.inner;
    return inner?.idleThreads ? (tids) => inner.idleThreads!(tids) : undefined;
  }
  priority(): ThreadPriority | undefined { return this.inner?.priority?.(); }
  alive(): void { this.inner?.alive?.(); }
  async stop(): Promise<void> { await this.inner?.stop(); }

  /** the backend actually running (tests reach the libbpf one's extras through this) */
  get current(): Backend | null { return this.inner; }

  private started(): Backend {
    if (!this.inner) throw new Error('backend not started');
    return this.inner;
  }
}
