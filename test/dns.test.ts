import { describe, expect, it } from 'vitest';
import { parseDnsQuery, parseDnsQueryOrThrow, readDnsName, DnsParseError, type DnsParseErrorReason } from '../sensor/dns/parse.js';
import { HostCache } from '../sensor/dns/hosts.js';

/** A query as a stub resolver writes it: header, one question. */
function query(labels: (string | Uint8Array)[], qtype = 1, id = 0x1234, extra: number[] = []): Uint8Array {
  const parts: number[] = [id >> 8, id & 0xff, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
  for (const l of labels) {
    const bytes = typeof l === 'string' ? Buffer.from(l, 'latin1') : l;
    parts.push(bytes.length, ...bytes);
  }
  parts.push(0, qtype >> 8, qtype & 0xff, 0, 1, ...extra);
  return Uint8Array.from(parts);
}

function reason(payload: Uint8Array, transport: 'udp' | 'tcp' = 'udp'): DnsParseErrorReason | undefined {
  let why: DnsParseErrorReason | undefined;
  expect(parseDnsQuery(payload, transport, (r) => { why = r; })).toBeNull();
  return why;
}

describe('parseDnsQuery: exact cases', () => {
  it('reads id, name and type of a plain query', () => {
    expect(parseDnsQuery(query(['www', 'example', 'com'], 28, 0xbeef))).toEqual({ id: 0xbeef, qname: 'www.example.com', qtype: 'AAAA' });
  });

  it('names the common types and falls back to TYPEnnn', () => {
    const names: [number, string][] = [[1, 'A'], [28, 'AAAA'], [5, 'CNAME'], [15, 'MX'], [16, 'TXT'], [33, 'SRV'],
      [12, 'PTR'], [2, 'NS'], [6, 'SOA'], [65, 'HTTPS'], [64, 'SVCB'], [255, 'ANY'], [99, 'TYPE99'], [65535, 'TYPE65535']];
    for (const [n, name] of names) expect(parseDnsQuery(query(['a'], n))?.qtype).toBe(name);
  });

  it('reads the root name', () => {
    expect(parseDnsQuery(query([], 2))?.qname).toBe('.');
  });

  it('escapes odd bytes like dig: \\DDD and backslashed specials', () => {
    const odd = Uint8Array.from([0x61, 0x2e, 0x62, 0x20, 0x00, 0xff, 0x5c, 0x22, 0x0a]);
    expect(parseDnsQuery(query([odd, 'com']))?.qname).toBe('a\\.b\\032\\000\\255\\\\\\"\\010.com');
  });

  it('takes a 63-octet label and a 255-octet name, refuses more', () => {
    const l63 = 'x'.repeat(63);
    expect(parseDnsQuery(query([l63]))?.qname).toBe(l63);
    // 3 * (1+63) + (1+61) + 1 = 255 octets
    const max = [l63, l63, l63, 'y'.repeat(61)];
    expect(parseDnsQuery(query(max))?.qname).toBe(max.join('.'));
    expect(reason(query([l63, l63, l63, 'y'.repeat(62)]))).toBe('name-too-long');
    const bad = query(['a']);
    bad[12] = 64; // a length byte of 64 (0x40 prefix)
    expect(reason(bad)).toBe('label-too-long');
  });

  it('handles DNS over TCP: a two-byte length prefix', () => {
    const q = query(['example', 'org'], 16);
    const tcp = Uint8Array.from([q.length >> 8, q.length & 0xff, ...q]);
    expect(parseDnsQuery(tcp, 'tcp')).toEqual({ id: 0x1234, qname: 'example.org', qtype: 'TXT' });
    expect(reason(Uint8Array.from([0, 5, 1, 2, 3, 4, 5]), 'tcp')).toBe('bad-tcp-length');
    expect(reason(Uint8Array.from([0]), 'tcp')).toBe('bad-tcp-length');
    // the same bytes without the prefix are not a query over TCP
    expect(parseDnsQuery(q, 'tcp')).toBeNull();
  });

  it('rejects responses, empty questions and short input with a reason', () => {
    const resp = query(['a']);
    resp[2] |= 0x80;
    expect(reason(resp)).toBe('not-a-query');
    const none = query(['a']);
    none[5] = 0;
    expect(reason(none)).toBe('no-question');
    expect(reason(new Uint8Array(11))).toBe('short-header');
    expect(reason(query(['abc']).subarray(0, 15))).toBe('truncated-name');
    expect(reason(query(['abc']).subarray(0, 19))).toBe('truncated-question');
  });

  it('rejects compression in the first question (it can only loop or hit the header)', () => {
    const self = Uint8Array.from([...query(['a']).subarray(0, 14), 0xc0, 12, 0, 1, 0, 1]);
    expect(reason(self)).toBe('pointer-loop');
    const header = Uint8Array.from([...query([]).subarray(0, 12), 0xc0, 2, 0, 1, 0, 1]);
    expect(reason(header)).toBe('bad-pointer');
    expect(() => parseDnsQueryOrThrow(self)).toThrow(DnsParseError);
  });

  it('follows backward pointers in a later name, bounded', () => {
    // header, "example.com" at 12, then at 25: "www" + pointer to 12
    const msg = Uint8Array.from([...query(['example', 'com']).subarray(0, 25), 3, 0x77, 0x77, 0x77, 0xc0, 12]);
    expect(readDnsName(msg, 25)).toEqual({ name: 'www.example.com', end: 31 });
    // pointer to a pointer further back is fine; forward or equal is not
    const chain = Uint8Array.from([...msg, 0xc0, 25]);
    expect(readDnsName(chain, 31).name).toBe('www.example.com');
    const fwd = Uint8Array.from([...msg, 0xc0, 40]);
    expect(() => readDnsName(fwd, 31)).toThrow(DnsParseError);
  });
});

/** xorshift32: a fixed-seed generator so failures reproduce. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s;
  };
}

function isValid(r: ReturnType<typeof parseDnsQuery>): boolean {
  if (r === null) return true;
  return Number.isInteger(r.id) && r.id >= 0 && r.id <= 0xffff
    && typeof r.qname === 'string' && r.qname.length > 0 && r.qname.length <= 255 * 4
    && /^[\x21-\x7e]+$/.test(r.qname)
    && /^([A-Z]+|TYPE\d+)$/.test(r.qtype);
}

describe('parseDnsQuery: fuzz (fixed seed, bounded)', () => {
  it('never throws on 10k random packets and returns null or a valid question', () => {
    const next = rng(0xdecafbad);
    let parsed = 0;
    for (let i = 0; i < 10_000; i++) {
      const len = next() % 300;
      const buf = new Uint8Array(len);
      for (let j = 0; j < len; j++) buf[j] = next() & 0xff;
      if (len > 5 && (next() & 1)) { buf[2] &= 0x7f; buf[4] = 0; buf[5] = 1; } // look like a query more often
      for (const t of ['udp', 'tcp'] as const) {
        const r = parseDnsQuery(buf, t);
        expect(isValid(r)).toBe(true);
        if (r) parsed++;
      }
    }
    expect(parsed).toBeGreaterThan(0);
  });

  it('never throws on 10k mutations of real queries', () => {
    const next = rng(42);
    const seeds = [query(['www', 'example', 'com'], 1), query(['a'.repeat(63), 'b'], 28), query([], 2),
      Uint8Array.from([...query(['x']).subarray(0, 12), 1, 0x78, 0xc0, 12, 0, 1, 0, 1])];
    let parsed = 0;
    for (let i = 0; i < 10_000; i++) {
      const base = seeds[next() % seeds.length];
      const buf = Uint8Array.from(base);
      const edits = 1 + (next() % 4);
      for (let e = 0; e < edits; e++) {
        const at = next() % buf.length;
        switch (next() % 3) {
          case 0: buf[at] = next() & 0xff; break;
          case 1: buf[at] = [0, 63, 64, 0xc0, 0xff, 12][next() % 6]; break;
          default: buf[at] ^= 1 << (next() % 8);
        }
      }
      const cut = next() % 4 === 0 ? buf.subarray(0, next() % buf.length) : buf;
      const r = parseDnsQuery(cut);
      expect(isValid(r)).toBe(true);
      if (r) parsed++;
    }
    expect(parsed).toBeGreaterThan(1000);
  });
});

describe('HostCache', () => {
  it('keeps the last N lookups per process, oldest first, filtered by time', () => {
    const c = new HostCache({ perPid: 3 });
    for (let i = 1; i <= 5; i++) c.recordQuery(7, `h${i}.test`, 'A', String(i * 1000));
    expect(c.recentQueries(7).map((l) => l.qname)).toEqual(['h3.test', 'h4.test', 'h5.test']);
    expect(c.recentQueries(7, '4500').map((l) => l.qname)).toEqual(['h3.test', 'h4.test']);
    expect(c.recentQueries(7, '4500', 1000n).map((l) => l.qname)).toEqual(['h4.test']);
    expect(c.recentQueries(8)).toEqual([]);
  });

  it('forgets the least recently active process past maxPids', () => {
    const c = new HostCache({ maxPids: 2 });
    c.recordQuery(1, 'a', 'A', '1');
    c.recordQuery(2, 'b', 'A', '2');
    c.recordQuery(1, 'c', 'A', '3'); // 1 is now the most recent
    c.recordQuery(3, 'd', 'A', '4');
    expect(c.recentQueries(2)).toEqual([]);
    expect(c.recentQueries(1).length).toBe(2);
    expect(c.trackedPids).toBe(2);
  });

  it('attributes an address to a host only from a learned answer, never a guess', () => {
    const c = new HostCache();
    c.recordQuery(9, 'example.com', 'A', '1');
    expect(c.hostFor(9, '93.184.216.34')).toBeUndefined();
    c.learnAnswer(9, 'example.com', '93.184.216.34');
    expect(c.hostFor(9, '93.184.216.34')).toBe('example.com');
    expect(c.hostFor(10, '93.184.216.34')).toBeUndefined();
    c.forget(9);
    expect(c.recentQueries(9)).toEqual([]);
  });
});
