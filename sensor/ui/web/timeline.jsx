// Timeline of an instance: its process tree, and lanes on a zoomable time axis
// (processes, file activity by area, connects by destination, alerts and
// responses); a drag selects a window.
import { useState } from 'preact/hooks';
import { shortTime } from './api.js';
import { useData } from './use-data.js';

const FILE_KINDS = ['read', 'write', 'delete', 'rename', 'link'];
const NET_KINDS = ['connect', 'dns'];
const COLORS = { processes: '#555', files: '#2a7ab0', network: '#7a3ab0', alerts: '#c0203a' };
/** lanes per area and destination: the busiest ones, the rest in one */
const MAX_SUBLANES = 6;

const pathOf = (e) => (typeof e.event?.path === 'string' ? e.event.path : null);
/** the directory, cut to its first three levels: /usr/lib/x86_64-linux-gnu, /home/u/.ssh */
function areaOf(e) {
  const p = pathOf(e);
  if (!p) return 'other files';
  const dir = p.slice(0, Math.max(1, p.lastIndexOf('/')));
  return dir.split('/').slice(0, 4).join('/') || '/';
}
function destinationOf(e) {
  const ev = e.event ?? {};
  if (e.kind === 'dns') return `dns ${ev.dnsName ?? ev.name ?? ''}`.trim();
  if (ev.host) return `${ev.host}:${ev.port}`;
  if (ev.addr) return `${ev.addr.includes(':') ? `[${ev.addr}]` : ev.addr}:${ev.port}`;
  return ev.path ?? 'other destinations';
}

/** processes; files by area; connects by destination; alerts and responses */
function lanesFor(entries) {
  const top = (kinds, keyOf, other, group) => {
    const counts = new Map();
    for (const e of entries) if (kinds.includes(e.kind)) counts.set(keyOf(e), (counts.get(keyOf(e)) ?? 0) + 1);
    const keys = [...counts.entries()].sort((a, b) => b[1] - a[1]).map(([k]) => k);
    const kept = new Set(keys.slice(0, MAX_SUBLANES));
    const lanes = [...kept].map((k) => ({ name: k, group, test: (e) => kinds.includes(e.kind) && keyOf(e) === k }));
    if (keys.length > kept.size) lanes.push({ name: `${other} (${keys.length - kept.size} more)`, group, test: (e) => kinds.includes(e.kind) && !kept.has(keyOf(e)) });
    return lanes.length ? lanes : [{ name: group, group, test: () => false }];
  };
  return [
    { name: 'processes', group: 'processes', test: (e) => ['exec', 'fork', 'exit'].includes(e.kind) },
    ...top(FILE_KINDS, areaOf, 'other areas', 'files'),
    ...top(NET_KINDS, destinationOf, 'other destinations', 'network'),
    { name: 'alerts, responses', group: 'alerts', test: (e) => e.kind === 'alert' || e.kind === 'response' },
  ];
}

function Tree({ node }) {
  if (!node) return null;
  return (
    <li><span class="mono">{node.pid}</span> {node.exe ?? node.argv[0] ?? '?'} <span class="mono muted">{node.argv.join(' ')}</span>
      {node.exit !== null && <span class="muted"> (exit {node.exit})</span>}
      {node.children.length > 0 && <ul class="tree">{node.children.map((c) => <Tree node={c} />)}</ul>}
    </li>
  );
}

