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

export const CANON_VERSION = 'agent-sensor/batch/v2';
// A batch in which any event has an agentPid is written as v2 plus agentPid
// after argv on every event, under its own version string. A batch without
// one keeps the v2 bytes; setting an agentPid in such a batch later flips it
// to this form and breaks its link, as does clearing every agentPid of a
// batch that had one.
export const CANON_VERSION_AGENT_PID = 'agent-sensor/batch/v2+agent-pid';
export const GENESIS_LINK = Buffer.alloc(32);

export interface BatchRow {
  id: bigint;
  sensorId: string;
  bootId: string;
  seq: bigint;
  receivedAt: bigint;
  eventCount: bigint;
  firstEventId: bigint | null;
  /** head of chained_rows when the batch committed (0 and empty: none yet) */
  rowsHeadId: bigint;
  rowsHeadLink: Buffer;
}

export interface StoredEvent {
  id: bigint;
  batchId: bigint;
  columns: EventColumns;
}

const EVENT_FIELDS: (keyof EventColumns)[] = [
  'type', 'tsNs', 'pid', 'tid', 'ppid', 'uid', 'gid', 'comm', 'agent', 'cgroup', 'netns', 'mntns', 'bits',
  'path', 'newpath', 'flags', 'mode', 'access', 'syscall', 'result', 'family', 'proto', 'addr', 'port', 'host',
  'code', 'signal', 'qname', 'qtype', 'startNs', 'exe', 'cwd', 'argv', 'agentPid',
];

// One growing buffer written through a DataView: a batch is thousands of
// small values, and a Buffer per value (or Buffer's BigInt writers) made this
// the slowest step of a commit. One writer serves every call (each writes
// and takes its bytes synchronously): a fresh 256 KiB buffer per chained row
// was external memory enough to make V8 run a full GC of the store worker
// every ~50 ms of an agent session (issue 17).
class CanonicalWriter {
  private buf = Buffer.allocUnsafe(256 * 1024);
  private view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  private at = 0;

  private room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.at + n));
    this.buf.copy(bigger, 0, 0, this.at);
    this.buf = bigger;
    this.view = new DataView(bigger.buffer, bigger.byteOffset, bigger.byteLength);
  }

  nul(): void {
    this.room(1);
    this.buf[this.at++] = 0;
  }

  int(v: number | null, field: string): void {
    if (v === null) return this.nul();
    if (!Number.isSafeInteger(v)) throw new Error(`${field} is not an integer: ${v}`);
    this.room(9);
    this.buf[this.at] = 1;
    // The same two's complement bytes as setBigInt64, without a BigInt per value.
    const hi = Math.floor(v / 4294967296);
    this.view.setInt32(this.at + 1, hi);
    this.view.setUint32(this.at + 5, v - hi * 4294967296);
    this.at += 9;
  }

  big(v: bigint | null): void {
    if (v === null) return this.nul();
    this.room(9);
    this.buf[this.at] = 1;
    this.view.setBigInt64(this.at + 1, v);
    this.at += 9;
  }

  bytes(v: Buffer | null): void {
    if (v === null) return this.nul();
    const n = v.length;
    this.room(5 + n);
    this.buf[this.at] = 2;
    this.view.setUint32(this.at + 1, n);
    if (n < 64) for (let i = 0; i < n; i++) this.buf[this.at + 5 + i] = v[i]!;
    else v.copy(this.buf, this.at + 5);
    this.at += 5 + n;
  }

  text(v: string | null): void {
    this.bytes(v === null ? null : Buffer.from(v, 'utf8'));
  }

  /** Any value, by its JS type (the batch row; events go through event()). */
  value(v: number | bigint | Buffer | string | null, field: string): void {
    if (typeof v === 'number') this.int(v, field);
    else if (typeof v === 'bigint') this.big(v);
    else if (typeof v === 'string') this.text(v);
    else this.bytes(v);
  }

  // Field by field in EVENT_FIELDS order (a test holds the two together).
  event(c: EventColumns, withAgentPid: boolean): void {
    this.int(c.type, 'event.type');
    this.big(c.tsNs);
    this.int(c.pid, 'event.pid');
    this.int(c.tid, 'event.tid');
    this.int(c.ppid, 'event.ppid');
    this.int(c.uid, 'event.uid');
    this.int(c.gid, 'event.gid');
    this.bytes(c.comm);
    this.text(c.agent);
    this.big(c.cgroup);
    this.int(c.netns, 'event.netns');
    this.int(c.mntns, 'event.mntns');
    this.int(c.bits, 'event.bits');
    this.bytes(c.path);
    this.bytes(c.newpath);
    this.int(c.flags, 'event.flags');
    this.int(c.mode, 'event.mode');
    this.int(c.access, 'event.access');
    this.int(c.syscall, 'event.syscall');
    this.int(c.result, 'event.result');
    this.int(c.family, 'event.family');
    this.int(c.proto, 'event.proto');
    this.bytes(c.addr);
    this.int(c.port, 'event.port');
    this.bytes(c.host);
    this.int(c.code, 'event.code');
    this.int(c.signal, 'event.signal');
    this.bytes(c.qname);
    this.bytes(c.qtype);
    this.big(c.startNs);
    this.bytes(c.exe);
    this.bytes(c.cwd);
    this.bytes(c.argv);
    if (withAgentPid) this.int(c.agentPid, 'event.agentPid');
  }

  reset(): void {
    this.at = 0;
  }

  /** The bytes written so far, not copied: valid until the writer's next use. */
  written(): Buffer {
    return this.buf.subarray(0, this.at);
  }

  /** The bytes written since the last take(), copied out (small ones from Buffer's pool); the writer starts over. */
  take(): Buffer {
    const out = Buffer.from(this.buf.subarray(0, this.at));
    this.at = 0;
    return out;
  }
}

