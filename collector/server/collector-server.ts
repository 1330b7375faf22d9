// The collector's gRPC server: sensors stream event batches, each batch is
// validated whole, committed in one store transaction, and only then acked.
// A bad batch is refused with a REJECTED ack on its own stream; nothing one
// stream does disturbs another (each call's handler keeps its own state and
// store commits are synchronous, so batches never interleave half-written).
// With a store on a worker thread (store-worker.ts) the batch's bytes go
// there undecoded and the ack waits for the worker's commit; acks still go
// out in batch order, and a stream with many batches waiting is paused.
import * as grpc from '@grpc/grpc-js';
import { pino, type Logger } from 'pino';
import { grpcTarget, parseAddress, type CollectorAddress } from '../../proto/transport/address.js';
import { decodeEventBatch } from '../../proto/codec/batch-decoder.js';
import { commitIncoming } from './batch-commit.js';
import type { CommitOutcome } from './batch-types.js';
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
import type { EncodedBatchStore, QueryEvents, StorePort } from './store-port.js';
import { lockDownSocket, prepareSocketPath } from './unix-socket.js';
import type { IncomingBatch } from './validate-batch.js';

export const DEFAULT_MAX_RECEIVE_BYTES = 16 * 1024 * 1024;
const DEFAULT_QUERY_LIMIT = 1000;
const MAX_QUERY_LIMIT = 100_000;
// Batches of one stream waiting for the store worker before the stream is
// paused (HTTP/2 flow control then holds the sensor back).
const MAX_PENDING_PER_STREAM = 8;

/** A batch left undecoded for a store that takes wire bytes. */
interface EncodedBatch {
  encoded: Buffer;
}

const takesBytes = (store: StorePort): store is EncodedBatchStore => 'commitEncoded' in store;

export interface CollectorServerOptions {
  /** unix:///path, /path or host:port (TCP needs `tls`) */
  listen: string;
  store: StorePort;
  /** answers the Query RPC; without it Query returns UNIMPLEMENTED */
  query?: QueryEvents;
  tls?: TlsFiles;
  /** largest accepted batch on the wire, bytes */
  maxReceiveBytes?: number;
  logger?: Logger;
  /** serves `sensor launch` (LaunchControl) on a unix socket; absent: UNIMPLEMENTED */
  launchControl?: LaunchControl;
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
}

export class CollectorServer {
  private readonly counters: CollectorCounters = {
    streamsOpened: 0, streamsActive: 0, batchesCommitted: 0, eventsCommitted: 0,
    batchesDuplicate: 0, batchesRejected: 0, commitErrors: 0, droppedReported: 0,
  };
  private readonly registry = new SensorRegistry();
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
    server.addService(withDecodeLogging(service, log), {
      Stream: (call: grpc.ServerDuplexStream<IncomingBatch | EncodedBatch, PbAck>) => collector.onStream(call),
      Status: (_call: grpc.ServerUnaryCall<unknown, PbStatusResponse>, cb: grpc.sendUnaryData<PbStatusResponse>) =>
        void collector.onStatus(cb),
      Query: (call: grpc.ServerUnaryCall<PbQueryRequest, PbQueryResponse>, cb: grpc.sendUnaryData<PbQueryResponse>) =>
        void collector.onQuery(call.request, cb),
    });
    if (opts.launchControl && address.kind === 'unix') addLaunchControl(server, opts.launchControl, log);
    if (address.kind === 'unix') await prepareSocketPath(address.path);
    const credentials = opts.tls ? serverCredentials(opts.tls) : grpc.ServerCredentials.createInsecure();
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(grpcTarget(address), credentials, (err, bound) => (err ? reject(err) : resolve(bound))),
    );
    if (address.kind === 'tcp') collector.address = { ...address, port };
    widenSessionWindows(server);
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

  private onStream(call: grpc.ServerDuplexStream<IncomingBatch | EncodedBatch, PbAck>): void {
    const streamId = ++this.counters.streamsOpened;
    const streamLog = this.log.child({ stream: streamId, peer: call.getPeer() });
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
        answer(commitIncoming(store, batch as IncomingBatch));
        return;
      }
      const committed = store.commitEncoded((batch as EncodedBatch).encoded, streamId).catch(
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
    }
    this.registry.noteBatch(o.sensorId, o.bootId, o.seq, o.droppedBefore, o.counters);
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

  private async onStatus(cb: grpc.sendUnaryData<PbStatusResponse>): Promise<void> {
    try {
      const store = await this.opts.store.status();
      const counters: Record<string, string> = {};
      for (const [k, v] of Object.entries(this.counters)) counters[k] = String(v);
      cb(null, {
        events: String(store.events),
        batches: String(store.batches),
        db_bytes: String(store.dbBytes),
        sensors: this.registry.list((s, b) => this.opts.store.lastSeq(s, b)),
        counters,
        store_json: JSON.stringify(store, (_k, v) => (typeof v === 'bigint' ? String(v) : v)),
      });
    } catch (err) {
      cb(grpcErrorFor(err));
    }
  }

  private async onQuery(req: PbQueryRequest, cb: grpc.sendUnaryData<PbQueryResponse>): Promise<void> {
    if (!this.opts.query) {
      cb({ code: grpc.status.UNIMPLEMENTED, details: 'this collector was started without a query engine' });
      return;
    }
    try {
      const limit = Math.min(req.limit || DEFAULT_QUERY_LIMIT, MAX_QUERY_LIMIT);
      const rows = await this.opts.query({
        types: req.types?.length ? (req.types as EventType[]) : undefined,
        agent: req.agent,
        pid: req.pid,
        agentPid: req.agent_pid,
        sinceNs: req.since_ns === undefined ? undefined : BigInt(req.since_ns),
        untilNs: req.until_ns === undefined ? undefined : BigInt(req.until_ns),
        sensorId: req.sensor_id,
        pathGlob: req.path_glob,
        addr: req.addr,
        limit,
      });
      cb(null, { events: rows.map((r) => ({ id: String(r.id), sensor_id: r.sensorId, event: toProtoEvent(r.event) })) });
    } catch (err) {
      cb(grpcErrorFor(err));
    }
  }
}

