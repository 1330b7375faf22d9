// Stats shared between hash jobs (issue 17). A burst of opens under the
// same directories (a native agent loading the system's CA certificates one
// file each, a Node agent its modules) would lstat the same prefixes thousands of
// times, each a libuv round trip and a BigIntStats for the GC.
//
// What a job may reuse is exactly what it would have seen itself: a job
// looks at the path after the agent's open, so any stat of that path
// *taken after the job was queued* (which is after the open) is as good as
// its own. A job joins a stat in flight, or takes a finished one, only when
// that stat was issued at or after the job's `since`; an older one is
// issued again. Nothing is kept beyond the newest stat of each path, and the
// table is cleared when it grows past its bound.
import type { BigIntStats, Stats } from 'node:fs';
import { lstat, stat } from 'node:fs/promises';

type Kind = 'lstat' | 'lstat-bigint' | 'stat';

interface Entry {
  issuedAt: number;
  result: Promise<Stats | BigIntStats>;
}

const MAX_ENTRIES = 4096;

export class StatMemo {
  private readonly entries = new Map<string, Entry>();
  /** stats issued, and stats a job took from another's */
  readonly counters = { issued: 0, shared: 0 };

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** lstat with numbers: enough for a directory on the way (type, mode, owner). */
  lstat(path: string | Buffer, since: number | undefined): Promise<Stats> {
    return this.get('lstat', path, since) as Promise<Stats>;
  }

  /** lstat with exact 64-bit fields: the file itself (dev, inode, size, times name its version). */
  lstatExact(path: string | Buffer, since: number | undefined): Promise<BigIntStats> {
    return this.get('lstat-bigint', path, since) as Promise<BigIntStats>;
  }

  /** stat (follows the last component): the root a walk starts at, /proc/PID/root. */
  stat(path: string | Buffer, since: number | undefined): Promise<Stats> {
    return this.get('stat', path, since) as Promise<Stats>;
  }

  private get(kind: Kind, path: string | Buffer, since: number | undefined): Promise<Stats | BigIntStats> {
    if (since === undefined) return issue(kind, path);
    const key = `${kind}\0${typeof path === 'string' ? path : path.toString('latin1')}`;
    const e = this.entries.get(key);
    if (e && e.issuedAt >= since) {
      this.counters.shared++;
      return e.result;
    }
    if (this.entries.size >= MAX_ENTRIES) this.entries.clear();
    const entry = { issuedAt: this.now(), result: issue(kind, path) };
    // A failed stat is shared like a good one (it too was seen after the open); an
    // unobserved rejection must not become an unhandled one.
    entry.result.catch(() => undefined);
    this.entries.set(key, entry);
    this.counters.issued++;
    return entry.result;
  }
}

function issue(kind: Kind, path: string | Buffer): Promise<Stats | BigIntStats> {
  if (kind === 'lstat-bigint') return lstat(path, { bigint: true });
  if (kind === 'lstat') return lstat(path);
  return stat(path);
}
