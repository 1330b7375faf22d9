// Activity at an hour of the day (the collector's local time) when the agent
// was never active while learning, neighbouring hours included. Only when the
// learning span covered at least a week: a shorter one says nothing about
// which hours are normal.
import { z } from 'zod';
import { counted, spanText } from '../duration.js';
import { defineDetector } from '../detector.js';

const DAY_MS = 86_400_000;

export default defineDetector({
  meta: {
    id: 'time_of_day',
    title: 'Active at an unusual hour',
    description: 'The agent is active at an hour of the day it was never active at during a learning span of at least a week.',
    severity: 'low',
    attack: ['T1078'],
    falsePositives: 'Someone working late once; a scheduled job moved.',
    phase: 'detecting',
    params: z.object({
      minLearningDays: z.number().positive().default(7),
    }).strict(),
  },
  newState: () => new Set<number>(),
  onEvent(ev, { agent, params, state }) {
    const b = agent.baseline;
    if (b.spanMs() < params.minLearningDays * DAY_MS) return;
    const hour = new Date(Number(ev.tsNs / 1_000_000n)).getHours();
    if (state.has(hour)) return;
    state.add(hour);
    const near = b.hourMinutes(hour) + b.hourMinutes((hour + 23) % 24) + b.hourMinutes((hour + 1) % 24);
    if (near > 0) return;
    return [{
      subject: `hour ${hour}`,
      summary: `${ev.event.type} at ${String(hour).padStart(2, '0')}:00-${String(hour).padStart(2, '0')}:59: ${agent.name} was never active within an hour of it in ${counted(b.minutes(), 'active minute')} over ${spanText(b.spanMs())}`,
      evidence: [ev.id],
      baseline: `no active minute at hours ${(hour + 23) % 24}-${(hour + 1) % 24} over ${spanText(b.spanMs())}`,
    }];
  },
});
