// The sensor -> collector transport: proto contract, lossless conversion,
// the gRPC server over a real unix socket with the real SQLite store, the
// client's batching/resend, refusal of non-root peers, and kill -9 of the
// collector mid-stream.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CollectorServer } from '../collector/server/collector-server.js';
import type { CommitBatch } from '../collector/server/batch-types.js';
import type { BatchStore } from '../collector/server/store-port.js';
import { EventStore } from '../collector/store/event-store.js';
import { EVENT_TYPE_NUMBER, type SensorEvent } from '../proto/events/types.js';
import { encodeBatch, encodeEvent, encodeEventGeneric } from '../proto/codec/batch-encoder.js';
import { Backoff } from '../sensor/transport/backoff.js';
import { CollectorClient } from '../sensor/transport/collector-client.js';
import { collectorStatus, queryCollector } from '../sensor/transport/collector-rpc.js';
import { renderStatus } from '../sensor/cli/commands/status.js';
import { queryEvents } from '../collector/query/event-query.js';
import { fromProtoEvent, isoFromNs, toProtoEvent } from '../proto/codec/convert.js';
import { messageType, protoCodecs, STREAM_PATH, type PbAck, type PbEventBatch } from '../proto/codec/proto.js';

const ROOT = resolve(__dirname, '..');
const quiet = pino({ level: process.env.TEST_LOG ?? 'silent' });
// Kernel strings never hold NUL (paths, argv elements): any other byte may appear.
const NON_UTF8 = { b64: Buffer.from([0x2f, 0x74, 0x6d, 0x70, 0x2f, 0xff, 0xfe, 0x01, 0x80]).toString('base64') };

function base(type: SensorEvent['type'], n: number) {
  const tsNs = String(1_764_330_035_123_456_789n + BigInt(n));
  return {
    type, ts: isoFromNs(tsNs), tsNs, pid: n, tid: n + 1, ppid: 1, uid: 1000, gid: 1000,
    comm: 'node', agent: 'claude-code', cgroupId: '18446744073709551615', netns: 4026531840, mntns: 4026531841, agentPid: 0,
  };
}

function oneOfEach(): SensorEvent[] {
  return [
    { ...base('exec', 1), filename: '/usr/bin/git', argv: ['git', NON_UTF8, ''], startNs: '123456789012345', exe: NON_UTF8, cwd: '/home/u', home: '/tmp/harness-home', agentPid: 1 },
    { ...base('exec', 13), filename: '/a', argv: ['a'], startNs: '5', agentPid: 4_000_000, untracked: true },
    { ...base('fork', 2), startNs: '99', truncated: false },
    { ...base('exit', 3), code: 0, signal: null, agentPid: 1, compat: true },
    { ...base('exit', 4), code: null, signal: 9, agent: null },
    { ...base('open', 5), path: NON_UTF8, rawPath: 'x/../y', flags: 0o101, mode: 0o644, access: 'write', result: -13, syscall: 'openat2', sha256: 'ab'.repeat(32), agentPid: 1, argChanged: true },
    { ...base('open', 15), path: '/etc/hostname', flags: 0, mode: 0, access: 'read', result: 3, syscall: 'openat', agentPid: 1, inode: { dev: 65024, ino: '18446744073709551615', generation: 4294967295, mode: 0o100644, size: '9007199254740993', mtimeNs: '1796600751531865827', ctimeNs: '0' } },
    { ...base('connect', 6), family: 'inet6', proto: 'udp', addr: '::1', port: 53, result: -115, datagram: true, host: 'example.com' },
    { ...base('connect', 7), family: 'unix', proto: 'unix', addr: '@abstract\u0001', port: 0, result: 0 },
    { ...base('unlink', 8), path: '/tmp/a', rmdir: true, result: 0, truncated: true },
    { ...base('rename', 9), path: '/a', newpath: NON_UTF8, flags: 1, result: 0 },
    { ...base('link', 10), path: 'target', newpath: '/l', symbolic: true, result: -17 },
    { ...base('dns', 11), qname: 'api.anthropic.com', qtype: 'AAAA', addr: '127.0.0.53', port: 53 },
    { ...base('dns', 12), qname: 'api.anthropic.com', qtype: 'A', addr: '127.0.0.53', port: 53, response: true, rcode: 'NOERROR', answers: ['160.79.104.10', '160.79.104.11'], ttl: 300 },
  ] as SensorEvent[];
}

