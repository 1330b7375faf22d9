// Decoder on hand-built ring-buffer bytes: no kernel needed.
import { posix } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { KernelEvent } from '../sensor/backends/backend.js';
import { toBytes } from '../proto/events/bytes.js';
import { KernelDecoder, exitStatus, openAccess } from '../sensor/kernel/decode.js';
import { parseDnsPayload } from '../sensor/kernel/dns-parser.js';
import { joinNormalise } from '../sensor/kernel/paths.js';
import { ipv6Text } from '../proto/net/ip-text.js';
import { TimestampFormatter, measureBootClock, nodeClockEstimate } from '../sensor/kernel/clock.js';
import { eventJson } from '../sensor/output/json.js';
import { eventLine, resultText } from '../sensor/output/human.js';
import {
  connectRecord, dnsQuery, dnsRecord, execRecord, exitRecord, forkRecord, openRecord, renameRecord, unlinkRecord,
} from './helpers/records.js';

// epoch = boot + offset; offset chosen so boot 1.5 s lands on a known instant
const EPOCH0 = BigInt(Date.UTC(2026, 10, 28, 11, 40, 35)) * 1_000_000n;
const clock = { bootToEpochNs: EPOCH0, source: 'timer_list' as const };
const decoder = (): KernelDecoder => new KernelDecoder(clock, (p) => (p.length > 12 ? { qname: 'example.com', qtype: 'A' } : null));
const one = (b: Buffer): KernelEvent => {
  const evs = decoder().decode(b);
  expect(evs).toHaveLength(1);
  return evs[0];
};
const norm = (dir: string, raw: string): string => joinNormalise(Buffer.from(dir), Buffer.from(raw)).toString('latin1');

