// Connect events attributed to host names from DNS answers (sensor/dns/
// attribution.ts), and dns responses through the proto and the store.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { queryEvents } from '../collector/query/event-query.js';
import { EventStore } from '../collector/store/event-store.js';
import { verifyChain } from '../collector/store/verify.js';
import type { KernelEvent } from '../sensor/backends/backend.js';
import { HostAttribution } from '../sensor/dns/attribution.js';
import type { ConnectEvent, DnsEvent, SensorEvent } from '../proto/events/types.js';
import { encodeEvent } from '../proto/codec/batch-encoder.js';
import { fromProtoEvent } from '../proto/codec/convert.js';
import { protoCodecs } from '../proto/codec/proto.js';

const T0 = 1_795_000_000_000_000_000n;
const S = 1_000_000_000n;

function base(type: SensorEvent['type'], at: bigint, pid: number, agent: string | null) {
  return {
    type, ts: '', tsNs: String(at), pid, tid: pid, ppid: 1, uid: 0, gid: 0, comm: 'c', agent, cgroupId: '1',
    netns: 4026531840, mntns: 4026531841, agentId: agent ? 1 : 0, pending: false,
  };
}

function answer(at: bigint, pid: number, agent: string | null, qname: string, answers: string[], ttl: number, netns?: number): KernelEvent {
  const e = { ...base('dns', at, pid, agent), qname, qtype: 'A', addr: '127.0.0.53', port: 53, response: true, rcode: 'NOERROR', answers, ttl };
  if (netns !== undefined) e.netns = netns;
  return e as KernelEvent;
}

function connect(at: bigint, pid: number, agent: string | null, addr: string, family: 'inet' | 'inet6' = 'inet'): KernelEvent & ConnectEvent {
  return { ...base('connect', at, pid, agent), family, proto: 'tcp', addr, port: 443, result: 0 } as KernelEvent & ConnectEvent;
}

describe('HostAttribution', () => {
  it('a connect to an answered address gets the asked name; other addresses none', () => {
    const h = new HostAttribution();
    h.observe(answer(T0, 10, 'claude', 'api.example.com', ['10.0.0.7', '10.0.0.8'], 60));
    const hit = connect(T0 + S, 10, 'claude', '10.0.0.8');
    const miss = connect(T0 + S, 10, 'claude', '10.0.0.9');
    h.observe(hit);
    h.observe(miss);
    expect(hit.host).toBe('api.example.com');
    expect(miss.host).toBeUndefined();
    expect(h.attributed).toBe(1);
  });

  it('scope is the agent: a child of the same agent is attributed, another agent or a non-agent is not', () => {
    const h = new HostAttribution();
    h.observe(answer(T0, 10, 'claude', 'api.example.com', ['10.0.0.7'], 60));
    const child = connect(T0 + S, 11, 'claude', '10.0.0.7');
    const other = connect(T0 + S, 12, 'codex', '10.0.0.7');
    const none = connect(T0 + S, 13, null, '10.0.0.7');
    for (const e of [child, other, none]) h.observe(e);
    expect([child.host, other.host, none.host]).toEqual(['api.example.com', undefined, undefined]);
    // a process outside every agent is its own scope
    h.observe(answer(T0, 13, null, 'mine.test', ['10.0.0.7'], 60));
    const again = connect(T0 + S, 13, null, '10.0.0.7');
    const stranger = connect(T0 + S, 14, null, '10.0.0.7');
    h.observe(again);
    h.observe(stranger);
    expect([again.host, stranger.host]).toEqual(['mine.test', undefined]);
  });

  it('another network namespace does not share answers', () => {
    const h = new HostAttribution();
    h.observe(answer(T0, 10, 'claude', 'api.example.com', ['10.0.0.7'], 60, 4026532000));
    const c = connect(T0 + S, 10, 'claude', '10.0.0.7');
    h.observe(c);
    expect(c.host).toBeUndefined();
  });

  it('an answer holds for its TTL plus a short grace, then expires; a newer answer replaces it', () => {
    const h = new HostAttribution();
    h.observe(answer(T0, 10, 'a', 'old.test', ['10.0.0.7'], 30));
    const within = connect(T0 + 34n * S, 10, 'a', '10.0.0.7');
    h.observe(within);
    expect(within.host).toBe('old.test');
    const after = connect(T0 + 36n * S, 10, 'a', '10.0.0.7');
    h.observe(after);
    expect(after.host).toBeUndefined();
    h.observe(answer(T0 + 40n * S, 10, 'a', 'new.test', ['10.0.0.7'], 0)); // TTL 0: still the connect right after
    const next = connect(T0 + 41n * S, 10, 'a', '10.0.0.7');
    h.observe(next);
    expect(next.host).toBe('new.test');
  });

  it('a huge TTL is capped at an hour', () => {
    const h = new HostAttribution();
    h.observe(answer(T0, 10, 'a', 'long.test', ['10.0.0.7'], 0x7fffffff));
    const late = connect(T0 + 3601n * S, 10, 'a', '10.0.0.7');
    h.observe(late);
    expect(late.host).toBeUndefined();
  });

  it('IPv4-mapped IPv6 connects match A answers; AAAA answers match inet6 connects; unix never', () => {
    const h = new HostAttribution();
    h.observe(answer(T0, 10, 'a', 'v4.test', ['10.0.0.7'], 60));
    h.observe(answer(T0, 10, 'a', 'v6.test', ['2001:db8::1'], 60));
    const mapped = connect(T0 + S, 10, 'a', '::ffff:10.0.0.7', 'inet6');
    const v6 = connect(T0 + S, 10, 'a', '2001:db8::1', 'inet6');
    for (const e of [mapped, v6]) h.observe(e);
    expect([mapped.host, v6.host]).toEqual(['v4.test', 'v6.test']);
  });

  it('remembers at most maxAnswers (scope, address) pairs', () => {
    const h = new HostAttribution({ maxAnswers: 2 });
    h.observe(answer(T0, 10, 'a', 'x.test', ['10.0.0.1', '10.0.0.2', '10.0.0.3'], 60));
    const first = connect(T0 + S, 10, 'a', '10.0.0.1');
    const last = connect(T0 + S, 10, 'a', '10.0.0.3');
    h.observe(first);
    h.observe(last);
    expect([first.host, last.host]).toEqual([undefined, 'x.test']);
  });
});