/** Numbered exec events; pid = n marks each one so the db can be checked per event. */
function markedEvents(from: number, count: number): SensorEvent[] {
  return Array.from({ length: count }, (_, i) => ({
    ...base('fork', from + i), pid: from + i, startNs: String(from + i),
  })) as SensorEvent[];
}

/** In-memory store for the unit tests of dedupe; the end-to-end tests use the real one. */
class MemoryStore implements BatchStore {
  readonly batches = new Map<string, CommitBatch>();
  events = 0;
  commitBatch(b: CommitBatch) {
    const key = `${b.sensorId}/${b.bootId}/${b.seq}`;
    if (this.batches.has(key)) return { duplicate: true, eventIds: [] };
    this.batches.set(key, b);
    this.events += b.events.length;
    return { duplicate: false, eventIds: b.events.map((_, i) => BigInt(this.events - b.events.length + i + 1)) };
  }
  lastSeq(sensorId: string, bootId: string) {
    let last: bigint | null = null;
    for (const b of this.batches.values()) if (b.sensorId === sensorId && b.bootId === bootId && (last === null || b.seq > last)) last = b.seq;
    return last;
  }
  status() {
    return { events: this.events, batches: this.batches.size, dbBytes: 0 };
  }
}

type RealStore = EventStore;

async function openRealStore(stateDir: string): Promise<RealStore> {
  // No file hashing: the sample events name paths that do not exist.
  return EventStore.open({ stateDir, hashing: { enabled: false } });
}

/** A raw Stream call: write arbitrary bytes, collect acks and the final status. */
function rawStream(socket: string) {
  const client = new grpc.Client(`unix://${socket}`, grpc.credentials.createInsecure(), { 'grpc.max_send_message_length': -1 });
  const call = client.makeBidiStreamRequest(STREAM_PATH, (b: Buffer) => b, (b: Buffer) => protoCodecs().ack.decode(b));
  const acks: PbAck[] = [];
  let waiters: (() => void)[] = [];
  let status: grpc.StatusObject | undefined;
  call.on('data', (ack: PbAck) => {
    acks.push(ack);
    waiters.splice(0).forEach((w) => w());
  });
  call.on('status', (s: grpc.StatusObject) => {
    status = s;
    waiters.splice(0).forEach((w) => w());
  });
  call.on('error', () => {});
  const until = async (cond: () => boolean, what: string) => {
    const deadline = Date.now() + 10_000;
    while (!cond()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 200);
      });
    }
  };
  return {
    acks,
    status: () => status,
    write: (bytes: Buffer) => call.write(bytes),
    waitAcks: (n: number) => until(() => acks.length >= n, `${n} acks`),
    waitStatus: () => until(() => status !== undefined, 'the call status'),
    close: () => {
      call.end();
      client.close();
      waiters = [];
    },
  };
}

const batchBytes = (seq: number, events: SensorEvent[], ids = { sensorId: 's1', bootId: 'b1' }) =>
  encodeBatch({ ...ids, seq: BigInt(seq), droppedBefore: 0n }, events.map(encodeEvent));

