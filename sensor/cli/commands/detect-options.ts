// The detection flags `sensor run` (embedded collector) and `sensor collector`
// share, and the options they give the collector: each agent's grants and
// `detect:` section from agents.yaml, defaults from the flags.
import { InvalidArgumentError, type Command } from 'commander';
import { parseDuration } from '../../../collector/detect/duration.js';
import { DEFAULT_LEARNING, type DetectionOptions } from '../../../collector/detect/settings.js';
import { sensitiveClassesOf, type AgentSpec } from '../../agents/config.js';

export interface DetectFlags {
  detect: boolean;
  learnDuration?: string;
  learnMinEvents?: number;
  passwdFile?: string;
}

const duration = (v: string): string => {
  if (parseDuration(v) === null) throw new InvalidArgumentError('expected a duration such as 90s, 10m, 3h or 7d');
  return v;
};
const count = (v: string): number => {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError('expected a non-negative integer');
  return n;
};

export function addDetectFlags(cmd: Command): Command {
  return cmd
    .option('--no-detect', 'store events without judging them (no baselines, no alerts)')
    .option('--learn-duration <dur>', `learning lasts at least this long per agent (default ${DEFAULT_LEARNING.duration})`, duration)
    .option('--learn-min-events <n>', `and sees at least this many events (default ${DEFAULT_LEARNING.minEvents})`, count)
    .option('--passwd-file <file>', 'where home directories of uids are read, for ~ in grants and baselines', '/etc/passwd');
}

export function detectionOptions(flags: DetectFlags, agents: AgentSpec[]): DetectionOptions | undefined {
  if (!flags.detect) return undefined;
  const learning: { duration?: string; minEvents?: number } = {};
  if (flags.learnDuration !== undefined) learning.duration = flags.learnDuration;
  if (flags.learnMinEvents !== undefined) learning.minEvents = flags.learnMinEvents;
  return {
    defaults: { learning },
    agents: agents.map((a) => ({ name: a.name, grants: a.grants, detect: a.detect })),
    passwdFile: flags.passwdFile,
    ...(sensitiveClassesOf(agents) ? { sensitive: sensitiveClassesOf(agents) } : {}),
  };
}
