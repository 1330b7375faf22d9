// The Status answer turned into what `sensor status --json` prints: one plain
// object, numbers as numbers, times as ISO strings, and a verdict (healthy,
// degraded, down) with the reasons behind it. The wire keeps 64-bit counters
// as decimal strings; here they become numbers (exact below 2^53, which no
// counter of one collector run reaches).
import type { PbSensorStatus, PbStatusResponse } from '../../../proto/codec/proto.js';
import { isoFromNs } from '../../../proto/codec/convert.js';
import type { InForce } from '../../response/containment.js';

export type HealthState = 'healthy' | 'degraded' | 'down';

export interface StatusThresholds {
  /** a running sensor silent longer than this is degraded (default: 3 heartbeats, else 90 s) */
  silentAfterSec?: number;
  /** a forwarder whose oldest unshipped event is older than this is degraded */
  maxLagSec: number;
}

export const DEFAULT_MAX_LAG_SEC = 300;
const DEFAULT_SILENT_AFTER_SEC = 90;
/** a collector up this long with no sensor reporting is degraded (a sensor reports at start) */
const NO_SENSOR_GRACE_SEC = 60;

const num = (v: string | number | undefined | null): number => Number(v ?? 0);
const iso = (ns: string | undefined): string | null => (ns && ns !== '0' ? isoFromNs(ns) : null);
const numbers = (m: Record<string, string> | undefined): Record<string, number> =>
  Object.fromEntries(Object.entries(m ?? {}).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, num(v)]));
const secondsSince = (ns: string | undefined, nowMs: number): number | null =>
  ns && ns !== '0' ? Math.max(0, Math.round((nowMs - Number(BigInt(ns) / 1_000_000n)) / 1000)) : null;

export interface SensorLoss {
  kernelRingLost: number;
  queueToJsLost: number;
  sensorBufferDropped: number;
  /** events in batches the collector refused as invalid */
  rejectedLost: number;
  /** everything else the sensor could not see, by cause (sensor/loss.ts; ring causes are in kernelRingLost/queueToJsLost) */
  otherLost: Record<string, number>;
}

function sensorReport(s: PbSensorStatus, nowMs: number, t: StatusThresholds) {
  const h = s.health;
  const c = s.counters ?? {};
  const silentFor = secondsSince(s.last_seen_ns, nowMs) ?? 0;
  const silentAfter = t.silentAfterSec ?? (h?.heartbeat_ms ? 3 * num(h.heartbeat_ms) / 1000 : DEFAULT_SILENT_AFTER_SEC);
  const state = h?.stopped ? 'stopped' : silentFor > silentAfter ? 'silent' : 'running';
  const causes = numbers(c.sensor_loss);
  const otherLost = Object.fromEntries(Object.entries(causes).filter(([k]) => k !== 'ring' && !k.startsWith('ring:')));
  // Without a health report (an older sensor) the ring causes are all we know of the kernel side.
  const ringCauses = Object.entries(causes).filter(([k]) => k === 'ring' || k.startsWith('ring:')).reduce((n, [, v]) => n + v, 0);
  const loss: SensorLoss = {
    kernelRingLost: h ? num(h.kernel_ring_lost) : ringCauses,
    queueToJsLost: num(h?.queue_to_js_lost),
    sensorBufferDropped: num(c.dropped),
    rejectedLost: num(c.rejected),
    otherLost,
  };
  return {
    sensorId: s.sensor_id ?? '',
    bootId: s.boot_id ?? '',
    state,
    version: h?.version ?? null,
    backend: h?.backend ?? null,
    kernel: h?.kernel ?? null,
    startedAt: iso(h?.started_ns),
    uptimeSeconds: secondsSince(h?.started_ns, nowMs),
    attached: h?.attached ?? [],
    leftOut: h?.left_out ?? [],
    lastSeenAt: iso(s.last_seen_ns),
    silentSeconds: silentFor,
    silentAfterSeconds: silentAfter,
    lastSeq: num(s.last_seq),
    eventsPerSecond: Object.fromEntries(Object.entries(s.events_per_second ?? {}).sort(([a], [b]) => a.localeCompare(b))),
    eventsByType: numbers(h?.events_by_type),
    transport: {
      sent: num(c.sent), acked: num(c.acked), resent: num(c.resent), dropped: num(c.dropped),
      buffered: num(c.buffered), rejected: num(c.rejected),
    },
    loss,
    /** the sensor's own loss by cause, as it reported it (sensor/loss.ts) */
    lossByCause: causes,
    droppedReported: num(s.dropped_reported),
    undeliveredReported: num(s.undelivered_reported),
    /** its threads against the agents' (background-threads.ts); null: not lowered, or not said */
    priority: h?.priority ? {
      mode: h.priority.mode ?? '', threads: num(h.priority.threads), boosted: Boolean(h.priority.boosted),
      boosts: num(h.priority.boosts), boostedMs: num(h.priority.boosted_ms), boostAfterMs: num(h.priority.boost_after_ms),
    } : null,
  };
}

export type SensorReport = ReturnType<typeof sensorReport>;

