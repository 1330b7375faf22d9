// Privilege escalation: an agent that runs as a user reaching for root.
// Three shapes, each judged on what the kernel saw:
// - an attempt: the instance execs a program whose job is to run commands
//   as another user (sudo, su, pkexec, doas, run0), whatever comes of it;
// - a gain: a process of the instance acts with real uid 0 while the
//   instance's root runs as another user. The kernel's record carries the
//   real uid, which a setuid program changes only when it hands over (sudo's
//   child before it execs the command, su's shell), so the helpers' own
//   events do not count; anything else with uid 0 does, whether a helper or
//   an exploit got it there;
// - a door left open: setuid or setgid bits or file capabilities set by
//   command line (chmod u+s, chmod 4755, setcap), or a container started with
//   the host's root in reach (docker/podman run --privileged, --pid=host, a
//   volume from / or from the container engine's socket).
// An instance whose root runs as root (a service) has nothing to escalate
// to: only setuid bits and capabilities (a door for others) are judged there.
import { z } from 'zod';
import { defineDetector, type JudgedEvent, type ProcInfo } from '../detector.js';
import { basename } from './credential-use.js';

const HELPERS = new Set(['sudo', 'sudoedit', 'su', 'pkexec', 'doas', 'run0']);
// setuid-root helpers that act for the user in their own narrow job (mount
// a FUSE file system, map a rootless container's ids, check a password):
// their own events are not a gain.
const NARROW_SETUID = new Set(['fusermount', 'fusermount3', 'newuidmap', 'newgidmap', 'unix_chkpwd', 'chrome-sandbox', 'Xorg.wrap', 'polkit-agent-helper-1']);
const CONTAINER_CLIS = new Set(['docker', 'podman', 'nerdctl']);

const isHelper = (proc: ProcInfo | undefined): boolean =>
  proc !== undefined && (HELPERS.has(basename(proc.exe)) || NARROW_SETUID.has(basename(proc.exe)));
const commandLine = (argv: string[]): string => argv.join(' ').slice(0, 200);

// chmod modes that set the setuid or setgid bit: symbolic (u+s, g+s, +s, a=rws) or octal with a 2, 4 or 6 in front.
const SYMBOLIC_SETID = /^[ugoa]*[+=][rwxXts]*s[rwxXts]*(?:,|$)|,[ugoa]*[+=][rwxXts]*s/;
const OCTAL_SETID = /^0?[2-7][0-7]{3}$/;

interface Door { what: string; attack: string }

/** What a chmod, install or setcap command line sets, or undefined. */
function setIdShape(name: string, args: string[]): Door | undefined {
  const setId = (mode: string | undefined): boolean =>
    mode !== undefined && (SYMBOLIC_SETID.test(mode) || (OCTAL_SETID.test(mode) && (Number.parseInt(mode, 8) & 0o6000) !== 0));
  if (name === 'setcap' && args.some((a) => /cap_\w+|[+=]e?p/i.test(a))) return { what: 'file capabilities set', attack: 'T1548.001' };
  if (name === 'chmod') {
    const mode = args.find((a) => !a.startsWith('-'));
    if (setId(mode)) return { what: `setuid/setgid bits set (chmod ${mode})`, attack: 'T1548.001' };
  }
  if (name === 'install') {
    const i = args.findIndex((a) => a === '-m' || a === '--mode');
    const mode = i >= 0 ? args[i + 1] : args.find((a) => a.startsWith('--mode='))?.slice(7);
    if (setId(mode)) return { what: `setuid/setgid bits set (install -m ${mode})`, attack: 'T1548.001' };
  }
  return undefined;
}

// A container that reaches the host's root: privileged, the host's pid or
// user namespace, broad capabilities, or a volume from the host's root, its
// system folders or the engine's own socket (a way to start one that does).
// (A project folder mounted into a dev container is everyday work: only the
// host's top folders and its system ones count.)
const HOST_PATH = /^(?:\/|\/(?:bin|sbin|lib|lib64|usr|var|home|opt|srv|mnt|media)|\/(?:etc|root|boot|proc|sys|dev)(?:\/.*)?|\/(?:var\/)?run\/(?:docker|podman|containerd)\S*\.sock)$/;
const BROAD_CAPS = /^(?:cap_)?(?:all|sys_admin|sys_ptrace|sys_module|dac_read_search)$/i;

/** The value of `--flag value`, `--flag=value` or `-vvalue` at args[i] (flag given without its dashes' value). */
function optionValue(args: string[], i: number, long: string, short?: string): string | undefined {
  const a = args[i]!;
  if (a === `--${long}` || (short && a === `-${short}`)) return args[i + 1];
  if (a.startsWith(`--${long}=`)) return a.slice(long.length + 3);
  if (short && a.startsWith(`-${short}`) && !a.startsWith('--')) return a.slice(1 + short.length);
  return undefined;
}