describe('decode', () => {
  it('header fields, timestamps and comm', () => {
    const ev = one(forkRecord({
      tsNs: 123_456_789n, pid: 4242, tid: 4243, ppid: 17, uid: 1000, gid: 1001, agentId: 3,
      cgroupId: 0xffff_ffff_ffffn, netns: 11, mntns: 12, comm: 'as-test-agent', flags: 1,
    }, 99n));
    expect(ev).toMatchObject({
      type: 'fork', pid: 4242, tid: 4243, ppid: 17, uid: 1000, gid: 1001, agentId: 3, pending: true,
      cgroupId: String(0xffff_ffff_ffffn), netns: 11, mntns: 12, comm: 'as-test-agent', agent: null, startNs: '99',
      ts: '2026-11-28T11:40:35.123456789Z', tsNs: String(EPOCH0 + 123_456_789n),
    });
    expect(ev.truncated).toBeUndefined();
  });

  it('many records in one batch, in order; a cut record stops the batch', () => {
    const recs = [forkRecord({ pid: 1 }), exitRecord({ pid: 2 }, 0), forkRecord({ pid: 3 })];
    const d = decoder();
    const all = Buffer.concat(recs);
    expect(d.decode(all).map((e) => e.pid)).toEqual([1, 2, 3]);
    expect(d.decode(all.subarray(0, all.length - 8)).map((e) => e.pid)).toEqual([1, 2]);
    expect(d.stats.malformed).toBe(1);
  });

  it('exec: filename, NUL-separated argv, truncated flag', () => {
    const ev = one(execRecord({ flags: 2 }, '/usr/bin/python3', ['python3', '-c', 'print("a b")', ''], 77n));
    expect(ev).toMatchObject({ type: 'exec', filename: '/usr/bin/python3', argv: ['python3', '-c', 'print("a b")', ''], startNs: '77', truncated: true });
  });

  it('exit: code or signal from the wait status', () => {
    expect(exitStatus(42 << 8)).toEqual({ code: 42, signal: null });
    expect(exitStatus(9)).toEqual({ code: null, signal: 9 });
    expect(exitStatus(0x80 | 11)).toEqual({ code: null, signal: 11 });
    expect(one(exitRecord({}, 3 << 8))).toMatchObject({ type: 'exit', code: 3, signal: null });
  });

  it('open: absolute path from dir + relative, rawPath kept, access, syscall', () => {
    const ev = one(openRecord({}, '../b/./c.txt', '/home/u/a', { flags: 0o1101, mode: 0o644, result: -2, syscallNr: 257 }));
    expect(ev).toMatchObject({ type: 'open', path: '/home/u/b/c.txt', rawPath: '../b/./c.txt', access: 'write', result: -2, mode: 0o644, syscall: 'openat' });
    const abs = one(openRecord({}, '/etc/hosts', '', { flags: 0, syscallNr: 2 }));
    expect(abs).toMatchObject({ path: '/etc/hosts', access: 'read', syscall: 'open' });
    expect(abs).not.toHaveProperty('rawPath');
    expect(one(openRecord({}, '//etc//./hosts/', ''))).toMatchObject({ path: '/etc/hosts', rawPath: '//etc//./hosts/' });
  });

  it('attribution fields: agentPid, exec exe/cwd from the kernel, the opened file\'s path, flags', () => {
    const exec = one(execRecord({ pid: 7, agentPid: 5, flags: 1 << 4 }, './a', ['./a'], 5n, '/opt/x/a', '/home/u'));
    expect(exec).toMatchObject({ type: 'exec', agentPid: 5, exe: '/opt/x/a', cwd: '/home/u', untracked: true });
    const bare = one(execRecord({ pid: 7 }, '/a', ['/a']));
    expect([bare.agentPid, 'exe' in bare, 'cwd' in bare, 'untracked' in bare]).toEqual([0, false, false, false]);
    // a successful open: path is the kernel's file, the caller's string beside it
    const swapped = one(openRecord({ pid: 7, agentPid: 5, flags: 1 << 3 }, 'innocent.txt', '/tmp', { kpath: '/tmp/fifo' }));
    expect(swapped).toMatchObject({ path: '/tmp/fifo', rawPath: 'innocent.txt', argChanged: true, result: 3 });
    const same = one(openRecord({ pid: 7 }, '/etc/hostname', '', { kpath: '/etc/hostname' })) as KernelEvent & { path: string };
    expect([same.path, 'rawPath' in same, 'argChanged' in same]).toEqual(['/etc/hostname', false, false]);
    // the kernel found the opened file's path equal to the caller's string: sent once, flagged (EVF_KPATH_SAME)
    const once = one(openRecord({ pid: 7, flags: 1 << 6 }, '/etc/hostname', '')) as KernelEvent & { path: string };
    expect([once.path, 'rawPath' in once, 'argChanged' in once]).toEqual(['/etc/hostname', false, false]);
    expect(one(exitRecord({ pid: 7, flags: 1 << 5 }, 0))).toMatchObject({ compat: true });
  });

  it('open access from O_ACCMODE; O_CREAT or O_TRUNC on O_RDONLY is a write', () => {
    expect(openAccess(0)).toBe('read');
    expect(openAccess(1)).toBe('write');
    expect(openAccess(2)).toBe('readwrite');
    expect(openAccess(0o100)).toBe('write');
    expect(openAccess(0o1000)).toBe('write');
    expect(openAccess(0o2000 | 0o4000)).toBe('read'); // O_APPEND|O_NONBLOCK alone
  });

  it('lexical normalisation', () => {
    expect(norm('/a/b', 'c')).toBe('/a/b/c');
    expect(norm('/a/b', '../../../x')).toBe('/x');
    expect(norm('/', '.')).toBe('/');
    expect(norm('/a/', './')).toBe('/a');
    expect(norm('', 'rel/../x/')).toBe('x');
    expect(norm('', '../x')).toBe('../x');
    expect(norm('/ignored', '/abs/./p')).toBe('/abs/p');
    expect(norm('/a', '..')).toBe('/');
    expect(norm('/a', '.../b')).toBe('/a/.../b');
  });

  it('the in-place fast path for absolute paths agrees with the full normaliser', () => {
    const cases = ['/', '/.hidden', '/a/..b', '/a/b.', '/a/.', '/a/..', '/a//b', '/a/', '/a/./b', '/..', '/x/../y', '/a/...'];
    for (const p of cases) {
      const ev = one(openRecord({}, p, '/ignored')) as Extract<KernelEvent, { type: 'open' }>;
      // reference: POSIX path.normalize without a trailing slash
      const want = posix.normalize(p).replace(/(.)\/$/, '$1');
      expect({ p, path: ev.path, rawPath: ev.rawPath }).toEqual({ p, path: want, rawPath: want === p ? undefined : p });
    }
  });

  it('a path with newline, ESC and invalid UTF-8 round-trips byte-exact', () => {
    const name = Buffer.concat([Buffer.from('/tmp/we\nird\x1b[31m'), Buffer.from([0xff, 0xfe, 0x80]), Buffer.from('.txt')]);
    const ev = one(openRecord({}, name, '')) as Extract<KernelEvent, { type: 'open' }>;
    expect(typeof ev.path).toBe('object');
    expect(toBytes(ev.path).equals(name)).toBe(true);
    // relative, joined with a dir, still exact
    const rel = one(openRecord({}, name.subarray(5), '/tmp')) as Extract<KernelEvent, { type: 'open' }>;
    expect(toBytes(rel.path).equals(name)).toBe(true);
    expect(toBytes(rel.rawPath!).equals(name.subarray(5))).toBe(true);
    // valid UTF-8 with control characters stays a plain string
    const ctl = one(openRecord({}, '/tmp/a\nb\x1bé', '')) as Extract<KernelEvent, { type: 'open' }>;
    expect(ctl.path).toBe('/tmp/a\nb\x1bé');
    // non-UTF-8 comm and argv
    const ex = one(execRecord({ comm: Buffer.from([0x61, 0xff]) }, Buffer.from([0x2f, 0xfe]), [Buffer.from([0xc3])])) as Extract<KernelEvent, { type: 'exec' }>;
    expect(toBytes(ex.comm)).toEqual(Buffer.from([0x61, 0xff]));
    expect(toBytes(ex.filename)).toEqual(Buffer.from([0x2f, 0xfe]));
    expect(toBytes(ex.argv[0])).toEqual(Buffer.from([0xc3]));
  });

  it('connect: inet, inet6, unix path, abstract unix, datagram', () => {
    expect(one(connectRecord({}, { family: 2, port: 8443, protocol: 6, addr: [127, 0, 0, 1], result: -111 })))
      .toMatchObject({ type: 'connect', family: 'inet', proto: 'tcp', addr: '127.0.0.1', port: 8443, result: -111 });
    const v6 = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    expect(one(connectRecord({}, { family: 10, port: 53, protocol: 0, sockType: 2, addr: v6, flags: 1 })))
      .toMatchObject({ family: 'inet6', proto: 'udp', addr: '2001:db8::1', port: 53, datagram: true });
    expect(one(connectRecord({}, { family: 1, sockType: 1, unixPath: Buffer.from('/run/x.sock\0') })))
      .toMatchObject({ family: 'unix', proto: 'unix', addr: '/run/x.sock', port: 0 });
    expect(one(connectRecord({}, { family: 1, sockType: 1, unixPath: Buffer.from('\0abstract') })))
      .toMatchObject({ addr: '@abstract' });
  });

  it('IPv6 text is RFC 5952', () => {
    const t = (hex: string): string => ipv6Text(Buffer.from(hex.replace(/:/g, ''), 'hex'), 0);
    expect(t('0000:0000:0000:0000:0000:0000:0000:0001')).toBe('::1');
    expect(t('0000:0000:0000:0000:0000:0000:0000:0000')).toBe('::');
    expect(t('2001:0db8:0000:0001:0000:0000:0000:0001')).toBe('2001:db8:0:1::1');
    expect(t('2001:0db8:0000:0000:0001:0000:0000:0001')).toBe('2001:db8::1:0:0:1');
    expect(t('2001:0db8:0000:0001:0001:0001:0001:0001')).toBe('2001:db8:0:1:1:1:1:1');
    expect(t('0000:0000:0000:0000:0000:ffff:c000:0280')).toBe('::ffff:192.0.2.128');
  });

  it('unlink, rename, link, symlink', () => {
    expect(one(unlinkRecord({}, 'old', '/d', 0, 1))).toMatchObject({ type: 'unlink', path: '/d/old', rmdir: true, result: 0 });
    expect(one(renameRecord({}, 7, 'a', '/d', '/e/b', '', 1, 0))).toMatchObject({ type: 'rename', path: '/d/a', newpath: '/e/b', flags: 1 });
    expect(one(renameRecord({}, 8, 'a', '/d', 'b', '/d', 0, -17))).toMatchObject({ type: 'link', path: '/d/a', newpath: '/d/b', symbolic: false, result: -17 });
    expect(one(renameRecord({}, 8, '../t', '', 'l', '/d', 1, 0))).toMatchObject({ type: 'link', path: '../t', newpath: '/d/l', symbolic: true });
  });

  it('dns: payload handed to the parser; unparsable payloads are counted and dropped', () => {
    expect(one(dnsRecord({}, dnsQuery('example.com')))).toMatchObject({ type: 'dns', qname: 'example.com', qtype: 'A', addr: '127.0.0.53', port: 53 });
    const d = decoder();
    expect(d.decode(dnsRecord({}, Buffer.alloc(3)))).toEqual([]);
    expect(d.stats.dnsUnparsed).toBe(1);
  });

  it('dns response (DNSF_RESPONSE): answers for the asked name, CNAMEs followed; a query never reads as one', () => {
    // www.example.test CNAME edge.test (ttl 300); edge.test A 10.0.0.7 (ttl 60); other.test A 10.6.6.6
    const q = dnsQuery('www.example.test');
    const head = Buffer.from(q.subarray(0, 12));
    head.writeUInt16BE(0x8180, 2);
    head.writeUInt16BE(3, 6);
    const name = (n: string): Buffer => Buffer.concat([...n.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])), Buffer.from([0])]);
    const rr = (owner: Buffer, type: number, ttl: number, rdata: Buffer): Buffer => {
      const fixed = Buffer.alloc(10);
      fixed.writeUInt16BE(type, 0); fixed.writeUInt16BE(1, 2); fixed.writeUInt32BE(ttl, 4); fixed.writeUInt16BE(rdata.length, 8);
      return Buffer.concat([owner, fixed, rdata]);
    };
    const payload = Buffer.concat([head, q.subarray(12),
      rr(Buffer.from([0xc0, 12]), 5, 300, name('edge.test')), rr(name('edge.test'), 1, 60, Buffer.from([10, 0, 0, 7])),
      rr(name('other.test'), 1, 60, Buffer.from([10, 6, 6, 6]))]);
    const d = new KernelDecoder(clock, parseDnsPayload);
    const [ev] = d.decode(dnsRecord({ pid: 7 }, payload, [127, 0, 0, 53], 53, 2, 1));
    expect(ev).toMatchObject({
      type: 'dns', pid: 7, qname: 'www.example.test', qtype: 'A', addr: '127.0.0.53', port: 53,
      response: true, rcode: 'NOERROR', answers: ['10.0.0.7'], ttl: 60,
    });
    expect(eventLine(ev)).toContain('www.example.test @127.0.0.53:53 -> NOERROR 10.0.0.7');
    // the same bytes without the flag are not a query (QR set): counted, dropped
    expect(d.decode(dnsRecord({}, payload))).toEqual([]);
    expect(d.stats.dnsUnparsed).toBe(1);
    // and a query flagged as a response is not an answer
    expect(d.decode(dnsRecord({}, dnsQuery('example.com'), [127, 0, 0, 53], 53, 2, 1))).toEqual([]);
    expect(d.stats.dnsUnparsed).toBe(2);
    // a query event has none of the response fields
    const [query] = d.decode(dnsRecord({}, dnsQuery('example.com')));
    expect(query).not.toHaveProperty('response');
    expect(query).not.toHaveProperty('answers');
  });

  it('unknown record types are skipped and counted', () => {
    const r = forkRecord({ pid: 9 });
    r.writeUInt16LE(77, 0);
    const d = decoder();
    expect(d.decode(Buffer.concat([r, forkRecord({ pid: 10 })])).map((e) => e.pid)).toEqual([10]);
    expect(d.stats.unknownType).toBe(1);
  });
});

