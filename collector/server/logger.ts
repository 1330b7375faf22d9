// The process logger for the collector and sensor commands, on stderr
// (stdout stays free for command output), level from LOG_LEVEL. JSON lines,
// except on a terminal, where a person reads them: there, human lines
// (./pretty-log.ts). LOG_FORMAT=json or LOG_FORMAT=pretty overrides.
import { isatty } from 'node:tty';
import { destination, pino, type Logger } from 'pino';
import { prettyDestination } from './pretty-log.js';

export function processLogger(name = 'agent-sensor'): Logger {
  const options = { name, level: process.env.LOG_LEVEL ?? 'info' };
  const format = process.env.LOG_FORMAT || (isatty(2) ? 'pretty' : 'json');
  if (format === 'pretty') return pino(options, prettyDestination(2, isatty(2) && !process.env.NO_COLOR));
  return pino(options, destination({ fd: 2, sync: true }));
}
