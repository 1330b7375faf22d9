import { describe, expect, it } from 'vitest';
import {
  addressesForQuestion, parseDnsQuery, parseDnsQueryOrThrow, parseDnsResponse, rcodeName, rcodeNumber, readDnsName,
  DnsParseError, type DnsParseErrorReason, type DnsResponse,
} from '../proto/net/dns-message.js';
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

/** Resource record bytes: owner (raw wire bytes), type, class IN, ttl, rdata. */
function rr(owner: number[], type: number, ttl: number, rdata: number[], cls = 1): number[] {
  return [...owner, type >> 8, type & 0xff, cls >> 8, cls & 0xff,
    (ttl >>> 24) & 0xff, (ttl >>> 16) & 0xff, (ttl >>> 8) & 0xff, ttl & 0xff, rdata.length >> 8, rdata.length & 0xff, ...rdata];
}

/** A wire name from dotted text (no compression). */
function wireName(name: string): number[] {
  return [...name.split('.').flatMap((l) => [l.length, ...Buffer.from(l, 'latin1')]), 0];
}

/** A response to query(labels, qtype) with the given answer records; rcode in the low flag bits. */
function response(labels: string[], qtype: number, answers: number[][], rcode = 0, id = 0x1234): Uint8Array {
  const q = Array.from(query(labels, qtype, id));
  q[2] = 0x81; q[3] = 0x80 | rcode; // QR, RD, RA
  q[6] = answers.length >> 8; q[7] = answers.length & 0xff;
  return Uint8Array.from([...q, ...answers.flat()]);
}

const PTR_QNAME = [0xc0, 12]; // compression pointer to the question's name

describe('parseDnsResponse: exact cases', () => {
  it('reads question, rcode and A/AAAA answers (compressed owner names)', () => {
    const v6 = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    const r = parseDnsResponse(response(['api', 'example', 'com'], 1, [rr(PTR_QNAME, 1, 60, [93, 184, 216, 34]), rr(PTR_QNAME, 28, 30, v6)]));
    expect(r).toEqual({
      id: 0x1234, qname: 'api.example.com', qtype: 'A', rcode: 'NOERROR', truncated: false,
      answers: [
        { name: 'api.example.com', type: 'A', ttl: 60, addr: '93.184.216.34' },
        { name: 'api.example.com', type: 'AAAA', ttl: 30, addr: '2001:db8::1' },
      ],
    });
  });

  it('follows a CNAME chain to the name asked for, and ignores records about other names', () => {
    // www.example.com CNAME edge.cdn.test; edge.cdn.test CNAME e1.cdn.test; e1.cdn.test A 10.0.0.1; other.test A 10.6.6.6
    const msg = response(['www', 'example', 'com'], 1, [
      rr(PTR_QNAME, 5, 300, wireName('edge.cdn.test')),
      rr(wireName('edge.cdn.test'), 5, 120, wireName('e1.cdn.test')),
      rr(wireName('e1.cdn.test'), 1, 600, [10, 0, 0, 1]),
      rr(wireName('other.test'), 1, 600, [10, 6, 6, 6]),
    ]);
    const r = parseDnsResponse(msg)!;
    expect(r.answers.map((a) => a.cname ?? a.addr)).toEqual(['edge.cdn.test', 'e1.cdn.test', '10.0.0.1', '10.6.6.6']);
    expect(addressesForQuestion(r)).toEqual([{ addr: '10.0.0.1', ttl: 120 }]); // smallest TTL on the chain
  });

  it('a CNAME loop or a chain that never reaches an address gives no addresses', () => {
    const loop = response(['a', 'test'], 1, [rr(PTR_QNAME, 5, 60, wireName('b.test')), rr(wireName('b.test'), 5, 60, wireName('a.test'))]);
    expect(addressesForQuestion(parseDnsResponse(loop)!)).toEqual([]);
  });

  it('names matched case-insensitively (0x20 randomisation)', () => {
    const r = parseDnsResponse(response(['WwW', 'Example', 'COM'], 1, [rr(wireName('www.example.com'), 1, 5, [1, 2, 3, 4])]))!;
    expect(addressesForQuestion(r)).toEqual([{ addr: '1.2.3.4', ttl: 5 }]);
  });

  it('NXDOMAIN with no answers; rcode names round-trip', () => {
    const r = parseDnsResponse(response(['nx', 'test'], 28, [], 3))!;
    expect(r).toMatchObject({ qname: 'nx.test', qtype: 'AAAA', rcode: 'NXDOMAIN', answers: [] });
    for (let n = 0; n < 16; n++) expect(rcodeNumber(rcodeName(n))).toBe(n);
    expect(rcodeNumber('')).toBeNull();
    expect(rcodeNumber('RCODE07')).toBeNull();
  });

  it('a TTL with the top bit set counts as 0; a non-IN class or odd rdata length gives no address', () => {
    const r = parseDnsResponse(response(['a'], 1, [
      rr(PTR_QNAME, 1, 0x80000000, [1, 1, 1, 1]), rr(PTR_QNAME, 1, 9, [2, 2, 2, 2], 3), rr(PTR_QNAME, 1, 9, [3, 3, 3]),
    ]))!;
    expect(r.answers.map((a) => [a.ttl, a.addr])).toEqual([[0, '1.1.1.1'], [9, undefined], [9, undefined]]);
  });

  it('a cut message keeps the answers that fit and says so', () => {
    const full = response(['a', 'test'], 1, [rr(PTR_QNAME, 1, 60, [1, 0, 0, 1]), rr(PTR_QNAME, 1, 60, [1, 0, 0, 2])]);
    const r = parseDnsResponse(full.subarray(0, full.length - 3))!;
    expect(r.truncated).toBe(true);
    expect(r.answers.map((a) => a.addr)).toEqual(['1.0.0.1']);
  });

  it('rejects queries, short headers and bad questions', () => {
    expect(parseDnsResponse(query(['a']))).toBeNull(); // QR clear
    expect(parseDnsResponse(Uint8Array.from([0, 1, 0x81, 0x80, 0, 1]))).toBeNull();
    const noQuestion = response(['a'], 1, []);
    noQuestion[5] = 0;
    expect(parseDnsResponse(noQuestion)).toBeNull();
  });

  it('a pointer loop in an answer name ends the walk (no hang, answers so far kept)', () => {
    const msg = response(['a'], 1, [rr(PTR_QNAME, 1, 1, [9, 9, 9, 9])]);
    const loopAt = msg.length;
    const bad = Uint8Array.from([...msg, 0xc0, loopAt & 0xff]); // points at itself
    bad[7] = 2;
    const r = parseDnsResponse(bad)!;
    expect(r.truncated).toBe(true);
    expect(r.answers.map((a) => a.addr)).toEqual(['9.9.9.9']);
  });
});