describe('output', () => {
  it('JSON lines leave out agentId and pending, keep the schema fields', () => {
    const ev = one(openRecord({ pid: 7, agentId: 2 }, '/etc/hosts', ''));
    const obj = JSON.parse(eventJson(ev));
    expect(obj).not.toHaveProperty('agentId');
    expect(obj).not.toHaveProperty('pending');
    expect(obj).toMatchObject({ type: 'open', pid: 7, path: '/etc/hosts', agent: null });
  });

  it('human lines escape control characters and show errno names', () => {
    const name = Buffer.concat([Buffer.from('/tmp/a\nb\x1b[31m'), Buffer.from([0xff])]);
    const line = eventLine({ ...one(openRecord({ pid: 7, comm: 'x\ty' }, name, '', { result: -2 })), agent: 'bot' });
    expect(line).not.toMatch(/[\x00-\x1f]/);
    // a byte that is not UTF-8 is shown as \xNN (displayString), control bytes escaped
    expect(line).toContain('bot 7 x\\x09y open R /tmp/a\\x0ab\\x1b[31m\\xff = -ENOENT');
    expect(resultText(-13)).toBe('-EACCES');
  });
});

describe('boot clock', () => {
  it('timer_list and Node clocks agree (when timer_list is readable)', () => {
    const best = measureBootClock();
    expect(best.bootToEpochNs).toBeGreaterThan(0n);
    if (best.source !== 'timer_list') {
      console.warn('decode.test: /proc/timer_list not readable (not root?); only the Node clock estimate checked');
      return;
    }
    // the fallback's precision is ~1 ms (performance.timeOrigin) plus /proc/uptime's 10 ms
    const diffMs = Number(best.bootToEpochNs - nodeClockEstimate()) / 1e6;
    expect(Math.abs(diffMs)).toBeLessThan(50);
  });
});

describe('timestamp formatter', () => {
  it('matches exact BigInt arithmetic, past 2^53 boot ns too', () => {
    const off = 1_795_866_388_383_159_123n;
    const f = new TimestampFormatter(off);
    const samples = [0n, 1n, 999_999_999n, 1_000_000_000n, 800_123_456_789n, 2n ** 53n - 1n, 2n ** 53n + 12_345n, 400n * 86_400n * 1_000_000_000n + 7n];
    for (let i = 0; i < 200; i++) samples.push(BigInt(Math.floor(Math.random() * 2 ** 52)) * 3n);
    for (const boot of samples) {
      f.set(Number(boot & 0xffffffffn), Number(boot >> 32n));
      const epoch = boot + off;
      const iso = new Date(Number(epoch / 1_000_000n)).toISOString().slice(0, 20) + String(epoch % 1_000_000_000n).padStart(9, '0') + 'Z';
      expect({ boot, tsNs: f.tsNs, ts: f.ts }).toEqual({ boot, tsNs: epoch.toString(), ts: iso });
    }
    expect(f.iso(1_795_866_388_000_000_001n)).toBe('2026-11-28T11:46:28.000000001Z');
  });
});
