// The collector's store: commits sensor batches into SQLite, one transaction
// per batch, each extending a SHA-256 hash chain; hashes the files agents
// read off the ingest path; prunes old data in small chunks on a timer.
// See schema.ts for the layout and the durability choice.
import type { TurnRecord } from '../../proto/events/turn-record.js';
import Database from 'better-sqlite3';
import { chmodSync, closeSync, constants as C, openSync, statSync } from 'node:fs';
import { makeDirs } from '../make-dirs.js';
import { join } from 'node:path';
import { EVENT_TYPE_NUMBER, type SensorEvent } from '../../proto/events/types.js';
import { HashQueue, kernelIdentity, type HashingOptions } from '../hashing/hash-queue.js';
import { canonicalBatchBytes, chainLink, eventsDigest, GENESIS_LINK, type StoredEvent } from './canonical.js';
import { ChainedRowWriter } from './chained-rows.js';
import { toColumns, wantsHash, WANTS_HASH_SQL, type EventColumns } from './event-rows.js';
import { FileRows, type ContentResult } from './file-rows.js';
import { SensitiveTagger, type SensitiveTagOptions } from './sensitive-tags.js';
import { DEFAULT_SCAN_BYTES, loadFingerprintKey, type DlpOptions } from './dlp-rows.js';
import { StringWriter } from './interning.js';
import { Retention, usedBytes, type PruneResult, type RetentionPolicy } from './retention.js';
import { applyWriterPragmas, checkSchemaVersion, createSchema, DB_FILE_NAME, type Synchronous } from './schema.js';
import { StateDirLock } from './state-lock.js';
import { WalBound } from './wal-checkpointer.js';

export interface EventStoreOptions {
  stateDir: string;
  readonly?: boolean;
  retention?: RetentionPolicy & { intervalMs?: number };
  hashing?: HashingOptions & { enabled?: boolean };
  /** FULL (default): an acked batch survives an OS crash, at an fsync per batch; NORMAL: only a collector crash */
  synchronous?: Synchronous;
  /** past this many bytes of WAL the writer checkpoints with TRUNCATE (default 64 MiB) */
  walLimitBytes?: number;
  /** another connection checkpoints the WAL (wal-checkpointer.ts); commits here never do */
  checkpointElsewhere?: boolean;
  /** sensitive class tags on agents' opens (default: the built-in catalogue); false: none */
  sensitive?: SensitiveTagOptions | false;
  /** content DLP beside the hashing pass (default on); false: none */
  dlp?: DlpOptions | false;
}

export interface CommitInput {
  sensorId: string;
  bootId: string;
  seq: bigint;
  events: SensorEvent[];
  /** the batch came over TCP from another host: its files are not hashed here */
  remote?: boolean;
  /** model turns it carried (not part of the batch's hash: stored as chained rows by collector/intent) */
  turns?: TurnRecord[];
}

/** A batch as committed: its events and the ids they were stored under. */
export interface CommittedBatch {
  sensorId: string;
  events: SensorEvent[];
  turns?: TurnRecord[];
  ids: bigint[];
  /** sensitive classes of each event's path, by index (sensitive-tags.ts); absent when none */
  sensitive?: (string[] | undefined)[];
  /** it came from another host: its pids are not this host's */
  remote?: boolean;
}

export interface CommitResult {
  duplicate: boolean;
  /** a batch under this (sensor, boot, seq) is stored with different events: nothing written */
  conflict?: boolean;
  eventIds: bigint[];
}

