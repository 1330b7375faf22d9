// Resolving relative paths without the kernel's help.
//
// bpftrace 0.17 cannot walk dentries, so an open of "x" arrives without the
// directory it was resolved against. We read /proc/<pid>/cwd (or fd/<dirfd>)
// when we decode the record, which is later than the syscall: the process
// may have changed directory or exited. To stay honest:
//  - the script reports every successful chdir/fchdir (W lines) with its
//    CLOCK_MONOTONIC time, the clock bpftrace's nsecs and process.hrtime
//    share;
//  - a cwd read at time R answers for an open at time T only if no chdir of
//    that process is known between T and R;
//  - a cwd read earlier (at exec, fork or track time) is kept per process,
//    so a process that has exited can still be resolved under that rule.
// Otherwise the path stays relative and the caller counts it unresolved.
// (A chdir still in another CPU's buffer when we decode is not known yet:
// that window is bpftrace's read interval, milliseconds.)
import { readlinkSync } from 'node:fs';

const MAX_PIDS = 8192;
const CHDIRS_KEPT = 8;

interface Known {
  cwd: Buffer;
  /** monotonic ns when it was read */
  at: bigint;
}

export class CwdResolver {
  private readonly cache = new Map<number, Known>();
  private readonly chdirs = new Map<number, bigint[]>();

  constructor(private readonly monoNow: () => bigint = () => process.hrtime.bigint()) {}

  /** Reads and remembers the cwd of a live process (exec, fork, track). */
  prime(pid: number): void {
    const at = this.monoNow();
    const cwd = readLink(`/proc/${pid}/cwd`);
    if (cwd) this.remember(pid, { cwd, at });
  }

  /** A successful chdir/fchdir of `pid` at monotonic `at`. */
  changed(pid: number, at: bigint): void {
    const list = this.chdirs.get(pid) ?? [];
    list.push(at);
    if (list.length > CHDIRS_KEPT) list.shift();
    this.chdirs.set(pid, list);
    this.cache.delete(pid);
    if (this.chdirs.size > MAX_PIDS) this.chdirs.delete(this.chdirs.keys().next().value as number);
  }

  forget(pid: number): void {
    this.cache.delete(pid);
    this.chdirs.delete(pid);
  }

  /** The cwd `pid` had at monotonic time `at`, if we can say so honestly. */
  cwdAt(pid: number, at: bigint): Buffer | null {
    const fresh = this.monoNow();
    const cwd = readLink(`/proc/${pid}/cwd`);
    if (cwd) {
      this.remember(pid, { cwd, at: fresh });
      if (this.steady(pid, at, fresh)) return cwd;
    }
    const known = this.cache.get(pid);
    if (known && this.steady(pid, at, known.at)) return known.cwd;
    return null;
  }

  /** The directory behind `dirfd`, read now; fds are not tracked, so this is best effort. */
  dirOf(pid: number, dirfd: number): Buffer | null {
    return readLink(`/proc/${pid}/fd/${dirfd}`);
  }

  /** no known chdir of `pid` between the two times */
  private steady(pid: number, a: bigint, b: bigint): boolean {
    const lo = a < b ? a : b;
    const hi = a < b ? b : a;
    return !(this.chdirs.get(pid) ?? []).some((t) => t > lo && t < hi);
  }

  private remember(pid: number, k: Known): void {
    this.cache.delete(pid);
    this.cache.set(pid, k);
    if (this.cache.size > MAX_PIDS) this.cache.delete(this.cache.keys().next().value as number);
  }
}

function readLink(path: string): Buffer | null {
  try {
    return readlinkSync(path, { encoding: 'buffer' });
  } catch {
    return null;
  }
}
