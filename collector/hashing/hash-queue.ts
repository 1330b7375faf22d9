// Hashing off the ingest path: commitBatch enqueues (event id, path) and
// returns; a few jobs at a time run on the libuv pool. The queue is bounded:
// when full, the job is dropped and counted rather than letting memory grow
// or slowing ingest down.
import { DEFAULT_MAX_FILE_BYTES, digestOpened, isOpened, openRegularFile } from './file-hasher.js';
import type { FileHashResult, FileIdentity } from './file-hasher.js';
import { locate, type JobOrigin } from './hash-location.js';

export interface HashJob extends JobOrigin {
  eventId: bigint;
  path: Buffer;
}

export interface HashingOptions {
  maxFileBytes?: number;
  workers?: number;
  queueMax?: number;
  /** bytes of each file's start kept for the sink's content scan (DLP); 0: none */
  scanBytes?: number;
}

/** Where results go (the store): a cache keyed by file version, and the record. */
export interface HashSink {
  /** id of an already hashed row for this exact file version, or null */
  cached(identity: FileIdentity): bigint | null;
  /** links the event to that cached row */
  linkCached(job: HashJob, fileId: bigint): void;
  record(job: HashJob, result: FileHashResult): void;
}

export interface HashCounters {
  queued: number;
  dropped: number;
  hashed: number;
  partial: number;
  cacheHits: number;
  unhashable: number;
  failures: number;
}

export class HashQueue {
  private readonly jobs: HashJob[] = [];
  private head = 0;
  private running = 0;
  private closed = false;
  private pumpScheduled = false;
  private idleWaiters: (() => void)[] = [];
  readonly counters: HashCounters = { queued: 0, dropped: 0, hashed: 0, partial: 0, cacheHits: 0, unhashable: 0, failures: 0 };
  private readonly maxFileBytes: number;
  private readonly workers: number;
  private readonly queueMax: number;
  private readonly scanBytes: number;

  constructor(private readonly sink: HashSink, opts: HashingOptions = {}) {
    this.maxFileBytes = opts.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
    this.workers = Math.max(1, opts.workers ?? 2);
    this.queueMax = Math.max(1, opts.queueMax ?? 10_000);
    this.scanBytes = Math.max(0, opts.scanBytes ?? 0);
  }

  get length(): number {
    return this.jobs.length - this.head;
  }

  enqueue(job: HashJob): boolean {
    if (this.closed || this.length >= this.queueMax) {
      this.counters.dropped++;
      return false;
    }
    this.jobs.push(job);
    this.counters.queued++;
    // Start on a later turn: the caller (a commit) never waits on a file system call.
    if (!this.pumpScheduled) {
      this.pumpScheduled = true;
      setImmediate(() => {
        this.pumpScheduled = false;
        this.pump();
      });
    }
    return true;
  }

  /** Resolves once nothing is queued or running. */
  idle(): Promise<void> {
    if (this.length === 0 && this.running === 0 && !this.pumpScheduled) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Drops what is queued and waits for the running jobs. */
  async close(): Promise<void> {
    this.closed = true;
    this.counters.dropped += this.length;
    this.jobs.length = 0;
    this.head = 0;
    await this.idle();
  }

  private pump(): void {
    while (this.running < this.workers && this.length > 0) {
      const job = this.jobs[this.head++]!;
      if (this.head > 1024 && this.head * 2 > this.jobs.length) {
        this.jobs.splice(0, this.head);
        this.head = 0;
      }
      this.running++;
      void this.run(job).finally(() => {
        this.running--;
        this.pump();
      });
    }
    if (this.length === 0 && this.running === 0 && !this.pumpScheduled) {
      for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  private async run(job: HashJob): Promise<void> {
    try {
      const where = locate(job.path, job);
      if (where.kind !== 'local') {
        this.counters.unhashable++;
        this.sink.record(job, { state: where.kind, source: where.kind === 'remote' ? 'remote' : undefined, hashedAt: Date.now() });
        return;
      }
      const opened = await openRegularFile(where.target);
      if (this.closed && isOpened(opened)) {
        await opened.handle.close();
        return;
      }
      if (!isOpened(opened)) {
        this.counters.unhashable++;
        this.sink.record(job, { ...opened, source: where.source, hashedAt: Date.now() });
        return;
      }
      const s = opened.stats;
      const hit = this.sink.cached({ dev: s.dev, ino: s.ino, size: s.size, mtimeNs: s.mtimeNs, ctimeNs: s.ctimeNs });
      if (hit !== null) {
        // Link in the same turn as the lookup: retention may sweep file rows between turns.
        this.counters.cacheHits++;
        try {
          this.sink.linkCached(job, hit);
        } finally {
          await opened.handle.close();
        }
        return;
      }
      const result = { ...(await digestOpened(opened, this.maxFileBytes, this.scanBytes)), source: where.source };
      if (result.state === 'hashed') this.counters.hashed++;
      else if (result.state === 'partial') this.counters.partial++;
      else this.counters.unhashable++;
      this.sink.record(job, result);
    } catch {
      // The sink failed (store closed, disk full): the event stays without a file row.
      this.counters.failures++;
    }
  }
}
