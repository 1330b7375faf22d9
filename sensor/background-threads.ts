// The sensor process's threads below the agents' priority, except the two
// that must not wait (issue 17): the main thread (takes the kernel's batches
// from the ring reader, decodes, sends) and the ring reader (named
// "ring-reader" by the addon). The others do work that may come late but is
// never skipped: V8's helpers (GC, compilation), libuv's pool (file reads of
// hashing and DLP), the store and query workers (which lower themselves too).
// Threads start lazily, so the check repeats; a thread once lowered stays so.
// Without a thread named ring-reader (an older addon, the bpftrace backend
// reads through a child process) nothing is lowered: better no cut than a
// slow ring reader.
import { readdirSync, readFileSync } from 'node:fs';
import { BACKGROUND_NICE, lowerThread } from '../collector/server/thread-priority.js';

const KEEP = new Set(['ring-reader']);

export interface BackgroundThreads {
  /** threads at BACKGROUND_NICE now */
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

/** Lowers every thread of this process but the main thread and the ring reader to BACKGROUND_NICE. */
export function lowerBackgroundThreads(): BackgroundThreads {
  let all: { tid: number; comm: string }[];
  try {
    all = threads();
  } catch {
    return { lowered: 0, kept: 0, reason: 'no /proc/self/task' };
  }
  if (!all.some((t) => KEEP.has(t.comm))) return { lowered: 0, kept: all.length, reason: 'no ring-reader thread to keep apart' };
  let lowered = 0;
  let kept = 0;
  for (const t of all) {
    if (t.tid === process.pid || KEEP.has(t.comm)) kept++;
    else if (lowerThread(t.tid) === BACKGROUND_NICE) lowered++;
  }
  return { lowered, kept };
}

/** lowerBackgroundThreads now and every `everyMs` (threads start lazily); returns the stop function. */
export function keepBackgroundThreadsLow(everyMs: number, report: (r: BackgroundThreads) => void): () => void {
  report(lowerBackgroundThreads());
  const timer = setInterval(() => lowerBackgroundThreads(), everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
