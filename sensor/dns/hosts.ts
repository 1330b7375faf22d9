// What the sensor can honestly say about host names behind connects.
//
// The kernel side sees DNS *questions* leaving a process (a send to port 53),
// never the answers: those arrive through recvmsg into buffers we do not
// read. So we cannot know which name an address came from. What we keep:
//  - the last N names each process looked up, with timestamps, so the
//    collector can show "connected to 93.184.216.34; shortly before, it
//    looked up example.com" and let a reader judge;
//  - an (pid, address) -> name map filled only by `learnAnswer`, for a later
//    issue that parses responses. Until then `hostFor` returns undefined
//    rather than a guess.
// Both are bounded LRUs: a process that looks up a million names costs us
// `perPid` entries, and a million processes cost `maxPids`.

export interface Lookup {
  qname: string;
  qtype: string;
  /** epoch ns, decimal string as in events */
  tsNs: string;
}

export interface HostCacheOptions {
  /** processes remembered; the least recently active is forgotten first */
  maxPids?: number;
  /** lookups remembered per process, newest kept */
  perPid?: number;
  /** (pid, address) answers remembered */
  maxAnswers?: number;
}

/** A Map used as an LRU: re-inserting moves a key to the young end. */
class Lru<K, V> {
  private readonly map = new Map<K, V>();
  constructor(private readonly max: number) {}

  get(key: K): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }

  peek(key: K): V | undefined {
    return this.map.get(key);
  }

  set(key: K, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    while (this.map.size > this.max) {
      const oldest = this.map.keys().next().value as K;
      this.map.delete(oldest);
    }
  }

  delete(key: K): boolean {
    return this.map.delete(key);
  }

  get size(): number {
    return this.map.size;
  }
}

export class HostCache {
  private readonly lookups: Lru<number, Lookup[]>;
  private readonly answers: Lru<string, string>;
  private readonly perPid: number;

  constructor(opts: HostCacheOptions = {}) {
    this.lookups = new Lru(opts.maxPids ?? 4096);
    this.answers = new Lru(opts.maxAnswers ?? 16384);
    this.perPid = opts.perPid ?? 16;
  }

  /** A DNS question seen leaving `pid`. */
  recordQuery(pid: number, qname: string, qtype: string, tsNs: string): void {
    const list = this.lookups.get(pid) ?? [];
    list.push({ qname, qtype, tsNs });
    if (list.length > this.perPid) list.splice(0, list.length - this.perPid);
    this.lookups.set(pid, list);
  }

  /**
   * The names `pid` looked up, oldest first; with `beforeNs`, only those at
   * or before that time and, with `windowNs`, not older than the window.
   */
  recentQueries(pid: number, beforeNs?: string, windowNs?: bigint): Lookup[] {
    const list = this.lookups.peek(pid);
    if (!list) return [];
    if (beforeNs === undefined) return list.slice();
    const before = BigInt(beforeNs);
    const after = windowNs === undefined ? undefined : before - windowNs;
    return list.filter((l) => {
      const t = BigInt(l.tsNs);
      return t <= before && (after === undefined || t >= after);
    });
  }

  /** An answer (name -> address) for `pid`, from a response parser. */
  learnAnswer(pid: number, qname: string, addr: string): void {
    this.answers.set(answerKey(pid, addr), qname);
  }

  /** The name `pid` resolved `addr` from, if an answer was learned; never a guess. */
  hostFor(pid: number, addr: string): string | undefined {
    return this.answers.get(answerKey(pid, addr));
  }

  /** The process exited: its lookups go (answers age out through the LRU). */
  forget(pid: number): void {
    this.lookups.delete(pid);
  }

  get trackedPids(): number {
    return this.lookups.size;
  }
}

function answerKey(pid: number, addr: string): string {
  return `${pid}|${addr.toLowerCase()}`;
}
