// Exfiltration sequence: an instance reads sensitive data (a catalogue path,
// or content the DLP pass found secrets in) and then, within the window,
// connects out. To a destination outside its grants and its baseline:
// critical. Only to the agent's usual destinations: high (the data may leave
// in the agent's own traffic). A credential read by its own consumer (ssh
// reading the key it authenticates with) followed only by usual destinations
// is not a leak and stays silent. DLP results arrive after commit (the
// content feed), possibly after the connect: a late secret is judged against
// the connects already seen in its window.
import { z } from 'zod';
import { defineDetector, type AlertDraft, type AgentView, type JudgedEvent } from '../detector.js';
import { contentRead, expire, sensitiveRead, toNs, windowParam, type ClassedRead } from './credential-use.js';

interface Connect { id: bigint; ts: bigint; key: string; text: string; usual: boolean }

const KEEP = 32;

function usualDestination(agent: AgentView, d: NonNullable<JudgedEvent['features']['dest']>): boolean {
  // While learning, the baseline takes every destination in before detectors run: only grants say "usual" then.
  return agent.grants.allowsConnect(d.addr, d.port, d.host) === true || (agent.state === 'detecting' && agent.baseline.has('destinations', d.key));
}

function judge(reads: ClassedRead[], c: Connect, agentName: string): AlertDraft[] | undefined {
  const relevant = reads.filter((r) => r.ts <= c.ts && (!c.usual || !r.consumer));
  if (relevant.length === 0) return;
  const classes = [...new Set(relevant.flatMap((r) => r.classes))];
  const what = relevant.slice(-5).map((r) => `${r.path} [${r.classes.join(',')}]${r.sha256 ? ` sha256 ${r.sha256.slice(0, 16)}` : ''}`).join('; ');
  return [{
    severity: c.usual ? 'high' : 'critical',
    subject: c.key,
    summary: `${agentName} read ${classes.join(', ')} then connected to ${c.text}` +
      `${c.usual ? ' (a usual destination: the data may leave in its own traffic)' : ', outside its grants and baseline'}: ${what}`,
    evidence: [...relevant.slice(-KEEP).map((r) => r.id), c.id],
  }];
}

export default defineDetector({
  meta: {
    id: 'exfiltration',
    title: 'Sensitive read then egress',
    description: 'Sensitive or DLP-tagged data read, then within the window a connect: critical outside grants and baseline, high to usual destinations.',
    severity: 'critical',
    attack: ['T1041', 'T1048', 'T1552.001'],
    falsePositives: 'A deploy tool run by the agent that reads a credential and uploads with it (declare the destination in grants: it then rates high, or silent for the credential\'s own consumer).',
    phase: 'always',
    params: z.object({
      window: windowParam('10m'),
      /** connects to port 53 are DNS (dns_tunnel judges those) */
      ignorePorts: z.array(z.number().int()).default([53]),
    }).strict(),
  },
  newState: () => ({ reads: [] as ClassedRead[], connects: [] as Connect[], byId: new Map<bigint, ClassedRead>() }),
  onEvent(ev, { agent, state, params, catalogue, proc }) {
    const w = toNs(params.window);
    const r = sensitiveRead(ev, catalogue, proc, agent);
    if (r) {
      expire(state.reads, ev.tsNs, w);
      state.reads.push(r);
      if (state.reads.length > 256) state.reads.shift();
      state.byId.set(r.id, r);
      if (state.byId.size > 1024) state.byId.delete(state.byId.keys().next().value!);
      return;
    }
    const d = ev.features.dest;
    if (!d || d.family === 'unix' || params.ignorePorts.includes(d.port)) return;
    if (ev.event.type === 'connect' && ev.event.result !== 0 && ev.event.result !== -115) return;
    const c: Connect = { id: ev.id, ts: ev.tsNs, key: d.key, text: d.text, usual: usualDestination(agent, d) };
    expire(state.connects, ev.tsNs, w);
    state.connects.push(c);
    if (state.connects.length > 64) state.connects.shift();
    expire(state.reads, ev.tsNs, w);
    return judge(state.reads, c, agent.name);
  },
  onContent(ev, { agent, state, params, catalogue }) {
    const r = contentRead(ev, catalogue);
    const known = state.byId.get(ev.id);
    if (known) known.sha256 = ev.content?.sha256 ?? null;
    if (!r) return;
    if (known) {
      // the same credential its consumer read stays excused; anyone else's read gains the content's classes
      known.classes = [...new Set([...known.classes, ...r.classes])];
      if (known.consumer) return;
    } else {
      state.reads.push(r);
      state.reads.sort((a, b) => (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : 0));
    }
    // Connects judged before this content arrived: the newest one in the window after the read.
    const w = toNs(params.window);
    const later = state.connects.filter((c) => c.ts >= r.ts && c.ts - r.ts <= w);
    const out: AlertDraft[] = [];
    for (const c of later.slice(-2)) out.push(...(judge([known ?? r], c, agent.name) ?? []));
    return out;
  },
});
