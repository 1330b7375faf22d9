// Hashing off the ingest path: commitBatch enqueues (event id, path) and
// returns; a few jobs at a time run on the libuv pool. The queue is bounded:
// when full, the job is dropped and counted rather than letting memory grow
// or slowing ingest down.
//
// Results are written in groups: one transaction (one WAL sync) for all the
// results of up to WRITE_GROUP_MS, not one per file. A Node agent opens
// thousands of module files per session; one commit each cost more than the
// hashing (issue 17). Every result is still written, each job its own link;
// flushWrites() writes the group at once (before retention sweeps file rows
// a cached link names, and at close).
import { DEFAULT_MAX_FILE_BYTES, O_PATH, digestOpened, findReadableFile, isOpened, isReadable, openReadable } from './file-hasher.js';
import type { FileHashResult, FileIdentity } from './file-hasher.js';
import { locate, type JobOrigin } from './hash-location.js';
import type { OpenEvent } from '../../proto/events/types.js';

export interface HashJob extends JobOrigin {
  eventId: bigint;
  path: Buffer;
  /**
   * The inode the agent's open returned, as the kernel saw it (absent: not
   * known, e.g. the bpftrace backend or an older sensor). Its type and
   * version need no look at the path; a file found at the path that is not
   * this version is not what the agent read.
   */
  opened?: KernelIdentity;
  /** performance.now() when queued (set by enqueue): the walk may share stats taken since */
  queuedAt?: number;
}

export interface HashingOptions {
  maxFileBytes?: number;
  workers?: number;
  queueMax?: number;
  /** bytes of each file's start kept for the sink's content scan (DLP); 0: none */
  scanBytes?: number;
}

/** What the kernel said about the opened inode: its version, and its st_mode. */
export interface KernelIdentity extends FileIdentity {
  mode: number;
}

/**
 * The kernel's identity of the inode a read open returned, for its job.
 * None for an O_PATH open: it needs no right to read the file.
 */
export function kernelIdentity(e: OpenEvent): KernelIdentity | undefined {
  const k = e.inode;
  if (!k || e.flags & O_PATH) return undefined;
  return {
    dev: BigInt(k.dev), ino: BigInt(k.ino), size: BigInt(k.size), mtimeNs: BigInt(k.mtimeNs), ctimeNs: BigInt(k.ctimeNs), mode: k.mode,
  };
}

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;

/** A job's outcome to write: a link to a cached row of the same file version, or a new result. */
export type HashWrite = { job: HashJob; fileId: bigint } | { job: HashJob; result: FileHashResult };

/** Where results go (the store): a cache keyed by file version, and the record. */
export interface HashSink {
  /** id of an already hashed row for this exact file version, or null */
  cached(identity: FileIdentity): bigint | null;
  /** CPU work on a result before it waits for its group (the DLP scan of its head) */
  prepare?(write: HashWrite): HashWrite;
  /** writes a group in one transaction; the number of writes that failed (each its own, after a group failure) */
  writeGroup(writes: HashWrite[]): number;
}

/** how long a result may wait for others to share its transaction */
export const WRITE_GROUP_MS = 50;
const WRITE_GROUP_MAX = 512;

export interface HashCounters {
  queued: number;
  dropped: number;
  hashed: number;
  partial: number;
  cacheHits: number;
  /** of those, found from the kernel's identity of the opened inode, with no look at the path */
  kernelIdentityHits: number;
  unhashable: number;
  failures: number;
  /** written in groups: transactions, and results they held */
  writeGroups: number;
  written: number;
}

/**
 * Whether the file the walk found at the job's path is another inode than
 * the one the agent opened (the kernel named it): a decoy renamed over the
 * path, say. Whatever is there now is not what the agent read. The same
 * inode written since the open is still hashed and scanned as found
 * (hashedAt says when): appending a byte after a read must not hide a
 * secret from the content scan. Only on the same device: a stacked file
 * system (overlayfs) may report another device than the kernel's inode has.
 * (The file hashed is the walk's inode: openReadable checks.)
 */
function anotherInode(job: HashJob, found: FileIdentity): boolean {
  const k = job.opened;
  return k !== undefined && k.dev === found.dev && k.ino !== found.ino;
}

export class HashQueue {
  private readonly jobs: HashJob[] = [];
  private head = 0;
  private running = 0;
  private closed = false;
  private pumpScheduled = false;
  private idleWaiters: (() => void)[] = [];
  private writes: HashWrite[] = [];
  private writeTimer?: NodeJS.Timeout;
  readonly counters: HashCounters = {
    queued: 0, dropped: 0, hashed: 0, partial: 0, cacheHits: 0, kernelIdentityHits: 0, unhashable: 0, failures: 0, writeGroups: 0, written: 0,
  };
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

  /** results done and waiting for their group's transaction */
  get pendingWrites(): number {
    return this.writes.length;
  }

