// The bytes a batch's chain link is computed over: a deterministic
// serialisation of the rows as stored (batch row + event rows with interned
// strings resolved), never of the incoming message. Verify rebuilds the same
// bytes from the database, so an edited, deleted or added row changes them.
//
// Encoding: every value is a tag byte, then 0 = NULL, 1 = int64 big-endian,
// 2 = u32 big-endian length + bytes. Fields are written in the fixed order
// below; changing the order or set is a new CANON_VERSION.
import { createHash } from 'node:crypto';
import type { EventColumns } from './event-rows.js';

export const CANON_VERSION = 'agent-sensor/batch/v1';
export const GENESIS_LINK = Buffer.alloc(32);

export interface BatchRow {
  id: bigint;
  sensorId: string;
  bootId: string;
  seq: bigint;
  receivedAt: bigint;
  eventCount: bigint;
  firstEventId: bigint | null;
}

export interface StoredEvent {
  id: bigint;
  batchId: bigint;
  columns: EventColumns;
}

const EVENT_FIELDS: (keyof EventColumns)[] = [
  'type', 'tsNs', 'pid', 'tid', 'ppid', 'uid', 'gid', 'comm', 'agent', 'cgroup', 'netns', 'mntns', 'bits',
  'path', 'newpath', 'flags', 'mode', 'access', 'syscall', 'result', 'family', 'proto', 'addr', 'port', 'host',
  'code', 'signal', 'qname', 'qtype', 'startNs', 'exe', 'cwd', 'argv',
];

class CanonicalWriter {
  private parts: Buffer[] = [];

  value(v: number | bigint | Buffer | string | null, field: string): void {
    if (v === null) {
      this.parts.push(Buffer.from([0]));
    } else if (typeof v === 'number' || typeof v === 'bigint') {
      if (typeof v === 'number' && !Number.isSafeInteger(v)) throw new Error(`${field} is not an integer: ${v}`);
      const b = Buffer.alloc(9);
      b[0] = 1;
      b.writeBigInt64BE(BigInt(v), 1);
      this.parts.push(b);
    } else {
      const bytes = typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
      const head = Buffer.alloc(5);
      head[0] = 2;
      head.writeUInt32BE(bytes.length, 1);
      this.parts.push(head, bytes);
    }
  }

  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}

export function canonicalBatchBytes(batch: BatchRow, events: StoredEvent[]): Buffer {
  const w = new CanonicalWriter();
  w.value(CANON_VERSION, 'version');
  w.value(batch.id, 'batch.id');
  w.value(batch.sensorId, 'batch.sensorId');
  w.value(batch.bootId, 'batch.bootId');
  w.value(batch.seq, 'batch.seq');
  w.value(batch.receivedAt, 'batch.receivedAt');
  w.value(batch.eventCount, 'batch.eventCount');
  w.value(batch.firstEventId, 'batch.firstEventId');
  for (const e of events) {
    w.value(e.id, 'event.id');
    w.value(e.batchId, 'event.batchId');
    for (const f of EVENT_FIELDS) w.value(e.columns[f], `event.${f}`);
  }
  return w.bytes();
}

export function chainLink(prev: Buffer, canonical: Buffer): Buffer {
  return createHash('sha256').update(prev).update(canonical).digest();
}
