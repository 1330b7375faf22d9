// The page's only way out: same-origin requests to the console's /api/.
const token = document.querySelector('meta[name="sensor-ui-token"]')?.content ?? '';

export async function getJson(path) {
  const r = await fetch(path, { credentials: 'same-origin' });
  const body = await r.json().catch(() => ({ error: `HTTP ${r.status}` }));
  if (!r.ok) throw new Error(body.error ?? `HTTP ${r.status}`);
  return body;
}

/** A containment write: the token in a header (the server refuses a write without it) and confirm: true. */
export async function postAction(agentPid, action, reason) {
  const r = await fetch(`/api/instances/${agentPid}/${action}`, {
    method: 'POST', credentials: 'same-origin',
    headers: { 'content-type': 'application/json', 'x-sensor-token': token },
    body: JSON.stringify({ confirm: true, reason }),
  });
  const body = await r.json().catch(() => ({ error: `HTTP ${r.status}` }));
  if (!r.ok) throw new Error(body.error ?? `HTTP ${r.status}`);
  return body;
}

export const SEVERITIES = ['low', 'medium', 'high', 'critical'];
export const shortTime = (iso) => (iso ? iso.replace('T', ' ').slice(0, 23) : '?');
