// `sensor watch`: run the sensor in the foreground and print events as they
// happen, as human lines or (--json) one JSON object per line. SIGINT or
// SIGTERM stops it and prints what was delivered and lost to stderr.
import { Command, Option } from 'commander';
import { ConfigError, adHocAgents, carrySensitiveClasses, loadAgentConfig, type AgentSpec } from '../../agents/config.js';
import { createBackend, type BackendChoice } from '../../backends/choose.js';
import type { SensorEvent } from '../../../proto/events/types.js';
import { eventLine } from '../../output/human.js';
import { eventJson } from '../../output/json.js';
import { lossText } from '../../loss.js';
import { Sensor, type SensorCounters } from '../../sensor.js';
import type { BackendName } from '../../backends/backend.js';
import { collect } from '../arguments.js';
import { untilSignal } from '../signals.js';
import { whenOutputClosed } from '../../output/stdout.js';
import { tuneJitForLongRunning } from '../jit-tiering.js';

interface WatchOptions {
  agentExe: string[];
  agentComm: string[];
  config?: string;
  all?: boolean;
  json?: boolean;
  backend: BackendChoice;
  ringBytes?: string;
  trackedMax?: string;
  watchCompat?: boolean;
  watchOpenRaces?: boolean;
}

/** bytes of lines stdout may hold unwritten before batches are dropped */
const MAX_PENDING_OUTPUT = 64 << 20;
const log = (msg: string): void => {
  process.stderr.write(`sensor: ${msg}\n`);
};

export function agentsFromOptions(opts: Pick<WatchOptions, 'agentExe' | 'agentComm' | 'config' | 'all'>): AgentSpec[] {
  const fromFile = opts.config ? loadAgentConfig(opts.config) : [];
  const agents = carrySensitiveClasses(fromFile, [...fromFile, ...adHocAgents(opts.agentExe, opts.agentComm)]);
  const names = new Set<string>();
  for (const a of agents) {
    if (names.has(a.name)) throw new ConfigError(`agent "${a.name}" is defined twice (config file and command line)`);
    names.add(a.name);
  }
  if (agents.length === 0 && !opts.all) {
    throw new ConfigError('no agents to watch: give --agent-exe PATH, --agent-comm NAME or --config FILE, or --all to trace every process');
  }
  return agents;
}

/** The start message for what the backend does not see: the kernel's gaps (libbpf) or the fallback's own limits. */
export function unavailableText(backend: BackendName): string {
  return backend === 'bpftrace'
    ? 'the bpftrace fallback does not see (libbpf does)'
    : 'hooks this kernel lacks, left out';
}

/** "a, b" or "every process (agents: a, b)", naming agents listed but left with no rule. */
export function watchedText(sensor: Sensor, all: boolean): string {
  const unwatched = new Set(sensor.registry.unwatched());
  const names = sensor.registry.agents.map((a) => a.spec.name).filter((n) => !unwatched.has(n));
  const gone = unwatched.size ? `; not watched, no rule left: ${[...unwatched].join(', ')}` : '';
  if (all) return `every process${names.length ? ` (agents: ${names.join(', ')})` : ''}${gone}`;
  return `${names.length ? names.join(', ') : 'no agent'}${gone}`;
}

export function countersText(c: SensorCounters): string {
  const lost = Object.entries(c.lostByType).map(([t, n]) => `${t} ${n}`).join(', ');
  const s = c.sensor;
  return [
    `delivered ${c.delivered}, lost ${c.lost}${lost ? ` (${lost})` : ''}, truncated ${c.truncated}`,
    `agents: ${s.alreadyRunning} running at start, ${s.confirmed} interpreter(s) confirmed, ${s.rejected} rejected, ` +
      `${s.dropped} candidate event(s) dropped, ${s.expired} expired undecided`,
    lossText(c),
    `other: ${Object.entries(c.other).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(', ') || 'none'}`,
  ].join('\n');
}

async function watch(opts: WatchOptions): Promise<void> {
  tuneJitForLongRunning();
  const agents = agentsFromOptions(opts);
  const ringBytes = opts.ringBytes !== undefined ? Number(opts.ringBytes) : undefined;
  const trackedMax = opts.trackedMax !== undefined ? Number(opts.trackedMax) : undefined;
  if (trackedMax !== undefined && !(Number.isInteger(trackedMax) && trackedMax > 0 && trackedMax <= 1 << 24)) {
    throw new ConfigError(`--tracked-max must be a whole number from 1 to ${1 << 24}, got ${JSON.stringify(opts.trackedMax)}`);
  }
  const backend = createBackend(opts.backend, { traceAll: opts.all ?? false, selfPid: process.pid, ringBytes, trackedMax, watchCompat: opts.watchCompat, watchOpenRaces: opts.watchOpenRaces }, log);
  const sensor = new Sensor({ backend, agents, traceAll: opts.all ?? false, log });
  const format = opts.json ? eventJson : eventLine;
  let outputBroken = false;
  whenOutputClosed(() => {
    outputBroken = true; // e.g. `| head` closed the pipe: stop like on a signal
    process.kill(process.pid, 'SIGTERM');
  });
  let outputDropped = 0;
  sensor.onEvents((events: SensorEvent[]) => {
    if (outputBroken) return;
    // A terminal or pipe slower than the kernel: drop (and count) rather than buffer without bound.
    if (process.stdout.writableLength > MAX_PENDING_OUTPUT) {
      outputDropped += events.length;
      return;
    }
    let text = '';
    for (const ev of events) text += format(ev) + '\n';
    process.stdout.write(text);
  });
  await sensor.start();
  const missing = sensor.backend.unavailable();
  if (missing.length > 0) log(`${unavailableText(sensor.backend.name)}: ${missing.join('; ')}`);
  log(`watching ${watchedText(sensor, opts.all ?? false)}; Ctrl-C to stop`);

  await untilSignal(() => log(countersText(sensor.counters())));
  await sensor.stop();
  log(`stopped\n${countersText(sensor.counters())}${outputDropped ? `\nnot printed (output too slow): ${outputDropped}` : ''}`);
}

export function register(program: Command): void {
  program
    .command('watch')
    .description('Print agent events live (exec, fork, exit, open, connect, unlink, rename, link, dns)')
    .option('--agent-exe <path>', 'an agent by the path it is exec\'d as (repeatable)', collect, [])
    .option('--agent-comm <name>', 'an agent by its comm, at most 15 bytes (repeatable)', collect, [])
    .option('--config <file>', 'agents from a YAML file (see sensor/agents/README.md)')
    .option('--all', 'trace every process, not only agents')
    .option('--json', 'one JSON object per line, field names as in the event schema')
    .addOption(new Option('--backend <name>', 'kernel backend').choices(['auto', 'libbpf', 'bpftrace']).default('auto'))
    .addOption(new Option('--ring-bytes <n>', 'ring buffer size, a power of two (libbpf)').hideHelp())
    .option('--watch-compat', 'flag agents that make 32-bit syscalls, which are otherwise not seen (libbpf, x86-64; costs a BPF program run on every syscall of the machine)')
    .option('--watch-open-races', 'also read open paths at syscall entry, flagging a path another thread rewrote while the open blocked (libbpf; costs a BPF program run on every open of the machine)')
    .option('--tracked-max <n>', 'processes the kernel can track at once (libbpf; default 65536); past it an agent\'s new processes are flagged untracked and counted')
    .action(watch);
}
