// Credential sweep: several distinct sensitive classes (catalogue or DLP)
// read within a short window, egress or not. Reads by a class's own consumer
// do not count.
import { z } from 'zod';
import { defineDetector } from '../detector.js';
import { contentRead, expire, sensitiveRead, toNs, windowParam, type ClassedRead } from './credential-use.js';

function sweep(state: { reads: ClassedRead[]; fired: boolean }, r: ClassedRead, windowNs: bigint, minClasses: number, agent: string) {
  expire(state.reads, r.ts, windowNs);
  state.reads.push(r);
  const classes = new Set(state.reads.flatMap((x) => x.classes.map((c) => c.replace(/^dlp:/, ''))));
  if (classes.size < minClasses) {
    state.fired = false;
    return;
  }
  if (state.fired) return;
  state.fired = true;
  return [{
    subject: 'sweep',
    summary: `${agent} read ${classes.size} kinds of credentials within the window: ${[...classes].join(', ')} (${state.reads.slice(-6).map((x) => x.path).join(', ')})`,
    evidence: state.reads.slice(-32).map((x) => x.id),
  }];
}

export default defineDetector({
  meta: {
    id: 'credential_sweep',
    title: 'Credential sweep',
    description: 'Several distinct kinds of credentials read by one instance within a short window.',
    severity: 'high',
    attack: ['T1552.001', 'T1555', 'T1083'],
    falsePositives: 'A setup or diagnostics script that checks every cloud CLI\'s config; a backup of the home directory.',
    phase: 'always',
    params: z.object({ window: windowParam('2m'), minClasses: z.number().int().min(2).default(3) }).strict(),
  },
  newState: () => ({ reads: [] as ClassedRead[], fired: false }),
  onEvent(ev, { agent, state, params, catalogue, proc }) {
    const r = sensitiveRead(ev, catalogue, proc, agent);
    if (!r || r.consumer) return;
    return sweep(state, r, toNs(params.window), params.minClasses, agent.name);
  },
  onContent(ev, { agent, state, params, catalogue }) {
    const r = contentRead(ev, catalogue);
    if (!r || ev.features.sensitive?.length) return; // its path class already counted
    return sweep(state, r, toNs(params.window), params.minClasses, agent.name);
  },
});
