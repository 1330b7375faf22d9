// `sensor timeline --agent NAME | --agent-pid N [--since] [--until] [--json]`:
// one chronology of an agent instance from the store (read-only): its process
// tree, reads with hashes, writes, deletes, renames, connects with host names,
// alerts and containment actions; then the intent lines: each tool call the
// model asked for and the actions it caused, and actions with no tool call.
import type { Command } from 'commander';
import { storedAgentRoots } from '../../../collector/query/instance-events.js';
import { parseTimeSpec } from '../../../collector/query/time-spec.js';
import { buildTimeline, renderTimeline } from '../../../collector/query/timeline.js';
import { attachIntent, renderIntent } from '../../../collector/intent/intent-timeline.js';
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
      const intent = attachIntent(db, t, { sinceNs, untilNs });
      parts.push(opts.json ? json({ ...t, intent }) : renderTimeline(t) + renderIntent(intent));
    }
    process.stdout.write(`${parts.join(opts.json ? '\n' : '\n\n')}\n`);
  } finally {
    await store.close();
  }
}

export function register(program: Command): void {
  addInstanceOptions(program
    .command('timeline')
    .description('One chronology of an agent instance from the store: process tree, reads with hashes, writes, deletes, renames, connects, alerts, and the tool calls behind them')
    .addHelpText('after', '\nThe intent section: one line per tool call the model asked for (from captured model traffic or the agent\'s session files) with what it caused,\ne.g. tool call run_shell_command "cat ~/.ssh/id_rsa" → exec cat → open /home/u/.ssh/id_rsa → alert secret_read,\nand "no tool call → exec ..." for actions nothing the model asked for explains (only where the agent\'s turns are seen).\n--json prints one JSON object per instance (tree, entries with the stored events, intent).\nExit: 0 shown, 1 error, 2 bad arguments, 3 no such instance in the store.'))
    .option('--since <time>', 'from this time: 10m, 2h, 7d, ISO-8601 or epoch ns')
    .option('--until <time>', 'before this time (same forms)')
    .action(runTimeline);
}
