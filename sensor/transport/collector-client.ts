// The sensor's side of the Stream RPC. Events are batched (by count, bytes or
// time), numbered (seq 1, 2, ... per bootId) and kept until the collector
// acks them as committed. On any stream failure the client reconnects with
// backoff and resends every unacked batch in seq order; the collector
// recognises the ones it already has and acks them again without writing.
//
// The unacked buffer is bounded. When it is full, NEW events are dropped and
// counted (never old ones: an old batch may be committed and only its ack
// lost). The count travels in the next batch's dropped_before and in
// counters(), so a loss is always visible.
import * as grpc from '@grpc/grpc-js';
import { pino, type Logger } from 'pino';
import type { SensorEvent } from '../../proto/events/types.js';
import { grpcTarget, parseAddress } from '../../proto/transport/address.js';
import { Backoff, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
import { encodeBatch, encodeEvent, eventsOfBatch, framedSize, turnsOfBatch } from '../../proto/codec/batch-encoder.js';
import { encodeTurn } from '../../proto/codec/turn-proto.js';
import type { TurnRecord } from '../../proto/events/turn-record.js';
import { protoCodecs, STREAM_PATH, type PbAck, type PbSensorHealth } from '../../proto/codec/proto.js';
import { clientChannel, type TlsFiles } from '../../proto/transport/tls.js';
import { readUndelivered, writeUndelivered, type UndeliveredRecord } from './undelivered-file.js';

export interface CollectorClientOptions {
  /** collector address: unix:///path or host:port (with tls) */
  address: string;
  /** the sensor's own loss by cause (sensor/loss.ts), reported with every batch */
  sensorLoss?: () => Record<string, number>;
  sensorId: string;
  bootId: string;
  tls?: TlsFiles;
  /** seal a batch at this many events ... */
  maxBatchEvents?: number;
  /** ... or this many encoded bytes ... */
  maxBatchBytes?: number;
  /** ... or this long after its first event */
  flushMs?: number;
  /** bound on unacked data held (open batch included), bytes */
  bufferBytes?: number;
  /** bound on unacked batches held */
  bufferBatches?: number;
  backoff?: BackoffOptions;
  /** where unacked batches at close are counted, and reported from on the next start (undelivered-file.ts) */
  undeliveredFile?: string;
  logger?: Logger;
  /**
   * What the sensor reports of itself (backend, programs, kernel, events by
   * type: sensor-health.ts); sent on reportHealth(), then at most every
   * HEALTH_EVERY_MS with batches, on the heartbeat, and with stopped=true on close
   */
  health?: (stopped: boolean) => PbSensorHealth | undefined;
  /** with `health`: an empty batch carries it when nothing was sent for this long (0: no heartbeat) */
  heartbeatMs?: number;
}

export interface TransportCounters {
  /** events written to a stream for the first time */
  sent: number;
  /** events the collector acked (committed now or earlier) */
  acked: number;
  /** events written again after a reconnect */
  resent: number;
  /** events dropped because the buffer was full */
  dropped: number;
  /** events in batches the collector refused as invalid */
  rejected: number;
  /** events held, not yet acked */
  buffered: number;
  bufferedBytes: number;
  batchesAcked: number;
  reconnects: number;
  connected: boolean;
  lastSeq: string;
}

interface SealedBatch {
  seq: bigint;
  bytes: Buffer;
  events: number;
  droppedBefore: bigint;
  sentOnce: boolean;
  /** carries the earlier runs' undelivered report: acked, the file goes */
  reportsUndelivered?: boolean;
}

type AckStream = grpc.ClientDuplexStream<Buffer, PbAck>;

const CONNECT_TIMEOUT_MS = 10_000;
/** model turns waiting for a batch; beyond, dropped and counted */
const MAX_OPEN_TURNS = 1000;
/** a health report rides on a batch at most this often (its counts change with every event) */
const HEALTH_EVERY_MS = 5000;
/** silence longer than this from a running sensor means something is wrong (sensor status says so) */
export const DEFAULT_HEARTBEAT_MS = 30_000;
/**
 * A batch carries the counters as they were when it was sealed, so after the
 * last batch of a burst the collector would show it "buffered" until the next
 * one. This long after an ack with nothing left in flight, an empty batch
 * brings the collector the current counters (once: its own ack changes none).
 */
const COUNTERS_REPORT_MS = 500;

export const CLIENT_DEFAULTS = {
  maxBatchEvents: 2000,
  maxBatchBytes: 1024 * 1024,
  flushMs: 50,
  bufferBytes: 64 * 1024 * 1024,
  bufferBatches: 10_000,
};

export class CollectorClient {
  private readonly opts: Required<Omit<CollectorClientOptions, 'tls' | 'logger' | 'undeliveredFile' | 'sensorLoss' | 'health'>> & {
    tls?: TlsFiles; undeliveredFile?: string; sensorLoss?: () => Record<string, number>; health?: (stopped: boolean) => PbSensorHealth | undefined;
  };
  private lastHealthMs = 0;
  private lastSealMs = 0;
  private heartbeat: NodeJS.Timeout | undefined;
  /** earlier runs' losses not yet acked by the collector */
  private undeliveredEarlier: UndeliveredRecord[] = [];
  private undeliveredSent = false;
  private readonly log: Logger;
  private readonly backoff: Backoff;
  private readonly pending: SealedBatch[] = [];
  private pendingBytes = 0;
  private open: Buffer[] = [];
  private openBytes = 0;
  /** model turns riding on the next batch (EventBatch.turns), encoded when pushed */
  private openTurns: Buffer[] = [];
  readonly turnCounters = { pushed: 0, dropped: 0 };
  private flushTimer: NodeJS.Timeout | undefined;
  private reportTimer: NodeJS.Timeout | undefined;
  /** the counters the newest batch carried, as sent */
  private lastReported = '';
  private reconnectTimer: NodeJS.Timeout | undefined;
  private client: grpc.Client | undefined;
  private call: AckStream | undefined;
  private lastSeq = 0n;
  private droppedSinceBatch = 0n;
  private stopped = false;
  private failuresInRow = 0;
  private drainWaiters: (() => void)[] = [];
  private readonly c = {
    sent: 0, acked: 0, resent: 0, dropped: 0, rejected: 0, batchesAcked: 0, reconnects: 0,
  };

  constructor(options: CollectorClientOptions) {
    parseAddress(options.address); // fail early on a bad address
    this.opts = { ...CLIENT_DEFAULTS, backoff: DEFAULT_BACKOFF, heartbeatMs: DEFAULT_HEARTBEAT_MS, ...options };
    this.log = (options.logger ?? pino({ name: 'agent-sensor' })).child({ module: 'sensor.transport' });
    this.backoff = new Backoff(this.opts.backoff);
  }

  start(): void {
    if (this.opts.undeliveredFile) {
      this.undeliveredEarlier = readUndelivered(this.opts.undeliveredFile);
      if (this.undeliveredEarlier.length > 0) {
        this.log.warn({ undelivered: this.undeliveredEarlier }, 'an earlier run stopped with batches never delivered; reporting them to the collector');
        // Reported even if this run has no event to send: an empty batch carries it.
        this.write(this.sealed([], 0n, false));
      }
    }
    this.connect();
    if (this.opts.health && this.opts.heartbeatMs > 0) {
      this.heartbeat = setInterval(() => {
        if (Date.now() - this.lastSealMs >= this.opts.heartbeatMs) this.reportHealth();
      }, Math.max(100, Math.floor(this.opts.heartbeatMs / 2))).unref();
    }
  }

  /** Sends the sensor's health report now, in an empty batch if nothing else is open (at start, heartbeat). */
  reportHealth(stopped = false): void {
    if (!this.opts.health || this.stopped) return;
    const health = stopped ? 'stopped' : 'now';
    if (this.open.length > 0) {
      this.seal(health); // the events waiting carry it
      return;
    }
    this.write(this.sealed([], this.droppedSinceBatch, false, health));
    this.droppedSinceBatch = 0n;
  }

  /** Adds events; never blocks. Events that do not fit the buffer are dropped and counted. */
  push(events: readonly SensorEvent[]): void {
    if (this.stopped) {
      this.drop(events.length);
      return;
    }
    for (const event of events) {
      const encoded = encodeEvent(event);
      const size = framedSize(encoded);
      if (this.pendingBytes + this.openBytes + size > this.opts.bufferBytes) {
        this.drop(1);
        continue;
      }
      if (this.open.length > 0 && this.openBytes + size > this.opts.maxBatchBytes) this.seal();
      if (this.open.length === 0 && this.pending.length >= this.opts.bufferBatches) {
        this.drop(1);
        continue;
      }
      this.open.push(encoded);
      this.openBytes += size;
      if (this.open.length >= this.opts.maxBatchEvents) this.seal();
    }
    if (this.open.length > 0 && !this.flushTimer) {
      this.flushTimer = setTimeout(() => {
        this.flushTimer = undefined;
        this.seal();
      }, this.opts.flushMs);
    }
  }

  /**
   * Model turns (collector/intent): they ride on the next batch, with its
   * acks and resends; at most MAX_OPEN_TURNS wait, more are dropped and counted.
   */
  pushTurns(turns: readonly TurnRecord[]): void {
    for (const t of turns) {
      if (this.stopped || this.openTurns.length >= MAX_OPEN_TURNS) {
        this.turnCounters.dropped++;
        continue;
      }
      this.openTurns.push(encodeTurn(t));
      this.turnCounters.pushed++;
    }
    if (this.openTurns.length > 0 && !this.flushTimer) {
      this.flushTimer = setTimeout(() => {
        this.flushTimer = undefined;
        this.seal();
      }, this.opts.flushMs);
    }
  }

  /** Seals the open batch now (it is then sent as soon as a stream is up). */
  flush(): void {
    this.seal();
  }

  counters(): TransportCounters {
    return {
      ...this.c,
      buffered: this.pending.reduce((n, b) => n + b.events, 0) + this.open.length,
      bufferedBytes: this.pendingBytes + this.openBytes,
      connected: this.call !== undefined && this.failuresInRow === 0,
      lastSeq: String(this.lastSeq),
    };
  }

  /**
   * Seals what is open, waits up to timeoutMs for every batch to be acked,
   * then closes the stream. Returns the counters; `buffered` > 0 means events
   * that were never acked (the caller should say so).
   */
  async close(timeoutMs = 5000): Promise<TransportCounters> {
    this.seal();
    // Drops not yet reported (nothing was sealed after them) go in an empty batch.
    // The last health report says the run stopped in order (not gone silent); only worth sending on a live stream.
    const final = this.opts.health && this.call && !this.stopped ? 'stopped' : undefined;
    if (this.droppedSinceBatch > 0n || final) this.write(this.sealed([], this.droppedSinceBatch, false, final));
    this.droppedSinceBatch = 0n;
    clearInterval(this.heartbeat);
    if (this.pending.length > 0 && timeoutMs > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        this.drainWaiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    this.stopped = true;
    clearTimeout(this.flushTimer);
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.reportTimer);
    this.flushTimer = this.reconnectTimer = this.reportTimer = undefined;
    this.call?.end();
    this.call = undefined;
    this.client?.close();
    this.client = undefined;
    const counters = this.counters();
    if (counters.buffered > 0) this.log.warn({ unacked: counters.buffered }, 'closing with events the collector never acked');
    if (this.opts.undeliveredFile) {
      const lost = this.pending.length > 0
        ? [{ bootId: this.opts.bootId, events: counters.buffered, batches: this.pending.length }] : [];
      try {
        writeUndelivered(this.opts.undeliveredFile, [...this.undeliveredEarlier, ...lost]);
      } catch (err) {
        this.log.error({ err: String(err), file: this.opts.undeliveredFile }, 'cannot record the undelivered batches');
      }
    }
    return counters;
  }

  private drop(n: number): void {
    if (this.c.dropped === 0 || this.droppedSinceBatch === 0n) {
      this.log.warn({ buffered: this.pendingBytes + this.openBytes }, 'transport buffer full: dropping new events');
    }
    this.c.dropped += n;
    this.droppedSinceBatch += BigInt(n);
  }

  private seal(health?: 'now' | 'stopped'): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (this.open.length === 0 && this.openTurns.length === 0) return;
    const batch = this.sealed(this.open, this.droppedSinceBatch, false, health);
    this.droppedSinceBatch = 0n;
    this.open = [];
    this.openBytes = 0;
    this.write(batch);
  }

  /** Numbers and encodes events as the next batch and holds it until acked. */
  private sealed(events: readonly Buffer[], droppedBefore: bigint, sentOnce: boolean, health?: 'now' | 'stopped', turns?: Buffer[]): SealedBatch {
    const carried = turns ?? this.openTurns.splice(0);
    const seq = ++this.lastSeq;
    const now = Date.now();
    this.lastSealMs = now;
    const healthReport = this.opts.health && (health !== undefined || now - this.lastHealthMs >= HEALTH_EVERY_MS)
      ? this.opts.health(health === 'stopped') : undefined;
    if (healthReport) this.lastHealthMs = now;
    const counters = wireCounters(this.counters(), this.opts.sensorLoss?.());
    this.lastReported = JSON.stringify(counters);
    const report = !this.undeliveredSent && this.undeliveredEarlier.length > 0;
    if (report) this.undeliveredSent = true;
    const bytes = encodeBatch({
      sensorId: this.opts.sensorId,
      bootId: this.opts.bootId,
      seq,
      droppedBefore,
      counters,
      undelivered: report
        ? this.undeliveredEarlier.map((u) => ({ boot_id: u.bootId, events: String(u.events), batches: String(u.batches) }))
        : undefined,
      health: healthReport,
    }, events, carried);
    const batch: SealedBatch = { seq, bytes, events: events.length, droppedBefore, sentOnce, reportsUndelivered: report };
    this.pending.push(batch);
    this.pendingBytes += bytes.length;
    return batch;
  }

  /**
   * The collector refused a message as too large (its limit is below our
   * batch size). The largest unacked batch is at least as large as the one
   * refused, so splitting it in two, under new sequence numbers, always makes
   * progress; a single event that is still too large is dropped as rejected.
   */
  private splitLargest(): void {
    if (this.pending.length === 0) return;
    let index = 0;
    this.pending.forEach((b, i) => {
      if (b.bytes.length > this.pending[index]!.bytes.length) index = i;
    });
    const [batch] = this.pending.splice(index, 1);
    this.pendingBytes -= batch!.bytes.length;
    const events = eventsOfBatch(batch!.bytes);
    const turns = turnsOfBatch(batch!.bytes);
    if (events.length <= 1) {
      this.c.rejected += events.length;
      this.turnCounters.dropped += turns.length;
      this.log.error({ seq: String(batch!.seq), bytes: batch!.bytes.length }, 'one event is larger than the collector accepts; dropped');
      return;
    }
    const half = Math.ceil(events.length / 2);
    this.sealed(events.slice(0, half), batch!.droppedBefore, batch!.sentOnce, undefined, turns);
    this.sealed(events.slice(half), 0n, batch!.sentOnce, undefined, []);
    this.log.warn({ seq: String(batch!.seq), bytes: batch!.bytes.length, events: events.length }, 'collector refused a batch as too large; split it in two');
  }

  private write(batch: SealedBatch, call: AckStream | undefined = this.call): void {
    if (!call) return; // sent when the next stream opens
    if (batch.sentOnce) this.c.resent += batch.events;
    else this.c.sent += batch.events;
    batch.sentOnce = true;
    call.write(batch.bytes);
  }

  private connect(): void {
    if (this.stopped) return;
    this.client?.close();
    // A fresh channel per attempt: the channel's own reconnect backoff would
    // otherwise stack on ours and grow to minutes.
    const address = parseAddress(this.opts.address);
    const tls = this.opts.tls ? clientChannel(address, this.opts.tls) : undefined;
    const client = new grpc.Client(grpcTarget(address), tls?.credentials ?? grpc.credentials.createInsecure(), {
      ...tls?.options,
      'grpc.max_send_message_length': -1,
      'grpc.initial_reconnect_backoff_ms': this.opts.backoff.initialMs,
      'grpc.max_reconnect_backoff_ms': this.opts.backoff.maxMs,
    });
    this.client = client;
    this.whenReady(client, () => this.openStream(client));
  }

  /**
   * Opens the stream only once the channel is READY, so batches are written
   * (and counted as sent or resent) only to a collector that is there; a
   * failed connection attempt goes straight to our backoff.
   */
  private whenReady(client: grpc.Client, then: () => void): void {
    const channel = client.getChannel();
    const check = () => {
      if (this.stopped || this.client !== client) return;
      const state = channel.getConnectivityState(true);
      if (state === grpc.connectivityState.READY) return then();
      if (state === grpc.connectivityState.TRANSIENT_FAILURE || state === grpc.connectivityState.SHUTDOWN) {
        return this.scheduleReconnect('cannot connect');
      }
      channel.watchConnectivityState(state, Date.now() + CONNECT_TIMEOUT_MS, (err) => {
        if (err) {
          if (!this.stopped && this.client === client) this.scheduleReconnect('connect timed out');
          return;
        }
        check();
      });
    };
    check();
  }

  private openStream(client: grpc.Client): void {
    const ackCodec = protoCodecs().ack;
    const call = client.makeBidiStreamRequest(STREAM_PATH, (b: Buffer) => b, (b: Buffer) => ackCodec.decode(b)) as AckStream;
    this.call = call;
    let gone = false;
    const lost = (why: string, err?: grpc.ServiceError) => {
      if (gone) return;
      gone = true;
      if (this.call === call) this.call = undefined;
      call.removeAllListeners('data');
      call.on('error', () => {}); // a late error after we gave up on this call is expected
      if (err?.code === grpc.status.RESOURCE_EXHAUSTED) this.splitLargest();
      if (!this.stopped) this.scheduleReconnect(why, err);
    };
    call.on('data', (ack: PbAck) => this.onAck(ack));
    call.on('error', (err: grpc.ServiceError) => lost('error', err));
    call.on('end', () => lost('collector ended the stream'));
    for (const batch of this.pending) this.write(batch, call);
  }

  private scheduleReconnect(why: string, err?: grpc.ServiceError): void {
    this.failuresInRow++;
    const delay = this.backoff.next();
    const detail = { why, code: err ? grpc.status[err.code] : undefined, details: err?.details, retryInMs: delay, unacked: this.pending.length };
    if (this.failuresInRow === 1) this.log.warn(detail, 'collector stream lost; reconnecting');
    else this.log.debug(detail, 'collector still unreachable');
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.c.reconnects++;
      this.connect();
    }, delay);
  }

  private onAck(ack: PbAck): void {
    if (this.failuresInRow > 0) {
      this.log.info({ afterFailures: this.failuresInRow }, 'collector stream up again');
      this.failuresInRow = 0;
    }
    this.backoff.reset();
    const seq = BigInt(ack.seq ?? '0');
    const index = this.pending.findIndex((b) => b.seq === seq);
    if (index < 0 || ack.boot_id !== this.opts.bootId) {
      this.log.debug({ seq: ack.seq }, 'ack for a batch not held (already acked)');
      return;
    }
    const [batch] = this.pending.splice(index, 1);
    this.pendingBytes -= batch!.bytes.length;
    if (batch!.reportsUndelivered) {
      // The collector has the report (or refused the batch for good): it is not sent again.
      this.undeliveredEarlier = [];
      try {
        if (this.opts.undeliveredFile) writeUndelivered(this.opts.undeliveredFile, []);
      } catch (err) {
        this.log.warn({ err: String(err) }, 'cannot remove the undelivered record');
      }
    }
    if (ack.status === 'ACK_STATUS_REJECTED') {
      this.c.rejected += batch!.events;
      this.log.error({ seq: ack.seq, events: batch!.events, reason: ack.message }, 'collector rejected a batch; its events are lost');
    } else {
      this.c.acked += batch!.events;
      this.c.batchesAcked++;
    }
    if (this.pending.length === 0) {
      for (const wake of this.drainWaiters.splice(0)) wake();
    }
    if (!this.reportTimer && !this.stopped) {
      this.reportTimer = setTimeout(() => {
        this.reportTimer = undefined;
        this.reportCounters();
      }, COUNTERS_REPORT_MS).unref();
    }
  }

  /** Sends the current counters in an empty batch when the last one sent carried others (see COUNTERS_REPORT_MS). */
  private reportCounters(): void {
    if (this.stopped || !this.call || this.pending.length > 0 || this.open.length > 0) return;
    if (JSON.stringify(wireCounters(this.counters(), this.opts.sensorLoss?.())) === this.lastReported) return;
    const batch = this.sealed([], this.droppedSinceBatch, false);
    this.droppedSinceBatch = 0n;
    this.write(batch);
  }
}

function wireCounters(c: TransportCounters, loss?: Record<string, number>) {
  return {
    sent: String(c.sent), acked: String(c.acked), resent: String(c.resent),
    dropped: String(c.dropped), buffered: String(c.buffered), rejected: String(c.rejected),
    ...(loss && Object.keys(loss).length ? { sensor_loss: Object.fromEntries(Object.entries(loss).map(([k, n]) => [k, String(n)])) } : {}),
  };
}
