// Isolate, freeze and release agent instances (`sensor isolate`, `sensor
// release`, automatic responses), and what is in force now (`sensor status`).
//
// Network: the instance's processes go into the kernel's `contained` map of
// the pinned containment object (egress-control.ts); their later forks are
// added by the kernel. Freeze: cgroup v2 freezer (freezer.ts). Every action is
// recorded in the store's `responses` table with who, when and why.
import { existsSync, readdirSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { join } from 'node:path';
import { listResponses, recordResponse, type ResponseRow } from '../../collector/store/response-log.js';
import { cgroup2Mount, launchParent } from '../launch/cgroup-v2.js';
import {
  clearGrants, clearVerdicts, containPids, cutSockets, EgressNotLoaded, egressVerdicts, ensureEgressLoaded, listContained, releaseInstance,
  setGrants,
  type EgressMode, type EgressVerdict,
} from './egress-control.js';
import { kernelGrants, type GrantSpec } from './egress-grants.js';
import {
  CONTAIN_PARENT_NAME, containCgroupOf, freezeCgroup, isFrozen, moveInto, prepareContainCgroup,
  releaseContainCgroup, thawCgroup, type FreezeRecord,
} from './freezer.js';
import { enumerateInstance } from './instance-processes.js';
import { socketFds } from './proc-snapshot.js';
import { openStoreIfAny, type InstanceRef } from './instances.js';

export interface IsolateOptions {
  stateDir: string;
  freeze?: boolean;
  /** network containment; false for a freeze alone */
  network?: boolean;
  mode?: EgressMode;
  reason?: string | null;
  /** who asks: defaults to the user running the command */
  actor?: string;
  /** pids known to belong to the instance (e.g. from the store) */
  knownPids?: number[];
  /** egress enforcement: only these destinations are allowed (mode grants or grants-shadow) */
  grants?: GrantSpec[];
  /** leave connections made before isolation up (default: cut those to other hosts) */
  keepConnections?: boolean;
}

export interface IsolateResult {
  rootPid: number;
  agent: string | null;
  pids: number[];
  network: boolean;
  frozen: FreezeRecord | null;
  /** connections made before isolation that were cut */
  cut: CutConnection[];
  record: ResponseRow;
}

export function defaultActor(): string {
  const sudo = process.env.SUDO_USER;
  let name = sudo;
  if (!name) {
    try { name = userInfo().username; } catch { name = 'unknown'; }
  }
  const uid = typeof process.getuid === 'function' ? process.getuid() : -1;
  return `${name}@${hostname()} (uid ${sudo ? `${process.env.SUDO_UID ?? '?'} via sudo` : uid})`;
}

/**
 * The instance's root into the contained map. A release of the last other
 * instance between ensure and add detaches the programs (egress-ctl add then
 * says not loaded): attach again and retry, a bounded number of times.
 */
function containRoot(mount: string, rootPid: number, mode: EgressMode, policy: number): void {
  for (let attempt = 1; ; attempt++) {
    try {
      containPids(rootPid, mode, [rootPid], policy);
      return;
    } catch (err) {
      if (!(err instanceof EgressNotLoaded) || attempt >= 3) throw err;
      ensureEgressLoaded(mount);
    }
  }
}

export async function isolateInstance(inst: InstanceRef, opts: IsolateOptions): Promise<IsolateResult> {
  const mount = cgroup2Mount();
  const network = opts.network !== false;
  const mode = opts.mode ?? 'deny';
  if ((mode === 'grants' || mode === 'grants-shadow') !== (opts.grants !== undefined)) {
    throw new Error(`mode ${mode} ${opts.grants ? 'takes no grants' : 'needs grants'}`);
  }
  if (network) ensureEgressLoaded(mount);
  // The instance's grants are its policy, keyed by its root pid; set before any process points at them.
  let resolved: Record<string, string[]> | undefined;
  if (network && opts.grants) {
    const k = await kernelGrants(opts.grants);
    resolved = k.resolved;
    setGrants(inst.rootPid, k.grants);
  }
  const policy = opts.grants ? inst.rootPid : 0;
  // The root first: from then on the kernel contains whatever it forks.
  if (network) containRoot(mount, inst.rootPid, mode, policy);
  const procs = enumerateInstance(mount, inst.rootPid, opts.knownPids ?? [], (fresh) => {
    if (network) containPids(inst.rootPid, mode, fresh, policy);
  });
  if (!procs) {
    if (network) releaseInstance(inst.rootPid);
    throw new Error(`no live process ${inst.rootPid}: nothing to isolate`);
  }
  // The kernel refuses new connects only: cut what is already connected to other hosts.
  const cut = network && mode === 'deny' && !opts.keepConnections ? cutConnections(procs.pids) : [];
  let frozen: FreezeRecord | null = null;
  if (opts.freeze) frozen = await freezeInstance(mount, inst.rootPid, procs.launchCgroup, procs.pids, opts.knownPids ?? []);
  const record = recordResponse(opts.stateDir, {
    action: !network ? 'freeze' : opts.grants ? 'limit' : 'isolate', agent: inst.agent, rootPid: inst.rootPid, actor: opts.actor ?? defaultActor(),
    reason: opts.reason ?? null,
    details: {
      pids: procs.pids, network, mode: network ? mode : null, launchCgroup: procs.launchCgroup, freeze: frozen, cut,
      ...(opts.grants ? { grants: opts.grants.map((g) => g.text), resolved } : {}),
    },
  });
  return { rootPid: inst.rootPid, agent: inst.agent, pids: procs.pids, network, frozen, cut, record };
}

export interface CutConnection {
  pid: number;
  fd: number;
  proto: string;
  remote: string;
  /** 0 when cut, else errno (or -1: the process went away) */
  error: number;
}

const LOOPBACK_REMOTE = /^(127\.|::1:|::ffff:127\.)/;

/** Connected TCP and UDP sockets of the processes whose peer is another host, shut down. */
export function cutConnections(pids: number[]): CutConnection[] {
  const out: CutConnection[] = [];
  for (const pid of pids) {
    const targets = socketFds(pid).filter(({ socket: s }) =>
      s.proto !== 'unix' && !LOOPBACK_REMOTE.test(s.remote) && !/^(0\.0\.0\.0|::):0$/.test(s.remote) &&
      (s.state === 'ESTABLISHED' || s.state === 'SYN_SENT' || s.state === 'CLOSE_WAIT' || s.state === 'CONNECTED'));
    const results = cutSockets(pid, targets.map((t) => t.fd));
    for (const t of targets) {
      out.push({ pid, fd: t.fd, proto: t.socket.proto, remote: t.socket.remote, error: results.find((r) => r.fd === t.fd)?.error ?? -1 });
    }
  }
  return out;
}

async function freezeInstance(mount: string, rootPid: number, launchCgroup: string | null, pids: number[], known: number[]): Promise<FreezeRecord> {
  if (launchCgroup) {
    const ok = await freezeCgroup(launchCgroup);
    return { cgroup: launchCgroup, moved: {}, frozen: ok };
  }
  const cg = prepareContainCgroup(mount, rootPid);
  const moved = moveInto(cg, pids);
  // Children forked during the move stayed behind with their parent's old cgroup: walk again.
  for (let i = 0; i < 10; i++) {
    const again = enumerateInstance(mount, rootPid, known);
    const left = (again?.pids ?? []).filter((p) => moved[String(p)] === undefined);
    if (!left.length) break;
    Object.assign(moved, moveInto(cg, left));
  }
  const ok = await freezeCgroup(cg);
  return { cgroup: cg, moved, frozen: ok };
}

export interface ReleaseResult {
  rootPid: number;
  agent: string | null;
  released: number;
  denied: number;
  thawed: boolean;
  record: ResponseRow;
}

export async function releaseInstanceAll(inst: InstanceRef, opts: { stateDir: string; reason?: string | null; actor?: string }): Promise<ReleaseResult> {
  const mount = cgroup2Mount();
  const dropped = releaseInstance(inst.rootPid);
  // What it was refused (or would have been), for the record, then forgotten with its grants.
  const verdicts = egressVerdicts(inst.rootPid);
  clearVerdicts(inst.rootPid);
  clearGrants(inst.rootPid);
  let thawed = false;
  const db = openStoreIfAny(opts.stateDir);
  const history = db ? listResponses(db, inst.rootPid) : [];
  db?.close();
  const lastFreeze = [...history].reverse().find((r) => (r.details as { freeze?: FreezeRecord | null }).freeze);
  const freeze = (lastFreeze?.details as { freeze?: FreezeRecord } | undefined)?.freeze;
  const contain = containCgroupOf(mount, inst.rootPid);
  if (existsSync(contain)) {
    await releaseContainCgroup(mount, contain, freeze?.moved ?? {});
    thawed = true;
  }
  if (freeze && freeze.cgroup !== contain && existsSync(freeze.cgroup) && isFrozen(freeze.cgroup)) {
    thawed = await thawCgroup(freeze.cgroup);
  }
  const record = recordResponse(opts.stateDir, {
    action: 'release', agent: inst.agent ?? lastFreeze?.agent ?? history.at(-1)?.agent ?? null, rootPid: inst.rootPid,
    actor: opts.actor ?? defaultActor(), reason: opts.reason ?? null,
    details: { released: dropped.map((d) => d.pid), denied: dropped.reduce((s, d) => s + d.denied, 0), thawed, verdicts },
  });
  return { rootPid: inst.rootPid, agent: record.agent, released: dropped.length, denied: dropped.reduce((s, d) => s + d.denied, 0), thawed, record };
}

/** Instances with something in force, for `release --agent` when the instance is frozen or its root is gone. */
export function instancesInForceOf(stateDir: string, agent: string): InstanceRef[] {
  return inForce(stateDir).filter((f) => f.agent === agent).map((f) => ({ rootPid: f.rootPid, agent }));
}

export interface InForce {
  rootPid: number;
  agent: string | null;
  /** processes in the kernel's contained map */
  processes: number;
  mode: EgressMode | null;
  denied: number;
  frozenCgroup: string | null;
  /** destinations refused or would-be refused so far */
  verdicts: EgressVerdict[];
  since: string | null;
  actor: string | null;
  reason: string | null;
}

/** What containment is in force on this host now: the kernel's map and frozen cgroups, with the store's who/why. */
export function inForce(stateDir?: string): InForce[] {
  const byRoot = new Map<number, InForce>();
  const get = (rootPid: number): InForce => {
    let f = byRoot.get(rootPid);
    if (!f) {
      f = { rootPid, agent: null, processes: 0, mode: null, denied: 0, frozenCgroup: null, verdicts: [], since: null, actor: null, reason: null };
      byRoot.set(rootPid, f);
    }
    return f;
  };
  for (const c of listContained()) {
    const f = get(c.rootPid);
    f.processes++;
    f.mode = c.mode;
    f.denied += c.denied;
  }
  for (const v of egressVerdicts()) byRoot.get(v.rootPid)?.verdicts.push(v);
  let mount: string | null = null;
  try { mount = cgroup2Mount(); } catch { /* no v2: no freezer either */ }
  const history = stateDir ? (() => {
    const db = openStoreIfAny(stateDir);
    try { return db ? listResponses(db) : []; } finally { db?.close(); }
  })() : [];
  if (mount) {
    for (const dir of [join(mount, CONTAIN_PARENT_NAME), launchParent(mount)]) {
      let names: string[] = [];
      try { names = readdirSync(dir); } catch { /* none */ }
      for (const n of names) {
        const cg = join(dir, n);
        if (!isFrozen(cg)) continue;
        const rootPid = dir.endsWith(CONTAIN_PARENT_NAME) ? Number(n)
          : [...history].reverse().find((r) => (r.details as { freeze?: FreezeRecord | null }).freeze?.cgroup === cg)?.rootPid;
        if (rootPid !== undefined && Number.isFinite(rootPid)) get(rootPid).frozenCgroup = cg;
      }
    }
  }
  for (const f of byRoot.values()) {
    const last = [...history].reverse().find((r) => r.rootPid === f.rootPid && r.action !== 'release');
    if (last) {
      f.agent = last.agent;
      f.since = last.ts;
      f.actor = last.actor;
      f.reason = last.reason;
    }
  }
  return [...byRoot.values()].sort((a, b) => a.rootPid - b.rootPid);
}

export function renderInForce(list: InForce[] | { error: string }): string {
  if (!Array.isArray(list)) return `containment in force on this host: unknown (${list.error})`;
  if (!list.length) return 'containment in force on this host: none';
  const lines = ['containment in force on this host:'];
  for (const f of list) {
    const modeText: Record<EgressMode, string> = {
      deny: 'isolated', shadow: 'isolated in shadow mode', grants: 'limited to its grants', 'grants-shadow': 'grants in shadow mode',
    };
    const refusedWord = f.mode === 'shadow' || f.mode === 'grants-shadow' ? 'would be refused' : 'refused';
    const what = [f.mode ? `network ${modeText[f.mode]} (${f.processes} processes, ${f.denied} ${refusedWord})` : null,
      f.frozenCgroup ? `frozen (${f.frozenCgroup})` : null].filter(Boolean).join(', ');
    lines.push(`  instance ${f.rootPid}${f.agent ? ` of ${f.agent}` : ''}: ${what}` +
      (f.since ? `; since ${f.since} by ${f.actor}${f.reason ? `: ${f.reason}` : ''}` : ''));
    for (const v of [...f.verdicts].sort((a, b) => b.count - a.count).slice(0, 10)) {
      lines.push(`    ${v.verdict} ${v.proto} ${v.addr.includes(':') ? `[${v.addr}]` : v.addr}:${v.port} x${v.count}`);
    }
  }
  return lines.join('\n');
}

/** inForce() for `sensor status`: an unreadable kernel state is reported, not thrown. */
export function containmentInForce(stateDir?: string): InForce[] | { error: string } {
  try {
    return inForce(stateDir);
  } catch (err) {
    return { error: (err as Error).message };
  }
}
