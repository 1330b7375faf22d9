// What the server needs from the event store (collector/store/event-store.ts
// implements it). Kept as an interface so the server does not care how the
// store is opened, and unit tests of the server can pass a small fake.
import type { SensorEvent } from '../../sensor/events/types.js';

export interface CommitBatch {
  sensorId: string;
  bootId: string;
  seq: bigint;
  events: SensorEvent[];
}

export interface BatchStore {
  /** Commits one batch in one transaction; `duplicate` when (sensorId, bootId, seq) was already committed. */
  commitBatch(batch: CommitBatch): { duplicate: boolean; eventIds: bigint[] };
  lastSeq(sensorId: string, bootId: string): bigint | null;
  status(): { events: number; batches: number; dbBytes: number };
}

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
