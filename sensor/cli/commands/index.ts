// One line per subcommand; each module exports `register(program)`.
import type { Command } from 'commander';
import { register as collector } from './collector.js';
import { register as forward } from './forward.js';
import { register as run } from './run.js';
import { register as query } from './query.js';
import { register as service } from './service.js';
import { register as status } from './status.js';
import { register as verify } from './verify.js';
import { register as watch } from './watch.js';

export type RegisterCommand = (program: Command) => void;

export const COMMANDS: RegisterCommand[] = [
  collector,
  forward,
  run,
  query,
  service,
  status,
  verify,
  watch,
];
