// `sensor launch --agent NAME -- CMD ARGS...`: runs CMD as an instance of
// agent NAME, watched from its first exec. launch makes a cgroup v2 leaf,
// asks the running `sensor run` (found through --state-dir) to add a rule for
// that cgroup and waits until the rule is in force, then runs CMD inside it
// (exec-shim.ts). CMD's exit code is launch's; signals sent to launch go to
// CMD. The cgroup is removed when it empties: here if CMD left nothing
// behind, else by the sensor once its descendants are gone.
import type { Command } from 'commander';
import { constants as osConstants } from 'node:os';
import { DEFAULT_STATE_DIR } from '../../../collector/store/schema.js';
import { DEFAULT_COLLECTOR_ADDRESS } from '../../../proto/transport/address.js';
import { AGENT_NAME_PATTERN, AGENT_NAME_RULE, ConfigError, loadAgentConfig } from '../../agents/config.js';
import { cgroup2Mount, cgroupPopulated, makeLaunchCgroup, removeCgroup } from '../../launch/cgroup-v2.js';
import { spawnInCgroup } from '../../launch/exec-shim.js';
import { endLaunch, registerLaunch } from '../../launch/launch-client.js';
import { readRunAddress, RUN_ADDRESS_FILE } from '../../launch/run-address.js';

interface LaunchOptions {
  agent: string;
  config?: string;
  stateDir: string;
  socket?: string;
}

// SIGINT and SIGQUIT from a terminal already reach CMD (same process group):
// forwarding them too would deliver each twice.
const FORWARDED: NodeJS.Signals[] = ['SIGTERM', 'SIGHUP', 'SIGUSR1', 'SIGUSR2', 'SIGINT', 'SIGQUIT', 'SIGWINCH'];
const FROM_TERMINAL = new Set<NodeJS.Signals>(['SIGINT', 'SIGQUIT', 'SIGWINCH']);

function sensorAddress(opts: LaunchOptions): string {
  if (opts.socket) return opts.socket;
  const written = readRunAddress(opts.stateDir);
  if (written) return written;
  if (opts.stateDir === DEFAULT_STATE_DIR) return DEFAULT_COLLECTOR_ADDRESS;
  throw new Error(`no running \`sensor run\` owns ${opts.stateDir} (it writes ${RUN_ADDRESS_FILE} there while it runs); start one with \`sensor run --state-dir ${opts.stateDir}\``);
}

async function launch(command: string[], opts: LaunchOptions): Promise<void> {
  if (!AGENT_NAME_PATTERN.test(opts.agent)) throw new ConfigError(`--agent ${opts.agent}: ${AGENT_NAME_RULE}`);
  if (opts.config && !loadAgentConfig(opts.config).some((a) => a.name === opts.agent)) {
    process.stderr.write(`sensor launch: ${opts.agent} is not in ${opts.config}: it runs as an agent without grants\n`);
  }
  if (process.getuid?.() !== 0) throw new Error('sensor launch must run as root (it makes a cgroup and registers it with the sensor)');
  const address = sensorAddress(opts);
  const cgroup = makeLaunchCgroup(cgroup2Mount(), opts.agent);
  try {
    await registerLaunch(address, opts.agent, cgroup.path);
  } catch (err) {
    removeCgroup(cgroup.path);
    throw err;
  }
  const [cmd, ...args] = command as [string, ...string[]];
  const child = spawnInCgroup(cgroup.path, cmd, args);
  const interactive = process.stdin.isTTY === true;
  const forward = (sig: NodeJS.Signals) => {
    if (!(interactive && FROM_TERMINAL.has(sig))) child.kill(sig);
  };
  for (const sig of FORWARDED) process.on(sig, forward);
  const outcome = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('error', (err) => {
      process.stderr.write(`sensor launch: cannot start the shim: ${err.message}\n`);
      resolve({ code: 127, signal: null });
    });
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  for (const sig of FORWARDED) process.off(sig, forward);
  await releaseCgroup(address, cgroup.path);
  if (outcome.signal) {
    process.kill(process.pid, outcome.signal); // die the way CMD died, as a shell reports it
    process.exit(128 + (osConstants.signals[outcome.signal] ?? 0));
  }
  process.exit(outcome.code ?? 1);
}

/** Tells the sensor CMD is done; if it cannot be told, removes the cgroup here when empty. */
async function releaseCgroup(address: string, cgroup: string): Promise<void> {
  try {
    await endLaunch(address, cgroup);
    return;
  } catch (err) {
    process.stderr.write(`sensor launch: ${(err as Error).message}\n`);
  }
  if (!cgroupPopulated(cgroup) && removeCgroup(cgroup)) return;
  process.stderr.write(`sensor launch: ${cgroup} still has processes; remove it once they exit\n`);
}

export function register(program: Command): void {
  program
    .command('launch')
    .description('Run a command as an instance of an agent, watched from its first exec (needs a running `sensor run`)')
    .requiredOption('--agent <name>', 'the agent it is an instance of (a name absent from the config is an agent without grants)')
    .option('--config <file>', 'agents file to check the name against (the running sensor\'s rules decide)')
    .option('--state-dir <dir>', 'state dir of the running `sensor run`; its socket is found there', DEFAULT_STATE_DIR)
    .option('--socket <addr>', 'the running sensor\'s socket (unix:///path), instead of finding it through --state-dir')
    .argument('<command...>', 'the command and its arguments, after --')
    .passThroughOptions()
    .action((command: string[], opts: LaunchOptions) => launch(command, opts));
}
