// The console's only writes: isolate, freeze and release one instance, by
// the same functions `sensor isolate` and `sensor release` call
// (sensor/response/containment.ts), recorded in the store with the console
// named as the actor.
import { instancePidsFromStore } from '../../collector/query/instance-events.js';
import { cgroup2Mount } from '../launch/cgroup-v2.js';
import { defaultActor, isolateInstance, releaseInstanceAll } from '../response/containment.js';
import { openStoreIfAny, resolveInstances } from '../response/instances.js';
import { ApiError } from './api.js';

export type ContainmentAction = 'isolate' | 'freeze' | 'release';
export const ACTIONS: readonly ContainmentAction[] = ['isolate', 'freeze', 'release'];

export async function containmentAction(stateDir: string, action: ContainmentAction, agentPid: number, reason: string | null): Promise<unknown> {
  const actor = `${defaultActor()} via sensor ui`;
  if (action === 'release') {
    const r = await releaseInstanceAll({ rootPid: agentPid, agent: null }, { stateDir, reason, actor });
    return { action, rootPid: r.rootPid, agent: r.agent, released: r.released, refusedWhileIsolated: r.denied, thawed: r.thawed, record: r.record.id };
  }
  const mount = cgroup2Mount();
  // A separate handle: the console's long-lived one is read-only, as is this (the record goes through recordResponse).
  const db = openStoreIfAny(stateDir);
  let target;
  let known: number[] = [];
  try {
    target = resolveInstances({ agentPid, mount, db })[0];
    if (target && db) known = [...instancePidsFromStore(db, target.rootPid).pids];
  } finally {
    db?.close();
  }
  if (!target) throw new ApiError(404, `no instance ${agentPid}`);
  try {
    const r = await isolateInstance(target, {
      stateDir, reason, actor, knownPids: known,
      ...(action === 'freeze' ? { network: false, freeze: true } : { mode: 'deny' as const }),
    });
    return {
      action, rootPid: r.rootPid, agent: r.agent, pids: r.pids, network: r.network, frozen: r.frozen?.frozen ?? false,
      cut: r.cut.filter((c) => c.error === 0).length, record: r.record.id,
    };
  } catch (err) {
    throw new ApiError(409, (err as Error).message);
  }
}