const shared = new CanonicalWriter();

/** The shared writer, empty (a throw in a previous use may have left bytes in it). */
function writer(): CanonicalWriter {
  shared.reset();
  return shared;
}

export function canonicalBatchBytes(batch: BatchRow, events: StoredEvent[]): Buffer {
  const w = writer();
  const withAgentPid = events.some((e) => e.columns.agentPid !== null);
  w.value(withAgentPid ? CANON_VERSION_AGENT_PID : CANON_VERSION, 'version');
  w.value(batch.id, 'batch.id');
  w.value(batch.sensorId, 'batch.sensorId');
  w.value(batch.bootId, 'batch.bootId');
  w.value(batch.seq, 'batch.seq');
  w.value(batch.receivedAt, 'batch.receivedAt');
  w.value(batch.eventCount, 'batch.eventCount');
  w.value(batch.firstEventId, 'batch.firstEventId');
  w.value(batch.rowsHeadId, 'batch.rowsHeadId');
  w.value(batch.rowsHeadLink, 'batch.rowsHeadLink');
  for (const e of events) {
    w.big(e.id);
    w.big(e.batchId);
    w.event(e.columns, withAgentPid);
  }
  return w.take();
}

/** The generic field-by-field form of the same bytes (the reference a test checks event() against). */
export function canonicalEventBytesGeneric(c: EventColumns): Buffer {
  const w = writer();
  for (const f of EVENT_FIELDS) w.value(c[f], `event.${f}`);
  return w.take();
}

export function canonicalEventBytes(c: EventColumns): Buffer {
  const w = writer();
  w.event(c, true);
  return w.take();
}

/** Canonical bytes of a plain list of values (chained rows build theirs with it). */
export function canonicalValues(values: (number | bigint | Buffer | string | null)[]): Buffer {
  const w = writer();
  values.forEach((v, i) => w.value(v, `value ${i}`));
  return w.take();
}

/** What a batch's events are, as received: tells a resend from a different batch under the same seq. */
export function eventsDigest(events: EventColumns[]): Buffer {
  const w = writer();
  for (const c of events) w.event(c, true);
  return createHash('sha256').update(w.written()).digest();
}

export function chainLink(prev: Buffer, canonical: Buffer): Buffer {
  return createHash('sha256').update(prev).update(canonical).digest();
}