async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('proto contract', () => {
  it('Event.payload oneof field numbers equal the kernel event type numbers', () => {
    const payload = messageType('Event').oneofs.payload!;
    const numbers = Object.fromEntries(payload.fieldsArray.map((f) => [f.name, f.id]));
    expect(numbers).toEqual(EVENT_TYPE_NUMBER);
    // common fields are numbered apart from the payload
    for (const f of messageType('Event').fieldsArray) if (!f.partOf) expect(f.id).toBeGreaterThanOrEqual(20);
  });

  it('round-trips every event type through the wire bytes, losslessly (non-UTF-8 included)', () => {
    const events = oneOfEach();
    const type = messageType('Event');
    for (const event of events) {
      const wire = encodeEvent(event);
      const back = fromProtoEvent(protoCodecs().event.decode(wire));
      expect(back).toEqual(event);
      expect(fromProtoEvent(type.toObject(type.fromObject(toProtoEvent(event)), { longs: String, enums: String, oneofs: true }))).toEqual(event);
    }
  });

  it('the hand-written event encoder and protobufjs agree', () => {
    const codec = protoCodecs().event;
    // protobufjs writes explicit zeros that proto3 may leave out: compare with defaults filled in.
    const full = (b: Buffer) => codec.type.toObject(codec.type.decode(b), { longs: String, enums: String, oneofs: true, defaults: true });
    const events = [...oneOfEach(), { ...base('fork', 0), pid: 0, tid: 0, uid: 0, comm: '', cgroupId: '0', startNs: '0' } as SensorEvent,
      { ...base('exec', 12), filename: '', argv: ['', ''], startNs: '18446744073709551615', truncated: false } as SensorEvent,
      { ...base('exit', 13), code: 0, signal: 0 } as SensorEvent];
    for (const event of events) {
      expect(full(encodeEvent(event))).toEqual(full(encodeEventGeneric(event)));
      expect(fromProtoEvent(codec.decode(encodeEvent(event)))).toEqual(event);
    }
  });

  it('an encoded batch decodes to the same events', () => {
    const events = oneOfEach();
    const decoded = protoCodecs().batch.decode(batchBytes(7, events));
    expect(decoded.seq).toBe('7');
    expect(decoded.events!.map(fromProtoEvent)).toEqual(events);
  });

  it('backoff grows, is jittered and bounded', () => {
    const b = new Backoff({ initialMs: 100, maxMs: 1000 }, () => 1);
    expect([b.next(), b.next(), b.next(), b.next(), b.next(), b.next()]).toEqual([100, 200, 400, 800, 1000, 1000]);
    const low = new Backoff({ initialMs: 100, maxMs: 1000 }, () => 0);
    expect(low.next()).toBe(50);
  });
});

