// Declared grants as policy: a read, write, connect or exec outside a
// declared grant kind is a violation at once, learning or not. Opens that
// failed because the file does not exist are not a violation (nothing was
// there to read: probes of config search paths).
import { z } from 'zod';
import { defineDetector, type AlertDraft } from '../detector.js';

const ENOENT = -2;
const ENOTDIR = -20;

export default defineDetector({
  meta: {
    id: 'policy_violation',
    title: 'Outside the declared grants',
    description: 'The agent reads, writes, connects or execs outside a grant declared for it in agents.yaml.',
    severity: 'high',
    attack: ['T1005', 'T1041', 'T1059'],
    falsePositives: 'A grant written narrower than the agent\'s real work (add the path or host to the grant).',
    phase: 'always',
    params: z.object({}).strict(),
  },
  newState: () => null,
  onEvent(ev, { agent }) {
    const g = agent.grants;
    if (!g.any) return;
    const { home, cwd } = ev.instance;
    const out: AlertDraft[] = [];
    for (const f of [ev.features.file, ev.features.file2]) {
      if (!f) continue;
      const r = (ev.event as { result?: number }).result;
      if (r === ENOENT || r === ENOTDIR) continue;
      const ok = g.allowsPath(f.op, f.path, home, cwd, ev.event.pid);
      if (ok !== false) continue;
      out.push({
        subject: `${f.op} ${f.path}`,
        summary: `${f.op} ${f.path}: outside ${agent.name}'s ${f.op} grants (${g.describe(f.op)})`,
        evidence: [ev.id],
        baseline: null,
      });
    }
    const x = ev.features.exec;
    // The instance's own first program is what the agent is, not something it ran.
    // Either name of the program will do: the grant may name the link (/bin/true) or its target (/usr/bin/true).
    if (x && !x.first && g.allowsPath('exec', x.path, home, cwd) === false && g.allowsPath('exec', x.filename, home, cwd) === false) {
      out.push({ subject: `exec ${x.path}`, summary: `exec ${x.path}: outside ${agent.name}'s exec grants (${g.describe('exec')})`, evidence: [ev.id], baseline: null });
    }
    const d = ev.features.dest;
    if (d && d.family !== 'unix' && g.allowsConnect(d.addr, d.port, d.host) === false) {
      out.push({ subject: `connect ${d.key}`, summary: `connect ${d.text}: outside ${agent.name}'s connect grants (${g.describe('connect')})`, evidence: [ev.id], baseline: null });
    }
    return out;
  },
});
