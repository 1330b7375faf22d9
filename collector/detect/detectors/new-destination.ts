// A connect to a destination (host name and port, else address and port;
// unix sockets by generalised path) the agent never used while learning.
import { z } from 'zod';
import { counted, spanText } from '../duration.js';
import { defineDetector } from '../detector.js';

export default defineDetector({
  meta: {
    id: 'new_destination',
    title: 'New network destination',
    description: 'The agent connects somewhere it never connected while its baseline was learned.',
    severity: 'medium',
    attack: ['T1041', 'T1071'],
    falsePositives: 'A new API endpoint or mirror after an update of the agent; a service without DNS attribution (a raw public address) whose address changes.',
    phase: 'detecting',
    params: z.object({
      /** judge connects to unix sockets too */
      unixSockets: z.boolean().default(true),
    }).strict(),
  },
  newState: () => null,
  onEvent(ev, { agent, params }) {
    const d = ev.features.dest;
    if (!d || (d.family === 'unix' && !params.unixSockets)) return;
    const b = agent.baseline;
    if (b.has('destinations', d.key) || b.overflowed('destinations')) return;
    const fact = `${counted(b.seen.connects, 'connect')} to ${counted(b.size('destinations'), 'destination')} over ${spanText(b.spanMs())}`;
    return [{
      subject: d.key,
      summary: `connect ${d.text}: a ${d.scope} destination ${agent.name} never used in ${counted(b.seen.connects, 'connect')} over ${spanText(b.spanMs())}`,
      evidence: [ev.id],
      baseline: fact,
    }];
  },
});
