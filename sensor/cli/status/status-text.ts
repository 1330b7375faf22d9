// `sensor status` for people: one section per concern, in the order a
// responder asks (is it up, is it seeing, is it losing, where does it keep
// it, where does it send it, what are the agents doing, what is contained).
import { renderInForce } from '../../response/containment.js';
import type { downReport, StatusReport } from './status-report.js';

const mib = (bytes: number): string => `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;

function duration(sec: number | null): string {
  if (sec === null) return '?';
  const d = Math.floor(sec / 86400);
  const h = Math.floor((sec % 86400) / 3600);
  const m = Math.floor((sec % 3600) / 60);
  return d ? `${d}d ${h}h` : h ? `${h}h ${m}m` : m ? `${m}m ${sec % 60}s` : `${sec}s`;
}

const pairs = (o: Record<string, number>): string =>
  Object.keys(o).length ? Object.entries(o).map(([k, v]) => `${k}=${v}`).join(' ') : 'none';

export function renderStatusText(r: StatusReport): string {
  const L: string[] = [];
  L.push(`status: ${r.state.toUpperCase()}`);
  for (const p of r.problems) L.push(`  ! ${p}`);

  L.push('', 'collector:');
  L.push(`  ${r.collector.address}, version ${r.collector.version ?? '?'}, up ${duration(r.collector.uptimeSeconds)}`);
  L.push(`  ${pairs(r.collector.counters)}`);

  L.push('', 'sensors:');
  if (!r.sensors.length) L.push('  none has reported to this collector run');
  for (const s of r.sensors) {
    L.push(`  ${s.sensorId} boot ${s.bootId}: ${s.state}, last seen ${s.lastSeenAt ?? '-'} (${s.silentSeconds} s ago)`);
    L.push(`    version ${s.version ?? '?'}, backend ${s.backend ?? '?'}, kernel ${s.kernel ?? '?'}, up ${duration(s.uptimeSeconds)}`);
    L.push(`    attached: ${s.attached.length ? s.attached.join(' ') : s.backend === 'bpftrace' ? '(held by bpftrace, not listed)' : 'none reported'}`);
    L.push(`    left out: ${s.leftOut.length ? s.leftOut.join(' ') : 'none'}`);
    L.push(`    events/s: ${pairs(s.eventsPerSecond)}`);
    const t = s.transport;
    L.push(`    transport: sent=${t.sent} acked=${t.acked} resent=${t.resent} dropped=${t.dropped} buffered=${t.buffered} rejected=${t.rejected}`);
    L.push(`    sensor loss: ${pairs(s.lossByCause)}`);
    const p = s.priority;
    L.push(`    priority: ${!p ? 'as the agents (not lowered)'
      : p.mode === 'nice' ? `${p.threads} background threads at nice 10`
        : `idle (SCHED_IDLE, ${p.threads} threads; the ring reader normal), raised ${p.boosts} times for ${(p.boostedMs / 1000).toFixed(1)} s ` +
          `when events waited over ${p.boostAfterMs} ms${p.boosted ? '; raised now' : ''}`}`);
  }

  L.push('', `events per second (running sensors): ${pairs(r.eventsPerSecond)}`);

  const l = r.loss;
  L.push('', 'loss since start, by stage:');
  L.push(`  kernel ring ${l.kernelRingLost}, queue to JS ${l.queueToJsLost}, sensor buffer ${l.sensorBufferDropped}, ` +
    `rejected ${l.rejectedLost}, other sensor causes ${l.otherSensorLost}, undelivered by earlier runs ${l.undeliveredLost}`);
  L.push(`  hash queue ${l.hashQueueDropped} (write failures ${l.hashWriteFailures}), ` +
    `DLP queue ${l.dlpQueueDropped === null ? 'not running' : l.dlpQueueDropped}, forwarders ${l.forwarderLost}`);

  const st = r.store;
  L.push('', 'store:');
  L.push(`  ${st.path ?? '(path not reported)'}: ${mib(st.bytes)} on disk, ${st.events} events in ${st.batches} batches`);
  L.push(`  oldest event ${st.oldestEventAt ?? '-'}, newest ${st.newestEventAt ?? '-'}`);
  L.push(`  retention: ${st.retention.maxAgeDays ? `${st.retention.maxAgeDays} days` : 'no age bound'}, ` +
    `${st.retention.maxBytes ? mib(st.retention.maxBytes) : 'no size bound'}; pruned ${st.prunedBatches} batches, ${st.prunedEvents} events`);
  L.push(`  hash queue ${st.hashQueue}, integrity alarms ${st.integrityAlarms}`);
  const c = r.collector.counters;
  if (c.filesHashed !== undefined) {
    L.push(`  files read: ${c.filesHashed} hashed, ${c.filesLinked ?? 0} linked to a version hashed before` +
      ` (${c.filesLinkedByInode ?? 0} from the kernel's inode alone)`);
  }
  if (c.deferredHashWrites !== undefined) {
    // done after the ack, below the agents' priority: late, never skipped
    L.push(`  deferred (still done): ${c.deferredHashJobs ?? 0} files to hash, ${c.deferredHashWrites} results to write` +
      `${c.storeWorkerNice !== undefined ? `; store worker at nice ${c.storeWorkerNice}` : ''}`);
  }

  L.push('', 'forwarders:');
  if (!r.forwarders.length) L.push('  none');
  for (const f of r.forwarders) {
    L.push(`  ${f.name} -> ${f.destination}: lag ${f.lagEvents} events (${Math.round(f.lagSeconds)} s), shipped ${f.shipped}, lost ${f.lost}` +
      `${f.lastError ? `, last error ${f.lastErrorAt ?? ''}: ${f.lastError}` : ''}`);
  }

  L.push('', 'agents:');
  if (!r.agents.length) L.push('  none seen');
  for (const a of r.agents) {
    const last = a.lastAlert ? `last alert ${a.lastAlert.at} ${a.lastAlert.severity} ${a.lastAlert.rule}` : 'no alert';
    L.push(`  ${a.name}: ${a.state}, ${a.liveInstances} live of ${a.instances} instances, ${a.alerts} alerts, ${last}`);
  }

  L.push('', renderInForce(r.containment));
  return L.join('\n');
}

export function renderDownText(r: ReturnType<typeof downReport>): string {
  // Short: the reason is already on stderr. Containment is said only when some
  // is in force (it outlives the collector and matters most when it is down).
  const lines = ['status: DOWN', `collector: ${r.collector.address}`];
  if (!Array.isArray(r.containment) || r.containment.length > 0) lines.push(renderInForce(r.containment));
  return lines.join('\n');
}
