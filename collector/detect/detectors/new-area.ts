// A first visit to a file-system area the agent never touched while
// learning, e.g. ~/.aws for an agent that stayed in its project. The
// project itself ({cwd}) is one area, so a new project is never a first visit.
import { z } from 'zod';
import { counted, spanText } from '../duration.js';
import { defineDetector } from '../detector.js';

const ENOENT = -2;
const ENOTDIR = -20;

export default defineDetector({
  meta: {
    id: 'new_area',
    title: 'First visit to a file-system area',
    description: 'The agent opens, writes, renames or deletes a file in a directory area it never touched while its baseline was learned.',
    severity: 'medium',
    attack: ['T1083', 'T1005'],
    falsePositives: 'A task that legitimately needs a new tool\'s config or cache directory.',
    phase: 'detecting',
    params: z.object({
      /** judge opens that failed with ENOENT/ENOTDIR (a probe of something absent) */
      missingFiles: z.boolean().default(false),
    }).strict(),
  },
  newState: () => null,
  onEvent(ev, { agent, params }) {
    const out = [];
    for (const f of [ev.features.file, ev.features.file2]) {
      if (!f) continue;
      if (!params.missingFiles && (ev.event as { result?: number }).result !== undefined) {
        const r = (ev.event as { result: number }).result;
        if (r === ENOENT || r === ENOTDIR) continue;
      }
      const b = agent.baseline;
      if (b.has('areas', f.area) || b.overflowed('areas')) continue;
      out.push({
        subject: f.area,
        summary: `${ev.event.type} ${f.path}: first visit to ${f.area} by ${agent.name}, which touched ${counted(b.size('areas'), 'area')} in ${counted(b.seen.opens, 'open')} over ${spanText(b.spanMs())}`,
        evidence: [ev.id],
        baseline: `${counted(b.size('areas'), 'area')} in ${counted(b.seen.opens, 'open')} over ${spanText(b.spanMs())}`,
      });
    }
    return out;
  },
});
