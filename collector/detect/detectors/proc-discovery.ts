// Process and environment discovery: an instance opening /proc/<pid>/...
// of many other processes within the window (ps-like sweeps, environ hunts).
// Judged once the baseline is learned: agents list processes routinely (a
// real agent's shell tool runs pgrep after every command), so a sweep by an
// executable the agent ran while learning is its routine; the instance's own
// processes do not count.
import { z } from 'zod';
import { defineDetector } from '../detector.js';
import { generalisePath } from '../generalise.js';
import { expire, ownProcessPath, toNs, windowParam } from './credential-use.js';

const PROC_PID = /^\/proc\/(\d+)\//;

export default defineDetector({
  meta: {
    id: 'proc_discovery',
    title: 'Process discovery sweep over /proc',
    description: 'Files under /proc/<pid>/ of many other processes opened within the window.',
    severity: 'medium',
    attack: ['T1057', 'T1082'],
    falsePositives: 'ps, top or pgrep run by the agent; a process-tree tool asked for by the user.',
    phase: 'detecting',
    params: z.object({ window: windowParam('30s'), minPids: z.number().int().positive().default(25) }).strict(),
  },
  newState: () => ({ pids: [] as { ts: bigint; pid: number; id: bigint }[], fired: false }),
  onEvent(ev, { agent, state, params, proc }) {
    const f = ev.features.file;
    if (!f || ev.event.type !== 'open' || f.op !== 'read') return;
    const m = PROC_PID.exec(f.path);
    if (!m) return;
    const pid = Number(m[1]);
    if (pid === ev.event.pid || ownProcessPath(f.path, ev, proc)) return;
    const exe = ev.features.proc?.exe;
    const ctx = { home: ev.instance.home, cwd: ev.instance.cwd };
    if (exe && agent.baseline.has('executables', generalisePath(exe, ctx, 8))) return;
    expire(state.pids, ev.tsNs, toNs(params.window));
    if (!state.pids.some((p) => p.pid === pid)) state.pids.push({ ts: ev.tsNs, pid, id: ev.id });
    if (state.pids.length < params.minPids) {
      state.fired = false;
      return;
    }
    if (state.fired) return;
    state.fired = true;
    return [{ subject: 'proc', summary: `${agent.name} read /proc of ${state.pids.length} other processes within ${params.window}`, evidence: state.pids.slice(-16).map((p) => p.id) }];
  },
});