describe('collector server over a unix socket, real SQLite store', () => {
  let dir: string;
  let socket: string;
  let store: RealStore;
  let server: CollectorServer;
  const storedEvents = () => store.status().events;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'as-transport-'));
    socket = join(dir, 'run', 'collector.sock');
    store = await openRealStore(join(dir, 'state'));
    server = await CollectorServer.start({
      listen: `unix://${socket}`, store, logger: quiet, maxReceiveBytes: 256 * 1024,
      query: (f) => queryEvents(store.database, f),
    });
  });
  afterAll(async () => {
    await server?.close(500);
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates the socket folder 0700 and the socket 0600', () => {
    expect(statSync(join(dir, 'run')).mode & 0o777).toBe(0o700);
    expect(statSync(socket).mode & 0o777).toBe(0o600);
    expect(statSync(socket).uid).toBe(process.getuid!());
  });

  it('refuses to start a second collector on a socket that is in use', async () => {
    await expect(CollectorServer.start({ listen: `unix://${socket}`, store: new MemoryStore(), logger: quiet }))
      .rejects.toThrow(/already listens/);
    expect(statSync(socket).isSocket()).toBe(true); // the first one's socket is untouched
  });

  it('acks a stream of batches in order, and acks a duplicate again without writing it', async () => {
    const s = rawStream(socket);
    for (let seq = 1; seq <= 20; seq++) s.write(batchBytes(seq, markedEvents(seq * 10, 3)));
    await s.waitAcks(20);
    expect(s.acks.map((a) => a.seq)).toEqual(Array.from({ length: 20 }, (_, i) => String(i + 1)));
    expect(s.acks.every((a) => a.status === 'ACK_STATUS_COMMITTED')).toBe(true);
    // An empty batch (it only reports drops) is a valid batch.
    s.write(encodeBatch({ sensorId: 's1', bootId: 'b1', seq: 21n, droppedBefore: 7n }, []));
    await s.waitAcks(21);
    expect(s.acks[20]).toMatchObject({ seq: '21', status: 'ACK_STATUS_COMMITTED' });
    const before = storedEvents();
    expect(before).toBe(60);
    s.write(batchBytes(5, markedEvents(50, 3)));
    await s.waitAcks(22);
    expect(s.acks[21]).toMatchObject({ seq: '5', status: 'ACK_STATUS_DUPLICATE' });
    expect(storedEvents()).toBe(before);
    expect(store.database.prepare("SELECT count(*) AS n FROM batches WHERE sensor_id = 's1'").get()).toEqual({ n: 21 });

    // Other events under a stored (sensor, boot, seq): an integrity alarm, never an ack of what is stored.
    s.write(batchBytes(5, markedEvents(7000, 3)));
    await s.waitAcks(23);
    expect(s.acks[22]).toMatchObject({ seq: '5', status: 'ACK_STATUS_REJECTED' });
    expect(s.acks[22]!.message).toMatch(/integrity alarm/);
    expect(storedEvents()).toBe(before);
    expect(server.stats().integrityAlarms).toBe(1);
    expect(store.status().integrityAlarms).toBe(1);
    const status = await collectorStatus({ address: `unix://${socket}` });
    expect(status.counters?.integrityAlarms).toBe('1');
    s.close();
  });

  it('rejects malformed and oversized batches while another stream goes on', async () => {
    const good = rawStream(socket);
    const ids = { sensorId: 's2', bootId: 'b2' };
    good.write(batchBytes(1, markedEvents(1, 2), ids));
    await good.waitAcks(1);

    const bad = rawStream(socket);
    const batch = protoCodecs().batch;
    const malformed: PbEventBatch[] = [
      { sensor_id: '', boot_id: 'b', seq: '1' },
      { sensor_id: 's', boot_id: '', seq: '1' },
      { sensor_id: 's', boot_id: 'b', seq: '0' },
      { sensor_id: 's', boot_id: 'b', seq: '2', events: [{ ts_ns: '1', pid: 3 }] }, // no payload
    ];
    for (const m of malformed) bad.write(batch.encode(m));
    // An Event whose payload is a field number this version does not know (15).
    const unknownPayload = Buffer.concat([Buffer.from([0x7a, 0x02, 0x08, 0x01])]);
    bad.write(Buffer.concat([batch.encode({ sensor_id: 's', boot_id: 'b', seq: '3' }), Buffer.from([0x22, unknownPayload.length]), unknownPayload]));
    await bad.waitAcks(5);
    expect(bad.acks.map((a) => a.status)).toEqual(Array(5).fill('ACK_STATUS_REJECTED'));
    expect(bad.acks[3]!.message).toMatch(/no known payload/);

    // Not protobuf at all: the call fails, nothing is stored.
    const garbage = rawStream(socket);
    garbage.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff]));
    await garbage.waitStatus();
    expect(garbage.status()!.code).not.toBe(grpc.status.OK);

    // Larger than maxReceiveBytes (256 KiB): RESOURCE_EXHAUSTED for that call only.
    const big = rawStream(socket);
    big.write(batchBytes(1, markedEvents(1000, 1).map((e) => ({ ...e, comm: 'x'.repeat(300 * 1024) })), { sensorId: 's3', bootId: 'b3' }));
    await big.waitStatus();
    expect(big.status()!.code).toBe(grpc.status.RESOURCE_EXHAUSTED);

    good.write(batchBytes(2, markedEvents(3, 2), ids));
    await good.waitAcks(2);
    expect(good.acks.map((a) => [a.seq, a.status])).toEqual([['1', 'ACK_STATUS_COMMITTED'], ['2', 'ACK_STATUS_COMMITTED']]);
    expect(store.lastSeq('s3', 'b3')).toBeNull();
    expect(server.stats().batchesRejected).toBe(5);
    for (const s of [good, bad, garbage, big]) s.close();
  });

  it('the client batches, numbers and drains; Status reports it', async () => {
    const client = new CollectorClient({ address: `unix://${socket}`, sensorId: 'c1', bootId: 'boot-c1', logger: quiet, maxBatchEvents: 100 });
    client.start();
    for (let i = 0; i < 10; i++) client.push(markedEvents(i * 100, 100));
    const counters = await client.close(10_000);
    expect(counters).toMatchObject({ sent: 1000, acked: 1000, dropped: 0, buffered: 0, lastSeq: '10' });
    expect(store.lastSeq('c1', 'boot-c1')).toBe(10n);
    const status = await collectorStatus({ address: `unix://${socket}` });
    const mine = status.sensors!.find((s) => s.sensor_id === 'c1')!;
    expect(mine.last_seq).toBe('10');
    expect(Number(status.events)).toBe(storedEvents());
  });

  it('the sensor\'s own loss by cause reaches Status and `sensor status`', async () => {
    const loss = { 'untracked-processes:claude-code': 3, 'ring:open': 7 };
    const client = new CollectorClient({
      address: `unix://${socket}`, sensorId: 'loss1', bootId: 'boot-loss1', logger: quiet, sensorLoss: () => loss,
    });
    client.start();
    client.push(markedEvents(1, 2));
    await client.close(10_000);
    const status = await collectorStatus({ address: `unix://${socket}` });
    const mine = status.sensors!.find((x) => x.sensor_id === 'loss1')!;
    expect(mine.counters?.sensor_loss).toEqual({ 'untracked-processes:claude-code': '3', 'ring:open': '7' });
    expect(renderStatus(status)).toContain('sensor loss: ring:open=7 untracked-processes:claude-code=3');
  });

  it('a client whose batches exceed the collector\'s limit splits them until they fit', async () => {
    const client = new CollectorClient({
      address: `unix://${socket}`, sensorId: 'big1', bootId: 'boot-big1', logger: quiet,
      maxBatchEvents: 100_000, maxBatchBytes: 4 * 1024 * 1024, backoff: { initialMs: 10, maxMs: 100 },
    });
    client.start();
    client.push(markedEvents(1, 5000)); // ~0.5 MiB in one batch; the server takes 256 KiB
    const done = await client.close(20_000);
    expect(done).toMatchObject({ acked: 5000, rejected: 0, dropped: 0, buffered: 0 });
    const n = store.database.prepare("SELECT sum(event_count) AS n FROM batches WHERE sensor_id = 'big1'").get() as { n: number };
    expect(n.n).toBe(5000);
  });

  it('stores every event type byte-exactly and answers Query with them', async () => {
    const client = new CollectorClient({ address: `unix://${socket}`, sensorId: 'q1', bootId: 'boot-q1', logger: quiet });
    client.start();
    const events = oneOfEach();
    client.push(events);
    expect(await client.close(10_000)).toMatchObject({ acked: events.length });
    const rows = await queryCollector({ address: `unix://${socket}` }, { sensor_id: 'q1', limit: 100 });
    // A stored agentPid of 0 (not an agent) reads back as absent, like `truncated: false`.
    const withoutAttribution = (e: Record<string, unknown>) => {
      if (e.agentPid === 0) delete e.agentPid;
      return e;
    };
    const back = rows.map((r) => withoutAttribution({ ...r.event })).sort((a, b) => (a.pid as number) - (b.pid as number));
    // The store keeps `truncated` as a bit (false reads back as absent),
    // sha256 is the collector's own hash of the file, never the sensor's
    // claim, an exec's home is its instance's (`sensor agents`), not a
    // column of the event, and an open's inode serves the hasher only.
    const expected = events.map((e) => {
      const copy: Record<string, unknown> = { ...e };
      if (copy.truncated === false) delete copy.truncated;
      delete copy.sha256;
      delete copy.home;
      delete copy.inode;
      return withoutAttribution(copy);
    }).sort((a, b) => (a.pid as number) - (b.pid as number));
    expect(back).toEqual(expected);
    const opens = await queryCollector({ address: `unix://${socket}` }, { sensor_id: 'q1', types: ['open'] });
    expect(opens.map((r) => r.event.type)).toEqual(['open', 'open']);
  });

  it('with the collector away, a full buffer drops new events and counts them; the rest arrive later', async () => {
    const away = join(dir, 'later', 'collector.sock');
    const client = new CollectorClient({
      address: `unix://${away}`, sensorId: 'c2', bootId: 'boot-c2', logger: quiet,
      maxBatchEvents: 10, bufferBytes: 64 * 1024, backoff: { initialMs: 20, maxMs: 200 },
    });
    client.start();
    for (let i = 0; i < 50; i++) client.push(markedEvents(i * 100, 100));
    client.flush();
    client.push(markedEvents(90_000, 100)); // dropped too, and reported only by close()'s empty batch
    const held = client.counters();
    expect(held.dropped).toBeGreaterThan(100);
    expect(held.buffered + held.dropped).toBe(5100);
    const laterStore = new MemoryStore();
    const later = await CollectorServer.start({ listen: `unix://${away}`, store: laterStore, logger: quiet });
    try {
      const done = await client.close(15_000);
      expect(done.acked).toBe(held.buffered);
      expect(done.dropped).toBe(held.dropped);
      expect(laterStore.events).toBe(held.buffered);
      // the drop count reached the collector in dropped_before
      expect(later.stats().droppedReported).toBe(held.dropped);
    } finally {
      await later.close(500);
    }
  });
});

