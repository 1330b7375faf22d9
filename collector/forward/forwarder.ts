// Ships events and alerts from the store to one destination, at least once.
// The store is the outbox: the forwarder keeps only a cursor (cursor-table.ts),
// reads after it, sends, and moves it once the output has the records. A
// failed send rewinds to the last committed cursor and retries with backoff;
// a restart resumes from the committed cursor. Runs beside the collector on
// its own connection to the database.
import type { ForwarderHealth } from '../server/forwarder-registry.js';
import type Database from 'better-sqlite3';
import type { Logger } from 'pino';
import type { EventType } from '../../proto/events/types.js';
import { NO_ALERTS, type AlertSource, type ForwardAlert } from './alert-source.js';
import { Backoff, BACKOFF_DEFAULTS, type BackoffOptions } from './backoff.js';
import { CursorTable, type Cursor } from './cursor-table.js';
import { EventReader, type Lag } from './event-reader.js';
import { alertToOcsf } from './ocsf-alerts.js';
import type { ForwardRecord, ProductInfo } from './ocsf-common.js';
import { eventToOcsf, eventUid } from './ocsf-events.js';
import type { ForwardOutput } from './output.js';
import { storeUid } from './store-identity.js';

export interface ForwardFilter {
  /** event types to ship; undefined: all; []: alerts only */
  types?: EventType[];
  /** ship alerts (the default) */
  alerts?: boolean;
}

export interface ForwarderOptions {
  db: Database.Database;
  output: ForwardOutput;
  /** the cursor's key; defaults to output.name (no credentials in it) */
  dest?: string;
  filter?: ForwardFilter;
  alerts?: AlertSource;
  /** records per send, at most */
  batchSize?: number;
  pollMs?: number;
  backoff?: BackoffOptions;
  product: ProductInfo;
  /** device.uid for alerts without evidence events */
  collectorName: string;
  log?: Logger;
  /** called after every step: metrics read the status from here */
  onStatus?: (s: ForwarderStatus) => void;
}

export interface ForwarderStatus {
  dest: string;
  lagEvents: number;
  lagSeconds: number;
  /** alerts stored but not yet shipped */
  lagAlerts: number;
  shippedEvents: number;
  shippedAlerts: number;
  sentRecords: number;
  missedEvents: number;
  sendFailures: number;
  lastError: string | null;
  /** the newest ts of what was sent, ns */
  lastSentNs: string | null;
}

interface Pending {
  cursor: Cursor;
  epoch: number;
  at: number;
  shippedEvents: number;
  shippedAlerts: number;
  missed: number;
}

export class Forwarder {
  readonly dest: string;
  private readonly reader: EventReader;
  private readonly cursors: CursorTable;
  private readonly alerts: AlertSource;
  private readonly backoff: Backoff;
  private readonly batchSize: number;
  private readonly pollMs: number;
  private readonly storeUid: string;
  private committed: Cursor;
  private readCursor: Cursor;
  private pending: Pending[] = [];
  private running = false;
  private loop?: Promise<void>;
  private wake?: () => void;
  private counters = {
    sentRecords: 0, sendFailures: 0, lastError: null as string | null, lastSentNs: null as string | null,
    /** wall clock (epoch ns) of the last failure and of the last send that went through, for `sensor status` */
    lastErrorAtNs: null as bigint | null, lastSuccessAtNs: null as bigint | null,
  };
  private lagCache: Lag = { events: 0, seconds: 0 };
  private lagAlerts = 0;
  private readonly originOf: Database.Statement;

  constructor(private readonly opts: ForwarderOptions) {
    this.dest = opts.dest ?? opts.output.name;
    const types = opts.filter?.types;
    this.reader = new EventReader(opts.db, types);
    this.cursors = new CursorTable(opts.db);
    this.alerts = opts.filter?.alerts === false ? NO_ALERTS : (opts.alerts ?? NO_ALERTS);
    this.backoff = new Backoff(opts.backoff ?? BACKOFF_DEFAULTS);
    this.batchSize = opts.batchSize ?? 1000;
    this.pollMs = opts.pollMs ?? 500;
    this.storeUid = storeUid(opts.db);
    this.originOf = opts.db.prepare(
      `SELECT b.sensor_id, b.boot_id, b.seq, b.first_event_id FROM events e JOIN batches b ON b.id = e.batch_id WHERE e.id = ?`,
    ).safeIntegers(true);
    const row = this.cursors.read(this.dest);
    this.committed = row ?? this.reader.startCursor();
    if (!row) this.cursors.advance(this.dest, this.committed, { shippedEvents: 0, shippedAlerts: 0, missed: 0 });
    this.readCursor = this.committed;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Stops after the current step; what settles within settleMs is committed, the rest is sent again next time. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.wake?.();
    await this.loop;
    const deadline = Date.now() + this.opts.output.settleMs;
    while (this.pending.length > 0 && Date.now() < deadline) {
      await sleep(Math.min(50, this.opts.output.settleMs));
      this.settle();
    }
    await this.opts.output.close();
  }

  /** The figures `sensor status` shows for this destination (collector/server/forwarder-registry.ts). */
  health(): ForwarderHealth {
    const st = this.status();
    const { lastErrorAtNs, lastSuccessAtNs } = this.counters;
    const failing = st.lastError !== null && lastErrorAtNs !== null && (lastSuccessAtNs === null || lastErrorAtNs > lastSuccessAtNs);
    return {
      name: this.dest, destination: this.dest, lagEvents: st.lagEvents,
      oldestUnshippedNs: st.lagEvents > 0 ? BigInt(Date.now() - Math.round(st.lagSeconds * 1000)) * 1_000_000n : null,
      shipped: st.shippedEvents, lost: st.missedEvents,
      lastError: failing ? { message: st.lastError!, atNs: lastErrorAtNs! } : null,
      lastSuccessNs: lastSuccessAtNs,
    };
  }

