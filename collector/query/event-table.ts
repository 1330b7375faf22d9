// A one-line-per-event rendering of query results for terminals. Bytes that
// are not printable are escaped (displayString), never written raw.
import { displayString } from '../../proto/events/bytes.js';
import type { QueriedEvent, QueriedRow } from './event-query.js';

function detail(e: QueriedEvent): string {
  switch (e.type) {
    case 'exec':
      return `${displayString(e.filename)} ${e.argv.map((a) => displayString(a)).join(' ')}`;
    case 'fork':
      return `child of ${e.ppid}`;
    case 'exit':
      return e.signal !== null ? `signal ${e.signal}` : `code ${e.code}`;
    case 'open': {
      const hash = e.sha256 ? ` sha256:${e.sha256.slice(0, 16)}` : '';
      const state = e.hashState ? ` (${e.hashState})` : '';
      const tags = e.sensitive?.length ? ` [sensitive: ${e.sensitive.join(',')}]` : '';
      return `${e.access} ${displayString(e.path)} -> ${e.result}${hash}${state}${tags}`;
    }
    case 'connect':
      return `${e.proto} ${displayString(e.addr)}${e.family === 'unix' ? '' : `:${e.port}`}${e.host ? ` (${e.host})` : ''} -> ${e.result}`;
    case 'unlink':
      return `${e.rmdir ? 'rmdir' : 'unlink'} ${displayString(e.path)} -> ${e.result}`;
    case 'rename':
      return `${displayString(e.path)} => ${displayString(e.newpath)} -> ${e.result}`;
    case 'link':
      return `${displayString(e.newpath)} ${e.symbolic ? '->' : '=>'} ${displayString(e.path)} -> ${e.result}`;
    case 'dns':
      return `${e.qtype} ${e.qname} via ${e.addr}:${e.port}${e.response ? ` -> ${e.rcode} ${(e.answers ?? []).join(' ')}`.trimEnd() : ''}`;
  }
}

export function renderEventTable(rows: QueriedRow[]): string {
  const lines = rows.map(({ event: e }) => [
    e.ts.replace('T', ' ').slice(0, 26), e.agent ?? '-', String(e.pid), displayString(e.comm), e.type, detail(e),
  ]);
  const head = ['TIME (UTC)', 'AGENT', 'PID', 'COMM', 'TYPE', 'DETAIL'];
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cols: string[]) => cols.map((c, i) => (i === cols.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return [fmt(head), ...lines.map(fmt)].join('\n');
}
