// A shell fed from the network: `curl … | sh`. The sensor does not see pipe
// identity, so this is approximated from the process tree and timing: a
// shell exec'd without a script or -c (it reads its commands from stdin)
// and, within the window, a sibling (same parent) exec'ing a downloader, in
// either order (both children of one pipeline start together). A shell
// reading a pipe from something else (`cat x | sh`) is not this rule.
// The same thing written without a pipe is seen in the command line that
// asks for it: `bash -c "$(curl …)"`, `eval "$(wget -qO- …)"`,
// `source <(curl …)`, `bash <(curl …)`. A download kept in a variable
// (`v=$(curl …)`) is not.
import { z } from 'zod';
import { defineDetector } from '../detector.js';
import { basename, expire, toNs, windowParam } from './credential-use.js';

const SHELLS = /^(?:sh|bash|dash|zsh|ksh|mksh|ash|busybox|python[0-9.]*|perl|ruby|node)$/;
const DOWNLOADERS = /^(?:curl|wget|wget2|fetch|aria2c)$/;

const FETCH = String.raw`(?:curl|wget|wget2|fetch)\b`;
const RUNS_DOWNLOAD = new RegExp([
  String.raw`\b(?:ba|z|da|k)?sh\s+(?:-\w+\s+)*-c\s+["']?\$\(\s*${FETCH}`, // sh -c "$(curl …)"
  String.raw`\beval\s+["']?\$\(\s*${FETCH}`, // eval "$(curl …)"
  String.raw`(?:\bsource|(?:^|[\s;&|])\.)\s+<\(\s*${FETCH}`, // source <(curl …), . <(curl …)
  String.raw`\b(?:ba|z|da|k)?sh\s+(?:-\w+\s+)*<\(\s*${FETCH}`, // bash <(curl …)
].join('|'));

interface Seen { ts: bigint; id: bigint; ppid: number; name: string }

/** A shell started to read commands from stdin: no script operand, no -c. */
function readsStdin(argv: string[]): boolean {
  const args = argv.slice(1);
  if (args.some((a) => a === '-c' || /^-[a-zA-Z]*c[a-zA-Z]*$/.test(a) || a === '-e' || a === '-m')) return false;
  return args.every((a) => a.startsWith('-') || a === '-');
}

export default defineDetector({
  meta: {
    id: 'pipe_shell',
    title: 'Shell fed from a download',
    description: 'A shell or interpreter reading commands from stdin started beside a downloader of the same parent (curl … | sh), approximated by process tree and timing; or a command line that runs a download: sh -c "$(curl …)", eval "$(wget …)", source <(curl …).',
    severity: 'critical',
    attack: ['T1059.004', 'T1105'],
    falsePositives: 'An installer the user asked for (curl https://… | sh); `wget -O- … | python3` for a known tool.',
    phase: 'always',
    params: z.object({ window: windowParam('10s') }).strict(),
  },
  newState: () => ({ shells: [] as Seen[], fetchers: [] as Seen[] }),
  onEvent(ev, { agent, state, params }) {
    const x = ev.features.exec;
    if (!x || ev.event.type !== 'exec') return;
    const line = (ev.features.proc?.argv ?? []).join(' ');
    const asked = RUNS_DOWNLOAD.exec(line);
    if (asked) {
      return [{
        subject: `argv:${asked[0]}`,
        summary: `${agent.name} ran ${line.slice(0, 200)}: a shell running what a download printed`,
        evidence: [ev.id],
      }];
    }
    const w = toNs(params.window);
    const name = basename(x.path);
    const argv = ev.features.proc?.argv ?? [];
    const me: Seen = { ts: ev.tsNs, id: ev.id, ppid: ev.event.ppid, name };
    expire(state.shells, ev.tsNs, w);
    expire(state.fetchers, ev.tsNs, w);
    let pair: [Seen, Seen] | undefined;
    if (SHELLS.test(name) && readsStdin(argv)) {
      const f = state.fetchers.find((s) => s.ppid === me.ppid);
      state.shells.push(me);
      if (f) pair = [f, me];
    } else if (DOWNLOADERS.test(name)) {
      const s = state.shells.find((x2) => x2.ppid === me.ppid);
      state.fetchers.push(me);
      if (s) pair = [me, s];
    }
    if (!pair) return;
    return [{
      subject: `${pair[0].name}|${pair[1].name}`,
      summary: `${agent.name} ran ${pair[0].name} and ${pair[1].name} (reading stdin) side by side under pid ${me.ppid}: a shell fed from a download (process tree and timing; pipe identity is not seen)`,
      evidence: [pair[0].id, pair[1].id].sort((a, b) => (a < b ? -1 : 1)),
    }];
  },
});