function containerShape(name: string, args: string[]): Door | undefined {
  if (!CONTAINER_CLIS.has(name)) return undefined;
  const verb = args.find((a) => !a.startsWith('-'));
  if (verb !== 'run' && verb !== 'create' && verb !== 'exec') return undefined;
  const escape = (what: string): Door => ({ what, attack: 'T1611' });
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--privileged' || a === '--privileged=true') return escape('a privileged container');
    for (const ns of ['pid', 'userns', 'ipc', 'uts']) {
      if (optionValue(args, i, ns) === 'host') return escape(`a container in the host's ${ns} namespace`);
    }
    const cap = optionValue(args, i, 'cap-add');
    if (cap && BROAD_CAPS.test(cap)) return escape(`a container with ${cap}`);
    const volume = optionValue(args, i, 'volume', 'v')?.split(':')[0];
    const mount = optionValue(args, i, 'mount')?.split(',').find((kv) => /^(?:source|src)=/.test(kv))?.replace(/^\w+=/, '');
    const host = volume ?? mount;
    if (host && HOST_PATH.test(host.replace(/\/+$/, '') || '/')) return escape(`a container with the host's ${host} mounted`);
  }
  return undefined;
}

interface Helper { id: bigint; line: string }

interface State {
  /** the helpers the instance exec'd, by pid: what a gain may have come through */
  helpers: Map<number, Helper>;
  gained: boolean;
}

/** The helper the process descends from (itself, its parent, …), if any. */
function helperBehind(pid: number, state: State, proc: (pid: number) => ProcInfo | undefined): Helper | undefined {
  for (let hops = 0; hops < 16 && pid > 1; hops++) {
    const h = state.helpers.get(pid);
    if (h) return h;
    const p = proc(pid);
    if (!p) return undefined;
    pid = p.ppid;
  }
  return undefined;
}

export default defineDetector({
  meta: {
    id: 'privilege_escalation',
    title: 'Privilege escalation',
    description: 'A non-root agent runs sudo, su, pkexec, doas or run0 (high), any of its processes acts as uid 0 (critical), or it starts a container with the host in reach (high); any agent sets setuid/setgid bits or file capabilities (high).',
    severity: 'high',
    attack: ['T1548.003', 'T1548.001', 'T1068', 'T1611'],
    falsePositives: 'An agent the user lets install system packages with sudo; disable the rule for that agent (detect: privilege_escalation: enabled: false).',
    phase: 'always',
    params: z.object({}).strict(),
  },
  newState: (): State => ({ helpers: new Map(), gained: false }),
  onEvent(ev, { agent, state, proc: procOf }) {
    const e = ev.event;
    const proc = ev.features.proc;
    const userUid = ev.instance.uid;
    const asUser = userUid !== null && userUid !== 0;
    if (e.type === 'exec' && proc) {
      const name = basename(proc.exe);
      const args = proc.argv.slice(1);
      // (a container is a way to root only for an agent that is not root already)
      const door = setIdShape(name, args) ?? (asUser ? containerShape(name, args) : undefined);
      if (door) {
        return [{ subject: `door:${commandLine(proc.argv.slice(0, 4))}`, summary: `${agent.name} ran ${commandLine(proc.argv)}: ${door.what} [${door.attack}]`, evidence: [ev.id] }];
      }
      if (asUser && HELPERS.has(name) && e.uid !== 0) {
        const helper = { id: ev.id, line: commandLine(proc.argv) };
        if (state.helpers.size >= 256) state.helpers.clear();
        state.helpers.set(e.pid, helper);
        return [{ subject: `attempt:${commandLine(proc.argv.slice(0, 3))}`, summary: `${agent.name} (uid ${userUid}) ran ${helper.line}: a command as another user [T1548.003]`, evidence: [ev.id] }];
      }
    }
    if (!asUser || e.uid !== 0 || state.gained || isHelper(proc)) return undefined;
    state.gained = true;
    const what = proc ? commandLine(proc.argv) : `pid ${e.pid}`;
    const via = helperBehind(proc?.ppid ?? e.ppid, state, procOf);
    return [{
      severity: 'critical',
      subject: 'root',
      summary: `${agent.name} runs as uid ${userUid}, and ${what} acted as root (uid 0, ${describe(ev)}), ${via ? `started by ${via.line}` : 'by no sudo-like program of its own'} [T1548]`,
      evidence: via ? [via.id, ev.id] : [ev.id],
    }];
  },
});

function describe(ev: JudgedEvent): string {
  const f = ev.features;
  if (ev.event.type === 'exec') return 'its exec';
  if (f.file) return `${ev.event.type} of ${f.file.path}`;
  if (f.dest) return `connect to ${f.dest.text}`;
  return `its ${ev.event.type}`;
}
