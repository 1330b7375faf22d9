// Log lines for a person at a terminal: "12:04:05.123 INFO  sensor.run: sensor
// running  agents=[claude] collector=unix:///…". pino writes its JSON line;
// this rewrites it before it reaches the tty. Under systemd or a pipe the
// JSON stays as it is (logger.ts decides).
import { writeSync } from 'node:fs';

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const COLOURS: Record<number, string> = { 40: '\x1b[33m', 50: '\x1b[31m', 60: '\x1b[31m' };
/** fields every line has, or that the line's head already shows */
const HEAD_FIELDS = new Set(['level', 'time', 'pid', 'hostname', 'name', 'msg', 'module']);

function value(v: unknown): string {
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  // log values can carry agent-controlled text: no raw control characters on the tty
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

export function prettyLine(json: string, colour: boolean): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const t = new Date(typeof o.time === 'number' ? o.time : Date.now());
  const hms = `${String(t.getHours()).padStart(2, '0')}:${String(t.getMinutes()).padStart(2, '0')}:${String(t.getSeconds()).padStart(2, '0')}` +
    `.${String(t.getMilliseconds()).padStart(3, '0')}`;
  const level = typeof o.level === 'number' ? o.level : 30;
  let name = (LEVELS[level] ?? String(level)).padEnd(5);
  if (colour && COLOURS[level]) name = `${COLOURS[level]}${name}\x1b[0m`;
  const fields = Object.entries(o).filter(([k]) => !HEAD_FIELDS.has(k)).map(([k, v]) => `${k}=${value(v)}`);
  const mod = typeof o.module === 'string' ? `${o.module}: ` : '';
  return `${hms} ${name} ${mod}${value(String(o.msg ?? ''))}${fields.length ? `  ${fields.join(' ')}` : ''}\n`;
}

/** A pino destination that writes pretty lines to fd, synchronously (as the JSON destination does). */
export function prettyDestination(fd: number, colour: boolean): { write: (line: string) => void } {
  return {
    write(line: string): void {
      try {
        writeSync(fd, prettyLine(line.trimEnd(), colour));
      } catch {
        // a closed terminal: nothing to tell anyone
      }
    },
  };
}
