// DNS that carries data: queries with long high-entropy labels, or many
// unique names under one parent domain within the window.
import { z } from 'zod';
import { defineDetector } from '../detector.js';
import { expire, toNs, windowParam } from './credential-use.js';

function entropy(s: string): number {
  const counts = new Map<string, number>();
  for (const ch of s) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let h = 0;
  for (const n of counts.values()) h -= (n / s.length) * Math.log2(n / s.length);
  return h;
}

/** The registrable-ish parent: the last two labels (three under a two-letter second level such as co.uk). */
function parentOf(labels: string[]): string {
  const n = labels.length >= 3 && labels[labels.length - 2]!.length <= 3 && labels[labels.length - 1]!.length === 2 ? 3 : 2;
  return labels.slice(-n).join('.');
}

export default defineDetector({
  meta: {
    id: 'dns_tunnel',
    title: 'Data carried in DNS',
    description: 'DNS queries with long high-entropy labels, or many unique names under one parent within the window.',
    severity: 'high',
    attack: ['T1048.003', 'T1071.004'],
    falsePositives: 'CDNs and anti-malware lookups with hashed labels; DKIM/DMARC tooling.',
    phase: 'always',
    params: z.object({
      window: windowParam('60s'),
      minLabel: z.number().int().positive().default(30),
      minEntropy: z.number().positive().default(3.5),
      maxUnique: z.number().int().positive().default(20),
    }).strict(),
  },
  newState: () => ({ names: new Map<string, { ts: bigint; name: string }[]>(), ids: new Map<string, bigint[]>() }),
  onEvent(ev, { agent, state, params }) {
    const e = ev.event;
    if (e.type !== 'dns' || e.response) return;
    const name = e.qname.toLowerCase().replace(/\.$/, '');
    const labels = name.split('.');
    if (labels.length < 2) return;
    const parent = parentOf(labels);
    const data = labels.slice(0, labels.length - parent.split('.').length);
    const long = data.find((l) => l.length >= params.minLabel && entropy(l) >= params.minEntropy);
    if (long) {
      return [{ subject: parent, summary: `${agent.name} queried ${name.slice(0, 120)}: a ${long.length}-character label of ${entropy(long).toFixed(1)} bits/char under ${parent}`, evidence: [ev.id] }];
    }
    if (data.length === 0) return;
    const w = toNs(params.window);
    const list = state.names.get(parent) ?? [];
    expire(list, ev.tsNs, w);
    if (!list.some((x) => x.name === name)) list.push({ ts: ev.tsNs, name });
    state.names.set(parent, list);
    const ids = [...(state.ids.get(parent) ?? []), ev.id].slice(-16);
    state.ids.set(parent, ids);
    if (state.names.size > 1024) state.names.delete(state.names.keys().next().value!);
    if (list.length < params.maxUnique) return;
    return [{ subject: parent, summary: `${agent.name} queried ${list.length} unique names under ${parent} within ${params.window}`, evidence: ids }];
  },
});