  enqueue(job: HashJob): boolean {
    if (this.closed || this.length >= this.queueMax) {
      this.counters.dropped++;
      return false;
    }
    job.queuedAt = performance.now();
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
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Drops what is queued and waits for the running jobs; what they found is written. */
  async close(): Promise<void> {
    this.closed = true;
    this.counters.dropped += this.length;
    this.jobs.length = 0;
    this.head = 0;
    if (this.running === 0) this.flushWrites();
    await this.idle();
  }

  /** Writes the results waiting for their group now. */
  flushWrites(): void {
    if (this.writeTimer) clearTimeout(this.writeTimer);
    this.writeTimer = undefined;
    const group = this.writes;
    if (group.length === 0) return;
    this.writes = [];
    let failed: number;
    try {
      failed = this.sink.writeGroup(group);
    } catch {
      failed = group.length; // the sink could not even try (store closed)
    }
    this.counters.writeGroups++;
    this.counters.written += group.length - failed;
    this.counters.failures += failed;
    this.pump(); // idle waiters
  }

  private isIdle(): boolean {
    return this.length === 0 && this.running === 0 && !this.pumpScheduled && this.writes.length === 0;
  }

  private write(w: HashWrite): void {
    this.writes.push(this.sink.prepare ? this.sink.prepare(w) : w);
    if (this.writes.length >= WRITE_GROUP_MAX) this.flushWrites();
    else this.writeTimer ??= setTimeout(() => this.flushWrites(), WRITE_GROUP_MS);
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
    // Nothing more will come to the group: write it now rather than after the timer.
    if (this.length === 0 && this.running === 0 && this.writes.length > 0 && this.closed) this.flushWrites();
    if (this.isIdle()) {
      for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  /**
   * What the kernel's identity of the opened inode settles without a look
   * at the path: a file that is not regular (a FIFO or a device is never
   * opened here), or a version hashed before (issue 17: ~200 files a Codex
   * session reads again every session, each a walk of its path). The
   * agent's own successful read open of that inode is the right to its
   * content; nothing is read here. Never for another host's batch: its
   * inode numbers are not this kernel's.
   */
  private fromKernel(job: HashJob): boolean {
    const k = job.opened;
    if (!k || job.remote) return false;
    if ((k.mode & S_IFMT) !== S_IFREG) {
      this.counters.unhashable++;
      const { mode: _, ...identity } = k;
      this.write({ job, result: { state: 'not_regular', identity, hashedAt: Date.now() } });
      return true;
    }
    const hit = this.sink.cached(k);
    if (hit === null) return false;
    this.counters.cacheHits++;
    this.counters.kernelIdentityHits++;
    this.write({ job, fileId: hit });
    return true;
  }

  private async run(job: HashJob): Promise<void> {
    try {
      if (this.fromKernel(job)) return;
      const where = locate(job.path, job);
      if (where.kind !== 'local') {
        this.counters.unhashable++;
        this.write({ job, result: { state: where.kind, source: where.kind === 'remote' ? 'remote' : undefined, hashedAt: Date.now() } });
        return;
      }
      // A version hashed before is found from the walk's lstat (the rights are
      // checked there): linked without opening the file again (issue 17: an
      // agent re-reads the same libraries, locale files and modules every session).
      const found = await findReadableFile({ ...where.target, since: job.queuedAt });
      if (!isReadable(found)) {
        this.counters.unhashable++;
        this.write({ job, result: { ...found, source: where.source, hashedAt: Date.now() } });
        return;
      }
      const s = found.stats;
      const now = { dev: s.dev, ino: s.ino, size: s.size, mtimeNs: s.mtimeNs, ctimeNs: s.ctimeNs };
      if (anotherInode(job, now)) {
        this.counters.unhashable++;
        this.write({ job, result: { state: 'replaced', identity: now, source: where.source, hashedAt: Date.now() } });
        return;
      }
      const hit = this.sink.cached(now);
      if (hit !== null) {
        // The link waits for its group: retention flushes the group before it sweeps file rows.
        this.counters.cacheHits++;
        this.write({ job, fileId: hit });
        return;
      }
      const opened = await openReadable(found);
      if (this.closed && isOpened(opened)) {
        await opened.handle.close();
        return;
      }
      if (!isOpened(opened)) {
        this.counters.unhashable++;
        this.write({ job, result: { ...opened, source: where.source, hashedAt: Date.now() } });
        return;
      }
      const result = { ...(await digestOpened(opened, this.maxFileBytes, this.scanBytes)), source: where.source };
      if (result.state === 'hashed') this.counters.hashed++;
      else if (result.state === 'partial') this.counters.partial++;
      else this.counters.unhashable++;
      this.write({ job, result });
    } catch {
      // The sink failed (store closed): the event stays without a file row.
      this.counters.failures++;
    }
  }
}