describe('non-root peers', () => {
  let dir: string;
  let socket: string;
  let server: CollectorServer;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'as-perm-'));
    chmodSync(dir, 0o755);
    socket = join(dir, 'sock', 'collector.sock');
    server = await CollectorServer.start({ listen: `unix://${socket}`, store: new MemoryStore(), logger: quiet });
  });
  afterAll(async () => {
    await server?.close(500);
    rmSync(dir, { recursive: true, force: true });
  });

  const connectAs = (uid: number) => {
    const script = `const s=require('net').createConnection(${JSON.stringify(socket)});` +
      `s.on('connect',()=>{console.log('CONNECTED');s.destroy()});s.on('error',e=>console.log(e.code));`;
    return spawnSync('setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', process.execPath, '-e', script], {
      encoding: 'utf8', timeout: 10_000,
    });
  };

  it('nobody (65534) cannot connect: the folder is 0700', () => {
    if (process.getuid!() !== 0) return void console.log('skip: needs root to switch to uid 65534');
    const r = connectAs(65534);
    expect(r.stdout.trim()).toBe('EACCES');
  });

  it('nobody cannot connect even when the folder is opened up: the socket itself is 0600', () => {
    if (process.getuid!() !== 0) return void console.log('skip: needs root to switch to uid 65534');
    chmodSync(join(dir, 'sock'), 0o755);
    try {
      expect(connectAs(65534).stdout.trim()).toBe('EACCES');
      expect(connectAs(0).stdout.trim()).toBe('CONNECTED'); // the test itself is sound
    } finally {
      chmodSync(join(dir, 'sock'), 0o700);
    }
  });
});

