// What this collector run has seen of each sensor boot: for Status only.
// The store is the truth for sequence numbers; this adds what only arrives
// over the wire (the sensor's transport counters, drops it reported, and its
// health report: backend, programs, kernel, events by type).
import type { PbSensorHealth, PbSensorStatus, PbTransportCounters } from '../../proto/codec/proto.js';

interface RateSample {
  atMs: number;
  byType: Record<string, number>;
}

interface SensorBootState {
  sensorId: string;
  bootId: string;
  lastSeq: bigint;
  lastSeenNs: bigint;
  droppedReported: bigint;
  undeliveredReported: bigint;
  counters?: PbTransportCounters;
  health?: PbSensorHealth;
  /** health reports of the last RATE_WINDOW_MS, oldest first: events per second come from them */
  samples: RateSample[];
}

const MAX_TRACKED = 1024; // sensor boots remembered; the oldest is forgotten first
/** events per second are measured over the reports of about the last minute */
const RATE_WINDOW_MS = 60_000;
const MAX_SAMPLES = 64;

const byTypeOf = (h: PbSensorHealth): Record<string, number> =>
  Object.fromEntries(Object.entries(h.events_by_type ?? {}).map(([k, v]) => [k, Number(v)]));

export class SensorRegistry {
  private readonly boots = new Map<string, SensorBootState>();

  noteBatch(
    sensorId: string, bootId: string, seq: bigint, droppedBefore: bigint, counters?: PbTransportCounters, undelivered = 0n,
    health?: PbSensorHealth,
  ): void {
    const key = `${sensorId}\0${bootId}`;
    let state = this.boots.get(key);
    if (state) {
      this.boots.delete(key); // re-insert: Map order is then least recently seen first
    } else {
      state = { sensorId, bootId, lastSeq: 0n, lastSeenNs: 0n, droppedReported: 0n, undeliveredReported: 0n, samples: [] };
      if (this.boots.size >= MAX_TRACKED) this.boots.delete(this.boots.keys().next().value!);
    }
    if (seq > state.lastSeq) state.lastSeq = seq;
    const now = Date.now();
    state.lastSeenNs = BigInt(now) * 1_000_000n;
    state.droppedReported += droppedBefore;
    state.undeliveredReported += undelivered;
    if (counters) state.counters = counters;
    if (health) {
      state.health = health;
      state.samples.push({ atMs: now, byType: byTypeOf(health) });
      while (state.samples.length > MAX_SAMPLES || (state.samples.length > 2 && now - state.samples[1]!.atMs > RATE_WINDOW_MS)) {
        state.samples.shift();
      }
    }
    this.boots.set(key, state);
  }

  list(lastSeqFromStore: (sensorId: string, bootId: string) => bigint | null): PbSensorStatus[] {
    return [...this.boots.values()].map((s) => ({
      sensor_id: s.sensorId,
      boot_id: s.bootId,
      last_seq: String(lastSeqFromStore(s.sensorId, s.bootId) ?? s.lastSeq),
      last_seen_ns: String(s.lastSeenNs),
      dropped_reported: String(s.droppedReported),
      undelivered_reported: String(s.undeliveredReported),
      counters: s.counters,
      health: s.health,
      events_per_second: s.health ? eventsPerSecond(s.samples, s.health) : undefined,
    }));
  }
}

/**
 * Between the oldest and newest report of the window; with one report only,
 * over the sensor's whole run (its start time is in the report).
 */
function eventsPerSecond(samples: RateSample[], health: PbSensorHealth): Record<string, number> {
  const newest = samples[samples.length - 1];
  if (!newest) return {};
  let from: RateSample = samples[0]!;
  if (samples.length < 2 || newest.atMs - from.atMs < 1000) {
    const startedMs = Number(BigInt(health.started_ns ?? '0') / 1_000_000n);
    if (!startedMs || newest.atMs <= startedMs) return {};
    from = { atMs: startedMs, byType: {} };
  }
  const seconds = (newest.atMs - from.atMs) / 1000;
  const out: Record<string, number> = {};
  for (const [type, n] of Object.entries(newest.byType)) {
    out[type] = Math.round(((n - (from.byType[type] ?? 0)) / seconds) * 100) / 100;
  }
  return out;
}