// HTTP/2 flow control: with the default 64 KiB receive windows a sensor can
// send only a third of a 2000-event batch, then waits for a WINDOW_UPDATE the
// collector sends only between commits, so transfer and commit alternate
// instead of overlapping (measured ~1.5x slower). 2 MiB lets about ten batches
// wait while one commits; much more (16 MiB measured) makes the collector
// commit a long run of batches before its acks go out. grpc-js has no server
// option for it, so its settings are widened here; if its internals change,
// this does nothing and only speed is lost.
const RECEIVE_WINDOW_BYTES = 2 * 1024 * 1024;

function widenReceiveWindow(server: grpc.Server): void {
  const common = (server as unknown as { commonServerOptions?: { settings?: Record<string, unknown> } }).commonServerOptions;
  if (common) common.settings = { ...common.settings, initialWindowSize: RECEIVE_WINDOW_BYTES };
}

function widenSessionWindows(server: grpc.Server): void {
  const servers = (server as unknown as { http2Servers?: Map<NodeJS.EventEmitter, unknown> }).http2Servers;
  for (const h2 of servers?.keys() ?? []) {
    h2.on('session', (session: { setLocalWindowSize?: (n: number) => void }) => {
      try {
        session.setLocalWindowSize?.(RECEIVE_WINDOW_BYTES);
      } catch {
        // an older Node: the stream windows above still apply
      }
    });
  }
}

/** Stream batches through the hand-written decoder (wire bytes straight to SensorEvents). */
function withFastBatchDecoder(service: grpc.ServiceDefinition): grpc.ServiceDefinition {
  return { ...service, Stream: { ...service.Stream!, requestDeserialize: (bytes: Buffer) => decodeEventBatch(bytes) } };
}

/** Stream batches left as bytes, for a store that decodes them where it commits. */
function withUndecodedBatches(service: grpc.ServiceDefinition): grpc.ServiceDefinition {
  return { ...service, Stream: { ...service.Stream!, requestDeserialize: (bytes: Buffer): EncodedBatch => ({ encoded: bytes }) } };
}

/** Logs requests that are not valid protobuf; grpc-js then fails the call with INTERNAL. */
function withDecodeLogging(service: grpc.ServiceDefinition, log: Logger): grpc.ServiceDefinition {
  const out: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [name, method] of Object.entries(service)) {
    out[name] = {
      ...method,
      requestDeserialize: (bytes: Buffer) => {
        try {
          return method.requestDeserialize(bytes);
        } catch (err) {
          log.warn({ method: method.path, bytes: bytes.length, err: err instanceof Error ? err.message : String(err) }, 'malformed request refused');
          throw err;
        }
      },
    };
  }
  return out as grpc.ServiceDefinition;
}
