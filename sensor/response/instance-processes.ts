// The live processes of one agent instance, for isolate/freeze and the
// evidence bundle. Three sources, unioned:
//   1. a launched instance's own cgroup (sensor launch): exact, every member;
//   2. descendants of the root pid by a ppid walk over /proc, repeated until
//      two walks agree (processes fork while we read);
//   3. pids the caller knows from the store (agentPid-tagged or fork events),
//      kept only while alive and started no earlier than the root.
// What remains racy: a descendant whose parent exited before the walk is
// re-parented (to init or a subreaper) and found only through 1 or 3. Once a
// process is contained, the kernel contains its later forks itself.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { launchParent } from '../launch/cgroup-v2.js';
import { cgroupV2Of, procTable, readProc, type ProcEntry } from './proc-table.js';

const MAX_WALKS = 20;

export interface InstanceProcesses {
  rootPid: number;
  /** the launch cgroup (absolute path) when the instance lives in one of its own */
  launchCgroup: string | null;
  pids: number[];
}

/** The launch cgroup of a process, if it sits in one `sensor launch` made. */
export function launchCgroupOf(mount: string, pid: number): string | null {
  const rel = cgroupV2Of(pid);
  if (!rel || rel === '/') return null;
  const abs = join(mount, rel);
  return abs.startsWith(`${launchParent(mount)}/`) ? abs : null;
}

export function cgroupMembers(cgroup: string): number[] {
  try {
    return readFileSync(join(cgroup, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function descendants(root: ProcEntry, table: Map<number, ProcEntry>, seeds: Iterable<number>): Set<number> {
  const children = new Map<number, number[]>();
  for (const e of table.values()) {
    const list = children.get(e.ppid);
    if (list) list.push(e.pid);
    else children.set(e.ppid, [e.pid]);
  }
  const found = new Set<number>([root.pid]);
  const todo = [root.pid];
  for (const s of seeds) {
    const e = table.get(s);
    if (e && e.startTicks >= root.startTicks && !found.has(s)) {
      found.add(s);
      todo.push(s);
    }
  }
  while (todo.length) {
    for (const c of children.get(todo.pop()!) ?? []) {
      if (!found.has(c)) {
        found.add(c);
        todo.push(c);
      }
    }
  }
  return found;
}

/**
 * Enumerates the instance rooted at rootPid. `onFound` is called with pids not
 * seen before after every walk (isolate contains them at once, so their own
 * forks are caught by the kernel while the walk goes on). Null when the root is gone.
 */
export function enumerateInstance(mount: string, rootPid: number, knownPids: Iterable<number> = [],
  onFound?: (pids: number[]) => void): InstanceProcesses | null {
  const root = readProc(rootPid);
  if (!root) return null;
  const launchCgroup = launchCgroupOf(mount, rootPid);
  const known = [...knownPids];
  let all = new Set<number>();
  for (let walk = 0; walk < MAX_WALKS; walk++) {
    const seeds = launchCgroup ? [...known, ...cgroupMembers(launchCgroup)] : known;
    const now = descendants(root, procTable(), seeds);
    const fresh = [...now].filter((p) => !all.has(p));
    for (const p of fresh) all.add(p);
    if (fresh.length && onFound) onFound(fresh);
    if (!fresh.length && walk > 0) break;
  }
  // Gone meanwhile: drop.
  all = new Set([...all].filter((p) => readProc(p) !== null));
  return { rootPid, launchCgroup, pids: [...all].sort((a, b) => a - b) };
}