function validResponse(r: DnsResponse | null): boolean {
  if (r === null) return true;
  return Number.isInteger(r.id) && r.id >= 0 && r.id <= 0xffff && typeof r.qname === 'string' && r.qname.length > 0
    && /^([A-Z]+|TYPE\d+)$/.test(r.qtype) && /^([A-Z]+|RCODE\d+)$/.test(r.rcode) && r.answers.length <= 64
    && r.answers.every((a) => Number.isInteger(a.ttl) && a.ttl >= 0 && a.ttl <= 0x7fffffff && /^[\x21-\x7e]+$/.test(a.name)
      && (a.addr === undefined || /^[0-9a-f.:]+$/.test(a.addr)));
}

describe('parseDnsResponse: fuzz (fixed seed, bounded)', () => {
  it('never throws on 10k random packets', () => {
    const next = rng(7);
    let parsed = 0;
    for (let i = 0; i < 10_000; i++) {
      const len = next() % 520;
      const buf = new Uint8Array(len);
      for (let j = 0; j < len; j++) buf[j] = next() & 0xff;
      if (len > 7 && (next() & 1)) { buf[2] |= 0x80; buf[4] = 0; buf[5] = 1; buf[6] = 0; buf[7] = next() % 8; }
      const r = parseDnsResponse(buf);
      expect(validResponse(r)).toBe(true);
      if (r) {
        parsed++;
        addressesForQuestion(r);
      }
    }
    expect(parsed).toBeGreaterThan(0);
  });

  it('never throws on 10k mutations of real responses; CNAME following stays bounded', () => {
    const next = rng(1234);
    const seeds = [
      response(['www', 'example', 'com'], 1, [rr(PTR_QNAME, 5, 300, wireName('edge.cdn.test')), rr(wireName('edge.cdn.test'), 1, 60, [1, 2, 3, 4])]),
      response(['a'], 28, [rr(PTR_QNAME, 28, 60, Array.from({ length: 16 }, (_, i) => i))]),
      response(['nx', 'test'], 1, [], 3),
    ];
    let parsed = 0;
    for (let i = 0; i < 10_000; i++) {
      const buf = Uint8Array.from(seeds[next() % seeds.length]);
      const edits = 1 + (next() % 4);
      for (let e = 0; e < edits; e++) {
        const at = next() % buf.length;
        switch (next() % 3) {
          case 0: buf[at] = next() & 0xff; break;
          case 1: buf[at] = [0, 5, 63, 64, 0xc0, 0xff, 12][next() % 7]; break;
          default: buf[at] ^= 1 << (next() % 8);
        }
      }
      const cut = next() % 4 === 0 ? buf.subarray(0, next() % buf.length) : buf;
      const r = parseDnsResponse(cut);
      expect(validResponse(r)).toBe(true);
      if (r) {
        parsed++;
        for (const a of addressesForQuestion(r)) expect(a.ttl).toBeLessThanOrEqual(0x7fffffff);
      }
    }
    expect(parsed).toBeGreaterThan(1000);
  });
});