describe('TCP with mutual TLS', () => {
  let dir: string;
  let server: CollectorServer | undefined;
  let store: EventStore | undefined;
  const logLines: string[] = [];

  const openssl = (...args: string[]) => {
    const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8', timeout: 30_000 });
    if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
  };
  const issue = (name: string, cn: string, ext: string) => {
    writeFileSync(join(dir, `${name}.ext`), ext);
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
    openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-out', `${name}.crt`, '-extfile', `${name}.ext`);
  };
  const files = (name: string) => ({ ca: join(dir, 'ca.crt'), cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'as-tls-'));
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=agent-sensor test CA');
    issue('server', 'localhost', 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
    issue('client', 'sensor-1', 'extendedKeyUsage=clientAuth\n');
    issue('other', 'sensor-2', 'extendedKeyUsage=clientAuth\n');
    issue('admin', 'ops-admin', 'extendedKeyUsage=clientAuth\n');
    const logger = pino({ level: 'info' }, { write: (line: string) => void logLines.push(line) });
    store = await openRealStore(join(dir, 'state'));
    const s = store;
    server = await CollectorServer.start({
      listen: '127.0.0.1:0', store: s, query: (f) => queryEvents(s.database, f), tls: files('server'), tlsAdmins: ['ops-admin'], logger,
    });
  });
  afterAll(async () => {
    await server?.close(500);
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses TCP without TLS', async () => {
    await expect(CollectorServer.start({ listen: '127.0.0.1:0', store: new MemoryStore(), logger: quiet })).rejects.toThrow(/mutual TLS/);
  });

  it('a sensor with a CA-signed client certificate streams; one without is refused and logged', async () => {
    const address = `localhost:${(server!.address as { port: number }).port}`;
    const client = new CollectorClient({ address, tls: files('client'), sensorId: 'sensor-1', bootId: 'b', logger: quiet });
    client.start();
    client.push(markedEvents(1, 10));
    expect(await client.close(10_000)).toMatchObject({ acked: 10, buffered: 0 });

    // Same CA, but the client presents no certificate at all.
    const anon = new grpc.Client(address, grpc.credentials.createSsl(readFileSync(join(dir, 'ca.crt'))));
    const err = await new Promise<grpc.ServiceError | null>((done) =>
      anon.makeUnaryRequest('/agentsensor.v1.Collector/Status', (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(0), { deadline: Date.now() + 5000 }, (e) => done(e)),
    );
    anon.close();
    expect(err?.code).toBe(grpc.status.UNAVAILABLE);
    await until(() => logLines.some((l) => l.includes('TLS handshake refused')), 'the refused handshake in the log', 5000);
  });

  // Issue 9 item 1, as reproduced: sensor-2 sent sensor-1's next seq with a harmless read, so that
  // sensor-1's real batch (a read of ~/.ssh/id_rsa) was acked as DUPLICATE and never stored.
  it('a sensor cannot write under another sensor\'s id, so it cannot suppress that sensor\'s batch', async () => {
    const address = `localhost:${(server!.address as { port: number }).port}`;
    const harmless = { ...base('open', 900), path: '/tmp/harmless', flags: 0, mode: 0, access: 'read', result: 3, syscall: 'openat' } as SensorEvent;
    const secret = { ...base('open', 901), path: '/root/.ssh/id_rsa', flags: 0, mode: 0, access: 'read', result: 3, syscall: 'openat' } as SensorEvent;
    const forger = new CollectorClient({ address, tls: files('other'), sensorId: 'sensor-1', bootId: 'victim-boot', logger: quiet });
    forger.start();
    forger.push([harmless]);
    expect(await forger.close(10_000)).toMatchObject({ rejected: 1, acked: 0 });

    const victim = new CollectorClient({ address, tls: files('client'), sensorId: 'sensor-1', bootId: 'victim-boot', logger: quiet });
    victim.start();
    victim.push([secret]);
    expect(await victim.close(10_000)).toMatchObject({ acked: 1, rejected: 0 });
    const stored = queryEvents(store!.database, { sensorId: 'sensor-1', pathGlob: '/root/.ssh/*', limit: 10 });
    expect(stored.map((r) => r.event.type === 'open' && r.event.path)).toEqual(['/root/.ssh/id_rsa']);
    expect(queryEvents(store!.database, { pathGlob: '/tmp/harmless', limit: 10 })).toHaveLength(0);
    expect(server!.stats().batchesForbidden).toBeGreaterThanOrEqual(1);
  });

  it('Status and Query answer a sensor about itself only; an admin name reads everything', async () => {
    const address = `localhost:${(server!.address as { port: number }).port}`;
    const mine = new CollectorClient({ address, tls: files('other'), sensorId: 'sensor-2', bootId: 'b2', logger: quiet });
    mine.start();
    mine.push(markedEvents(500, 3));
    expect(await mine.close(10_000)).toMatchObject({ acked: 3 });

    const asSensor2 = { address, tls: files('other') };
    const status = await collectorStatus(asSensor2);
    expect((status.sensors ?? []).map((x) => x.sensor_id)).toEqual(['sensor-2']);
    expect(status.events).toBeUndefined(); // nothing of the store as a whole
    const own = await queryCollector(asSensor2, { limit: 1000 });
    expect(own.length).toBe(3);
    expect(new Set(own.map((r) => r.sensorId))).toEqual(new Set(['sensor-2']));
    await expect(queryCollector(asSensor2, { sensor_id: 'sensor-1', limit: 10 })).rejects.toThrow(/its own events only/);

    const admin = { address, tls: files('admin') };
    const all = await collectorStatus(admin);
    expect(new Set((all.sensors ?? []).map((x) => x.sensor_id))).toEqual(new Set(['sensor-1', 'sensor-2']));
    expect(Number(all.events)).toBeGreaterThan(3);
    const everything = await queryCollector(admin, { limit: 1000 });
    expect(new Set(everything.map((r) => r.sensorId))).toEqual(new Set(['sensor-1', 'sensor-2']));
  });
});

