// What the sensor can honestly say about host names behind connects.
//
// The kernel side sees DNS questions leaving a tracked process and the
// responses coming back. What we keep:
//  - the last N names each process looked up, with timestamps, so a reader
//    can see "shortly before, it looked up example.com";
//  - a (scope, address) -> name map filled only by `learnAnswer` from a
//    parsed response, each entry valid until a given time. `hostFor`
//    answers from it or returns undefined: never a guess. The scope is the
//    caller's choice (./attribution.ts uses the agent).
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
  private readonly answers: Lru<string, { name: string; untilNs: bigint | undefined }>;
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

  /**
   * An answer (name -> address) seen by `scope`, from a parsed response;
   * with `untilNs` (epoch ns) it holds until then. A newer answer for the
   * same address replaces it: the latest resolution is what a connect uses.
   */
  learnAnswer(scope: number | string, qname: string, addr: string, untilNs?: bigint): void {
    this.answers.set(answerKey(scope, addr), { name: qname, untilNs });
  }

  /** The name `scope` resolved `addr` from, if an answer holds at `atNs`; never a guess. */
  hostFor(scope: number | string, addr: string, atNs?: bigint): string | undefined {
    const key = answerKey(scope, addr);
    const a = this.answers.get(key);
    if (!a) return undefined;
    if (a.untilNs !== undefined && atNs !== undefined && atNs > a.untilNs) {
      this.answers.delete(key);
      return undefined;
    }
    return a.name;
  }

  /** The process exited: its lookups go (answers age out through the LRU). */
  forget(pid: number): void {
    this.lookups.delete(pid);
  }

  get trackedPids(): number {
    return this.lookups.size;
  }
}

function answerKey(scope: number | string, addr: string): string {
  return `${scope}|${addr.toLowerCase()}`;
}
