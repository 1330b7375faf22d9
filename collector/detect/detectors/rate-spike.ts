// A per-minute rate of an instance beyond what the agent's learned
// distribution allows: factor x its 99th percentile, and never below a floor
// (a baseline learned from quiet minutes must not turn a busy one into an
// alert). Distinct files are left to mass_read, which looks at a sliding window.
import { z } from 'zod';
import { count, counted, spanText } from '../duration.js';
import { defineDetector } from '../detector.js';
import type { RateName } from '../minute-rates.js';

const JUDGED: RateName[] = ['opens', 'connects', 'destinations', 'execs'];
const NOUN: Record<RateName, string> = {
  opens: 'opens', distinctFiles: 'distinct files', connects: 'connects', destinations: 'distinct destinations', execs: 'execs',
};

export default defineDetector({
  meta: {
    id: 'rate_spike',
    title: 'Rate spike',
    description: 'In one minute an instance opens, connects, reaches distinct destinations or execs far more than the agent ever did in a learned minute.',
    severity: 'medium',
    attack: ['T1119', 'T1046'],
    falsePositives: 'A build, an install or a test run much larger than anything during learning.',
    phase: 'detecting',
    params: z.object({
      factor: z.number().positive().default(4),
      floor: z.object({
        opens: z.number().int().positive().default(3000),
        connects: z.number().int().positive().default(300),
        destinations: z.number().int().positive().default(30),
        execs: z.number().int().positive().default(300),
      }).strict().default({}),
    }).strict(),
  },
  newState: () => ({ minute: -1, fired: new Set<RateName>() }),
  onEvent(ev, { agent, params, minute, state }) {
    const m = Number(ev.tsNs / 60_000_000_000n);
    if (m !== state.minute) {
      state.minute = m;
      state.fired.clear();
    }
    const b = agent.baseline;
    const out = [];
    for (const r of JUDGED) {
      if (state.fired.has(r)) continue;
      const q99 = b.rateQuantile(r, 0.99);
      const limit = Math.max(params.floor[r as keyof typeof params.floor], Math.ceil(params.factor * q99));
      if (minute[r] <= limit) continue;
      state.fired.add(r);
      out.push({
        subject: r,
        summary: `${count(minute[r])} ${NOUN[r]} in a minute by ${agent.name}: its learned 99th percentile is ${count(q99)} a minute over ${counted(b.minutes(), 'active minute')} in ${spanText(b.spanMs())}`,
        evidence: [ev.id],
        baseline: `p99 ${count(q99)} ${NOUN[r]}/min over ${counted(b.minutes(), 'minute')}; limit ${count(limit)} (x${params.factor}, floor ${count(params.floor[r as keyof typeof params.floor])})`,
      });
    }
    return out;
  },
});
