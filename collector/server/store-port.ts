// What the server needs from the event store. Two shapes: a store on the
// server's own thread (collector/store/event-store.ts), committed
// synchronously; or one that takes the batch's wire bytes and commits them
// elsewhere (store-worker.ts: on a worker thread, so decoding and SQLite run
// on the other core while this thread serves gRPC). Kept as interfaces so the
// server does not care how the store is opened, and unit tests of the server
// can pass a small fake.
import type { SensorEvent } from '../../proto/events/types.js';
import type { BatchSender, CommitBatch, CommitOutcome } from './batch-types.js';

export interface BatchStore {
  /** Commits one batch in one transaction; `duplicate` when (sensorId, bootId, seq) was already committed. */
  /** `conflict`: a batch under this (sensorId, bootId, seq) is stored with other events; nothing written */
  commitBatch(batch: CommitBatch): { duplicate: boolean; conflict?: boolean; eventIds: bigint[] };
  lastSeq(sensorId: string, bootId: string): bigint | null;
  status(): StoreSummary;
}

export interface StoreSummary {
  events: number;
  batches: number;
  dbBytes: number;
}

export interface EncodedBatchStore {
  /**
   * Decodes, validates and commits one batch from its wire bytes; resolves
   * once it is committed (or refused). Batches are committed in call order;
   * after a `failed` outcome on a stream, later batches of that stream fail
   * too without being written, so a stream never commits out of order.
   */
  commitEncoded(bytes: Buffer, stream: number, sender: BatchSender): Promise<CommitOutcome>;
  lastSeq(sensorId: string, bootId: string): bigint | null;
  status(): Promise<StoreSummary>;
}

export type StorePort = BatchStore | EncodedBatchStore;

/** One stored event as the Query RPC returns it. */
export interface StoredEventRow {
  id: bigint;
  sensorId: string;
  event: SensorEvent;
}

export interface QueryFilters {
  types?: SensorEvent['type'][];
  agent?: string;
  pid?: number;
  agentPid?: number;
  sinceNs?: bigint;
  untilNs?: bigint;
  sensorId?: string;
  /** glob over stored path bytes */
  pathGlob?: string;
  /** exact address text */
  addr?: string;
  limit: number;
}

/** Optional: answers the Query RPC (collector/query provides one). */
export type QueryEvents = (filters: QueryFilters) => StoredEventRow[] | Promise<StoredEventRow[]>;

/** The same, answered as encoded QueryResponse bytes (a query worker: nothing left to do on the server's thread). */
export type QueryEventsEncoded = (filters: QueryFilters) => Promise<Buffer>;
