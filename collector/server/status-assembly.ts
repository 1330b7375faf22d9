// The Status answer for a root or admin client: the store, the sensors this
// collector run has heard from, the forwarders and the agents, every figure
// in a typed field (no JSON inside the message). Kept apart from the server
// so the server only decides who may see it.
import type { PbAgentStatus, PbForwarderStatus, PbStatusResponse, PbStoreHealth } from '../../proto/codec/proto.js';
import type { StoreStatus } from '../store/event-store.js';
import type { StoreHealthRows } from '../store/health-rows.js';
import type { ForwarderHealth } from './forwarder-registry.js';
import type { StoreSummary } from './store-port.js';

export interface StatusParts {
  /** the store's status(): the event store's full StoreStatus, or only the summary from a small store port */
  store: StoreSummary & Partial<StoreStatus>;
  storePath?: string;
  rows?: StoreHealthRows;
  sensors: PbStatusResponse['sensors'];
  counters: Record<string, number>;
  forwarders: ForwarderHealth[];
  version: string;
  startedNs: bigint;
}

const u64 = (n: number | bigint | null | undefined): string => String(n ?? 0);

function storeHealth(p: StatusParts): PbStoreHealth {
  const s = p.store;
  return {
    path: p.storePath ?? '',
    db_bytes: u64(s.dbBytes), used_bytes: u64(s.usedBytes), events: u64(s.events), batches: u64(s.batches),
    oldest_event_ns: u64(p.rows?.oldestEventNs), newest_event_ns: u64(p.rows?.newestEventNs),
    retain_days: s.retention?.maxAgeDays ?? 0, retain_bytes: u64(s.retention?.maxBytes),
    pruned_batches: u64(s.prunedBatches), pruned_events: u64(s.prunedEvents), integrity_alarms: u64(s.integrityAlarms),
    hash_queue: u64(s.hashQueue), hash_dropped: u64(s.hashDropped), hash_failures: u64(s.hashFailures),
    // No DLP scan queue runs in the collector yet (collector/dlp scans on demand): said, not guessed.
    dlp_running: false, dlp_queue: '0', dlp_dropped: '0',
    wal_truncations: u64(s.walTruncations),
  };
}

function forwarder(f: ForwarderHealth): PbForwarderStatus {
  const now = BigInt(Date.now()) * 1_000_000n;
  return {
    name: f.name, destination: f.destination, lag_events: u64(f.lagEvents),
    lag_ns: u64(f.oldestUnshippedNs === null ? 0n : (now > f.oldestUnshippedNs ? now - f.oldestUnshippedNs : 0n)),
    shipped: u64(f.shipped), lost: u64(f.lost),
    last_error: f.lastError?.message ?? '', last_error_ns: u64(f.lastError?.atNs),
    last_success_ns: u64(f.lastSuccessNs),
  };
}

function agent(a: StoreHealthRows['agents'][number]): PbAgentStatus {
  return {
    name: a.name, state: a.state, live_instances: u64(a.liveInstances), instances: u64(a.instances), alerts: u64(a.alerts),
    last_alert_ns: u64(a.lastAlert?.tsNs), last_alert_rule: a.lastAlert?.rule ?? '', last_alert_severity: a.lastAlert?.severity ?? '',
  };
}

/**
 * Work the store does after the ack, below the agents' priority: waiting now,
 * still to be done (issue 17). Beside the collector's counters: no field of
 * the wire changes.
 */
function deferred(s: StatusParts['store']): Record<string, number> {
  const out: Record<string, number> = {};
  if (s.hashPendingWrites !== undefined) out.deferredHashWrites = s.hashPendingWrites;
  if (s.hashQueue !== undefined) out.deferredHashJobs = s.hashQueue;
  if (typeof s.workerNice === 'number') out.storeWorkerNice = s.workerNice;
  return out;
}

/** Files agents read: hashed anew, or linked to a version hashed before (from the kernel's inode alone, no look at the path). */
function files(s: StatusParts['store']): Record<string, number> {
  const out: Record<string, number> = {};
  if (s.hashed !== undefined) out.filesHashed = s.hashed;
  if (s.hashCacheHits !== undefined) out.filesLinked = s.hashCacheHits;
  if (s.hashKernelIdentityHits !== undefined) out.filesLinkedByInode = s.hashKernelIdentityHits;
  return out;
}

export function assembleStatus(p: StatusParts): PbStatusResponse {
  return {
    events: u64(p.store.events),
    batches: u64(p.store.batches),
    db_bytes: u64(p.store.dbBytes),
    sensors: p.sensors,
    counters: Object.fromEntries(Object.entries({ ...p.counters, ...deferred(p.store), ...files(p.store) }).map(([k, v]) => [k, u64(v)])),
    store: storeHealth(p),
    forwarders: p.forwarders.map(forwarder),
    agents: (p.rows?.agents ?? []).map(agent),
    collector_version: p.version,
    collector_started_ns: u64(p.startedNs),
  };
}
