// What /proc says about processes: read at start to find agents that are
// already running (and their descendants). Exec events carry exe and cwd from
// the kernel; /proc is never read for them later (a short process is gone by
// then, a longer one may have exec'd or moved on). Every read is best-effort:
// a process can exit between any two reads, and then we simply know less.
import { readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import type { ByteString } from '../../proto/events/types.js';
import { splitArgv } from '../kernel/decode.js';

export interface ProcInfo {
  pid: number;
  ppid: number;
  comm: string;
  exe: string | null;
  argv: ByteString[];
  cgroupId: bigint | null;
  /** start time in clock ticks (stat field 22): with pid, names the process */
  startTicks?: string;
}

export function readLink(path: string): string | null {
  try {
    return readlinkSync(path);
  } catch {
    return null;
  }
}

function readOr(path: string, fallback: Buffer | null = null): Buffer | null {
  try {
    return readFileSync(path);
  } catch {
    return fallback;
  }
}

/** ppid from /proc/pid/stat: fields after the comm, which may itself contain ') '. */
export function parseStatPpid(stat: string): number {
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(rest[1]);
}

/** starttime (field 22) from /proc/pid/stat. */
export function parseStatStart(stat: string): string | undefined {
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
}

/** The start time (ticks) of a live process, or null when it is gone. */
export function startTicksOf(pid: number): string | null {
  const stat = readOr(`/proc/${pid}/stat`)?.toString('latin1');
  return stat ? (parseStatStart(stat) ?? null) : null;
}

/** cgroup v2 ids (the directory's inode) by cgroup path, cached: few distinct paths. */
export class CgroupIds {
  private readonly cache = new Map<string, bigint | null>();
  private readonly mount: string | null;

  constructor() {
    this.mount = cgroup2Mount();
  }

  ofPid(pid: number): bigint | null {
    const text = readOr(`/proc/${pid}/cgroup`)?.toString('latin1');
    const line = text?.split('\n').find((l) => l.startsWith('0::'));
    if (!line || !this.mount) return null;
    const path = line.slice(3);
    if (!this.cache.has(path)) {
      let id: bigint | null = null;
      try {
        id = readInode(this.mount + (path === '/' ? '' : path));
      } catch {
        id = null;
      }
      this.cache.set(path, id);
    }
    return this.cache.get(path)!;
  }
}

function readInode(path: string): bigint {
  return statSync(path, { bigint: true }).ino;
}

function cgroup2Mount(): string | null {
  const info = readOr('/proc/self/mountinfo')?.toString('latin1') ?? '';
  for (const line of info.split('\n')) {
    const [pre, post] = line.split(' - ');
    if (post?.startsWith('cgroup2 ')) return pre.split(' ')[4];
  }
  return null;
}

export function readProc(pid: number, cgroups: CgroupIds): ProcInfo | null {
  const stat = readOr(`/proc/${pid}/stat`)?.toString('latin1');
  if (!stat) return null;
  const comm = readOr(`/proc/${pid}/comm`)?.toString('utf8').replace(/\n$/, '') ?? '';
  const cmdline = readOr(`/proc/${pid}/cmdline`) ?? Buffer.alloc(0);
  return {
    pid,
    ppid: parseStatPpid(stat),
    comm,
    exe: readLink(`/proc/${pid}/exe`),
    argv: splitArgv(cmdline),
    cgroupId: cgroups.ofPid(pid),
    startTicks: parseStatStart(stat),
  };
}

/** Every process in /proc (kernel threads included: they have no exe and match nothing). */
export function scanProcesses(cgroups = new CgroupIds()): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const p = readProc(Number(name), cgroups);
    if (p) out.push(p);
  }
  return out;
}

/**
 * Agents among running processes: each process that matches a rule, and
 * every descendant of one (a descendant's own match wins over inheritance,
 * as in the kernel). `selfPid` is never an agent and passes nothing on.
 */
export function runningAgents(
  procs: ProcInfo[], match: (p: ProcInfo) => number | null, selfPid: number,
  /** filled with pid -> root of its agent instance (the matching ancestor, or itself) */
  roots?: Map<number, number>,
): Map<number, number> {
  const children = new Map<number, ProcInfo[]>();
  for (const p of procs) {
    const list = children.get(p.ppid);
    if (list) list.push(p);
    else children.set(p.ppid, [p]);
  }
  const result = new Map<number, number>();
  // walk from the roots down so inheritance flows parent -> child
  const pids = new Set(procs.map((p) => p.pid));
  const tops = procs.filter((p) => !pids.has(p.ppid));
  const stack: Array<{ p: ProcInfo; inherited: number | null; root: number }> = tops.map((p) => ({ p, inherited: null, root: 0 }));
  for (let guard = 0; stack.length > 0 && guard < 1_000_000; guard++) {
    const { p, inherited, root } = stack.pop()!;
    // the sensor itself is never an agent; processes it starts (tests) are judged on their own
    const own = p.pid === selfPid ? null : match(p);
    const agent = p.pid === selfPid ? null : (own ?? inherited);
    const myRoot = own !== null ? p.pid : root;
    if (agent !== null) {
      result.set(p.pid, agent);
      roots?.set(p.pid, myRoot);
    }
    for (const c of children.get(p.pid) ?? []) stack.push({ p: c, inherited: agent, root: agent !== null ? myRoot : 0 });
  }
  return result;
}

export interface ProcessRecord {
  exe?: ByteString;
  argv?: ByteString[];
  startNs?: string;
}

/** pid -> what we saw of it (exec/fork events), the most recent `capacity` processes. */
export class ProcessCache {
  private readonly map = new Map<number, ProcessRecord>();

  constructor(private readonly capacity = 4096) {}

  get(pid: number): ProcessRecord | undefined {
    return this.map.get(pid);
  }

  set(pid: number, rec: ProcessRecord): void {
    this.map.delete(pid); // re-insert: Map order is the recency order
    this.map.set(pid, rec);
    if (this.map.size > this.capacity) this.map.delete(this.map.keys().next().value!);
  }

  get size(): number {
    return this.map.size;
  }
}
