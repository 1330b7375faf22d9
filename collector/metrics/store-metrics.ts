// The store's figures as Prometheus metrics, read from the database at each
// scrape through a read-only connection, so any process (the collector, a
// separate `sensor forward`) can serve them.
import type Database from 'better-sqlite3';
import { statSync } from 'node:fs';
import type { Registry } from 'prom-client';
import { counterFrom, gaugeFrom } from './metrics-registry.js';

interface StoreFigures {
  events: number;
  batches: number;
  prunedEvents: number;
  prunedBatches: number;
  bytes: number;
  oldestReceivedSeconds: number;
}

export function readStoreFigures(db: Database.Database, path: string): StoreFigures {
  const b = db.prepare('SELECT count(*) AS n, coalesce(sum(event_count), 0) AS e, min(received_at) AS oldest FROM batches').get() as
    { n: number; e: number; oldest: number | null };
  const a = db.prepare('SELECT pruned_events, pruned_batches FROM chain_anchor WHERE id = 1').get() as
    { pruned_events: number; pruned_batches: number } | undefined;
  const size = (p: string) => {
    try {
      return statSync(p).size;
    } catch {
      return 0;
    }
  };
  return {
    events: b.e, batches: b.n, prunedEvents: a?.pruned_events ?? 0, prunedBatches: a?.pruned_batches ?? 0,
    bytes: size(path) + size(`${path}-wal`), oldestReceivedSeconds: b.oldest === null ? 0 : b.oldest / 1000,
  };
}

export function registerStoreMetrics(registry: Registry, db: Database.Database, path: string): void {
  let cached: { at: number; f: StoreFigures } | null = null;
  // One read per scrape, shared by the metrics below.
  const figures = (): StoreFigures => {
    if (!cached || Date.now() - cached.at > 1000) cached = { at: Date.now(), f: readStoreFigures(db, path) };
    return cached.f;
  };
  gaugeFrom(registry, 'store_events', 'Events kept in the store', [], () => [[{}, figures().events]]);
  gaugeFrom(registry, 'store_batches', 'Batches kept in the store', [], () => [[{}, figures().batches]]);
  gaugeFrom(registry, 'store_bytes', 'Database and WAL size on disk', [], () => [[{}, figures().bytes]]);
  gaugeFrom(registry, 'store_oldest_batch_timestamp_seconds', 'When the oldest kept batch was received', [], () => [[{}, figures().oldestReceivedSeconds]]);
  counterFrom(registry, 'store_pruned_events_total', 'Events deleted by retention', [], () => [[{}, figures().prunedEvents]]);
  counterFrom(registry, 'store_pruned_batches_total', 'Batches deleted by retention', [], () => [[{}, figures().prunedBatches]]);
}
