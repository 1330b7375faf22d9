// Direct reads of high-value stores: /etc/shadow and friends, another
// process's environ/mem/maps, browser cookie and login databases, password
// stores and keyrings, another agent's credential folder: the catalogue's
// classes with alertOnRead. One read is enough; its own consumer (sudo
// reading shadow, the browser its cookies, an agent its own folder) is not.
import { z } from 'zod';
import { defineDetector } from '../detector.js';
import { sensitiveRead } from './credential-use.js';

export default defineDetector({
  meta: {
    id: 'high_value_read',
    title: 'High-value credential store read',
    description: 'An agent read /etc/shadow, another process\'s environ or memory, a browser credential store, a password store or another agent\'s credential folder.',
    severity: 'high',
    attack: ['T1003.008', 'T1555.003', 'T1555', 'T1552.001', 'T1057'],
    falsePositives: 'An agent asked to debug a browser profile or another agent\'s setup; a debugger attaching to a process.',
    phase: 'always',
    params: z.object({}).strict(),
  },
  newState: () => null,
  onEvent(ev, { agent, catalogue, proc }) {
    const r = sensitiveRead(ev, catalogue, proc, agent);
    if (!r || r.consumer) return;
    const hot = r.classes.filter((c) => catalogue.classOf(c)?.alertOnRead);
    if (hot.length === 0) return;
    return [{ subject: `${hot[0]}:${r.path.replace(/^\/proc\/\d+\//, '/proc/*/')}`, summary: `${agent.name} read ${r.path} (${hot.join(', ')})`, evidence: [ev.id] }];
  },
});
