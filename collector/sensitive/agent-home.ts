// The home an agent's own tools use for `~`: the HOME in its environment.
//
// passwd says where a user's home is; an agent started with another HOME (a
// harness, a container, a sandbox wrapper, `sudo -H`) keeps its keys, its
// cloud credentials and its session files there, and its `ssh`, `aws` and
// `kubectl` look there. `~` in the catalogue stands for this home as well as
// passwd's (never instead of it: a home is only ever added).
//
// The sensor reads it from /proc/<pid>/environ at the root's exec, while the
// process surely lives, and sends it on that exec (`home`); the collector
// keeps it per (sensor, agentPid). For a sensor that sent none (an older
// one, or the process was gone), the collector reads the same file itself
// if the pid is on its own host and still that process. The environment an
// exec'd program starts with does not change under it. Only a directory the
// agent's own user owns counts: a process that changed user without
// resetting its environment (HOME still root's) keeps its user's home.
import { lstatSync, readFileSync } from 'node:fs';
import type { ByteString, SensorEvent } from '../../proto/events/types.js';
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

/**
 * HOME of the living process pid when it is a directory uid owns, read once
 * now (the sensor at an agent root's exec, when the process surely lives):
 * null when unset, unusable, someone else's, or the process is gone.
 */
export function processHome(pid: number, uid: number): string | null {
  let home: string | null;
  try {
    home = homeFromEnviron(readFileSync(`/proc/${pid}/environ`));
  } catch {
    return null;
  }
  return home !== null && ownerOf(home) === uid ? home : null;
}

export class AgentHomes {
  /** by pid: the process (its start), its HOME and that directory's owner, when /proc was last looked at */
  private readonly known = new Map<number, { start: string; home: string | null; owner: number | null; checkedAt: number }>();
  /** by `${sensorId}:${agentPid}`: the home its root's exec carried */
  private readonly reported = new Map<string, string>();

  /** Takes the home an agent root's exec carries (a root exec without one forgets the last: the pid was reused). */
  note(sensorId: string, ev: SensorEvent): void {
    if (ev.type !== 'exec' || ev.agent === null || ev.agentPid !== ev.pid) return;
    const key = `${sensorId}:${ev.pid}`;
    const home = ev.home === undefined ? null : reportedHome(ev.home);
    if (home === null) {
      this.reported.delete(key);
      return;
    }
    if (this.reported.size >= MAX_KNOWN) this.reported.clear();
    this.reported.set(key, home);
  }

  /**
   * `~` for an instance: the home its root's exec carried, else (local: the
   * sensor runs on this host) the root's HOME read here, else null.
   */
  homeOf(sensorId: string, agentPid: number, uid: number, local: boolean): string | null {
    return this.reported.get(`${sensorId}:${agentPid}`) ?? (local ? this.of(agentPid, uid) : null);
  }

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

/** A home as a sensor sent it: held to the same shape as one read here (the ownership it checked). */
function reportedHome(home: ByteString): string | null {
  return typeof home === 'string' ? usableHome(Buffer.from(home, 'utf8')) : null;
}

/** One per thread: the store's tagger and the detection engine share what they read. */
export const agentHomes = new AgentHomes();
