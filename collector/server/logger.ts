// The process logger for the collector and sensor commands: JSON lines on
// stderr (stdout stays free for command output), level from LOG_LEVEL.
import { destination, pino, type Logger } from 'pino';

export function processLogger(name = 'agent-sensor'): Logger {
  return pino({ name, level: process.env.LOG_LEVEL ?? 'info' }, destination({ fd: 2, sync: true }));
}
