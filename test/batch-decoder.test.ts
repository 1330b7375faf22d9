// The collector's hand-written EventBatch decoder against the reference
// path it replaces: protobufjs decode + toObject, then fromProtoEvent.
import { describe, expect, it } from 'vitest';
import { BatchRejectedError } from '../collector/server/batch-types.js';
import { validateBatch } from '../collector/server/validate-batch.js';
import type { SensorEvent } from '../proto/events/types.js';
import { decodeEventBatch, isoFromNsFast } from '../proto/codec/batch-decoder.js';
import { encodeBatch, encodeEvent, encodeEventGeneric } from '../proto/codec/batch-encoder.js';
import { isoFromNs } from '../proto/codec/convert.js';
import { protoCodecs, type PbEventBatch } from '../proto/codec/proto.js';

const NON_UTF8 = { b64: Buffer.from([0x2f, 0x74, 0x6d, 0x70, 0x2f, 0xff, 0xfe, 0x01, 0x80]).toString('base64') };

function base(type: SensorEvent['type'], n: number) {
  const tsNs = String(1_764_330_035_123_456_789n + BigInt(n) * 333_333_333n);
  return {
    type, ts: isoFromNs(tsNs), tsNs, pid: n, tid: n + 1, ppid: 1, uid: 4294967295, gid: 0,
    comm: 'node', agent: 'claude-code', cgroupId: '18446744073709551615', netns: 4026531840, mntns: 4026531841, agentPid: 0,
  };
}

const EVENTS = [
  { ...base('exec', 1), filename: '/usr/bin/git', argv: ['git', NON_UTF8, ''], startNs: '123456789012345', exe: NON_UTF8, cwd: '/home/u', home: '/tmp/harness-home' },
  { ...base('exec', 2), filename: '', argv: [], startNs: '18446744073709551615', exe: '', truncated: false },
  { ...base('fork', 3), startNs: '99', truncated: false, agent: '' },
  { ...base('exit', 4), code: 0, signal: null },
  { ...base('exit', 5), code: null, signal: 9, agent: null },
  { ...base('open', 6), path: NON_UTF8, rawPath: 'x/../y', flags: 0o101, mode: 0o644, access: 'write', result: -13, syscall: 'openat2', sha256: 'ab'.repeat(32) },
  { ...base('open', 7), path: '/etc/hostname', flags: 0, mode: 0, access: 'read', result: 2147483647, syscall: 'open', sha256: '', inode: { dev: 65024, ino: '18446744073709551615', generation: 4294967295, mode: 0o100644, size: '9007199254740993', mtimeNs: '1796600751531865827', ctimeNs: '0' } },
  { ...base('connect', 8), family: 'inet6', proto: 'udp', addr: '::1', port: 53, result: -115, datagram: true, host: 'example.com' },
  { ...base('connect', 9), family: 'unix', proto: 'unix', addr: '@abstract\u0001', port: 0, result: 0, datagram: false },
  { ...base('unlink', 10), path: '/tmp/a', rmdir: true, result: 0, truncated: true },
  { ...base('rename', 11), path: '/a', newpath: NON_UTF8, flags: 1, result: 0 },
  { ...base('link', 12), path: 'target', newpath: '/l', symbolic: true, result: -17 },
  { ...base('dns', 13), qname: 'api.anthropic.com', qtype: 'AAAA', addr: '127.0.0.53', port: 53, comm: NON_UTF8 },
  { ...base('dns', 15), qname: 'a.test', qtype: 'A', addr: '127.0.0.53', port: 53, response: true, rcode: 'NOERROR', answers: ['127.0.0.9'], ttl: 0 },
  { ...base('dns', 16), qname: 'nx.test', qtype: 'AAAA', addr: '::1', port: 53, response: true, rcode: 'NXDOMAIN', answers: [] },
  { ...base('fork', 14), tsNs: '0', ts: isoFromNs('0'), startNs: '0', pid: 0, cgroupId: '0', netns: 0 },
] as SensorEvent[];

const header = { sensorId: 'sensor-ü', bootId: 'b', seq: 18446744073709551615n, droppedBefore: 5n, counters: { sent: '10', acked: '9' } };

/** What the server did before: protobufjs, then validateBatch's conversion. */
const reference = (bytes: Buffer) => validateBatch(protoCodecs().batch.decode(bytes));

