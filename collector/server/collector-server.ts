// The collector's gRPC server: sensors stream event batches, each batch is
// validated whole, committed in one store transaction, and only then acked.
// A bad batch is refused with a REJECTED ack on its own stream; nothing one
// stream does disturbs another (each call's handler keeps its own state and
// store commits are synchronous, so batches never interleave half-written).
// With a store on a worker thread (store-worker.ts) the batch's bytes go
// there undecoded and the ack waits for the worker's commit; acks still go
// out in batch order, and a stream with many batches waiting is paused.
// Who may write and read what is peer-identity.ts: a TLS client writes and
// reads its own sensor's data only. Streams and connections are bounded so a
// fleet reconnecting at once cannot exhaust memory.
import * as grpc from '@grpc/grpc-js';
import { pino, type Logger } from 'pino';
import { grpcTarget, parseAddress, type CollectorAddress } from '../../proto/transport/address.js';
import {
  type EncodedBatch, widenReceiveWindow, widenSessionWindows, withDecodeLogging, withFastBatchDecoder,
  withPreEncodedQueryAnswers, withUndecodedBatches,
} from './service-wiring.js';
import { commitIncoming } from './batch-commit.js';
import type { BatchSender, CommitOutcome } from './batch-types.js';
import { identifyPeer, type AuthSource, type PeerIdentity } from './peer-identity.js';
import { toProtoEvent } from '../../proto/codec/convert.js';
import {
  collectorServiceDefinition, type PbAck, type PbQueryRequest, type PbQueryResponse,
  type PbStatusResponse,
} from '../../proto/codec/proto.js';
import { serverCredentials, type TlsFiles } from '../../proto/transport/tls.js';
import type { EventType } from '../../proto/events/types.js';
import { grpcErrorFor, logFailedHandshakes, statusLogger } from './grpc-errors.js';
import { addLaunchControl, type LaunchControl } from './launch-control.js';
import { SensorRegistry } from './sensor-registry.js';
import { ForwarderRegistry } from './forwarder-registry.js';
import { assembleStatus } from './status-assembly.js';
import type { StoreHealthRows } from '../store/health-rows.js';
import { packageVersion } from '../../proto/package-version.js';
import type { EncodedBatchStore, QueryEvents, QueryEventsEncoded, StorePort } from './store-port.js';
import { lockDownSocket, prepareSocketPath } from './unix-socket.js';
import type { IncomingBatch } from './validate-batch.js';

export const DEFAULT_MAX_RECEIVE_BYTES = 16 * 1024 * 1024;
const DEFAULT_QUERY_LIMIT = 1000;
const MAX_QUERY_LIMIT = 100_000;
// Batches of one stream waiting for the store worker before the stream is
// paused (HTTP/2 flow control then holds the sensor back).
const MAX_PENDING_PER_STREAM = 8;
/** open Stream calls at once; more are refused with RESOURCE_EXHAUSTED (the sensor retries with backoff) */
export const DEFAULT_MAX_STREAMS = 1024;
/** HTTP/2 connections at once; more are closed as they arrive */
export const DEFAULT_MAX_CONNECTIONS = 1024;


const takesBytes = (store: StorePort): store is EncodedBatchStore => 'commitEncoded' in store;

export interface CollectorServerOptions {
  /** unix:///path, /path or host:port (TCP needs `tls`) */
  listen: string;
  store: StorePort;
  /** answers the Query RPC; without it Query returns UNIMPLEMENTED */
  query?: QueryEvents;
  /** answers it off this thread, as encoded bytes (preferred over `query`) */
  queryEncoded?: QueryEventsEncoded;
  tls?: TlsFiles;
  /** largest accepted batch on the wire, bytes */
  maxReceiveBytes?: number;
  /** TLS client names (certificate CN) that may read every sensor's data */
  tlsAdmins?: string[];
  maxStreams?: number;
  maxConnections?: number;
  logger?: Logger;
  /** serves `sensor launch` (LaunchControl) on a unix socket; absent: UNIMPLEMENTED */
  launchControl?: LaunchControl;
  /** for Status: the store's file, and its oldest event and agents (collector/store/health-rows.ts) */
  storePath?: string;
  storeHealth?: () => StoreHealthRows;
  /** forwarders of this store that report to Status; absent: an empty registry */
  forwarders?: ForwarderRegistry;
}