describe('collector killed with SIGKILL mid-stream (real store, collector in a child process)', () => {
  let dir: string;
  let child: ChildProcess | undefined;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'as-kill-'));
  });
  afterAll(() => {
    child?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('every acked event is stored exactly once and the resend fills in the rest', async () => {
    const socket = join(dir, 'run', 'collector.sock');
    const stateDir = join(dir, 'state');
    const entry = join(dir, 'collector-entry.ts');
    writeFileSync(entry, `import { main } from ${JSON.stringify(join(ROOT, 'sensor/cli/main.js'))};\n` +
      `await main(['node', 'sensor', 'collector', '--listen', ${JSON.stringify(`unix://${socket}`)}, '--state-dir', ${JSON.stringify(stateDir)}]);\n`);
    const startCollector = async () => {
      child = spawn(join(ROOT, 'node_modules/.bin/vite-node'), [entry], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr!.on('data', (d) => (stderr += d));
      await until(() => stderr.includes('collector listening') || child!.exitCode !== null, 'the collector to listen');
      if (child.exitCode !== null) throw new Error(`collector exited: ${stderr}`);
    };
    await startCollector();
    const client = new CollectorClient({
      address: `unix://${socket}`, sensorId: 'kill-test', bootId: 'boot-k', logger: quiet,
      maxBatchEvents: 50, flushMs: 10, backoff: { initialMs: 50, maxMs: 500 },
    });
    client.start();
    let next = 1;
    const pushSome = (n: number) => {
      client.push(markedEvents(next, n));
      next += n;
    };
    const ackedAtKill: number[] = [];
    for (let round = 0; round < 3; round++) {
      const target = client.counters().acked + 500;
      for (let i = 0; i < 200 && client.counters().acked < target; i++) {
        pushSome(50);
        await new Promise((r) => setTimeout(r, 10));
      }
      pushSome(200); // unacked when the kill lands
      ackedAtKill.push(client.counters().acked);
      child!.kill('SIGKILL');
      await new Promise((r) => child!.once('exit', r));
      pushSome(300); // produced while the collector is down
      await startCollector();
    }
    pushSome(100);
    const final = await client.close(30_000);
    const total = next - 1;
    expect(final).toMatchObject({ acked: total, buffered: 0, dropped: 0, rejected: 0 });
    expect(final.resent).toBeGreaterThan(0);
    expect(ackedAtKill.every((n, i) => i === 0 || n > ackedAtKill[i - 1]!)).toBe(true);

    child!.kill('SIGKILL');
    await new Promise((r) => child!.once('exit', r));
    child = undefined;
    const db = new Database(join(stateDir, 'events.db'), { readonly: true });
    try {
      const rows = db.prepare('SELECT pid, count(*) AS n FROM events GROUP BY pid').all() as { pid: number; n: number }[];
      expect(rows.length).toBe(total);
      expect(rows.filter((r) => r.n !== 1)).toEqual([]);
      expect(rows.map((r) => r.pid).sort((a, b) => a - b)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
      const batches = db.prepare("SELECT count(*) AS n, max(seq) AS last FROM batches WHERE sensor_id = 'kill-test'").get() as { n: number; last: number };
      expect(batches.n).toBe(batches.last);
    } finally {
      db.close();
    }
    console.log(`kill -9 x3: ${total} events, ${final.resent} resent, acked before each kill ${ackedAtKill.join('/')}`);
  });
});
