// The join's view of a stored event: the fields that tie it to a tool call.
import type { ByteString, SensorEvent } from '../../../proto/events/types.js';

export interface ActionEvent {
  /** the store's event id (what a link points to) */
  id: number;
  type: SensorEvent['type'];
  tsMs: number;
  pid: number;
  ppid: number;
  agent: string | null;
  agentPid?: number;
  argv?: string[];
  path?: string;
  access?: 'read' | 'write' | 'readwrite';
  addr?: string;
  port?: number;
  host?: string;
  result?: number;
}

/** Non-UTF-8 names keep their base64 form: they can only equal the same bytes. */
const text = (b: ByteString): string => (typeof b === 'string' ? b : `b64:${b.b64}`);

export function actionOfEvent(id: number, ev: SensorEvent & { agentPid?: number }): ActionEvent {
  const a: ActionEvent = { id, type: ev.type, tsMs: Number(BigInt(ev.tsNs) / 1_000_000n), pid: ev.pid, ppid: ev.ppid, agent: ev.agent };
  if (ev.agentPid !== undefined) a.agentPid = ev.agentPid;
  switch (ev.type) {
    case 'exec': a.argv = ev.argv.map(text); a.path = text(ev.filename); break;
    case 'open': a.path = text(ev.path); a.access = ev.access; a.result = ev.result; break;
    case 'connect': a.addr = text(ev.addr); a.port = ev.port; a.result = ev.result; if (ev.host) a.host = ev.host; break;
    default: break;
  }
  return a;
}
