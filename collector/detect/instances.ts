// Agent instances as the events name them: `agentPid` (the root process of
// the instance, set by the kernel and inherited by descendants). Events from
// a sensor that does not send it yet fall back to the process tree as the
// events show it: an agent process whose parent is not one of the agent's is
// a root, and children inherit their parent's root.
import type { SensorEvent } from '../../proto/events/types.js';
import type { Instance } from './detector.js';
import type { MinuteRates } from './minute-rates.js';
import type { OwnOutput } from './own-output.js';

export interface LiveInstance {
  inst: Instance;
  rates: MinuteRates;
  /** per detector id */
  states: Map<string, unknown>;
  events: number;
  lastNs: bigint | null;
  exitCode: number | null;
  /** saved to agent_instances since the last change */
  saved: boolean;
  /** an exec or exit changed it: save at the end of this drain */
  urgent: boolean;
  /** the root's exec has been seen */
  execSeen: boolean;
  /** files the instance wrote whole (reading them back is not a credential read) */
  ownOutput: OwnOutput;
  touchedAt: number;
}

const MAX_FALLBACK_PIDS = 200_000;
const MAX_LIVE = 20_000;

export class InstanceTracker {
  private readonly live = new Map<string, LiveInstance>();
  private readonly rootOf = new Map<string, number>();

  /** The instance the event belongs to; `create` makes one for a root not seen before. */
  resolve(sensorId: string, ev: SensorEvent, create: (agent: string, agentPid: number) => LiveInstance): LiveInstance | null {
    if (ev.agent === null) return null;
    const agentPid = ev.agentPid || this.fallbackRoot(sensorId, ev); // 0 or absent: an older sensor
    const key = `${sensorId}\0${agentPid}`;
    let li = this.live.get(key);
    // The root exec'ing again after its instance ended: the pid was reused for a new instance.
    if (li && li.inst.endNs !== null && ev.type === 'exec' && ev.pid === agentPid) li = undefined;
    if (!li || li.inst.agent !== ev.agent) {
      li = create(ev.agent, agentPid);
      this.live.delete(key);
      this.live.set(key, li);
      if (this.live.size > MAX_LIVE) this.evictOldest();
    }
    li.touchedAt = Date.now();
    if (ev.type === 'exit' && !ev.agentPid) this.rootOf.delete(`${sensorId}\0${ev.pid}`);
    return li;
  }

  /** An instance still running when the collector stopped: events that follow continue it. */
  adopt(li: LiveInstance): void {
    this.live.set(`${li.inst.sensorId}\0${li.inst.agentPid}`, li);
  }

  /** The live entry of an instance, if it is still live (the content feed arrives later). */
  find(inst: Instance): LiveInstance | undefined {
    const li = this.live.get(`${inst.sensorId}\0${inst.agentPid}`);
    return li && li.inst.id === inst.id ? li : undefined;
  }

  all(): IterableIterator<LiveInstance> {
    return this.live.values();
  }

  /** Forgets instances that ended or went quiet long ago. */
  sweep(idleMs: number): LiveInstance[] {
    const now = Date.now();
    const gone: LiveInstance[] = [];
    for (const [k, li] of this.live) {
      if (now - li.touchedAt > idleMs) {
        this.live.delete(k);
        gone.push(li);
      }
    }
    return gone;
  }

  private evictOldest(): void {
    const first = this.live.keys().next().value;
    if (first !== undefined) this.live.delete(first);
  }

  private fallbackRoot(sensorId: string, ev: SensorEvent): number {
    const k = (pid: number) => `${sensorId}\0${pid}`;
    let root = this.rootOf.get(k(ev.pid));
    if (root === undefined) {
      // A fork names the parent: an agent parent unknown so far (it was running before the sensor) is the root.
      root = this.rootOf.get(k(ev.ppid)) ?? (ev.type === 'fork' ? ev.ppid : ev.pid);
      if (ev.type === 'fork' && !this.rootOf.has(k(ev.ppid))) this.rootOf.set(k(ev.ppid), root);
      this.rootOf.set(k(ev.pid), root);
      if (this.rootOf.size > MAX_FALLBACK_PIDS) this.rootOf.delete(this.rootOf.keys().next().value!);
    }
    return root;
  }
}
