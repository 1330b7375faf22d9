// Freezing an agent instance with the cgroup v2 freezer (cgroup.freeze): every
// task of the cgroup stops at its next return to user space and makes no
// progress (no syscall, no fork) until thawed. A freeze is per cgroup, so:
//   - a launched instance (its own cgroup) is frozen in place;
//   - any other instance is first moved into <mount>/agent-sensor-contain/<rootPid>,
//     remembering each process's cgroup so release can move it back.
import { mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cgroupV2Of } from './proc-table.js';

export const CONTAIN_PARENT_NAME = 'agent-sensor-contain';
const FREEZE_WAIT_MS = 3000;

export interface FreezeRecord {
  cgroup: string;
  /** pid -> cgroup path (relative to the mount) it was moved out of; empty for a frozen launch cgroup */
  moved: Record<string, string>;
  frozen: boolean;
}

export const containCgroupOf = (mount: string, rootPid: number): string => join(mount, CONTAIN_PARENT_NAME, String(rootPid));

function writeKnob(cgroup: string, file: string, value: string): void {
  writeFileSync(join(cgroup, file), value);
}

export function isFrozen(cgroup: string): boolean {
  try {
    return /^frozen 1$/m.test(readFileSync(join(cgroup, 'cgroup.events'), 'utf8'));
  } catch {
    return false;
  }
}

async function waitFrozen(cgroup: string, want: boolean): Promise<boolean> {
  const end = Date.now() + FREEZE_WAIT_MS;
  while (Date.now() < end) {
    if (isFrozen(cgroup) === want) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return isFrozen(cgroup) === want;
}

/** Moves pids into the cgroup; a pid that exited meanwhile is skipped. Returns their old cgroups. */
export function moveInto(cgroup: string, pids: number[]): Record<string, string> {
  const moved: Record<string, string> = {};
  for (const pid of pids) {
    const from = cgroupV2Of(pid);
    if (from === null) continue;
    try {
      writeKnob(cgroup, 'cgroup.procs', String(pid));
      moved[String(pid)] = from;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw new Error(`cannot move pid ${pid} into ${cgroup}: ${(err as Error).message}`);
    }
  }
  return moved;
}

export function prepareContainCgroup(mount: string, rootPid: number): string {
  const cg = containCgroupOf(mount, rootPid);
  mkdirSync(cg, { recursive: true, mode: 0o755 });
  return cg;
}

export async function freezeCgroup(cgroup: string): Promise<boolean> {
  writeKnob(cgroup, 'cgroup.freeze', '1');
  return waitFrozen(cgroup, true);
}

export async function thawCgroup(cgroup: string): Promise<boolean> {
  try {
    writeKnob(cgroup, 'cgroup.freeze', '0');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return true; // gone: nothing frozen
    throw err;
  }
  return waitFrozen(cgroup, false);
}

/**
 * Thaws a contain cgroup and moves its processes back where they came from
 * (the v2 root when that cgroup is gone), then removes it. Processes forked
 * while contained go to their parent's old cgroup, else the root.
 */
export async function releaseContainCgroup(mount: string, cgroup: string, moved: Record<string, string>): Promise<void> {
  await thawCgroup(cgroup);
  let members: number[];
  try {
    members = readFileSync(join(cgroup, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return;
  }
  for (const pid of members) {
    const back = moved[String(pid)] ?? '/';
    for (const target of [join(mount, back), mount]) {
      try {
        writeKnob(target, 'cgroup.procs', String(pid));
        break;
      } catch { /* try the root next */ }
    }
  }
  try { rmdirSync(cgroup); } catch { /* a straggler: stays, harmless and thawed */ }
}
