// Reverse shells and shells on the network. A command line that wires a
// shell to a socket is recognised by its shape, whichever tool it uses: a
// shell whose own input and output are the network (bash's /dev/tcp), a
// /dev/tcp stream piped into a shell, nc/ncat with -e, socat joining exec:
// or system: to a network address, a fifo looping a shell through nc or
// telnet, and an interpreter's inline code that opens a socket and starts a
// shell or duplicates descriptors (python, perl, php, ruby, node). Such a
// command line is high; when the process it started (or a child it forked
// that has not exec'd another program) connects, critical. A shell that
// connects by itself (a script using /dev/tcp, a port probe) is medium:
// unusual in anyone's work, not a shell on the wire by itself. The agent's
// own program is never judged as a shell here: a scripted agent may be one.
import { z } from 'zod';
import { defineDetector, type JudgedEvent } from '../detector.js';
import { basename, expire, runsAgentProgram, toNs, windowParam } from './credential-use.js';

const SHELL = /^(?:sh|bash|dash|zsh|ksh|mksh|ash|busybox)$/;
const NETCAT = /^(?:nc|ncat|netcat|nc\.traditional|nc\.openbsd)$/;
const INTERPRETER = /^(?:python[0-9.]*|perl[0-9.]*|php[0-9.]*|ruby[0-9.]*|node|nodejs|lua[0-9.]*)$/;