export interface StoreStatus {
  events: number;
  batches: number;
  /** database + WAL file size on disk */
  dbBytes: number;
  /** bytes of pages holding data (what maxBytes is compared against) */
  usedBytes: number;
  hashQueue: number;
  hashDropped: number;
  hashed: number;
  hashPartial: number;
  hashCacheHits: number;
  /** of those, found from the kernel's identity of the opened inode without a look at the path */
  hashKernelIdentityHits: number;
  hashUnhashable: number;
  /** hash results that could not be written (store busy or closing) */
  hashFailures: number;
  /** hash results done and waiting for their group's transaction (hash-queue.ts) */
  hashPendingWrites: number;
  /** transactions those results were written in */
  hashWriteGroups: number;
  /** nice of the thread the store runs on, when it runs below the process (store-worker.ts) */
  workerNice?: number | null;
  prunedBatches: number;
  prunedEvents: number;
  /** batches that reused a stored (sensor, boot, seq) with other events */
  integrityAlarms: number;
  /** WAL checkpoints with TRUNCATE the writer ran past walLimitBytes */
  walTruncations: number;
  retention: { maxAgeDays: number | null; maxBytes: number | null };
}

const idRange = (first: bigint | null, count: bigint): bigint[] =>
  first === null ? [] : Array.from({ length: Number(count) }, (_, i) => first + BigInt(i));

/** how far before the newest linked batch a restart looks for unhashed reads */
const REQUEUE_MARGIN_BATCHES = 256;
/** at most this many hash jobs queued again at start (the queue is bounded anyway) */
const REQUEUE_MAX_JOBS = 100_000;


function prepareStateDir(dir: string): void {
  makeDirs(dir, 0o700);
  const st = statSync(dir);
  // Tighten our own dir; never touch a shared one such as /tmp (sticky) or someone else's.
  const ours = typeof process.getuid === 'function' && st.uid === process.getuid();
  if (ours && (st.mode & 0o1000) === 0 && (st.mode & 0o077) !== 0) chmodSync(dir, 0o700);
}

export class EventStore {
  readonly path: string;
  private readonly db: Database.Database;
  private readonly writable: boolean;
  private strings?: StringWriter;
  private hashQueue?: HashQueue;
  private retention?: Retention;
  private retentionTimer?: NodeJS.Timeout;
  private head: Buffer = GENESIS_LINK;
  private counts = { events: 0, batches: 0, prunedBatches: 0, prunedEvents: 0, integrityAlarms: 0, walTruncations: 0 };
  private chain?: ChainedRowWriter;
  private lock?: StateDirLock;
  private walBound?: WalBound;
  private policy: RetentionPolicy = {};
  private stmts?: ReturnType<EventStore['prepareWriter']>;
  private commitTx?: (input: CommitInput, cols: EventColumns[], digest: Buffer) => { batchId: bigint; ids: bigint[]; link: Buffer };
  private closed = false;
  private readonly committedListeners: ((batch: CommittedBatch) => void)[] = [];
  private contentListener?: (result: ContentResult) => void;
  private tagger?: SensitiveTagger;
  private lastTags?: (string[] | undefined)[];

  private constructor(path: string, db: Database.Database, writable: boolean) {
    this.path = path;
    this.db = db;
    this.writable = writable;
  }

  static open(opts: EventStoreOptions): EventStore {
    const path = join(opts.stateDir, DB_FILE_NAME);
    if (opts.readonly) {
      const db = new Database(path, { readonly: true, fileMustExist: true });
      db.pragma('query_only = ON');
      try {
        checkSchemaVersion(db);
      } catch (err) {
        db.close();
        throw err;
      }
      const store = new EventStore(path, db, false);
      store.loadCounts();
      return store;
    }
    prepareStateDir(opts.stateDir);
    const lock = StateDirLock.acquire(opts.stateDir);
    try {
      closeSync(openSync(path, C.O_CREAT | C.O_RDWR, 0o600));
      chmodSync(path, 0o600);
      const db = new Database(path);
      try {
        applyWriterPragmas(db, opts.synchronous ?? 'FULL');
        if (opts.checkpointElsewhere) db.pragma('wal_autocheckpoint = 0');
        createSchema(db);
        const store = new EventStore(path, db, true);
        store.lock = lock;
        store.initWriter(opts);
        return store;
      } catch (err) {
        db.close();
        throw err;
      }
    } catch (err) {
      lock.release();
      throw err;
    }
  }

  /** The open database, for queries and verify (read it; write only through this class). */
  get database(): Database.Database {
    return this.db;
  }

