// Alerts: a filterable list that grows live; an alert opens its evidence and the containment buttons.
import { useEffect, useMemo, useState } from 'preact/hooks';
import { postAction, SEVERITIES, shortTime } from './api.js';
import { useData } from './use-data.js';

const RANK = Object.fromEntries(SEVERITIES.map((s, i) => [s, i]));

export function Alerts({ live }) {
  const [agent, setAgent] = useState('');
  const [severity, setSeverity] = useState('');
  const [text, setText] = useState('');
  // The live feed adds alerts at once; a reload every 10 s also catches one stored between this list and the feed's start.
  const [tick, setTick] = useState(0);
  useEffect(() => { const t = setInterval(() => setTick((x) => x + 1), 10_000); return () => clearInterval(t); }, []);
  const { data, error } = useData('/api/alerts?limit=2000', tick);
  const all = useMemo(() => {
    const byId = new Map((data ?? []).map((a) => [a.id, a]));
    for (const a of live) byId.set(a.id, { ...a, fresh: !data?.some((x) => x.id === a.id) });
    return [...byId.values()].sort((a, b) => b.id - a.id);
  }, [data, live]);
  const agents = [...new Set(all.map((a) => a.agent))].sort();
  const shown = all.filter((a) => (!agent || a.agent === agent) && (!severity || RANK[a.severity] >= RANK[severity]) &&
    (!text || `${a.rule} ${a.summary} ${a.subject}`.toLowerCase().includes(text.toLowerCase())));
  return (
    <div>
      <h1>Alerts</h1>
      {error && <p class="error">{error}</p>}
      <div class="filters">
        <label>agent <select value={agent} onChange={(e) => setAgent(e.target.value)} data-testid="filter-agent">
          <option value="">all</option>{agents.map((a) => <option>{a}</option>)}</select></label>
        <label>severity ≥ <select value={severity} onChange={(e) => setSeverity(e.target.value)} data-testid="filter-severity">
          <option value="">any</option>{SEVERITIES.map((s) => <option>{s}</option>)}</select></label>
        <input placeholder="rule, summary, subject…" value={text} onInput={(e) => setText(e.target.value)} data-testid="filter-text" />
        <span class="muted">{shown.length} of {all.length}</span>
      </div>
      <table>
        <thead><tr><th>#</th><th>time</th><th>severity</th><th>agent [agentPid]</th><th>rule</th><th>summary</th><th>count</th></tr></thead>
        <tbody>{shown.map((a) => (
          <tr class={`clickable ${a.fresh ? 'fresh' : ''}`} data-testid="alert-row" data-alert-id={a.id} onClick={() => { location.hash = `#/alerts/${a.id}`; }}>
            <td>{a.id}</td><td>{shortTime(a.ts)}</td><td><span class={`sev ${a.severity}`}>{a.severity}</span></td>
            <td>{a.agent} [{a.agentPid ?? '?'}]</td><td>{a.rule}</td><td>{a.summary}</td><td>{a.count}</td></tr>))}</tbody>
      </table>
    </div>
  );
}

const ACTION_TEXT = {
  isolate: 'cut its network egress in the kernel (it and its later children)',
  freeze: 'freeze every process of it (cgroup freezer)',
  release: 'restore its network egress and thaw it',
};

function Containment({ alert }) {
  const [asking, setAsking] = useState(null);
  const [reason, setReason] = useState('');
  const [result, setResult] = useState(null);
  if (alert.agentPid === null) return <p class="muted">this alert names no instance: nothing to contain</p>;
  const run = async () => {
    const action = asking;
    setAsking(null);
    try {
      const r = await postAction(alert.agentPid, action, reason || `from the console, alert ${alert.id}`);
      setResult({ ok: true, text: `${action}: instance ${r.rootPid}${r.pids ? `, ${r.pids.length} processes` : ''}${r.released !== undefined ? `, ${r.released} processes released` : ''}; record ${r.record}` });
    } catch (e) {
      setResult({ ok: false, text: `${action} failed: ${e.message}` });
    }
  };
  return (
    <div>
      <button class="danger" data-testid="isolate" onClick={() => setAsking('isolate')}>Isolate</button>{' '}
      <button class="danger" data-testid="freeze" onClick={() => setAsking('freeze')}>Freeze</button>{' '}
      <button data-testid="release" onClick={() => setAsking('release')}>Release</button>
      {result && <p class={result.ok ? 'ok' : 'error'} data-testid="action-result">{result.text}</p>}
      {asking && (
        <div class="modal" role="dialog" aria-modal="true">
          <div>
            <h2 style="margin-top:0">{asking} instance {alert.agentPid} of {alert.agent}?</h2>
            <p>This will {ACTION_TEXT[asking]}. It is recorded in the store with you as the actor.</p>
            <label>reason <input value={reason} onInput={(e) => setReason(e.target.value)} data-testid="reason" /></label>
            <button class="primary" data-testid="confirm" onClick={run}>Yes, {asking}</button>{' '}
            <button onClick={() => setAsking(null)}>Cancel</button>
          </div>
        </div>
      )}
    </div>
  );
}

function evidenceDetail(e) {
  const ev = e.event ?? {};
  const bits = [];
  if (ev.sha256) bits.push(`sha256 ${ev.sha256}`);
  if (e.sensitive) bits.push(`class ${e.sensitive}`);
  if (ev.hashState && !ev.sha256) bits.push(`hash ${ev.hashState}`);
  if (ev.dnsName || ev.host) bits.push(`host ${ev.dnsName ?? ev.host}`);
  if (ev.intent || ev.toolCall) bits.push(`tool call ${JSON.stringify(ev.intent ?? ev.toolCall)}`);
  return bits.join('; ');
}

export function AlertDetail({ id }) {
  const { data, error } = useData(`/api/alerts/${encodeURIComponent(id)}`);
  if (!data) return error ? <p class="error">{error}</p> : <p>loading…</p>;
  const a = data.alert;
  return (
    <div>
      <p><a href="#/alerts">← all alerts</a></p>
      <h1><span class={`sev ${a.severity}`}>{a.severity}</span> {a.rule}: {a.summary}</h1>
      <table style="width:auto">
        <tbody>
          <tr><th>alert</th><td>{a.id} at {shortTime(a.ts)}{a.count > 1 ? ` (x${a.count}, last ${shortTime(a.lastTs)})` : ''}</td></tr>
          <tr><th>agent</th><td><a href={`#/baseline/${encodeURIComponent(a.agent)}`}>{a.agent}</a></td></tr>
          <tr><th>instance</th><td>{a.agentPid !== null ? <a href={`#/timeline/${a.agentPid}`}>{a.agentPid} (timeline)</a> : '?'}, pid {a.pid ?? '?'}</td></tr>
          <tr><th>subject</th><td class="mono">{a.subject}</td></tr>
          {a.baseline && <tr><th>baseline</th><td class="mono">{a.baseline}</td></tr>}
        </tbody>
      </table>
      <h2>Evidence</h2>
      {data.note && <p class="muted">{data.note}</p>}
      <table data-testid="evidence">
        <thead><tr><th>time</th><th>kind</th><th>pid</th><th>what</th><th>hash, class, host, tool call</th></tr></thead>
        <tbody>{data.evidence.map((e) => (
          <tr data-testid="evidence-row"><td>{shortTime(e.ts)}</td><td>{e.kind}</td><td>{e.pid} {e.comm}</td><td class="mono">{e.text}</td><td class="mono">{evidenceDetail(e)}</td></tr>))}</tbody>
      </table>
      <h2>Containment</h2>
      <Containment alert={a} />
    </div>
  );
}
