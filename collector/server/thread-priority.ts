// Background work below the agents' priority (issue 17). On Linux nice is
// per thread: setpriority(PRIO_PROCESS, tid) changes that thread alone, and
// a thread's id is in /proc/thread-self (or /proc/self/task/*). A lower
// priority only lets the agent go first on a busy machine; the work is still
// done when the CPU is free, and what waits is counted in `sensor status`.
import { readlinkSync, writeFileSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';

/** nice of background threads: below the agents (0), not starved (19) */
export const BACKGROUND_NICE = 10;

/** The calling thread's id, or null (not Linux). */
export function ownThreadId(): number | null {
  try {
    return Number(/\/task\/(\d+)$/.exec(readlinkSync('/proc/thread-self'))?.[1]) || null;
  } catch {
    return null;
  }
}

/** Lowers thread `tid` to BACKGROUND_NICE (never raises it); its nice after, or null if not allowed. */
export function lowerThread(tid: number): number | null {
  try {
    if (getPriority(tid) < BACKGROUND_NICE) setPriority(tid, BACKGROUND_NICE);
    return getPriority(tid);
  } catch {
    return null;
  }
}

/** Names the calling thread (top -H, ps -L, the bench); a convenience, so failures are ignored. */
export function nameOwnThread(name: string): void {
  try {
    writeFileSync('/proc/thread-self/comm', name.slice(0, 15));
  } catch {
    // not Linux
  }
}
