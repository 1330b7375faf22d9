// Stores with known events for the forwarder tests: every event type, and
// hostile content (line breaks, control characters, invalid UTF-8, a path
// that is a syslog header, a 4 KiB path) in paths and argv.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventStore } from '../../collector/store/event-store.js';
import type { SensorEvent } from '../../proto/events/types.js';

const T0 = 1_795_000_000_000_000_000n;
let tick = 0n;

export function base(type: SensorEvent['type'], pid = 4242) {
  const tsNs = T0 + tick++ * 1_000n;
  return {
    type, ts: '', tsNs: tsNs.toString(), pid, tid: pid, ppid: 1, uid: 1000, gid: 1000, comm: 'claude',
    agent: 'claude-code', agentPid: 4242, cgroupId: '18446744073709551000', netns: 4026531840, mntns: 4026531841,
  };
}

const b64 = (bytes: number[] | Buffer) => ({ b64: Buffer.from(bytes).toString('base64') });
export const NON_UTF8 = b64([0x2f, 0x74, 0x6d, 0x70, 0x2f, 0xff, 0xfe, 0x41]); // "/tmp/\xff\xfeA"
export const SYSLOG_HEADER_PATH = '<34>1 2003-10-11T22:14:15.003Z mymachine su - ID47 - forged record';
export const NEWLINE_ARG = 'a\n<13>1 2026-01-01T00:00:00Z evil app - - - injected\r\n42 <14>1 - - - - - framed';

export function allTypes(): SensorEvent[] {
  return [
    { ...base('exec'), type: 'exec', filename: '/usr/bin/git', argv: ['git', 'status', '', NON_UTF8], startNs: '123456789', exe: '/usr/bin/git', cwd: '/home/u' },
    { ...base('fork'), type: 'fork', startNs: '123456999' },
    { ...base('open'), type: 'open', path: NON_UTF8, rawPath: 'x/../\xff', flags: 0o2000000, mode: 0, access: 'read', result: 3, syscall: 'openat' },
    { ...base('open'), type: 'open', path: '/etc/hosts', flags: 0o101, mode: 0o644, access: 'write', result: -13, syscall: 'openat2', truncated: true },
    { ...base('connect'), type: 'connect', family: 'inet6', proto: 'tcp', addr: '2001:db8::1', port: 443, result: -115, host: 'example.com' },
    { ...base('connect'), type: 'connect', family: 'inet', proto: 'tcp', addr: '10.0.0.5', port: 4444, result: -111 },
    { ...base('connect'), type: 'connect', family: 'unix', proto: 'unix', addr: '@abstract', port: 0, result: 0, datagram: true },
    { ...base('unlink'), type: 'unlink', path: '/tmp/d', rmdir: true, result: 0 },
    { ...base('rename'), type: 'rename', path: '/tmp/a', newpath: NON_UTF8, flags: 1, result: 0 },
    { ...base('link'), type: 'link', path: 'target', newpath: '/tmp/l', symbolic: true, result: 0 },
    { ...base('dns'), type: 'dns', qname: 'api.anthropic.com', qtype: 'AAAA', addr: '127.0.0.53', port: 53 },
    { ...base('dns'), type: 'dns', qname: 'api.anthropic.com', qtype: 'A', addr: '127.0.0.53', port: 53, response: true, rcode: 'NOERROR', answers: ['160.79.104.10'], ttl: 300 },
    { ...base('exit'), type: 'exit', code: null, signal: 9 },
  ] as SensorEvent[];
}

export function hostile(): SensorEvent[] {
  const ctl = 'ctl\x01\x07\x08\x1b[31m\x7f\u0085\u2028end';
  return [
    { ...base('open'), type: 'open', path: `/tmp/${SYSLOG_HEADER_PATH}`, flags: 0, mode: 0, access: 'read', result: 3, syscall: 'openat' },
    { ...base('open'), type: 'open', path: `/tmp/x\n${SYSLOG_HEADER_PATH}\n`, flags: 0, mode: 0, access: 'read', result: 3, syscall: 'openat' },
    { ...base('open'), type: 'open', path: `/tmp/${ctl}`, flags: 0, mode: 0, access: 'read', result: 3, syscall: 'openat' },
    { ...base('open'), type: 'open', path: b64(Buffer.concat([Buffer.from('/tmp/\n'), Buffer.from([0xc0, 0x80, 0xff]), Buffer.from('] "x" \\')])), flags: 0, mode: 0, access: 'read', result: 3, syscall: 'openat' },
    { ...base('open'), type: 'open', path: `/${'d'.repeat(99)}`.repeat(41).slice(0, 4095), flags: 0, mode: 0, access: 'read', result: 3, syscall: 'openat' },
    { ...base('exec'), type: 'exec', filename: `/tmp/${SYSLOG_HEADER_PATH}`, argv: ['sh', NEWLINE_ARG, b64([0x0a, 0xff, 0x0d]), '12 <13>1 x'], startNs: '5' },
  ] as SensorEvent[];
}

export interface TestStore {
  stateDir: string;
  store: EventStore;
  commit(events: SensorEvent[], sensorId?: string): void;
}

let seq = 0n;
export function testStore(parent?: string, sensorId = 'sensor-a'): TestStore {
  const stateDir = join(parent ?? mkdtempSync(join(tmpdir(), 'fwd-store-')), 'state');
  const store = EventStore.open({ stateDir, hashing: { enabled: false } });
  const t: TestStore = {
    stateDir, store,
    commit(events, sid = sensorId) {
      t.store.commitBatch({ sensorId: sid, bootId: 'boot-1', seq: ++seq, events });
    },
  };
  return t;
}

/** n open events with distinct paths, for volume and down/up tests */
export function opens(n: number, tag: string): SensorEvent[] {
  return Array.from({ length: n }, (_, i) => ({
    ...base('open'), type: 'open', path: `/work/${tag}/${i}`, flags: 0, mode: 0, access: 'read', result: 3, syscall: 'openat',
  }) as SensorEvent);
}