  status(): ForwarderStatus {
    this.refreshLagFigures();
    const row = this.cursors.read(this.dest);
    return {
      dest: this.dest, lagEvents: this.lagCache.events, lagSeconds: this.lagCache.seconds, lagAlerts: this.lagAlerts,
      shippedEvents: row?.shippedEvents ?? 0, shippedAlerts: row?.shippedAlerts ?? 0, sentRecords: this.counters.sentRecords,
      missedEvents: row?.missedEvents ?? 0, sendFailures: this.counters.sendFailures,
      lastError: this.counters.lastError, lastSentNs: this.counters.lastSentNs,
    };
  }

  /** One read-send step; true when it found something to send (tests and bench drive it directly). */
  async step(): Promise<boolean> {
    this.settle();
    const alerts = this.alerts.readAfter(this.readCursor.alertId, this.batchSize);
    const read = this.reader.read(this.readCursor, this.batchSize);
    if (alerts.length === 0 && read.examined === 0 && read.missed === 0 && read.next.batchId === this.readCursor.batchId) {
      this.refreshLag();
      return false;
    }
    if (read.missed > 0) this.opts.log?.warn({ dest: this.dest, missed: read.missed }, 'retention deleted events before they were forwarded');
    const records: ForwardRecord[] = alerts.map((a) => this.alertRecord(a));
    for (const e of read.events) records.push(eventToOcsf(e.event, e.origin, this.opts.product));
    if (records.length > 0) {
      await this.opts.output.send(records);
      this.counters.sentRecords += records.length;
      this.counters.lastSuccessAtNs = BigInt(Date.now()) * 1_000_000n;
      this.counters.lastSentNs = records.reduce((m, r) => (r.tsNs > m ? r.tsNs : m), 0n).toString();
    }
    const next: Cursor = { ...read.next, alertId: alerts.length > 0 ? alerts[alerts.length - 1]!.id : this.readCursor.alertId };
    this.pending.push({
      cursor: next, epoch: this.opts.output.epoch, at: Date.now(),
      shippedEvents: read.events.length, shippedAlerts: alerts.length, missed: read.missed,
    });
    this.readCursor = next;
    this.settle();
    this.refreshLag();
    return true;
  }

  /** Commits what has settled; a lost connection sends everything unsettled again. */
  private settle(): void {
    const epoch = this.opts.output.epoch;
    if (this.pending.some((p) => p.epoch !== epoch)) {
      this.pending = [];
      this.readCursor = this.committed;
      return;
    }
    const now = Date.now();
    let done = 0;
    const sum = { shippedEvents: 0, shippedAlerts: 0, missed: 0 };
    while (done < this.pending.length && now - this.pending[done]!.at >= this.opts.output.settleMs) {
      const p = this.pending[done]!;
      sum.shippedEvents += p.shippedEvents;
      sum.shippedAlerts += p.shippedAlerts;
      sum.missed += p.missed;
      done++;
    }
    if (done === 0) return;
    this.committed = this.pending[done - 1]!.cursor;
    this.pending = this.pending.slice(done);
    this.cursors.advance(this.dest, this.committed, sum);
  }

  private refreshLag(): void {
    this.opts.onStatus?.(this.status());
  }

  private refreshLagFigures(): void {
    try {
      this.lagCache = this.reader.lag(this.committed);
      this.lagAlerts = this.alerts.countAfter(this.committed.alertId);
    } catch {
      // the store is busy: the last figures stand
    }
  }

  private alertRecord(a: ForwardAlert): ForwardRecord {
    const evidenceUids = new Map<bigint, string>();
    let sensorId: string | null = null;
    for (const id of a.evidence) {
      const o = this.originOf.get(id) as { sensor_id: string; boot_id: string; seq: bigint; first_event_id: bigint } | undefined;
      if (!o) continue;
      sensorId ??= o.sensor_id;
      evidenceUids.set(id, eventUid({ eventId: id, sensorId: o.sensor_id, bootId: o.boot_id, seq: o.seq, index: Number(id - o.first_event_id) }));
    }
    return alertToOcsf(a, { evidenceUids, sensorId: a.sensorId ?? sensorId ?? this.opts.collectorName, storeUid: this.storeUid }, this.opts.product);
  }

  private async run(): Promise<void> {
    while (this.running) {
      let busy = false;
      try {
        busy = await this.step();
        this.backoff.reset();
      } catch (err) {
        const message = (err as Error).message;
        this.counters.sendFailures++;
        this.counters.lastError = message;
        this.counters.lastErrorAtNs = BigInt(Date.now()) * 1_000_000n;
        this.pending = [];
        this.readCursor = this.committed;
        try {
          this.cursors.noteError(this.dest, message);
        } catch {
          // the store is busy: the error is still in status() and the log
        }
        const delay = this.backoff.next();
        this.opts.log?.warn({ dest: this.dest, err: message, retryInMs: delay, attempt: this.backoff.attempts }, 'forward failed; retrying');
        this.refreshLagQuietly();
        await this.pause(delay);
        continue;
      }
      if (!busy) await this.pause(this.pending.length > 0 ? Math.min(this.pollMs, this.opts.output.settleMs) : this.pollMs);
    }
  }

  private refreshLagQuietly(): void {
    try {
      this.refreshLag();
    } catch {
      // status stays at its last figures
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.wake = done;
    });
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
