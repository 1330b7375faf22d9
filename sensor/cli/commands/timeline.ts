// `sensor timeline --agent NAME | --agent-pid N [--since] [--until] [--json]`:
// one chronology of an agent instance from the store (read-only): its process
// tree, reads with hashes, writes, deletes, renames, connects with host names,
// alerts and containment actions.
import type { Command } from 'commander';
import { storedAgentRoots } from '../../../collector/query/instance-events.js';
import { parseTimeSpec } from '../../../collector/query/time-spec.js';
import { buildTimeline, renderTimeline } from '../../../collector/query/timeline.js';
import { cgroup2Mount } from '../../launch/cgroup-v2.js';
import { instanceRootFor } from '../../response/instances.js';
import { addInstanceOptions, checkInstanceChoice, NoInstanceError, type InstanceOptions } from './isolate.js';
import { openStoreReadOnly } from './query.js';

interface TimelineOptions extends InstanceOptions {
  since?: string;
  until?: string;
}

const json = (v: unknown): string => JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x));

/** A running `sensor launch`'s pid names its instance (see instanceRootFor). */
export function launchedRoot(pid: number): number {
  try {
    return instanceRootFor(cgroup2Mount(), pid)?.rootPid ?? pid;
  } catch {
    return pid; // no cgroup v2: no launches either
  }
}

async function runTimeline(opts: TimelineOptions): Promise<void> {
  checkInstanceChoice(opts);
  const store = openStoreReadOnly(opts.stateDir);
  try {
    const db = store.database;
    const roots = opts.agentPid !== undefined ? [launchedRoot(opts.agentPid)] : storedAgentRoots(db, opts.agent!);
    if (!roots.length) throw new NoInstanceError(`no instance of agent ${opts.agent} in the store in ${opts.stateDir}`);
    const sinceNs = opts.since !== undefined ? parseTimeSpec(opts.since) : undefined;
    const untilNs = opts.until !== undefined ? parseTimeSpec(opts.until) : undefined;
    const parts: string[] = [];
    for (const rootPid of roots) {
      const t = buildTimeline(db, { rootPid, sinceNs, untilNs });
      parts.push(opts.json ? json(t) : renderTimeline(t));
    }
    process.stdout.write(`${parts.join(opts.json ? '\n' : '\n\n')}\n`);
  } finally {
    await store.close();
  }
}

export function register(program: Command): void {
  addInstanceOptions(program
    .command('timeline')
    .description('One chronology of an agent instance from the store: process tree, reads with hashes, writes, deletes, renames, connects, alerts')
    .addHelpText('after', '\n--json prints one JSON object per instance (tree, entries with the stored events).\nExit: 0 shown, 1 error, 2 bad arguments, 3 no such instance in the store.'))
    .option('--since <time>', 'from this time: 10m, 2h, 7d, ISO-8601 or epoch ns')
    .option('--until <time>', 'before this time (same forms)')
    .action(runTimeline);
}