describe('hand-written EventBatch decoder', () => {
  it('decodes every event type exactly as protobufjs + fromProtoEvent', () => {
    for (const encode of [encodeEvent, encodeEventGeneric]) {
      const bytes = encodeBatch(header, EVENTS.map(encode));
      const fast = decodeEventBatch(bytes);
      expect(fast.sensorEvents).toEqual(reference(bytes).events);
      expect(fast.sensorEvents).toEqual(EVENTS);
      expect(validateBatch(fast)).toEqual(reference(bytes));
      expect(fast).toMatchObject({ sensor_id: 'sensor-ü', boot_id: 'b', seq: '18446744073709551615', dropped_before: '5', eventCount: EVENTS.length });
      expect(fast.counters).toEqual(protoCodecs().batch.decode(bytes).counters);
    }
  });

  it('refuses the same invalid batches with the same messages', () => {
    const batch = protoCodecs().batch;
    const bad: PbEventBatch[] = [
      { sensor_id: '', boot_id: 'b', seq: '1' },
      { sensor_id: 's', boot_id: 'b', seq: '0' },
      { sensor_id: 's', boot_id: 'b', seq: '2', events: [{ ts_ns: '1', pid: 3 }] },
      { sensor_id: 's', boot_id: 'b', seq: '2', events: [{ fork: {} }, { open: { path: Buffer.from('/x'), syscall: 'OPEN_SYSCALL_OPEN' } }] },
      { sensor_id: 's', boot_id: 'b', seq: '2', events: [{ open: { path: Buffer.from('/x'), access: 'OPEN_ACCESS_UNSPECIFIED' } }] },
      { sensor_id: 's', boot_id: 'b', seq: '2', events: [{ connect: { family: 'SOCKET_FAMILY_INET' } }] },
    ];
    const message = (f: () => unknown) => {
      try {
        f();
        return 'accepted';
      } catch (err) {
        expect(err).toBeInstanceOf(BatchRejectedError);
        return (err as Error).message;
      }
    };
    for (const b of bad) {
      const bytes = batch.encode(b);
      expect(message(() => validateBatch(decodeEventBatch(bytes)))).toBe(message(() => reference(bytes)));
    }
    // An unknown payload field (15) is skipped like any unknown field: no known payload.
    const unknown = Buffer.from([0x7a, 0x02, 0x08, 0x01]);
    const bytes = Buffer.concat([batch.encode({ sensor_id: 's', boot_id: 'b', seq: '3' }), Buffer.from([0x22, unknown.length]), unknown]);
    expect(message(() => validateBatch(decodeEventBatch(bytes)))).toMatch(/event 0: event has no known payload/);
  });

  it('encodes long fields (multi-byte lengths) the same as protobufjs, and decodes them back', () => {
    const codec = protoCodecs().event;
    const full = (b: Buffer) => codec.type.toObject(codec.type.decode(b), { longs: String, enums: String, oneofs: true, defaults: true });
    const long = (n: number) => `/${'é'.repeat(n)}`;
    const events = [
      { ...base('open', 20), path: long(100), flags: 0, mode: 0, access: 'read', result: 3, syscall: 'openat' },
      { ...base('open', 21), path: long(10_000), rawPath: { b64: Buffer.alloc(300, 0xff).toString('base64') }, flags: 1, mode: 2, access: 'readwrite', result: -2, syscall: 'creat' },
      { ...base('exec', 22), filename: long(70), argv: Array.from({ length: 300 }, (_, i) => `arg${i}`), startNs: '1', cwd: long(5000) },
      { ...base('connect', 23), family: 'inet', proto: 'tcp', addr: '10.0.0.1', port: 65535, result: -2147483648, host: 'h'.repeat(20_000) },
    ] as SensorEvent[];
    for (const e of events) expect(full(encodeEvent(e))).toEqual(full(encodeEventGeneric(e)));
    expect(decodeEventBatch(encodeBatch(header, events.map(encodeEvent))).sensorEvents).toEqual(events);
  });

  it('throws on bytes that are not protobuf', () => {
    expect(() => decodeEventBatch(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff]))).toThrow();
    const good = encodeBatch(header, EVENTS.map(encodeEvent));
    expect(() => decodeEventBatch(good.subarray(0, good.length - 3))).toThrow();
  });

  it('renders ts like isoFromNs across seconds and edge values', () => {
    for (const ns of ['0', '999999999', '1000000000', '1764330035000000000', '1764330035999999999', '1764330036000000001', '9223372036854775807']) {
      expect(isoFromNsFast(ns)).toBe(isoFromNs(ns));
    }
  });
});
