// Overview: each agent (state, live instances, baseline), alerts by severity over time, loss counters, forwarder lag, containment in force.
import { useEffect, useState } from 'preact/hooks';
import { SEVERITIES, shortTime } from './api.js';
import { useData } from './use-data.js';

const COLORS = { low: '#7aa6d6', medium: '#e0b040', high: '#e07030', critical: '#c0203a' };

/** Stacked bars: the alerts' severities in 24 equal buckets over the span they cover. */
function SeverityChart({ alerts }) {
  if (!alerts.length) return <p class="muted">no alerts stored</p>;
  const times = alerts.map((a) => Date.parse(a.ts));
  const from = Math.min(...times);
  const to = Math.max(...times, from + 60_000);
  const n = 24;
  const step = (to - from) / n;
  const buckets = Array.from({ length: n }, () => ({ low: 0, medium: 0, high: 0, critical: 0 }));
  alerts.forEach((a, i) => {
    const b = Math.min(n - 1, Math.floor((times[i] - from) / step));
    buckets[b][a.severity] = (buckets[b][a.severity] ?? 0) + a.count;
  });
  const max = Math.max(1, ...buckets.map((b) => SEVERITIES.reduce((s, k) => s + b[k], 0)));
  const W = 720, H = 140, bw = W / n;
  return (
    <div>
      <svg width={W} height={H + 20} role="img" aria-label="alerts by severity over time">
        {buckets.map((b, i) => {
          let y = H;
          return SEVERITIES.map((k) => {
            const h = (b[k] / max) * H;
            y -= h;
            return h > 0 ? <rect x={i * bw + 1} y={y} width={bw - 2} height={h} fill={COLORS[k]}><title>{`${b[k]} ${k}`}</title></rect> : null;
          });
        })}
        <text x="0" y={H + 14}>{shortTime(new Date(from).toISOString())}</text>
        <text x={W} y={H + 14} text-anchor="end">{shortTime(new Date(to).toISOString())}</text>
      </svg>
      <div class="legend">{SEVERITIES.map((k) => <span><i style={`background:${COLORS[k]}`} />{k}</span>)}</div>
    </div>
  );
}

function AgentCard({ a }) {
  const live = a.instances.filter((i) => !i.end);
  return (
    <div class="card" data-testid="agent">
      <h2 style="margin-top:0"><a href={`#/baseline/${encodeURIComponent(a.agent)}`}>{a.agent}</a> <span class={`state ${a.state}`}>{a.state}</span></h2>
      {a.progress && <div title="learning progress"><div class="bar"><div style={`width:${Math.floor(a.progress.ratio * 100)}%`} /></div>
        <span class="muted">{Math.floor(a.progress.ratio * 100)}% learned: {a.progress.events}/{a.progress.minEvents} events</span></div>}
      {a.detectingSince && <p class="muted">detecting since {shortTime(a.detectingSince)}</p>}
      <p>{a.instanceCount} instances, {live.length} live</p>
      <table>
        <thead><tr><th>agentPid</th><th>start</th><th>end</th><th>user</th><th>command</th></tr></thead>
        <tbody>{a.instances.slice(-8).reverse().map((i) => (
          <tr><td><a href={`#/timeline/${i.agentPid}`}>{i.agentPid}</a></td><td>{shortTime(i.start)}</td><td>{i.end ? shortTime(i.end) : <b>running</b>}</td>
            <td>{i.user ?? `uid ${i.uid}`}</td><td class="mono">{i.cmdline}</td></tr>))}</tbody>
      </table>
    </div>
  );
}

function Loss({ collector }) {
  if (collector.error) return <p class="muted">collector {collector.address} not reachable: {collector.error}</p>;
  const s = collector.status;
  return (
    <table>
      <thead><tr><th>sensor</th><th>last seen</th><th>dropped</th><th>undelivered</th><th>transport</th><th>sensor loss</th></tr></thead>
      <tbody>{(s.sensors ?? []).map((x) => {
        const c = x.counters ?? {};
        const loss = Object.entries(c.sensor_loss ?? {});
        return <tr><td class="mono">{x.sensor_id}</td><td>{x.last_seen_ns ? shortTime(new Date(Number(BigInt(x.last_seen_ns) / 1000000n)).toISOString()) : '-'}</td>
          <td>{x.dropped_reported ?? 0}</td><td>{x.undelivered_reported ?? 0}</td>
          <td class="mono">sent={c.sent ?? 0} acked={c.acked ?? 0} resent={c.resent ?? 0} dropped={c.dropped ?? 0} buffered={c.buffered ?? 0}</td>
          <td class="mono">{loss.length ? loss.map(([k, v]) => `${k}=${v}`).join(' ') : 'none'}</td></tr>;
      })}</tbody>
      <caption class="muted" style="caption-side:bottom;text-align:left">store: {s.events ?? 0} events, {s.batches ?? 0} batches</caption>
    </table>
  );
}

/** Each forwarder of the collector (sensor run --forward): where it ships, how far behind, its last error. */
function Forwarders({ collector }) {
  if (collector.error) return null;
  const list = collector.status.forwarders ?? [];
  if (!list.length) return <p class="muted">no forwarder runs in this collector</p>;
  return (
    <table>
      <thead><tr><th>destination</th><th>lag</th><th>shipped</th><th>lost</th><th>last error</th></tr></thead>
      <tbody>{list.map((f) => <tr><td class="mono">{f.destination}</td>
        <td>{f.lag_events ?? 0} events{Number(f.lag_ns ?? 0) > 0 ? `, ${Math.round(Number(f.lag_ns) / 1e9)} s` : ''}</td>
        <td>{f.shipped ?? 0}</td><td>{f.lost ?? 0}</td><td class="mono">{f.last_error || 'none'}</td></tr>)}</tbody>
    </table>
  );
}

export function Overview({ version }) {
  const [tick, setTick] = useState(0);
  useEffect(() => { const t = setInterval(() => setTick((x) => x + 1), 5000); return () => clearInterval(t); }, []);
  const { data, error } = useData('/api/overview', `${version}-${tick}`);
  if (!data) return error ? <p class="error">{error}</p> : <p>loading…</p>;
  const contained = Array.isArray(data.containment) ? data.containment : [];
  return (
    <div>
      <h1>Overview</h1>
      {error && <p class="error">{error}</p>}
      {data.agents.length === 0 ? <p class="muted">no agents seen yet</p> : <div class="cards">{data.agents.map((a) => <AgentCard a={a} />)}</div>}
      <h2>Alerts by severity over time</h2>
      <SeverityChart alerts={data.alerts} />
      <h2>Loss counters</h2>
      <Loss collector={data.collector} />
      <h2>Forwarders</h2>
      <Forwarders collector={data.collector} />
      <h2>Containment in force</h2>
      {!Array.isArray(data.containment) ? <p class="muted">unknown: {data.containment.error}</p>
        : contained.length === 0 ? <p class="muted">none</p>
        : <ul>{contained.map((f) => <li>instance <a href={`#/timeline/${f.rootPid}`}>{f.rootPid}</a> {f.agent ?? ''}: {f.mode ? `network ${f.mode} (${f.processes} processes, ${f.denied} refused)` : ''} {f.frozenCgroup ? 'frozen' : ''} {f.actor ? `by ${f.actor}` : ''}</li>)}</ul>}
    </div>
  );
}
