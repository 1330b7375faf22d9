// The console's page: a hash router over four views, and the live alert feed (SSE) shared by all.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { Overview } from './overview.jsx';
import { AlertDetail, Alerts } from './alerts.jsx';
import { Timeline } from './timeline.jsx';
import { Baseline } from './baseline.jsx';

function useHash() {
  const [hash, setHash] = useState(location.hash || '#/');
  useEffect(() => {
    const on = () => setHash(location.hash || '#/');
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return hash;
}

function useLiveAlerts() {
  const [live, setLive] = useState({ alerts: [], up: false });
  useEffect(() => {
    // The server ends each stream after a few seconds and the browser resumes it (Last-Event-ID):
    // only a stream that stays down is shown as down.
    const es = new EventSource('/api/live');
    let down = null;
    es.onopen = () => { clearTimeout(down); setLive((s) => ({ ...s, up: true })); };
    es.onerror = () => { clearTimeout(down); down = setTimeout(() => setLive((s) => ({ ...s, up: false })), 3000); };
    es.addEventListener('alert', (ev) => {
      const a = JSON.parse(ev.data);
      setLive((s) => (s.alerts.some((x) => x.id === a.id) ? s : { ...s, alerts: [...s.alerts, a] }));
    });
    return () => { clearTimeout(down); es.close(); };
  }, []);
  return live;
}

function App() {
  const hash = useHash();
  const live = useLiveAlerts();
  const parts = hash.slice(2).split('/').map(decodeURIComponent);
  const page = parts[0] || 'overview';
  let view;
  if (page === 'alerts' && parts[1]) view = <AlertDetail id={parts[1]} />;
  else if (page === 'alerts') view = <Alerts live={live.alerts} />;
  else if (page === 'timeline') view = <Timeline agentPid={parts[1]} version={live.alerts.length} />;
  else if (page === 'baseline') view = <Baseline agent={parts[1]} version={live.alerts.length} />;
  else view = <Overview version={live.alerts.length} />;
  const nav = (href, name, key) => <a href={href} class={page === key ? 'active' : ''}>{name}</a>;
  return (
    <>
      <header>
        <strong>agent-sensor</strong>
        {nav('#/', 'Overview', 'overview')}
        {nav('#/alerts', `Alerts${live.alerts.length ? ` (+${live.alerts.length} new)` : ''}`, 'alerts')}
        <span class={`live ${live.up ? '' : 'down'}`} data-testid="live">{live.up ? '● live' : '○ reconnecting'}</span>
      </header>
      <main>{view}</main>
    </>
  );
}

const root = document.getElementById('app');
root.textContent = ''; // the static "loading…" placeholder
render(<App />, root);
