// Events are encoded once, when they are pushed; a batch is the encoded
// header followed by the already-encoded events as repeated field 4. The
// bytes are kept until acked, so a resend costs no re-encoding and the
// unacked buffer is bounded by exactly what would go on the wire.
import protobuf from 'protobufjs';
import type { SensorEvent } from '../events/types.js';
import { toProtoEvent } from './convert.js';
import { messageType, type PbSensorHealth, type PbTransportCounters, type PbUndelivered } from './proto.js';

const EVENTS_FIELD_TAG = (4 << 3) | 2; // EventBatch.events, length-delimited
const TURNS_FIELD_TAG = (9 << 3) | 2; // EventBatch.turns, encoded when pushed (turn-proto.ts encodeTurn)

export { encodeEventFast as encodeEvent } from './event-encoder.js';

/** The same through protobufjs's generic path: the reference the fast encoder is tested against. */
export function encodeEventGeneric(event: SensorEvent): Buffer {
  const type = messageType('Event');
  return Buffer.from(type.encode(type.fromObject(toProtoEvent(event))).finish());
}

export interface BatchHeader {
  sensorId: string;
  bootId: string;
  seq: bigint;
  droppedBefore: bigint;
  counters?: PbTransportCounters;
  undelivered?: PbUndelivered[];
  health?: PbSensorHealth;
}

export function encodeBatch(header: BatchHeader, events: readonly Buffer[], turns: readonly Buffer[] = []): Buffer {
  const type = messageType('EventBatch');
  const head = type.encode(type.fromObject({
    sensor_id: header.sensorId,
    boot_id: header.bootId,
    seq: String(header.seq),
    dropped_before: String(header.droppedBefore),
    counters: header.counters,
    undelivered: header.undelivered,
    health: header.health,
  })).finish();
  const body = protobuf.Writer.create();
  for (const e of events) body.uint32(EVENTS_FIELD_TAG).bytes(e);
  for (const t of turns) body.uint32(TURNS_FIELD_TAG).bytes(t);
  return Buffer.concat([head, body.finish()]);
}

/** Bytes one encoded event adds to a batch (tag + length varint + data). */
export function framedSize(encoded: Buffer): number {
  const n = encoded.length;
  return 1 + (n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : 4) + n;
}

/** The encoded events of an encoded batch, byte for byte (to split a batch the collector found too large). */
export function eventsOfBatch(batch: Uint8Array): Buffer[] {
  return fieldOfBatch(batch, EVENTS_FIELD_TAG);
}

/** The encoded turns of an encoded batch (they go with the first half of a split). */
export function turnsOfBatch(batch: Uint8Array): Buffer[] {
  return fieldOfBatch(batch, TURNS_FIELD_TAG);
}

function fieldOfBatch(batch: Uint8Array, wanted: number): Buffer[] {
  const reader = protobuf.Reader.create(batch);
  const out: Buffer[] = [];
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    if (tag === wanted) out.push(Buffer.from(reader.bytes()));
    else reader.skipType(tag & 7);
  }
  return out;
}
