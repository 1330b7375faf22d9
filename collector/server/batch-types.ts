// The types a batch's commit path shares: what the store is given, what a
// commit comes to, and the error a refused batch raises. Their own module so
// that the store port, the validator, the committer and the gRPC error mapping
// import them without importing each other.
import type { TurnRecord } from '../../proto/events/turn-record.js';
import type { PbSensorHealth, PbTransportCounters } from '../../proto/codec/proto.js';
import type { SensorEvent } from '../../proto/events/types.js';

export class BatchRejectedError extends Error {
  override name = 'BatchRejectedError';
}

export interface CommitBatch {
  sensorId: string;
  bootId: string;
  seq: bigint;
  events: SensorEvent[];
  /** came over TCP from another host (its files are not hashed here) */
  remote?: boolean;
  /** model turns the sensor rebuilt (collector/intent), under the batch's sensor id */
  turns?: TurnRecord[];
}

/**
 * Who sent a batch, as the transport proved it: `sensorId` from the client
 * certificate (mTLS), or null for an admin peer (root over the unix socket),
 * which may write any sensor id.
 */
export interface BatchSender {
  sensorId: string | null;
  remote: boolean;
}

/** The ids an ack echoes back, as they came on the wire. */
export interface AckIds {
  sensor_id: string;
  boot_id: string;
  seq: string;
}

export type CommitOutcome =
  /** the batch itself is invalid: REJECTED ack */
  | { kind: 'rejected'; ids: AckIds; reason: string; events: number }
  /** the store refused it for good (the same bytes would fail again): REJECTED ack */
  | { kind: 'refused'; ids: AckIds; message: string }
  /** the store could not write now (disk full, busy): fail the stream, the sensor resends */
  | { kind: 'failed'; ids: AckIds; message: string }
  /** a different batch under a stored (sensor, boot, seq): an integrity alarm, REJECTED ack */
  | { kind: 'conflict'; ids: AckIds; events: number }
  /** the batch names a sensor other than the one the client is (its certificate): REJECTED ack */
  | { kind: 'forbidden'; ids: AckIds; reason: string; events: number }
  /** the bytes are not an EventBatch at all */
  | { kind: 'malformed'; message: string }
  | {
    kind: 'committed' | 'duplicate'; ids: AckIds; sensorId: string; bootId: string; seq: bigint;
    droppedBefore: bigint; counters?: PbTransportCounters; health?: PbSensorHealth; events: number;
    undelivered: { bootId: string; events: bigint; batches: bigint }[];
  };