// A shell word in a command line (at its start or after ; | & or a parenthesis).
const SH = String.raw`(?:^|[\s;|&(])(?:/(?:usr/)?bin/)?(?:ba|z|da|k|mk)?sh`;
// The shell itself on the socket, not a probe or an HTTP fetch that opens fd 3 for cat or echo:
// an interactive shell redirected (`bash -i >& /dev/tcp/… 0>&1`), a shell whose output goes to
// /dev/tcp and whose input comes from it (`sh >& /dev/tcp/… 0>&1`), or a shell reading and writing
// one descriptor (`sh <&196 >&196`).
const SHELL_ON_NET = new RegExp([
  String.raw`${SH}(?:\s+-\w+)*\s+-i\b[^;|&]*(?:[<>]&?\s*/dev/(?:tcp|udp)/|[<>]&\s*\d)`,
  String.raw`${SH}\b[^;|&]*>&?\s*/dev/(?:tcp|udp)/[^;|&]*0>&1`,
  String.raw`${SH}(?:\s+-\w+)*\s+\d?<&\s*(\d+)\s+\d?>&\s*\1\b`,
].join('|'));
// What a /dev/tcp connection sends, piped into a shell.
const PIPED_TO_SHELL = new RegExp(String.raw`/dev/(?:tcp|udp)/[^|]*\|${SH}\b`);
const SOCKET_CODE = /\bsocket\b|IO::Socket|fsockopen|TCPSocket|net\.(?:connect|createConnection|Socket)|require\(\s*["']net["']\s*\)/;
const SHELL_CODE = /pty\.spawn|\bdup2\b|\/bin\/(?:ba|z|da)?sh\b|subprocess|child_process|\bexec[a-z]*\s*\(|\bspawn\s*\(|popen|proc_open|shell_exec|\bsystem\s*\(/;

/** Why this command line is a reverse shell, or undefined. */
function reverseShellShape(exe: string, argv: string[]): string | undefined {
  const name = basename(exe);
  const line = argv.join(' ');
  const args = argv.slice(1);
  if (NETCAT.test(name) && args.some((a) => /^-[a-zA-Z]*e$/.test(a) || /^--(?:sh-|lua-)?exec(?:=|$)/.test(a) || (name === 'ncat' && a === '-c'))) {
    return `${name} running a program for the connection`;
  }
  if (name === 'socat' && args.some((a) => /^(?:exec|system):/i.test(a)) && args.some((a) => /^(?:tcp|tcp4|tcp6|udp|udp4|udp6|openssl|ssl)(?:-connect|-listen|-l)?:/i.test(a))) {
    return 'socat joining a program to a network address';
  }
  if (SHELL.test(name)) {
    if (SHELL_ON_NET.test(line)) return 'a shell with its input and output on the network';
    if (PIPED_TO_SHELL.test(line)) return 'what a /dev/tcp connection sends, piped into a shell';
    if (/\bmkfifo\b/.test(line) && /\b(?:nc|ncat|netcat|telnet|openssl\s+s_client)\b/.test(line) && /\b(?:ba|z|da)?sh\b(?:\s+-i)?/.test(line)) {
      return 'a shell looped through a fifo and a network client';
    }
    if (/\btelnet\b[^|]*\|\s*\/?(?:bin\/)?(?:ba)?sh\b[^|]*\|\s*telnet\b/.test(line)) return 'a shell between two telnet connections';
  }
  if (INTERPRETER.test(name)) {
    const i = args.findIndex((a) => a === '-c' || a === '-e' || a === '-r' || a === '-E' || a === '--eval');
    const code = i >= 0 ? args.slice(i + 1).join(' ') : '';
    if (code && SOCKET_CODE.test(code) && SHELL_CODE.test(code)) return `${name} inline code opening a socket and starting a shell`;
  }
  return undefined;
}

interface Flagged { ts: bigint; id: bigint; pid: number; why: string; line: string }

const isInet = (ev: JudgedEvent): boolean => ev.features.dest?.family === 'inet' || ev.features.dest?.family === 'inet6';

export default defineDetector({
  meta: {
    id: 'reverse_shell',
    title: 'Reverse shell',
    description: 'A command line that wires a shell to a socket (bash /dev/tcp, nc -e, socat exec:, fifo loops, interpreter one-liners): high; its process connecting: critical. A shell process opening a network connection itself: medium.',
    severity: 'critical',
    attack: ['T1059.004', 'T1059.006', 'T1095'],
    falsePositives: 'A network debugging session the user asked for (ncat -e against a test service); a script that talks HTTP through bash /dev/tcp.',
    phase: 'always',
    params: z.object({ window: windowParam('2m') }).strict(),
  },
  newState: () => ({ flagged: [] as Flagged[] }),
  onEvent(ev, { agent, state, params }) {
    const e = ev.event;
    const proc = ev.features.proc;
    if (e.type === 'exec' && proc) {
      const why = reverseShellShape(proc.exe, proc.argv);
      if (!why) {
        // a child that goes on to run another program (curl from the shell's rc file) is no longer the shell
        const i = state.flagged.findIndex((x) => x.pid === e.pid);
        if (i >= 0) state.flagged.splice(i, 1);
        return undefined;
      }
      const line = proc.argv.join(' ').slice(0, 240);
      expire(state.flagged, ev.tsNs, toNs(params.window));
      state.flagged.push({ ts: ev.tsNs, id: ev.id, pid: e.pid, why, line });
      if (state.flagged.length > 64) state.flagged.shift();
      return [{ severity: 'high', subject: `argv:${line}`, summary: `${agent.name} ran ${line}: ${why} [T1059]`, evidence: [ev.id] }];
    }
    if (e.type === 'fork') {
      // bash forks for a command with redirections, and the child connects: the flag follows
      const parent = state.flagged.find((x) => x.pid === e.ppid);
      if (parent && state.flagged.length < 64) state.flagged.push({ ...parent, pid: e.pid });
      return undefined;
    }
    if (e.type !== 'connect' || !isInet(ev) || (e.result < 0 && e.result !== -115)) return undefined; // -EINPROGRESS: a non-blocking connect under way
    const dest = ev.features.dest!;
    const to = dest.host ? `${dest.host} (${dest.addr}:${dest.port})` : `${dest.addr}:${dest.port}`;
    const f = state.flagged.find((x) => x.pid === e.pid);
    if (f) {
      return [{ subject: `conn:${e.pid}`, summary: `${agent.name}: reverse shell connected to ${to}: ${f.why}: ${f.line}`, evidence: [f.id, ev.id] }];
    }
    // the agent's own program (a scripted agent may be a shell) is not judged as a shell
    if (proc && SHELL.test(basename(proc.exe)) && !runsAgentProgram(ev) && dest.port !== 53) {
      return [{
        severity: 'medium', subject: `shell:${to}`,
        summary: `${agent.name}: a shell (${proc.argv.join(' ').slice(0, 160)}) opened a connection to ${to} itself (bash /dev/tcp) [T1059.004]`,
        evidence: [ev.id],
      }];
    }
    return undefined;
  },
});
