// Connects attributed to host names, from the DNS responses the agent itself
// received. A response's answers (CNAME chains followed back to the name
// that was asked, by the decoder) are learned for the agent; a later connect
// to one of those addresses gets `host` = that name. Nothing else sets it.
//
// Scope: the agent, not the process. A resolver helper, or a parent that
// resolves and hands the address to a child that connects, is the same
// agent; two different agents never share answers. Processes outside any
// agent (--all) are scoped to themselves. The network namespace is part of
// the key: 10.0.0.1 in one namespace is not 10.0.0.1 in another.
//
// Lifetime: an answer holds for its TTL (the smallest along its CNAME
// chain) plus a short grace — the resolver hands the address over and the
// connect follows a little later, even for TTL 0 — and never longer than
// MAX_HOLD_S, measured on the events' own clock (tsNs), so replayed or
// delayed batches attribute the same way.
import type { KernelEvent } from '../backends/backend.js';
import { HostCache } from './hosts.js';

const GRACE_S = 5n;
const MAX_HOLD_S = 3600n;
const NS_PER_S = 1_000_000_000n;
const MAPPED_V4 = '::ffff:';

export interface HostAttributionOptions {
  /** (scope, address) answers remembered, least recently used forgotten first */
  maxAnswers?: number;
}

export class HostAttribution {
  private readonly cache: HostCache;
  /** connect events that got a host */
  attributed = 0;

  constructor(opts: HostAttributionOptions = {}) {
    this.cache = new HostCache({ maxAnswers: opts.maxAnswers ?? 16384 });
  }

  /** Learns from a dns response, or sets `host` on a connect; other events pass untouched. */
  observe(ev: KernelEvent): void {
    if (ev.type === 'dns') {
      if (!ev.response || !ev.answers || ev.answers.length === 0) return;
      let hold = BigInt(ev.ttl ?? 0) + GRACE_S;
      if (hold > MAX_HOLD_S) hold = MAX_HOLD_S;
      const untilNs = BigInt(ev.tsNs) + hold * NS_PER_S;
      const scope = scopeOf(ev);
      for (const addr of ev.answers) this.cache.learnAnswer(scope, ev.qname, plainAddr(addr), untilNs);
    } else if (ev.type === 'connect') {
      if (ev.family !== 'inet' && ev.family !== 'inet6') return;
      const host = this.cache.hostFor(scopeOf(ev), plainAddr(ev.addr as string), BigInt(ev.tsNs));
      if (host !== undefined) {
        ev.host = host;
        this.attributed++;
      }
    }
  }
}

function scopeOf(ev: KernelEvent): string {
  const who = ev.agent !== null ? `a:${ev.agent}` : `p:${ev.pid}`;
  return `${who}|${ev.netns}`;
}

/** An IPv4-mapped IPv6 address (a v6 socket reaching a v4 host) as the A record wrote it. */
function plainAddr(addr: string): string {
  return addr.startsWith(MAPPED_V4) && addr.includes('.') ? addr.slice(MAPPED_V4.length) : addr;
}