export interface CollectorCounters {
  streamsOpened: number;
  streamsActive: number;
  batchesCommitted: number;
  eventsCommitted: number;
  batchesDuplicate: number;
  batchesRejected: number;
  commitErrors: number;
  droppedReported: number;
  /** batches under a stored (sensor, boot, seq) with other events: possible forgery */
  integrityAlarms: number;
  /** batches naming a sensor other than the client's certificate */
  batchesForbidden: number;
  streamsRefused: number;
  connectionsRefused: number;
  /** events a sensor said it could not deliver before it last stopped */
  undeliveredReported: number;
}

export class CollectorServer {
  private readonly counters: CollectorCounters = {
    streamsOpened: 0, streamsActive: 0, batchesCommitted: 0, eventsCommitted: 0,
    batchesDuplicate: 0, batchesRejected: 0, commitErrors: 0, droppedReported: 0,
    integrityAlarms: 0, batchesForbidden: 0, streamsRefused: 0, connectionsRefused: 0, undeliveredReported: 0,
  };
  private readonly admins: ReadonlySet<string>;
  private readonly registry = new SensorRegistry();
  /** forwarders register here (or in the registry passed in the options) to appear in Status */
  readonly forwarders: ForwarderRegistry;
  private readonly startedNs = BigInt(Date.now()) * 1_000_000n;
  private readonly log: Logger;
  private closed = false;
  /** where it listens (for TCP port 0, the port the kernel chose) */
  address: CollectorAddress;

  private constructor(
    private readonly server: grpc.Server,
    private readonly opts: CollectorServerOptions,
    address: CollectorAddress,
    logger: Logger,
  ) {
    this.address = address;
    this.log = logger;
    this.admins = new Set(opts.tlsAdmins ?? []);
    this.forwarders = opts.forwarders ?? new ForwarderRegistry();
  }

  private peerOf(call: AuthSource): PeerIdentity {
    return identifyPeer(call, Boolean(this.opts.tls), this.admins);
  }

