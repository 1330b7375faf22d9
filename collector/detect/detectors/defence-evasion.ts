// Defence evasion: shell/REPL history or logs truncated, deleted, or linked
// to /dev/null, and HISTFILE/HISTSIZE tricks or `history -c` seen in argv.
import { z } from 'zod';
import { defineDetector } from '../detector.js';
import { basename } from './credential-use.js';

const HISTORY = /^\.(?:bash_history|zsh_history|zhistory|histfile|sh_history|ash_history|python_history|node_repl_history|mysql_history|psql_history|sqlite_history|lesshst|irb_history|rediscli_history)$/;
const LOGS = /^\/var\/log\//;
const ARGV_TRICKS = /(?:HISTFILE=(?:\/dev\/null|$|\s)|unset\s+HISTFILE|HISTSIZE=0|HISTFILESIZE=0|history\s+-c|set\s+\+o\s+history|HISTCONTROL=ignorespace)/;
const O_TRUNC = 0o1000;

export default defineDetector({
  meta: {
    id: 'defence_evasion',
    title: 'Traces wiped',
    description: 'Shell history or logs truncated, deleted or linked to /dev/null; HISTFILE/HISTSIZE tricks or history -c in a command line.',
    severity: 'high',
    attack: ['T1070.003', 'T1070.002', 'T1562.003'],
    falsePositives: 'Log rotation run by the agent on request; a user-requested history cleanup.',
    phase: 'always',
    params: z.object({}).strict(),
  },
  newState: () => null,
  onEvent(ev, { agent }) {
    const e = ev.event;
    const traced = (p: string) => HISTORY.test(basename(p)) || LOGS.test(p);
    const alert = (subject: string, what: string) => [{ subject, summary: `${agent.name} ${what}`, evidence: [ev.id] }];
    if (e.type === 'open' && e.result >= 0 && (e.flags & O_TRUNC) && ev.features.file && traced(ev.features.file.path)) {
      return alert(ev.features.file.path, `truncated ${ev.features.file.path}`);
    }
    if (e.type === 'unlink' && e.result >= 0 && ev.features.file && traced(ev.features.file.path)) {
      return alert(ev.features.file.path, `deleted ${ev.features.file.path}`);
    }
    if (e.type === 'link' && e.result >= 0 && ev.features.file2 && traced(ev.features.file2.path)) {
      const target = typeof e.path === 'string' ? e.path : '';
      if (target === '/dev/null' || !e.symbolic) return alert(ev.features.file2.path, `linked ${ev.features.file2.path} to ${target || 'another file'}`);
    }
    if (e.type === 'rename' && e.result >= 0 && ev.features.file2 && traced(ev.features.file2.path)) {
      return alert(ev.features.file2.path, `replaced ${ev.features.file2.path} by ${ev.features.file?.path}`);
    }
    if (e.type === 'exec') {
      const line = (ev.features.proc?.argv ?? []).join(' ');
      const m = ARGV_TRICKS.exec(line);
      if (m) return alert(`argv:${m[0].trim()}`, `ran a command that hides its history: ${line.slice(0, 200)}`);
    }
    return undefined;
  },
});
