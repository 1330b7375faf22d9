// The sensor process's threads below the agents' priority (issue 17).
//
// With the libbpf backend, every thread but the ring reader runs at
// SCHED_IDLE: the sensor's user space (decode, transport, the store worker,
// hashing, DLP, detectors, V8's GC and compiler threads, libuv's pool) takes
// only CPU time no other process wants, so an agent session does not wait
// for it. The ring reader keeps normal priority and raises the others while
// a batch has waited for JS longer than a bound, or JS (which says alive()
// while it and the store keep up: sensor/cli/commands/run.ts) has gone
// silent (native/src/thread_policy.h): a busy machine, or a process spinning
// to starve the sensor, delays the work by that bound, not forever. Nothing
// is skipped.
//
// Without that watcher (the bpftrace backend reads through a child process)
// only the background threads go to nice BACKGROUND_NICE, the main thread
// keeps its priority, and without a thread named ring-reader nothing is
// lowered at all: better no cut than a ring nobody drains.
// Threads start lazily (libuv's pool, workers), so the check repeats.
import { readdirSync, readFileSync } from 'node:fs';
import { BACKGROUND_NICE, lowerThread } from '../collector/server/thread-priority.js';

const KEEP = new Set(['ring-reader']);

export interface BackgroundThreads {
  /** 'idle': SCHED_IDLE under the ring reader's watch; 'nice': BACKGROUND_NICE */
  mode: 'idle' | 'nice';
  /** threads lowered now */
  lowered: number;
  /** threads kept at the process's priority (main, ring reader) */
  kept: number;
  /** why nothing was lowered, when nothing was */
  reason?: string;
}

function threads(): { tid: number; comm: string }[] {
  const out: { tid: number; comm: string }[] = [];
  for (const t of readdirSync('/proc/self/task')) {
    try {
      out.push({ tid: Number(t), comm: readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trim() });
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** Puts the threads to idle with `idle` (every one but the ring reader), else the background ones to BACKGROUND_NICE. */
export function lowerBackgroundThreads(idle?: (tids: number[]) => void): BackgroundThreads {
  const mode = idle ? 'idle' : 'nice';
  let all: { tid: number; comm: string }[];
  try {
    all = threads();
  } catch {
    return { mode, lowered: 0, kept: 0, reason: 'no /proc/self/task' };
  }
  if (!all.some((t) => KEEP.has(t.comm))) return { mode, lowered: 0, kept: all.length, reason: 'no ring-reader thread to keep apart' };
  if (idle) {
    const tids = all.filter((t) => !KEEP.has(t.comm)).map((t) => t.tid);
    try {
      idle(tids);
    } catch (err) {
      return { mode, lowered: 0, kept: all.length, reason: (err as Error).message };
    }
    return { mode, lowered: tids.length, kept: all.length - tids.length };
  }
  let lowered = 0;
  let kept = 0;
  for (const t of all) {
    if (t.tid === process.pid || KEEP.has(t.comm)) kept++;
    else if (lowerThread(t.tid) === BACKGROUND_NICE) lowered++;
  }
  return { mode, lowered, kept };
}

/** lowerBackgroundThreads now and every `everyMs` (threads start lazily); returns the stop function. */
export function keepBackgroundThreadsLow(everyMs: number, report: (r: BackgroundThreads) => void, idle?: (tids: number[]) => void): () => void {
  report(lowerBackgroundThreads(idle));
  const timer = setInterval(() => lowerBackgroundThreads(idle), everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