  commitBatch(input: CommitInput): CommitResult {
    if (!this.writable || !this.stmts || !this.commitTx) throw new Error('the store is open read-only');
    if (this.closed) throw new Error('the store is closed');
    const existing = this.stmts.findBatch.get(input.sensorId, input.bootId, input.seq) as
      { first_event_id: bigint | null; event_count: bigint; content_sha256: Buffer | null } | undefined;
    const cols = input.events.map(toColumns); // bad input throws before anything is written
    const digest = eventsDigest(cols);
    if (existing) {
      // A resend carries the same events; anything else under a stored seq is a forgery or a bug, never an ack.
      if (existing.content_sha256 && !existing.content_sha256.equals(digest)) {
        this.counts.integrityAlarms++;
        return { duplicate: false, conflict: true, eventIds: [] };
      }
      return { duplicate: true, eventIds: idRange(existing.first_event_id, existing.event_count) };
    }
    let done: { batchId: bigint; ids: bigint[]; link: Buffer };
    try {
      done = this.commitTx(input, cols, digest);
    } catch (err) {
      this.strings?.forget();
      this.lastTags = undefined;
      this.chain?.reload(); // a tag row appended in the rolled back transaction is gone
      throw err;
    }
    this.head = done.link;
    this.counts.batches++;
    this.counts.events += cols.length;
    if (this.hashQueue) this.enqueueHashes(input, cols, done.ids);
    if (this.walBound?.afterCommit()) this.counts.walTruncations++;
    const sensitive = this.lastTags;
    this.lastTags = undefined;
    const committed: CommittedBatch = {
      sensorId: input.sensorId, events: input.events, ids: done.ids, ...(sensitive ? { sensitive } : {}), ...(input.remote ? { remote: true } : {}), ...(input.turns?.length ? { turns: input.turns } : {}),
    };
    for (const l of this.committedListeners) l(committed);
    return { duplicate: false, eventIds: done.ids };
  }

  /**
   * Called when the content of a file an agent opened was hashed (and
   * scanned): the detection engine's second feed, after commit.
   */
  onContent(listener: (result: ContentResult) => void): void {
    this.contentListener = listener;
  }

  /** Called after each new batch is committed (the detection engine's and the intent join's feed; they must only queue). */
  onCommitted(listener: (batch: CommittedBatch) => void): void {
    this.committedListeners.push(listener);
  }

  /** The chained-rows writer, for facts written after their batch (collector/intent); writer only. */
  get rowChain(): ChainedRowWriter {
    if (!this.chain) throw new Error('the store is open read-only');
    return this.chain;
  }

