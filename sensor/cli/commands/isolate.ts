// `sensor isolate --agent NAME | --agent-pid N [--freeze] [--reason TEXT]`:
// cuts the instance's network egress in the kernel (IPv4 and IPv6 connects,
// UDP sends, raw and ICMP sockets), for its later children too, optionally
// freezes it, and records who, when and why in the store. Stays in force
// after this command exits and across sensor restarts, until `sensor release`.
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { DEFAULT_STATE_DIR } from '../../../collector/store/schema.js';
import { cgroup2Mount } from '../../launch/cgroup-v2.js';
import { isolateInstance } from '../../response/containment.js';
import { setLoopbackPorts, type EgressMode } from '../../response/egress-control.js';
import { parseGrant } from '../../response/egress-grants.js';
import { openStoreIfAny, resolveInstances } from '../../response/instances.js';
import { instancePidsFromStore } from '../../../collector/query/instance-events.js';

export interface InstanceOptions {
  stateDir: string;
  agent?: string;
  agentPid?: number;
  json?: boolean;
}

interface IsolateOptions extends InstanceOptions {
  freeze?: boolean;
  reason?: string;
  shadow?: boolean;
  allowLoopbackPort: number[];
  allow: string[];
  keepConnections?: boolean;
}

export function pidArg(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('expected a process id (a positive integer)');
  return n;
}

function grantArg(v: string, prev: string[]): string[] {
  try {
    parseGrant(v);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
  return [...prev, v];
}

function portArg(v: string, prev: number[]): number[] {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 1 || n > 65535) throw new InvalidArgumentError('expected a port 1-65535');
  return [...prev, n];
}

export class NoInstanceError extends Error {
  readonly exitCode = 3;
}

export function addInstanceOptions(cmd: Command): Command {
  return cmd
    .option('--state-dir <dir>', 'the collector\'s state directory', DEFAULT_STATE_DIR)
    .option('--agent <name>', 'every live instance of this agent')
    .option('--agent-pid <pid>', 'the instance whose root process (agentPid) this is', pidArg)
    .option('--json', 'one JSON object per instance');
}

export class UsageError extends Error {
  readonly exitCode = 2;
}

export function checkInstanceChoice(opts: InstanceOptions): void {
  if ((opts.agent === undefined) === (opts.agentPid === undefined)) {
    throw new UsageError('name the instance with exactly one of --agent NAME or --agent-pid N');
  }
}

async function runIsolate(opts: IsolateOptions): Promise<void> {
  checkInstanceChoice(opts);
  const mount = cgroup2Mount();
  const db = openStoreIfAny(opts.stateDir);
  let targets;
  const known = new Map<number, number[]>();
  try {
    targets = resolveInstances({ agent: opts.agent, agentPid: opts.agentPid, mount, db });
    for (const t of targets) known.set(t.rootPid, db ? [...instancePidsFromStore(db, t.rootPid).pids] : []);
  } finally {
    db?.close();
  }
  if (!targets.length) throw new NoInstanceError(`no live instance of agent ${opts.agent} found (launch cgroups and the store in ${opts.stateDir})`);
  const grants = opts.allow.length ? opts.allow.map(parseGrant) : undefined;
  const mode: EgressMode = grants ? (opts.shadow ? 'grants-shadow' : 'grants') : opts.shadow ? 'shadow' : 'deny';
  let failed = 0;
  for (const t of targets) {
    try {
      const r = await isolateInstance(t, {
        stateDir: opts.stateDir, freeze: opts.freeze, reason: opts.reason ?? null, mode, grants,
        knownPids: known.get(t.rootPid), keepConnections: opts.keepConnections,
      });
      if (opts.allowLoopbackPort.length) setLoopbackPorts(opts.allowLoopbackPort);
      if (opts.json) {
        process.stdout.write(`${JSON.stringify({ rootPid: r.rootPid, agent: r.agent, pids: r.pids, mode, frozen: r.frozen?.frozen ?? false, frozenCgroup: r.frozen?.cgroup ?? null, cut: r.cut, record: r.record.id })}\n`);
      } else {
        const frozen = r.frozen ? (r.frozen.frozen ? `, frozen (${r.frozen.cgroup})` : `, freeze requested but not confirmed (${r.frozen.cgroup})`) : '';
        process.stdout.write(`${grants ? 'limited egress of' : 'isolated'} instance ${r.rootPid}${r.agent ? ` of ${r.agent}` : ''}: ${r.pids.length} processes ` +
          `(${r.pids.join(' ')})${grants ? `, egress limited to ${opts.allow.join(' ')}` : ''}${opts.shadow ? ' in shadow mode (counted as would_deny, not refused)' : ''}${frozen}${r.cut.length ? `; cut ${r.cut.filter((c) => c.error === 0).length} of ${r.cut.length} open connections to other hosts` : ''}; record ${r.record.id}\n`);
      }
    } catch (err) {
      failed++;
      process.stderr.write(`sensor isolate: instance ${t.rootPid}: ${(err as Error).message}\n`);
    }
  }
  if (failed) process.exitCode = 1;
}

export function register(program: Command): void {
  addInstanceOptions(program
    .command('isolate')
    .description('Cut an agent instance\'s network egress in the kernel (and its later children\'s), optionally freeze it; recorded in the store')
    .addHelpText('after', '\nExit: 0 isolated, 1 an instance could not be isolated, 2 bad arguments, 3 no live instance found.'))
    .option('--freeze', 'also freeze every process of the instance (cgroup v2 freezer)')
    .option('--keep-connections', 'leave connections to other hosts made before isolation up (default: cut them)')
    .option('--reason <text>', 'why (kept with who and when)')
    .option('--allow <dest>', 'enforce grants instead of cutting all egress: allow this CIDR, address or host name, with :PORT or :LO-HI (repeatable)', grantArg, [])
    .option('--shadow', 'count what would be refused without refusing (would_deny)')
    .option('--allow-loopback-port <port>', 'loopback port contained processes may still reach (repeatable; host-wide)', portArg, [])
    .action(runIsolate);
}
