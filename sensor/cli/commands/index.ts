// One line per subcommand; each module exports `register(program)`.
import type { Command } from 'commander';
import { register as agents } from './agents.js';
import { register as alerts } from './alerts.js';
import { register as baseline } from './baseline.js';
import { register as collect } from './collect.js';
import { register as collector } from './collector.js';
import { register as forward } from './forward.js';
import { register as isolate } from './isolate.js';
import { register as launch } from './launch.js';
import { register as run } from './run.js';
import { register as query } from './query.js';
import { register as release } from './release.js';
import { register as rules } from './rules.js';
import { register as service } from './service.js';
import { register as status } from './status.js';
import { register as timeline } from './timeline.js';
import { register as ui } from './ui.js';
import { register as verify } from './verify.js';
import { register as watch } from './watch.js';

export type RegisterCommand = (program: Command) => void;

export const COMMANDS: RegisterCommand[] = [
  agents,
  alerts,
  baseline,
  collect,
  collector,
  forward,
  isolate,
  launch,
  run,
  query,
  release,
  rules,
  service,
  status,
  timeline,
  ui,
  verify,
  watch,
];
