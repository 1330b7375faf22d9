// A batch is checked whole before anything is written: a batch that fails
// is refused as a unit (never half-committed) and named in the log.
import type { DecodedBatch } from '../../proto/codec/batch-decoder.js';
import { fromProtoEvent, InvalidEventError } from '../../proto/codec/convert.js';
import type { PbEventBatch } from '../../proto/codec/proto.js';
import type { SensorEvent } from '../../proto/events/types.js';
import { BatchRejectedError, type CommitBatch } from './batch-types.js';
import { fromPbTurn, MAX_TURNS_PER_BATCH } from '../../proto/codec/turn-proto.js';
import type { TurnRecord } from '../../proto/events/turn-record.js';

const MAX_ID_LENGTH = 256;

export interface ValidBatch extends CommitBatch {
  droppedBefore: bigint;
  /** events earlier runs of this sensor reported as never delivered */
  undelivered: { bootId: string; events: bigint; batches: bigint }[];
}

/** A batch as protobufjs decodes it, or as the server's fast decoder (events already converted). */
export type IncomingBatch = PbEventBatch | DecodedBatch;

export function validateBatch(batch: IncomingBatch): ValidBatch {
  const sensorId = batch.sensor_id ?? '';
  const bootId = batch.boot_id ?? '';
  if (!sensorId) throw new BatchRejectedError('batch has no sensor_id');
  if (!bootId) throw new BatchRejectedError('batch has no boot_id');
  if (sensorId.length > MAX_ID_LENGTH || bootId.length > MAX_ID_LENGTH) {
    throw new BatchRejectedError(`sensor_id/boot_id longer than ${MAX_ID_LENGTH} characters`);
  }
  const seq = BigInt(batch.seq ?? '0');
  if (seq === 0n) throw new BatchRejectedError('batch seq is 0 (sequence numbers start at 1)');
  const droppedBefore = BigInt(batch.dropped_before ?? '0');
  const undelivered = (batch.undelivered ?? []).slice(0, 64).map((u) => ({
    bootId: (u.boot_id ?? '').slice(0, MAX_ID_LENGTH), events: BigInt(u.events ?? '0'), batches: BigInt(u.batches ?? '0'),
  }));
  // Turns are bounded and taken under the batch's sensor id; one that is not a turn is left out, never the batch refused.
  const turns = (batch.turns ?? []).slice(0, MAX_TURNS_PER_BATCH).map((t) => fromPbTurn(t, sensorId)).filter((t): t is TurnRecord => t !== null);
  const withTurns = turns.length ? { turns } : {};
  if ('sensorEvents' in batch) {
    if (batch.invalid) throw new BatchRejectedError(`event ${batch.invalid.index}: ${batch.invalid.message}`);
    return { sensorId, bootId, seq, events: batch.sensorEvents, droppedBefore, undelivered, ...withTurns };
  }
  const events: SensorEvent[] = [];
  const raw = batch.events ?? [];
  for (let i = 0; i < raw.length; i++) {
    try {
      events.push(fromProtoEvent(raw[i]!));
    } catch (err) {
      if (err instanceof InvalidEventError) throw new BatchRejectedError(`event ${i}: ${err.message}`);
      throw err;
    }
  }
  return { sensorId, bootId, seq, events, droppedBefore, undelivered, ...withTurns };
}
