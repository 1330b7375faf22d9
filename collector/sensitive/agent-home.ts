// The home an agent's own tools use for `~`: the HOME in its environment.
//
// passwd says where a user's home is; an agent started with another HOME (a
// harness, a container, a sandbox wrapper, `sudo -H`) keeps its keys, its
// cloud credentials and its session files there, and its `ssh`, `aws` and
// `kubectl` look there. `~` in the catalogue stands for this home as well as
// passwd's (never instead of it: a home is only ever added).
//
// Read from /proc/<pid>/environ of the agent's root process while it lives
// (the collector's own host only: a batch from another host names pids that
// are not ours), once per process and kept for its life; the environment an
// exec'd program starts with does not change under it. Only a directory the
// agent's own user owns counts: a process that changed user without
// resetting its environment (HOME still root's) keeps its user's home.
import { lstatSync, readFileSync } from 'node:fs';
import { posix } from 'node:path';

const MAX_KNOWN = 4096;
const MAX_HOME_BYTES = 4096;
const HOME = Buffer.from('HOME=');

/** HOME from an environ(5) block (NUL-separated), when it is a usable absolute directory path. */
export function homeFromEnviron(environ: Buffer): string | null {
  let at = 0;
  while (at < environ.length) {
    let end = environ.indexOf(0, at);
    if (end < 0) end = environ.length;
    if (end - at > HOME.length && environ.subarray(at, at + HOME.length).equals(HOME)) {
      const value = environ.subarray(at + HOME.length, end);
      return usableHome(value);
    }
    at = end + 1;
  }
  return null;
}

/** An absolute path, normalised, not the root, valid UTF-8, no control characters, at most 4 KiB. */
function usableHome(value: Buffer): string | null {
  if (value.length === 0 || value.length > MAX_HOME_BYTES || value[0] !== 0x2f) return null;
  const text = value.toString('utf8');
  if (!Buffer.from(text, 'utf8').equals(value) || /[\x00-\x1f\x7f]/.test(text)) return null;
  const home = posix.normalize(text).replace(/\/+$/, '');
  return home === '' ? null : home;
}

/** Start time (clock ticks, /proc/<pid>/stat field 22): names the process with its pid. */
function startOf(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

/** How long a pid's answer stands without looking at /proc again (a batch asks once per event). */
const RECHECK_MS = 1000;

/** The owner of a directory at path (not followed if a link), or null. */
function ownerOf(path: string): number | null {
  try {
    const st = lstatSync(path);
    return st.isDirectory() ? st.uid : null;
  } catch {
    return null;
  }
}

export class AgentHomes {
  /** by pid: the process (its start), its HOME and that directory's owner, when /proc was last looked at */
  private readonly known = new Map<number, { start: string; home: string | null; owner: number | null; checkedAt: number }>();

  /**
   * The HOME of the living process pid when it is a directory uid owns, or
   * null (gone, unreadable, unset, not a usable path, someone else's). A
   * process seen before answers from memory while its pid still names it;
   * once gone, what it had is kept (its late events are still judged with
   * its home) until the pid is seen reused.
   */
  of(pid: number, uid: number): string | null {
    const seen = this.lookup(pid);
    return seen && seen.owner === uid ? seen.home : null;
  }

  private lookup(pid: number): { home: string | null; owner: number | null } | undefined {
    if (!Number.isInteger(pid) || pid <= 0) return undefined;
    const now = Date.now();
    const was = this.known.get(pid);
    if (was && now - was.checkedAt < RECHECK_MS) return was;
    const start = startOf(pid);
    if (start === null) return was;
    if (was && was.start === start) {
      was.checkedAt = now;
      return was;
    }
    let home: string | null;
    try {
      home = homeFromEnviron(readFileSync(`/proc/${pid}/environ`));
    } catch {
      home = null; // exited meanwhile, or a kernel thread
    }
    // Still the same process after the read: the pid was not reused in between.
    if (startOf(pid) !== start) return was;
    const entry = { start, home, owner: home === null ? null : ownerOf(home), checkedAt: now };
    if (this.known.size >= MAX_KNOWN) this.known.clear();
    this.known.set(pid, entry);
    return entry;
  }
}

/** One per thread: the store's tagger and the detection engine share what they read. */
export const agentHomes = new AgentHomes();
