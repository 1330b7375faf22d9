// Reading /proc for containment and evidence: the live processes with their
// parent and start time, and each process's cgroup v2 path. A process can
// vanish between two reads: every reader here treats that as "gone", never
// as an error.
import { readdirSync, readFileSync } from 'node:fs';

export interface ProcEntry {
  pid: number;
  ppid: number;
  /** start time in clock ticks since boot (/proc/PID/stat field 22): with pid, names a process */
  startTicks: number;
}

/** Parses /proc/PID/stat; comm may hold spaces and parentheses, so split after the last ')'. */
export function parseStat(pid: number, text: string): ProcEntry | null {
  const close = text.lastIndexOf(')');
  if (close < 0) return null;
  const f = text.slice(close + 2).split(' ');
  // f[0] is field 3 (state): ppid is field 4, starttime field 22.
  const ppid = Number(f[1]);
  const startTicks = Number(f[19]);
  if (!Number.isFinite(ppid) || !Number.isFinite(startTicks)) return null;
  return { pid, ppid, startTicks };
}

export function readProc(pid: number): ProcEntry | null {
  try {
    return parseStat(pid, readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return null;
  }
}

export function procTable(): Map<number, ProcEntry> {
  const table = new Map<number, ProcEntry>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const e = readProc(Number(name));
    if (e) table.set(e.pid, e);
  }
  return table;
}

/** The process's cgroup v2 path relative to the hierarchy's root ("/" for the root), or null. */
export function cgroupV2Of(pid: number): string | null {
  try {
    const line = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => l.startsWith('0::'));
    return line ? line.slice(3) : null;
  } catch {
    return null;
  }
}