describe('dns responses through proto and store', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  const events = (): SensorEvent[] => {
    const at = (n: bigint) => ({ ts: '', tsNs: String(T0 + n) });
    const strip = ({ agentId: _a, pending: _p, ...e }: KernelEvent) => e as SensorEvent;
    const full = strip(answer(T0, 10, 'claude', 'api.example.com', ['10.0.0.7', '2001:db8::1'], 300));
    const nx = { ...strip(answer(T0, 10, 'claude', 'nx.test', [], 0)), rcode: 'NXDOMAIN' } as DnsEvent;
    delete nx.ttl;
    const query = { ...base('dns', T0, 10, 'claude'), qname: 'api.example.com', qtype: 'A', addr: '127.0.0.53', port: 53 };
    const conn = { ...strip(connect(T0, 10, 'claude', '10.0.0.7')), host: 'api.example.com' };
    return [full, nx, strip(query as KernelEvent), conn].map((e, i) => ({ ...e, ...at(BigInt(i)) }));
  };

  it('round-trip through the wire bytes', () => {
    for (const e of events()) {
      // agentPid is always on the wire (0: not an agent)
      expect({ ...fromProtoEvent(protoCodecs().event.decode(encodeEvent(e))), ts: '' }).toEqual({ ...e, ts: '', agentPid: e.agentPid ?? 0 });
    }
  });

  it('round-trip through the store; the chain verifies', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dns-store-'));
    dirs.push(dir);
    const s = EventStore.open({ stateDir: join(dir, 'state'), hashing: { enabled: false } });
    try {
      const evs = events();
      s.commitBatch({ sensorId: 'h', bootId: 'b', seq: 1n, events: evs });
      const rows = queryEvents(s.database, { limit: 10 });
      expect(rows.map((r) => ({ ...r.event, ts: '' }))).toEqual(evs.map((e) => ({ ...e, ts: '' })));
      expect(verifyChain(s.database)).toMatchObject({ ok: true, events: evs.length });
    } finally {
      s.close();
    }
  });
});
