// Baseline of an agent: what it normally reads, runs and connects to, with counts, and what is new since learning ended.
import { shortTime } from './api.js';
import { useData } from './use-data.js';

function CountTable({ title, entries }) {
  const list = Object.entries(entries).sort((a, b) => b[1] - a[1]);
  return (
    <div class="card">
      <h2 style="margin-top:0">{title} ({list.length})</h2>
      <table><tbody>{list.slice(0, 200).map(([k, n]) => <tr><td class="mono">{k}</td><td>{n}</td></tr>)}</tbody></table>
      {list.length > 200 && <p class="muted">200 of {list.length}</p>}
    </div>
  );
}

export function Baseline({ agent, version }) {
  const { data, error } = useData(agent ? `/api/baseline?agent=${encodeURIComponent(agent)}` : null, version);
  if (!agent) return <p>choose an agent on the overview</p>;
  if (!data) return error ? <p class="error">{error}</p> : <p>loading…</p>;
  const b = data.baseline;
  return (
    <div>
      <h1>Baseline of {data.agent}: <span class={`state ${data.state}`}>{data.state}</span></h1>
      <p>learned {b.seen.events} events ({b.seen.opens} opens, {b.seen.connects} connects, {b.seen.execs} execs) from {b.seen.instances} instances
        {data.endedBy ? `; learning ended by ${data.endedBy}` : ''}{data.detectingSince ? `; detecting since ${shortTime(data.detectingSince)}` : ''}</p>
      <div class="cards">
        <CountTable title="Reads (areas)" entries={b.sets.areas} />
        <CountTable title="Runs (executables)" entries={b.sets.executables} />
        <CountTable title="Connects (destinations)" entries={b.sets.destinations} />
      </div>
      <h2>New since learning ended</h2>
      {data.state !== 'detecting' ? <p class="muted">still learning: nothing is new yet</p>
        : data.newSinceLearning.length === 0 ? <p class="muted">nothing new</p>
        : <table><tbody>{data.newSinceLearning.map((a) => <tr><td><a href={`#/alerts/${a.id}`}>{a.id}</a></td><td>{shortTime(a.ts)}</td><td>{a.rule}</td><td class="mono">{a.subject}</td></tr>)}</tbody></table>}
    </div>
  );
}
