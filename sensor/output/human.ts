// A compact line per event for people watching a terminal. Every string from
// the kernel goes through displayString(): a file name can hold a newline or
// an escape sequence, and must not be able to forge lines or recolour a tty.
import { constants } from 'node:os';
import { displayString } from '../../proto/events/bytes.js';
import type { ByteString, SensorEvent } from '../../proto/events/types.js';

const ERRNO_NAMES = new Map<number, string>(Object.entries(constants.errno).map(([name, n]) => [n, name]));

/** '3', or '-ENOENT' for a negative errno */
export function resultText(result: number): string {
  return result < 0 ? `-${ERRNO_NAMES.get(-result) ?? String(-result)}` : String(result);
}

const d = (s: ByteString): string => displayString(s);

function details(ev: SensorEvent): string {
  switch (ev.type) {
    case 'exec':
      return `${d(ev.filename)} [${ev.argv.map(d).join(' ')}]`;
    case 'fork':
      return `child of ${ev.ppid}`;
    case 'exit':
      return ev.signal !== null ? `signal ${ev.signal}` : `code ${ev.code}`;
    case 'open':
      return `${ev.access === 'read' ? 'R' : ev.access === 'write' ? 'W' : 'RW'} ${d(ev.path)} = ${resultText(ev.result)}`;
    case 'connect': {
      const where = ev.family === 'unix' ? d(ev.addr) : ev.family === 'inet6' ? `[${d(ev.addr)}]:${ev.port}` : `${d(ev.addr)}:${ev.port}`;
      return `${ev.proto} ${where}${ev.host ? ` (${ev.host})` : ''}${ev.datagram ? ' (send)' : ''} = ${resultText(ev.result)}`;
    }
    case 'unlink':
      return `${ev.rmdir ? 'rmdir ' : ''}${d(ev.path)} = ${resultText(ev.result)}`;
    case 'rename':
      return `${d(ev.path)} -> ${d(ev.newpath)} = ${resultText(ev.result)}`;
    case 'link':
      return `${d(ev.newpath)} ${ev.symbolic ? '-> (symlink)' : '=> (hard link)'} ${d(ev.path)} = ${resultText(ev.result)}`;
    case 'dns':
      if (ev.response) return `${ev.qtype} ${displayString(ev.qname)} @${ev.addr}:${ev.port} -> ${ev.rcode} ${(ev.answers ?? []).join(' ')}`.trimEnd();
      return `${ev.qtype} ${displayString(ev.qname)} @${ev.addr}:${ev.port}`;
  }
}

/** "11:53:13.024595 claude-code 1333 cat open R /etc/hostname = 3" (local time of day, microseconds) */
export function eventLine(ev: SensorEvent): string {
  const t = new Date(Number(BigInt(ev.tsNs) / 1_000_000n));
  const hms = `${String(t.getHours()).padStart(2, '0')}:${String(t.getMinutes()).padStart(2, '0')}:${String(t.getSeconds()).padStart(2, '0')}`;
  const micros = ev.ts.slice(20, 26);
  const agent = ev.agent ?? '-';
  return `${hms}.${micros} ${agent} ${ev.pid} ${d(ev.comm)} ${ev.type}${ev.truncated ? '(truncated)' : ''} ${details(ev)}`;
}