  // One job per distinct path of a batch: an agent reading the same file
  // thousands of times a second costs one stat and one file_links row per
  // batch, not one per event (and does not flood the bounded queue). The job
  // names the batch's first such open; the link covers the others.
  private enqueueHashes(input: CommitInput, cols: EventColumns[], ids: bigint[]): void {
    let seen: Set<string> | undefined;
    const events = input.events;
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      if (!wantsHash(e)) continue;
      const c = cols[i]!;
      const path = c.path!;
      const key = path.toString('latin1');
      seen ??= new Set();
      if (seen.has(key)) continue;
      seen.add(key);
      const opened = kernelIdentity(e);
      this.hashQueue!.enqueue({
        eventId: ids[i]!, path, pid: c.pid, uid: c.uid, gid: c.gid, mntns: c.mntns, remote: input.remote === true,
        ...(opened ? { opened } : {}),
      });
    }
  }

  /**
   * The hash queue lives in memory: jobs of batches committed just before the
   * collector died were never done. Queue them again from the store: read
   * opens of recent batches (after the newest linked batch, less a margin for
   * jobs that finished out of order) whose (batch, path) has no file link.
   */
  private requeueUnhashed(): void {
    const rows = this.db.prepare(
      `SELECT min(e.id) AS id, s.bytes AS path, e.pid, e.uid, e.gid, e.mntns, b.remote FROM events e
         JOIN strings s ON s.id = e.path_sid
         JOIN batches b ON b.id = e.batch_id
         LEFT JOIN file_links l ON l.batch_id = e.batch_id AND l.path_sid = e.path_sid
        WHERE e.batch_id >= (SELECT coalesce(max(batch_id), 0) FROM file_links) - ${REQUEUE_MARGIN_BATCHES}
          AND ${WANTS_HASH_SQL} AND l.batch_id IS NULL
        GROUP BY e.batch_id, e.path_sid
        ORDER BY e.batch_id
        LIMIT ${REQUEUE_MAX_JOBS}`,
    ).all() as { id: number; path: Buffer; pid: number; uid: number; gid: number; mntns: number; remote: number }[];
    for (const r of rows) {
      this.hashQueue!.enqueue({
        eventId: BigInt(r.id), path: r.path, pid: r.pid, uid: r.uid, gid: r.gid, mntns: r.mntns, remote: r.remote !== 0,
      });
    }
  }

  lastSeq(sensorId: string, bootId: string): bigint | null {
    const row = this.db.prepare('SELECT max(seq) AS seq FROM batches WHERE sensor_id = ? AND boot_id = ?')
      .safeIntegers(true).get(sensorId, bootId) as { seq: bigint | null };
    return row.seq;
  }

  status(): StoreStatus {
    const size = (p: string): number => {
      try {
        return statSync(p).size;
      } catch {
        return 0;
      }
    };
    const h = this.hashQueue?.counters;
    return {
      events: this.counts.events, batches: this.counts.batches,
      dbBytes: size(this.path) + size(`${this.path}-wal`), usedBytes: usedBytes(this.db),
      hashQueue: this.hashQueue?.length ?? 0, hashDropped: h?.dropped ?? 0, hashed: h?.hashed ?? 0,
      hashPartial: h?.partial ?? 0, hashCacheHits: h?.cacheHits ?? 0, hashKernelIdentityHits: h?.kernelIdentityHits ?? 0, hashUnhashable: h?.unhashable ?? 0,
      hashFailures: h?.failures ?? 0, hashPendingWrites: this.hashQueue?.pendingWrites ?? 0, hashWriteGroups: h?.writeGroups ?? 0,
      prunedBatches: this.counts.prunedBatches, prunedEvents: this.counts.prunedEvents,
      integrityAlarms: this.counts.integrityAlarms, walTruncations: this.counts.walTruncations,
      retention: { maxAgeDays: this.policy.maxAgeDays ?? null, maxBytes: this.policy.maxBytes ?? null },
    };
  }

  /** Resolves when every queued hash is written (tests, orderly shutdown). */
  hashIdle(): Promise<void> {
    return this.hashQueue?.idle() ?? Promise.resolve();
  }

  /** Runs retention now until nothing is due (the timer does the same in single chunks). */
  pruneNow(now = Date.now()): PruneResult {
    if (!this.retention) return { batches: 0, events: 0, swept: 0 };
    this.hashQueue?.flushWrites(); // a waiting link names a file row the sweep could take
    const r = this.retention.pruneAll(now);
    this.notePruned(r);
    return r;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.retentionTimer) clearInterval(this.retentionTimer);
    await this.hashQueue?.close();
    this.db.close();
    this.lock?.release();
  }

  private loadCounts(): void {
    const row = this.db.prepare('SELECT count(*) AS b, coalesce(sum(event_count), 0) AS e FROM batches').get() as { b: number; e: number };
    this.counts.batches = row.b;
    this.counts.events = row.e;
  }

  private initWriter(opts: EventStoreOptions): void {
    this.loadCounts();
    const last = this.db.prepare('SELECT hash FROM batches ORDER BY id DESC LIMIT 1').get() as { hash: Buffer } | undefined;
    const anchor = this.db.prepare('SELECT link FROM chain_anchor WHERE id = 1').get() as { link: Buffer } | undefined;
    this.head = last?.hash ?? anchor?.link ?? GENESIS_LINK;
    this.strings = new StringWriter(this.db);
    this.chain = new ChainedRowWriter(this.db);
    this.walBound = new WalBound(this.db, this.path, opts.walLimitBytes);
    this.stmts = this.prepareWriter();
    if (opts.sensitive !== false) this.tagger = new SensitiveTagger(this.db, this.chain, opts.sensitive);
    this.commitTx = this.db.transaction((input: CommitInput, cols: EventColumns[], digest: Buffer) => this.writeBatch(input, cols, digest));
    if (opts.hashing?.enabled !== false) {
      const dlp = opts.dlp === false ? undefined
        : { ...opts.dlp, key: opts.dlp?.key ?? loadFingerprintKey(opts.stateDir) };
      const rows = new FileRows(this.db, this.strings, this.chain, dlp, (r) => this.contentListener?.(r));
      this.hashQueue = new HashQueue(rows, { ...opts.hashing, scanBytes: dlp ? dlp.maxBytes ?? DEFAULT_SCAN_BYTES : 0 });
      this.requeueUnhashed();
    }
    const policy = opts.retention ?? {};
    this.policy = policy;
    this.retention = new Retention(this.db, policy, () => this.strings?.forget());
    if (this.retention.enabled) {
      this.retentionTimer = setInterval(() => this.retentionTick(), policy.intervalMs ?? 10_000);
      this.retentionTimer.unref();
    }
  }

  // One chunk per step, the next step after the event loop had its turn.
  private retentionTick(): void {
    if (this.closed || !this.retention) return;
    try {
      this.hashQueue?.flushWrites(); // a waiting link names a file row the sweep could take
      const r = this.retention.pruneChunk();
      this.notePruned(r);
      if (r.batches > 0 || r.swept > 0) setImmediate(() => this.retentionTick());
    } catch {
      // Busy or full disk: the next tick tries again.
    }
  }

  private notePruned(r: { batches: number; events: number }): void {
    this.counts.batches -= r.batches;
    this.counts.events -= r.events;
    this.counts.prunedBatches += r.batches;
    this.counts.prunedEvents += r.events;
  }

  private prepareWriter() {
    const db = this.db;
    return {
      findBatch: db.prepare('SELECT first_event_id, event_count, content_sha256 FROM batches WHERE sensor_id = ? AND boot_id = ? AND seq = ?')
        .safeIntegers(true),
      insertBatch: db.prepare(
        `INSERT INTO batches (sensor_id, boot_id, seq, received_at, event_count, hash, prev_hash, rows_head_id,
           rows_head_link, content_sha256, remote)
         VALUES (?, ?, ?, ?, ?, x'', ?, ?, ?, ?, ?)`,
      ),
      sealBatch: db.prepare('UPDATE batches SET first_event_id = ?, hash = ? WHERE id = ?'),
      touchStrings: db.prepare('UPDATE strings SET last_batch = ? WHERE id IN (SELECT value FROM json_each(?))'),
      setHead: db.prepare(`INSERT INTO meta (key, value) VALUES ('chain_head', ?)
                           ON CONFLICT (key) DO UPDATE SET value = excluded.value`),
      insertEvent: db.prepare(
        `INSERT INTO events (batch_id, type, ts_ns, pid, tid, ppid, uid, gid, comm_sid, agent_id, cgroup, netns, mntns,
           bits, path_sid, newpath_sid, flags, mode, access, syscall, result, family, proto, addr_sid, port, host_sid,
           code, signal, qname_sid, qtype_sid, start_ns, exe_sid, cwd_sid, argv, agent_pid)
         VALUES (${Array(35).fill('?').join(', ')})`,
      ),
      forked: db.prepare(
        `INSERT INTO processes (sensor_sid, pid, start_ns, ppid, agent_id, last_batch) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT DO UPDATE SET agent_id = coalesce(excluded.agent_id, agent_id), last_batch = excluded.last_batch
         RETURNING exe_sid`,
      ),
      execed: db.prepare(
        `INSERT INTO processes (sensor_sid, pid, start_ns, ppid, agent_id, exe_sid, argv, last_batch)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT DO UPDATE SET exe_sid = excluded.exe_sid, argv = excluded.argv,
           agent_id = coalesce(excluded.agent_id, agent_id), last_batch = excluded.last_batch`,
      ),
      exited: db.prepare(
        `UPDATE processes SET exit_code = ?, exit_signal = ?, last_batch = ?
          WHERE sensor_sid = ? AND pid = ? AND start_ns = (SELECT max(start_ns) FROM processes WHERE sensor_sid = ? AND pid = ?)
          RETURNING exe_sid`,
      ),
    };
  }

  private writeBatch(input: CommitInput, cols: EventColumns[], digest: Buffer): { batchId: bigint; ids: bigint[]; link: Buffer } {
    const s = this.stmts!;
    const strings = this.strings!;
    const receivedAt = BigInt(Date.now());
    const rowsHead = this.chain!.head;
    const batchId = BigInt(s.insertBatch.run(input.sensorId, input.bootId, input.seq, receivedAt, cols.length, this.head,
      rowsHead.id, rowsHead.link, digest, input.remote ? 1 : 0).lastInsertRowid);
    const sensorSid = strings.id(Buffer.from(input.sensorId, 'utf8'));
    const stored: StoredEvent[] = [];
    for (const c of cols) {
      const agentId = strings.agentId(c.agent);
      const id = BigInt(s.insertEvent.run(
        batchId, c.type, c.tsNs, c.pid, c.tid, c.ppid, c.uid, c.gid, strings.id(c.comm), agentId, c.cgroup, c.netns,
        c.mntns, c.bits, strings.optionalId(c.path), strings.optionalId(c.newpath), c.flags, c.mode, c.access,
        c.syscall, c.result, c.family, c.proto, strings.optionalId(c.addr), c.port, strings.optionalId(c.host),
        c.code, c.signal, strings.optionalId(c.qname), strings.optionalId(c.qtype), c.startNs,
        strings.optionalId(c.exe), strings.optionalId(c.cwd), c.argv, c.agentPid,
      ).lastInsertRowid);
      if (stored.length > 0 && id !== stored[stored.length - 1]!.id + 1n) {
        throw new Error('event ids of a batch are not contiguous'); // the id range is what the chain covers
      }
      stored.push({ id, batchId, columns: c });
      this.trackProcess(sensorSid, c, agentId, batchId);
    }
    const firstEventId = stored[0]?.id ?? null;
    const canonical = canonicalBatchBytes({
      id: batchId, sensorId: input.sensorId, bootId: input.bootId, seq: input.seq, receivedAt,
      eventCount: BigInt(cols.length), firstEventId, rowsHeadId: rowsHead.id, rowsHeadLink: rowsHead.link,
    }, stored);
    const link = chainLink(this.head, canonical);
    s.sealBatch.run(firstEventId, link, batchId);
    s.touchStrings.run(batchId, strings.takeUsed());
    this.lastTags = this.tagger?.tag(batchId, stored, { sensorId: input.sensorId, events: input.events, remote: input.remote === true });
    s.setHead.run(`${batchId}:${link.toString('hex')}`);
    return { batchId, ids: stored.map((e) => e.id), link };
  }

  // A process row keeps its strings alive: each update stamps the row and its exe with this batch.
  private trackProcess(sensorSid: number, c: EventColumns, agentId: number | null, batchId: bigint): void {
    const s = this.stmts!;
    const strings = this.strings!;
    let touched: { exe_sid: number | null } | undefined;
    if (c.type === EVENT_TYPE_NUMBER.fork && c.startNs !== null) {
      touched = s.forked.get(sensorSid, c.pid, c.startNs, c.ppid, agentId, batchId) as typeof touched;
    } else if (c.type === EVENT_TYPE_NUMBER.exec && c.startNs !== null) {
      s.execed.run(sensorSid, c.pid, c.startNs, c.ppid, agentId, strings.optionalId(c.exe ?? c.path), c.argv, batchId);
    } else if (c.type === EVENT_TYPE_NUMBER.exit) {
      touched = s.exited.get(c.code, c.signal, batchId, sensorSid, c.pid, sensorSid, c.pid) as typeof touched;
    }
    strings.touch(touched?.exe_sid ?? null);
  }
}