export function buildStatusReport(
  pb: PbStatusResponse, ctx: { address: string; containment: InForce[] | { error: string }; nowMs: number; thresholds: StatusThresholds },
) {
  const { nowMs, thresholds } = ctx;
  const sensors = (pb.sensors ?? []).map((s) => sensorReport(s, nowMs, thresholds))
    .sort((a, b) => a.sensorId.localeCompare(b.sensorId) || a.bootId.localeCompare(b.bootId));
  const st = pb.store ?? {};
  const forwarders = (pb.forwarders ?? []).map((f) => ({
    name: f.name ?? '', destination: f.destination ?? '', lagEvents: num(f.lag_events), lagSeconds: num(f.lag_ns) / 1e9,
    shipped: num(f.shipped), lost: num(f.lost), lastError: f.last_error || null, lastErrorAt: iso(f.last_error_ns),
    lastSuccessAt: iso(f.last_success_ns),
  }));
  const running = sensors.filter((s) => s.state !== 'stopped');
  const eventsPerSecond: Record<string, number> = {};
  for (const s of running) {
    for (const [type, r] of Object.entries(s.eventsPerSecond)) eventsPerSecond[type] = Math.round(((eventsPerSecond[type] ?? 0) + r) * 100) / 100;
  }
  const sum = (f: (s: SensorReport) => number): number => sensors.reduce((n, s) => n + f(s), 0);
  const counters = numbers(pb.counters);
  const loss = {
    kernelRingLost: sum((s) => s.loss.kernelRingLost),
    queueToJsLost: sum((s) => s.loss.queueToJsLost),
    sensorBufferDropped: sum((s) => s.loss.sensorBufferDropped),
    rejectedLost: sum((s) => s.loss.rejectedLost),
    otherSensorLost: sum((s) => Object.values(s.loss.otherLost).reduce((n, v) => n + v, 0)),
    undeliveredLost: sum((s) => s.undeliveredReported),
    hashQueueDropped: num(st.hash_dropped),
    hashWriteFailures: num(st.hash_failures),
    // null: no DLP queue runs in this collector, so nothing can be lost there
    dlpQueueDropped: st.dlp_running ? num(st.dlp_dropped) : null,
    forwarderLost: forwarders.reduce((n, f) => n + f.lost, 0),
  };
  const collectorUptime = secondsSince(pb.collector_started_ns, nowMs);
  const report = {
    state: 'healthy' as HealthState,
    problems: [] as string[],
    collector: {
      address: ctx.address,
      version: pb.collector_version || null,
      startedAt: iso(pb.collector_started_ns),
      uptimeSeconds: collectorUptime,
      counters,
    },
    sensors,
    eventsPerSecond,
    loss,
    store: {
      path: st.path || null,
      bytes: num(st.db_bytes ?? pb.db_bytes),
      usedBytes: num(st.used_bytes),
      events: num(st.events ?? pb.events),
      batches: num(st.batches ?? pb.batches),
      oldestEventAt: iso(st.oldest_event_ns),
      newestEventAt: iso(st.newest_event_ns),
      retention: { maxAgeDays: st.retain_days || null, maxBytes: num(st.retain_bytes) || null },
      prunedBatches: num(st.pruned_batches),
      prunedEvents: num(st.pruned_events),
      integrityAlarms: num(st.integrity_alarms),
      hashQueue: num(st.hash_queue),
      dlpQueue: st.dlp_running ? num(st.dlp_queue) : null,
      walTruncations: num(st.wal_truncations),
    },
    forwarders,
    agents: (pb.agents ?? []).map((a) => ({
      name: a.name ?? '', state: a.state ?? 'learning', liveInstances: num(a.live_instances), instances: num(a.instances),
      alerts: num(a.alerts),
      lastAlert: a.last_alert_ns && a.last_alert_ns !== '0'
        ? { at: iso(a.last_alert_ns), rule: a.last_alert_rule ?? '', severity: a.last_alert_severity ?? '' } : null,
    })),
    containment: ctx.containment,
  };
  report.problems = problemsOf(report, thresholds, collectorUptime);
  report.state = report.problems.length ? 'degraded' : 'healthy';
  return report;
}

export type StatusReport = ReturnType<typeof buildStatusReport>;

/** What makes a collector degraded, each said in one line a person can act on. */
function problemsOf(r: Omit<StatusReport, 'state' | 'problems'>, t: StatusThresholds, uptime: number | null): string[] {
  const out: string[] = [];
  const lost = Object.entries(r.loss).filter(([, n]) => typeof n === 'number' && n > 0);
  if (lost.length) out.push(`loss since start: ${lost.map(([k, n]) => `${k} ${n}`).join(', ')}`);
  for (const s of r.sensors) {
    if (s.state === 'silent') out.push(`sensor ${s.sensorId} (boot ${s.bootId}) silent for ${s.silentSeconds} s`);
    if (s.state !== 'stopped' && s.leftOut.length) out.push(`sensor ${s.sensorId} left out programs: ${s.leftOut.join(', ')}`);
  }
  if (!r.sensors.some((s) => s.state === 'running') && (uptime ?? 0) > NO_SENSOR_GRACE_SEC) {
    out.push('no running sensor reports to this collector');
  }
  const alarms = Math.max(r.store.integrityAlarms, r.collector.counters.integrityAlarms ?? 0);
  if (alarms) out.push(`integrity alarms: ${alarms} batch(es) reused a stored sensor/boot/seq with other events`);
  if (r.collector.counters.commitErrors) out.push(`store commit errors: ${r.collector.counters.commitErrors}`);
  for (const f of r.forwarders) {
    if (f.lastError) out.push(`forwarder ${f.name} (${f.destination}): ${f.lastError}`);
    if (f.lagSeconds > t.maxLagSec) out.push(`forwarder ${f.name} lags ${Math.round(f.lagSeconds)} s (${f.lagEvents} events)`);
  }
  return out;
}

/** What `sensor status` prints when no collector answers. */
export function downReport(address: string, reason: string, containment: InForce[] | { error: string }) {
  return { state: 'down' as HealthState, problems: [reason], collector: { address }, containment };
}
