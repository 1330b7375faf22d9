// Many distinct files read by one instance within a sliding window: more than
// factor x the most distinct files the agent read in a learned minute, and
// never fewer than a floor.
import { z } from 'zod';
import { count, counted, parseDuration, spanText } from '../duration.js';
import { defineDetector } from '../detector.js';

const EVIDENCE_KEPT = 20;

export default defineDetector({
  meta: {
    id: 'mass_read',
    title: 'Mass read',
    description: 'An instance reads far more distinct files within the window than the agent did in any learned minute.',
    severity: 'high',
    attack: ['T1005', 'T1119'],
    falsePositives: 'Indexing a large repository for the first time; a search over a tree much larger than the learned ones.',
    phase: 'detecting',
    params: z.object({
      window: z.union([z.string(), z.number()]).refine((v) => parseDuration(v) !== null, 'must be a duration such as 60s or 5m').default('60s'),
      factor: z.number().positive().default(4),
      minFiles: z.number().int().positive().default(500),
    }).strict(),
  },
  newState: () => ({ seen: new Map<string, bigint>(), order: [] as { path: string; ts: bigint }[], head: 0, recent: [] as bigint[], fired: false }),
  onEvent(ev, { agent, params, state }) {
    const f = ev.features.file;
    if (!f || f.op !== 'read' || !f.ok || ev.event.type !== 'open') return;
    const windowNs = BigInt(Math.round(parseDuration(params.window)! * 1e6));
    state.seen.set(f.path, ev.tsNs);
    state.order.push({ path: f.path, ts: ev.tsNs });
    state.recent.push(ev.id);
    if (state.recent.length > EVIDENCE_KEPT) state.recent.shift();
    // Expire from the front; a path read again later stays (its newer time is in `seen`).
    while (state.head < state.order.length && state.order[state.head]!.ts < ev.tsNs - windowNs) {
      const old = state.order[state.head++]!;
      if (state.seen.get(old.path) === old.ts) state.seen.delete(old.path);
    }
    if (state.head > 4096 && state.head * 2 > state.order.length) {
      state.order = state.order.slice(state.head);
      state.head = 0;
    }
    const b = agent.baseline;
    const learnedMax = b.rateQuantile('distinctFiles', 1);
    const limit = Math.max(params.minFiles, Math.ceil(params.factor * learnedMax));
    if (state.seen.size <= limit) {
      state.fired = false;
      return;
    }
    if (state.fired) return;
    state.fired = true;
    return [{
      subject: 'mass_read',
      summary: `${count(state.seen.size)} distinct files read within ${params.window} by ${agent.name}: at most ${count(learnedMax)} a minute in ${counted(b.minutes(), 'learned minute')} over ${spanText(b.spanMs())}`,
      evidence: [...state.recent],
      baseline: `max ${count(learnedMax)} distinct files/min over ${counted(b.minutes(), 'minute')}; limit ${count(limit)}`,
    }];
  },
});
