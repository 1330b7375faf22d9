// `sensor release --agent NAME | --agent-pid N [--reason TEXT]`: undoes
// `sensor isolate`: the instance's processes (and those the kernel added at
// fork) leave the contained map, a frozen instance is thawed and moved back
// to its cgroups, and the release is recorded in the store.
import type { Command } from 'commander';
import { cgroup2Mount } from '../../launch/cgroup-v2.js';
import { instancesInForceOf, releaseInstanceAll } from '../../response/containment.js';
import { openStoreIfAny, resolveInstances, type InstanceRef } from '../../response/instances.js';
import { addInstanceOptions, checkInstanceChoice, NoInstanceError, type InstanceOptions } from './isolate.js';

async function runRelease(opts: InstanceOptions & { reason?: string }): Promise<void> {
  checkInstanceChoice(opts);
  const byRoot = new Map<number, InstanceRef>();
  if (opts.agent !== undefined) {
    for (const i of instancesInForceOf(opts.stateDir, opts.agent)) byRoot.set(i.rootPid, i);
    const db = openStoreIfAny(opts.stateDir);
    try {
      for (const i of resolveInstances({ agent: opts.agent, mount: cgroup2Mount(), db })) byRoot.set(i.rootPid, i);
    } finally {
      db?.close();
    }
  } else {
    byRoot.set(opts.agentPid!, { rootPid: opts.agentPid!, agent: null });
  }
  if (!byRoot.size) throw new NoInstanceError(`nothing of agent ${opts.agent} is isolated or running`);
  for (const inst of byRoot.values()) {
    const r = await releaseInstanceAll(inst, { stateDir: opts.stateDir, reason: opts.reason ?? null });
    if (opts.json) {
      process.stdout.write(`${JSON.stringify({ rootPid: r.rootPid, agent: r.agent, released: r.released, refusedWhileIsolated: r.denied, thawed: r.thawed, record: r.record.id })}\n`);
    } else {
      process.stdout.write(`released instance ${r.rootPid}${r.agent ? ` of ${r.agent}` : ''}: ${r.released} processes left the contained set ` +
        `(${r.denied} egress attempts refused meanwhile)${r.thawed ? ', thawed' : ''}; record ${r.record.id}\n`);
    }
  }
}

export function register(program: Command): void {
  addInstanceOptions(program
    .command('release')
    .description('Undo `sensor isolate`: restore the instance\'s network egress and thaw it; recorded in the store')
    .addHelpText('after', '\nExit: 0 released, 1 error, 2 bad arguments, 3 nothing to release.'))
    .option('--reason <text>', 'why (kept with who and when)')
    .action(runRelease);
}