  static async start(opts: CollectorServerOptions): Promise<CollectorServer> {
    const log = (opts.logger ?? pino({ name: 'agent-sensor' })).child({ module: 'collector.server' });
    const address = parseAddress(opts.listen);
    if (address.kind === 'tcp' && !opts.tls) {
      throw new Error('a TCP listen address needs mutual TLS (--tls-ca, --tls-cert, --tls-key); use a unix socket otherwise');
    }
    const maxReceive = opts.maxReceiveBytes ?? DEFAULT_MAX_RECEIVE_BYTES;
    const server = new grpc.Server({
      'grpc.max_receive_message_length': maxReceive,
      'grpc.max_send_message_length': 64 * 1024 * 1024,
      interceptors: [statusLogger(log)],
    });
    widenReceiveWindow(server);
    const collector = new CollectorServer(server, opts, address, log);
    const service = takesBytes(opts.store) ? withUndecodedBatches(collectorServiceDefinition()) : withFastBatchDecoder(collectorServiceDefinition());
    server.addService(withDecodeLogging(withPreEncodedQueryAnswers(service), log), {
      Stream: (call: grpc.ServerDuplexStream<IncomingBatch | EncodedBatch, PbAck>) => collector.onStream(call),
      Status: (call: grpc.ServerUnaryCall<unknown, PbStatusResponse>, cb: grpc.sendUnaryData<PbStatusResponse>) =>
        void collector.onStatus(collector.peerOf(call), cb),
      Query: (call: grpc.ServerUnaryCall<PbQueryRequest, PbQueryResponse>, cb: grpc.sendUnaryData<PbQueryResponse>) =>
        void collector.onQuery(collector.peerOf(call), call.request, cb),
    });
    if (opts.launchControl && address.kind === 'unix') addLaunchControl(server, opts.launchControl, log);
    if (address.kind === 'unix') await prepareSocketPath(address.path);
    const credentials = opts.tls ? serverCredentials(opts.tls) : grpc.ServerCredentials.createInsecure();
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(grpcTarget(address), credentials, (err, bound) => (err ? reject(err) : resolve(bound))),
    );
    if (address.kind === 'tcp') collector.address = { ...address, port };
    widenSessionWindows(server);
    collector.boundConnections(opts.maxConnections ?? DEFAULT_MAX_CONNECTIONS);
    if (address.kind === 'unix') lockDownSocket(address.path);
    if (opts.tls) logFailedHandshakes(server, log);
    log.info({ listen: grpcTarget(collector.address), tls: Boolean(opts.tls), maxReceiveBytes: maxReceive }, 'collector listening');
    return collector;
  }

  stats(): CollectorCounters {
    return { ...this.counters };
  }

  /** Stops accepting, lets open calls finish for up to graceMs, then cuts them. */
  async close(graceMs = 2000): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, graceMs);
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    this.log.info('collector stopped');
  }

  /** Closes HTTP/2 sessions past the limit as they arrive (grpc-js has no option for it). */
  private boundConnections(max: number): void {
    const servers = (this.server as unknown as { http2Servers?: Map<NodeJS.EventEmitter, unknown> }).http2Servers;
    let open = 0;
    for (const h2 of servers?.keys() ?? []) {
      h2.on('session', (session: NodeJS.EventEmitter & { destroy: () => void }) => {
        if (open >= max) {
          this.counters.connectionsRefused++;
          if (this.counters.connectionsRefused === 1) this.log.warn({ max }, 'too many connections: closing new ones');
          session.destroy();
          return;
        }
        open++;
        session.once('close', () => open--);
      });
    }
  }

  private onStream(call: grpc.ServerDuplexStream<IncomingBatch | EncodedBatch, PbAck>): void {
    const peer = this.peerOf(call);
    if (peer.role === 'anonymous') {
      call.emit('error', { code: grpc.status.UNAUTHENTICATED, details: 'the client certificate names no sensor (no CN or DNS name)' });
      return;
    }
    if (this.counters.streamsActive >= (this.opts.maxStreams ?? DEFAULT_MAX_STREAMS)) {
      this.counters.streamsRefused++;
      call.emit('error', { code: grpc.status.RESOURCE_EXHAUSTED, details: 'the collector has too many open streams; retry later' });
      return;
    }
    // A TLS client writes under its certificate's name only; root on the unix socket writes for any sensor.
    const sender: BatchSender = { sensorId: peer.remote ? peer.name : null, remote: peer.remote };
    const streamId = ++this.counters.streamsOpened;
    const streamLog = this.log.child({ stream: streamId, peer: call.getPeer(), identity: peer.name });
    this.counters.streamsActive++;
    streamLog.debug('stream opened');
    let finished = false;
    const finish = (why: string) => {
      if (finished) return;
      finished = true;
      this.counters.streamsActive--;
      streamLog.debug({ why }, 'stream closed');
    };
    const answer = (outcome: CommitOutcome) => {
      if (finished) return;
      const ack = this.noteOutcome(outcome, streamLog);
      if (ack === 'failed') {
        // The store could not write: end this stream with UNAVAILABLE so the
        // sensor keeps the batch and resends it after reconnecting.
        finish('commit failed');
        call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'collector could not commit the batch; retry' });
        return;
      }
      if (ack === 'malformed') {
        finish('malformed batch');
        call.emit('error', { code: grpc.status.INTERNAL, details: 'Error deserializing request: not an EventBatch' });
        return;
      }
      call.write(ack);
    };
    // Acks in batch order: each waits for the batches before it.
    let tail: Promise<void> = Promise.resolve();
    let pending = 0;
    const store = this.opts.store;
    call.on('data', (batch: IncomingBatch | EncodedBatch) => {
      if (finished) return;
      if (!takesBytes(store)) {
        answer(commitIncoming(store, batch as IncomingBatch, sender));
        return;
      }
      const committed = store.commitEncoded((batch as EncodedBatch).encoded, streamId, sender).catch(
        (err): CommitOutcome => ({ kind: 'failed', ids: { sensor_id: '', boot_id: '', seq: '0' }, message: String(err?.message ?? err) }),
      );
      if (++pending >= MAX_PENDING_PER_STREAM) call.pause();
      tail = tail.then(async () => {
        const outcome = await committed;
        if (pending-- === MAX_PENDING_PER_STREAM) call.resume();
        answer(outcome);
      });
    });
    call.on('end', () => {
      void tail.then(() => {
        finish('client ended');
        call.end();
      });
    });
    call.on('cancelled', () => {
      // Also how grpc-js ends a call it refused itself (a message over the
      // size limit): the sensor sees RESOURCE_EXHAUSTED, we only see this.
      if (!finished) streamLog.info('stream cancelled (sensor gone, or a message over the size limit)');
      finish('cancelled');
    });
    call.on('error', (err) => {
      streamLog.warn({ err: String(err) }, 'stream error');
      finish('error');
    });
  }

  /** Counts and logs one batch's outcome; returns the ack to send, or why the stream must end. */
  private noteOutcome(o: CommitOutcome, streamLog: Logger): PbAck | 'failed' | 'malformed' {
    switch (o.kind) {
      case 'malformed':
        streamLog.warn({ err: o.message }, 'malformed request refused');
        return 'malformed';
      case 'rejected':
        this.counters.batchesRejected++;
        streamLog.warn({ ...o.ids, events: o.events, reason: o.reason }, 'batch rejected');
        return { ...o.ids, status: 'ACK_STATUS_REJECTED', message: o.reason };
      case 'refused':
        // The same bytes would fail again on every resend: refuse the batch
        // rather than stall this sensor forever behind it.
        this.counters.batchesRejected++;
        streamLog.error({ ...o.ids, err: o.message }, 'store refused the batch; rejected');
        return { ...o.ids, status: 'ACK_STATUS_REJECTED', message: `store refused the batch: ${o.message}` };
      case 'failed':
        this.counters.commitErrors++;
        streamLog.error({ ...o.ids, err: o.message }, 'commit failed; the sensor will resend');
        return 'failed';
      case 'conflict':
        // Not an ack of what is stored: the stored batch stays, this one is refused and the alarm raised.
        this.counters.integrityAlarms++;
        streamLog.error({ ...o.ids, events: o.events }, 'INTEGRITY ALARM: a different batch under a stored (sensor, boot, seq); refused');
        return { ...o.ids, status: 'ACK_STATUS_REJECTED', message: 'a different batch is stored under this sensor, boot and seq (integrity alarm)' };
      case 'forbidden':
        this.counters.batchesForbidden++;
        streamLog.warn({ ...o.ids, events: o.events, reason: o.reason }, 'batch for another sensor refused');
        return { ...o.ids, status: 'ACK_STATUS_REJECTED', message: o.reason };
    }
    // Counted once: a resend of a batch that carried the report is a duplicate.
    const undelivered = o.kind === 'committed' ? o.undelivered.reduce((n, u) => n + u.events, 0n) : 0n;
    this.registry.noteBatch(o.sensorId, o.bootId, o.seq, o.droppedBefore, o.counters, undelivered, o.health);
    if (undelivered > 0n) {
      this.counters.undeliveredReported += Number(undelivered);
      streamLog.warn({ ...o.ids, undelivered: o.undelivered.map((u) => ({ bootId: u.bootId, events: String(u.events), batches: String(u.batches) })) },
        'the sensor reports events an earlier run could not deliver before it stopped');
    }
    this.counters.droppedReported += Number(o.droppedBefore);
    if (o.droppedBefore > 0n) {
      streamLog.warn({ ...o.ids, dropped: String(o.droppedBefore) }, 'sensor reports events it could not buffer');
    }
    if (o.kind === 'duplicate') {
      this.counters.batchesDuplicate++;
      streamLog.debug(o.ids, 'duplicate batch acked again, nothing written');
      return { ...o.ids, status: 'ACK_STATUS_DUPLICATE' };
    }
    this.counters.batchesCommitted++;
    this.counters.eventsCommitted += o.events;
    return { ...o.ids, status: 'ACK_STATUS_COMMITTED' };
  }

  private async onStatus(peer: PeerIdentity, cb: grpc.sendUnaryData<PbStatusResponse>): Promise<void> {
    if (peer.role === 'anonymous') {
      cb({ code: grpc.status.UNAUTHENTICATED, details: 'the client certificate names no sensor' });
      return;
    }
    try {
      if (peer.role === 'sensor') {
        // A sensor sees its own boots only: nothing of the store or of other sensors.
        cb(null, { sensors: this.registry.list((s, b) => this.opts.store.lastSeq(s, b)).filter((x) => x.sensor_id === peer.name) });
        return;
      }
      const store = await this.opts.store.status();
      cb(null, assembleStatus({
        store,
        storePath: this.opts.storePath,
        rows: this.opts.storeHealth?.(),
        sensors: this.registry.list((s, b) => this.opts.store.lastSeq(s, b)),
        counters: { ...this.counters },
        forwarders: this.forwarders.list(),
        version: packageVersion(),
        startedNs: this.startedNs,
      }));
    } catch (err) {
      cb(grpcErrorFor(err));
    }
  }

  private async onQuery(peer: PeerIdentity, req: PbQueryRequest, cb: grpc.sendUnaryData<PbQueryResponse>): Promise<void> {
    if (peer.role === 'anonymous') {
      cb({ code: grpc.status.UNAUTHENTICATED, details: 'the client certificate names no sensor' });
      return;
    }
    if (peer.role === 'sensor' && req.sensor_id !== undefined && req.sensor_id !== peer.name) {
      cb({ code: grpc.status.PERMISSION_DENIED, details: `${peer.name} may query its own events only` });
      return;
    }
    const { query, queryEncoded } = this.opts;
    if (!query && !queryEncoded) {
      cb({ code: grpc.status.UNIMPLEMENTED, details: 'this collector was started without a query engine' });
      return;
    }
    try {
      const limit = Math.min(req.limit || DEFAULT_QUERY_LIMIT, MAX_QUERY_LIMIT);
      const filters = {
        types: req.types?.length ? (req.types as EventType[]) : undefined,
        agent: req.agent,
        pid: req.pid,
        agentPid: req.agent_pid,
        sinceNs: req.since_ns === undefined ? undefined : BigInt(req.since_ns),
        untilNs: req.until_ns === undefined ? undefined : BigInt(req.until_ns),
        sensorId: peer.role === 'sensor' ? peer.name : req.sensor_id,
        pathGlob: req.path_glob,
        addr: req.addr,
        limit,
      };
      if (queryEncoded) {
        cb(null, (await queryEncoded(filters)) as unknown as PbQueryResponse); // sent as is (withPreEncodedQueryAnswers)
        return;
      }
      const rows = await query!(filters);
      cb(null, { events: rows.map((r) => ({ id: String(r.id), sensor_id: r.sensorId, event: toProtoEvent(r.event) })) });
    } catch (err) {
      cb(grpcErrorFor(err));
    }
  }
}
