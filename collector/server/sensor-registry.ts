// What this collector run has seen of each sensor boot: for Status only.
// The store is the truth for sequence numbers; this adds what only arrives
// over the wire (the sensor's transport counters, drops it reported).
import type { PbSensorStatus, PbTransportCounters } from '../../proto/codec/proto.js';

interface SensorBootState {
  sensorId: string;
  bootId: string;
  lastSeq: bigint;
  lastSeenNs: bigint;
  droppedReported: bigint;
  undeliveredReported: bigint;
  counters?: PbTransportCounters;
}

const MAX_TRACKED = 1024; // sensor boots remembered; the oldest is forgotten first

export class SensorRegistry {
  private readonly boots = new Map<string, SensorBootState>();

  noteBatch(sensorId: string, bootId: string, seq: bigint, droppedBefore: bigint, counters?: PbTransportCounters, undelivered = 0n): void {
    const key = `${sensorId}\0${bootId}`;
    let state = this.boots.get(key);
    if (state) {
      this.boots.delete(key); // re-insert: Map order is then least recently seen first
    } else {
      state = { sensorId, bootId, lastSeq: 0n, lastSeenNs: 0n, droppedReported: 0n, undeliveredReported: 0n };
      if (this.boots.size >= MAX_TRACKED) this.boots.delete(this.boots.keys().next().value!);
    }
    if (seq > state.lastSeq) state.lastSeq = seq;
    state.lastSeenNs = BigInt(Date.now()) * 1_000_000n;
    state.droppedReported += droppedBefore;
    state.undeliveredReported += undelivered;
    if (counters) state.counters = counters;
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
    }));
  }
}
