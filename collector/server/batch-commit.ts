// One batch from the wire to an outcome: validate it whole, commit it in one
// store transaction, and classify what happened, so the server can ack,
// refuse or fail the stream. Shared by the server when it owns the store on
// its own thread and by the store worker (store-worker.ts), which does the
// same from the raw batch bytes.
import { decodeEventBatch } from '../../proto/codec/batch-decoder.js';
import { isRetryableStoreError } from './grpc-errors.js';
import type { BatchStore } from './store-port.js';
import { BatchRejectedError, type BatchSender, type CommitOutcome } from './batch-types.js';
import { validateBatch, type IncomingBatch } from './validate-batch.js';

const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

const ADMIN_LOCAL: BatchSender = { sensorId: null, remote: false };

export function commitIncoming(store: Pick<BatchStore, 'commitBatch'>, batch: IncomingBatch, sender: BatchSender = ADMIN_LOCAL): CommitOutcome {
  const ids = { sensor_id: batch.sensor_id ?? '', boot_id: batch.boot_id ?? '', seq: batch.seq ?? '0' };
  let valid;
  try {
    valid = validateBatch(batch);
  } catch (err) {
    if (!(err instanceof BatchRejectedError)) throw err;
    const events = 'sensorEvents' in batch ? batch.eventCount : batch.events?.length ?? 0;
    return { kind: 'rejected', ids, reason: err.message, events };
  }
  if (sender.sensorId !== null && valid.sensorId !== sender.sensorId) {
    // A sensor writes under its own name only: else it could forge another's events or suppress them by taking their seq.
    return {
      kind: 'forbidden', ids, events: valid.events.length,
      reason: `sensor_id ${JSON.stringify(valid.sensorId)} is not this client's identity ${JSON.stringify(sender.sensorId)} (its certificate)`,
    };
  }
  let duplicate: boolean;
  try {
    const r = store.commitBatch({ ...valid, remote: sender.remote });
    if (r.conflict) return { kind: 'conflict', ids, events: valid.events.length };
    duplicate = r.duplicate;
  } catch (err) {
    return { kind: isRetryableStoreError(err) ? 'failed' : 'refused', ids, message: messageOf(err) };
  }
  return {
    kind: duplicate ? 'duplicate' : 'committed', ids, sensorId: valid.sensorId, bootId: valid.bootId, seq: valid.seq,
    droppedBefore: valid.droppedBefore, counters: batch.counters ?? undefined, health: batch.health ?? undefined,
    events: valid.events.length,
    undelivered: valid.undelivered,
  };
}

/** The same from the batch's wire bytes (decoded here, so the decoding runs where the store does). */
export function commitEncodedBatch(store: Pick<BatchStore, 'commitBatch'>, bytes: Buffer, sender?: BatchSender): CommitOutcome {
  let batch;
  try {
    batch = decodeEventBatch(bytes);
  } catch (err) {
    return { kind: 'malformed', message: messageOf(err) };
  }
  return commitIncoming(store, batch, sender);
}
