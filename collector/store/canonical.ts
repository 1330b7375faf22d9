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

// One growing buffer: a batch is thousands of small values, and a Buffer per
// value made this the slowest step of a commit.
class CanonicalWriter {
  private buf = Buffer.allocUnsafe(64 * 1024);
  private at = 0;

  private room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.at + n));
    this.buf.copy(bigger, 0, 0, this.at);
    this.buf = bigger;
  }

  value(v: number | bigint | Buffer | string | null, field: string): void {
    if (v === null) {
      this.room(1);
      this.buf[this.at++] = 0;
    } else if (typeof v === 'number' || typeof v === 'bigint') {
      if (typeof v === 'number' && !Number.isSafeInteger(v)) throw new Error(`${field} is not an integer: ${v}`);
      this.room(9);
      this.buf[this.at] = 1;
      if (typeof v === 'bigint') {
        this.buf.writeBigInt64BE(v, this.at + 1);
      } else {
        // The same two's complement bytes as writeBigInt64BE, without a BigInt per value.
        const hi = Math.floor(v / 4294967296);
        this.buf.writeInt32BE(hi, this.at + 1);
        this.buf.writeUInt32BE(v - hi * 4294967296, this.at + 5);
      }
      this.at += 9;
    } else {
      const bytes = typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
      this.room(5 + bytes.length);
      this.buf[this.at] = 2;
      this.buf.writeUInt32BE(bytes.length, this.at + 1);
      bytes.copy(this.buf, this.at + 5);
      this.at += 5 + bytes.length;
    }
  }

  bytes(): Buffer {
    return this.buf.subarray(0, this.at);
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