export function Timeline({ agentPid, version }) {
  const { data, error } = useData(agentPid ? `/api/timeline?agentPid=${encodeURIComponent(agentPid)}` : null, version);
  const [zoom, setZoom] = useState(null);
  const [drag, setDrag] = useState(null);
  const [picked, setPicked] = useState(null);
  if (!agentPid) return <p>choose an instance on the overview</p>;
  if (!data) return error ? <p class="error">{error}</p> : <p>loading…</p>;
  const times = data.entries.map((e) => Number(BigInt(e.tsNs) / 1000n) / 1000); // ms
  const full = times.length ? [Math.min(...times), Math.max(...times, Math.min(...times) + 1)] : [0, 1];
  const [from, to] = zoom ?? full;
  const LANES = lanesFor(data.entries);
  const W = 1100, LH = 24, X0 = 230;
  const x = (t) => X0 + ((t - from) / (to - from)) * (W - X0);
  const tAt = (px) => from + ((px - X0) / (W - X0)) * (to - from);
  const inWindow = data.entries.map((e, i) => [e, times[i]]).filter(([, t]) => t >= from && t <= to);
  const zoomBy = (f) => {
    const mid = (from + to) / 2, half = ((to - from) / 2) * f;
    setZoom([Math.max(full[0], mid - half), Math.min(full[1], mid + half)]);
  };
  const px = (ev) => ev.offsetX;
  return (
    <div>
      <h1>Timeline of instance {data.rootPid} {data.agent ? `(${data.agent})` : ''}</h1>
      <p class="muted">{shortTime(data.from)} … {shortTime(data.to)}; {Object.entries(data.counts).map(([k, v]) => `${v} ${k}`).join(', ')}{data.truncated ? ' (truncated)' : ''}</p>
      <p><a href={`/api/instances/${data.rootPid}/bundle`} download data-testid="bundle">Download the evidence bundle (as sensor collect)</a></p>
      <h2>Process tree</h2>
      <ul class="tree" data-testid="tree"><Tree node={data.tree} /></ul>
      <h2>Activity</h2>
      <div class="filters">
        <button onClick={() => zoomBy(0.5)}>zoom in</button><button onClick={() => zoomBy(2)}>zoom out</button>
        <button onClick={() => setZoom(null)}>whole instance</button>
        <span class="muted">drag across the chart to zoom to a window; {inWindow.length} entries shown</span>
      </div>
      <svg width={W} height={LH * LANES.length + 24} data-testid="axis" style="background:#fff;border:1px solid #ddd;cursor:crosshair"
        onMouseDown={(ev) => setDrag([px(ev), px(ev)])} onMouseMove={(ev) => drag && setDrag([drag[0], px(ev)])}
        onMouseUp={() => { if (drag && Math.abs(drag[1] - drag[0]) > 4) setZoom([tAt(Math.min(...drag)), tAt(Math.max(...drag))]); setDrag(null); }}>
        {LANES.map((l, i) => <g><text x="4" y={i * LH + 16}><title>{l.name}</title>{l.name.length > 34 ? `…${l.name.slice(-33)}` : l.name}</text>
          <line x1="0" x2={W} y1={(i + 1) * LH} y2={(i + 1) * LH} stroke={LANES[i + 1]?.group !== l.group ? '#ccc' : '#f2f2f2'} /></g>)}
        {inWindow.map(([e, t]) => {
          const lane = LANES.findIndex((l) => l.test(e));
          if (lane < 0) return null;
          return <rect x={x(t) - 2} y={lane * LH + 5} width="4" height={LH - 10} fill={e.failed ? '#bbb' : COLORS[LANES[lane].group]} onClick={() => setPicked(e)}><title>{`${shortTime(e.ts)} ${e.kind} ${e.text}`}</title></rect>;
        })}
        {drag && <rect x={Math.min(...drag)} y="0" width={Math.abs(drag[1] - drag[0])} height={LH * LANES.length} fill="rgba(42,93,176,.15)" />}
        <text x={X0} y={LH * LANES.length + 16}>{shortTime(new Date(from).toISOString())}</text>
        <text x={W - 4} y={LH * LANES.length + 16} text-anchor="end">{shortTime(new Date(to).toISOString())}</text>
      </svg>
      {picked && <p class="mono">{shortTime(picked.ts)} {picked.kind} pid {picked.pid}: {picked.text}</p>}
      <table>
        <thead><tr><th>time</th><th>kind</th><th>pid</th><th>what</th></tr></thead>
        <tbody>{inWindow.slice(0, 500).map(([e]) => (
          <tr><td>{shortTime(e.ts)}</td><td>{e.kind === 'alert' ? <a href={`#/alerts/${e.id}`}>alert</a> : e.kind}</td><td>{e.pid}</td>
            <td class="mono">{e.text}{e.sensitive ? ` [${e.sensitive}]` : ''}</td></tr>))}</tbody>
      </table>
      {inWindow.length > 500 && <p class="muted">first 500 of {inWindow.length}: zoom in for the rest</p>}
    </div>
  );
}
