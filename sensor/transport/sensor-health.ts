// The sensor's report of itself for `sensor status` (SensorHealth in
// sensor.proto): what only the sensor knows, the collector being possibly on
// another host. Events are counted by type as they are handed to the
// transport; the attached programs are read from the kernel (they change only
// when the response service pins egress programs, so a minute's cache is fine).
import { release } from 'node:os';
import type { PbSensorHealth, PbThreadPriority } from '../../proto/codec/proto.js';
import type { SensorEvent } from '../../proto/events/types.js';
import { packageVersion } from '../../proto/package-version.js';
import type { BackendCounters } from '../backends/backend.js';
import { attachedPrograms } from './attached-programs.js';

export interface HealthSource {
  /** libbpf | bpftrace, once the backend is chosen */
  backend(): string;
  unavailable(): string[];
  counters(): BackendCounters;
  /** where the sensor's threads stand (background-threads.ts), once lowered */
  priority?(): PbThreadPriority | undefined;
}

const PROGRAMS_CACHE_MS = 60_000;

export class SensorHealthReport {
  private readonly startedNs = BigInt(Date.now()) * 1_000_000n;
  private readonly byType = new Map<string, number>();
  private programs: { atMs: number; names: string[] } | undefined;

  constructor(private readonly source: HealthSource, private readonly heartbeatMs: number) {}

  noteEvents(events: readonly SensorEvent[]): void {
    for (const e of events) this.byType.set(e.type, (this.byType.get(e.type) ?? 0) + 1);
  }

  private attached(): string[] {
    // bpftrace holds its programs in its own process: not ours to list.
    if (this.source.backend() !== 'libbpf') return [];
    const now = Date.now();
    if (!this.programs || now - this.programs.atMs > PROGRAMS_CACHE_MS) this.programs = { atMs: now, names: attachedPrograms() };
    return this.programs.names;
  }

  report(stopped: boolean): PbSensorHealth {
    const c = this.source.counters();
    // The addon's `lost` counts both places a record can be lost: the kernel's ring, and the queue to JS.
    const queue = c.other.queueDropped ?? 0;
    return {
      version: packageVersion(),
      backend: this.source.backend(),
      attached: this.attached(),
      left_out: this.source.unavailable(),
      kernel: release(),
      started_ns: String(this.startedNs),
      events_by_type: Object.fromEntries([...this.byType].map(([k, n]) => [k, String(n)])),
      kernel_ring_lost: String(Math.max(0, c.lost - queue)),
      queue_to_js_lost: String(queue),
      stopped,
      heartbeat_ms: String(this.heartbeatMs),
      priority: this.source.priority?.(),
    };
  }
}
