// The cgroup v2 hierarchy and the cgroups `sensor launch` makes in it. The
// hierarchy is wherever this system mounted it (/sys/fs/cgroup on a unified
// system, /sys/fs/cgroup/unified on a hybrid one, anywhere else by choice),
// so it is read from /proc/self/mountinfo, never assumed.
//
// Layout: <mount>/agent-sensor/<agent>-<launcher pid>-<random>, one leaf per
// launch. The parent holds no processes, so the "no internal processes" rule
// of cgroup v2 never refuses a move into the leaf.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, realpathSync, rmdirSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export const LAUNCH_PARENT_NAME = 'agent-sensor';

/** mountinfo escapes space, tab, newline and backslash as \ooo. */
const unescapeMountPath = (p: string): string => p.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));

/**
 * The mount point of the cgroup2 file system whose root is the hierarchy's
 * root (a bind mount of a sub-cgroup, as in a container, has another root), or null.
 */
export function cgroup2MountFrom(mountinfo: string): string | null {
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const fields = line.slice(0, sep).split(' ');
    const fstype = line.slice(sep + 3).split(' ')[0];
    if (fstype === 'cgroup2' && fields[3] === '/' && fields[4]) return unescapeMountPath(fields[4]);
  }
  return null;
}

export function cgroup2Mount(mountinfoPath = '/proc/self/mountinfo'): string {
  const mount = cgroup2MountFrom(readFileSync(mountinfoPath, 'utf8'));
  if (!mount) throw new Error('no cgroup v2 hierarchy is mounted (no cgroup2 line in /proc/self/mountinfo); sensor launch needs one');
  return mount;
}

export function launchParent(mount: string): string {
  return join(mount, LAUNCH_PARENT_NAME);
}

export interface LaunchCgroup {
  path: string;
  /** cgroup v2 id = the directory's inode number (what bpf_get_current_cgroup_id returns) */
  id: bigint;
}

/** A new, empty leaf cgroup for one launch of `agent` (a name the config rules already allow). */
export function makeLaunchCgroup(mount: string, agent: string): LaunchCgroup {
  const parent = launchParent(mount);
  mkdirSync(parent, { recursive: true, mode: 0o755 });
  const path = join(parent, `${agent}-${process.pid}-${randomBytes(4).toString('hex')}`);
  mkdirSync(path, { mode: 0o755 });
  return { path, id: statSync(path, { bigint: true }).ino };
}

/** The file a process writes its pid into to move itself into the cgroup. */
export const procsFile = (cgroup: string): string => join(cgroup, 'cgroup.procs');

/** Whether any process (of the cgroup or its descendants) is in it; a cgroup that is gone is empty. */
export function cgroupPopulated(cgroup: string): boolean {
  let text: string;
  try {
    text = readFileSync(join(cgroup, 'cgroup.events'), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
  return /^populated 1$/m.test(text);
}

/** Removes an empty cgroup: true when it is gone, false while processes remain. */
export function removeCgroup(cgroup: string): boolean {
  try {
    rmdirSync(cgroup);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return true;
    if (code === 'EBUSY' || code === 'ENOTEMPTY') return false;
    throw err;
  }
}

/**
 * The cgroup a LaunchControl call names, if it is one launch could have made:
 * an existing leaf directly under <mount>/agent-sensor. Anything else is
 * refused, so the call can never make the sensor watch or remove another cgroup.
 */
export function checkLaunchCgroup(mount: string, cgroup: string): string | null {
  let real: string;
  try {
    real = realpathSync(cgroup);
  } catch {
    return null;
  }
  const parent = launchParent(mount);
  if (dirname(real) !== parent || basename(real).startsWith('.')) return null;
  return statSync(real).isDirectory() ? real : null;
}
