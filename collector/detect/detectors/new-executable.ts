// An exec of an executable (generalised path) the agent never ran while learning.
import { z } from 'zod';
import { counted, spanText } from '../duration.js';
import { defineDetector } from '../detector.js';

export default defineDetector({
  meta: {
    id: 'new_executable',
    title: 'New executable',
    description: 'The agent, or a process it started, runs a program it never ran while its baseline was learned.',
    severity: 'medium',
    attack: ['T1059', 'T1204'],
    falsePositives: 'A tool the agent needs for the first time in a new kind of task (a compiler, a test runner).',
    phase: 'detecting',
    params: z.object({}).strict(),
  },
  newState: () => null,
  onEvent(ev, { agent }) {
    const x = ev.features.exec;
    if (!x) return;
    const b = agent.baseline;
    if (b.has('executables', x.key) || b.overflowed('executables')) return;
    return [{
      subject: x.key,
      summary: `exec ${x.path}: an executable ${agent.name} never ran in ${counted(b.seen.execs, 'exec')} over ${spanText(b.spanMs())}`,
      evidence: [ev.id],
      baseline: `${counted(b.size('executables'), 'executable')} in ${counted(b.seen.execs, 'exec')} over ${spanText(b.spanMs())}`,
    }];
  },
});
