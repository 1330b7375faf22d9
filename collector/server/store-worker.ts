// The event store on a worker thread that owns the database. The collector's
// main thread serves gRPC and hands each batch's wire bytes over; the worker
// decodes, validates and commits them (EventStore, with its hashing and
// retention) and reports the outcome, and only then does the main thread ack.
// On one thread gRPC, decoding and SQLite took turns on one core; split, the
// next batch arrives while the worker commits this one.
//
// Messages are handled in order, so batches commit in the order the server
// passed them. A batch that fails to commit (disk full) fails the later
// batches of its stream too, unwritten: the sensor resends them all in order.
// The main thread keeps a read-only connection for lastSeq and queries
// (WAL: readers see every committed batch, never block the writer), and
// runs the WAL checkpoints, which would otherwise cost the writer's commits
// (collector/store/wal-checkpointer.ts).
//
// The worker runs below the agents' priority (nice BACKGROUND_NICE, its
// thread alone: Linux keeps nice per thread, and /proc/thread-self names the
// thread id): on a busy 2-core machine its commits, hashing, DLP and
// detectors yield the CPU to the agent and catch up when it idles. The kernel
// ring reader and the main thread (decode, gRPC) keep normal priority, so a
// slower store never loses events: the sensor holds unacked batches, and what
// waits is counted in `sensor status` (issue 17).
//
// If the worker dies (an uncaught error, out of memory) nothing would commit
// again while the server went on accepting streams: the owner is told through
// onDeath (the CLI logs the cause and exits non-zero, so systemd restarts it).
import { once } from 'node:events';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { decodeEventBatch } from '../../proto/codec/batch-decoder.js';
import { EventStore, type EventStoreOptions, type StoreStatus } from '../store/event-store.js';
import { WalCheckpointer } from '../store/wal-checkpointer.js';
import { attachDetection } from '../detect/attach.js';
import { protectStateDir, type DetectionOptions } from '../detect/settings.js';
import type { DetectionEngine } from '../detect/engine.js';
import type { EgressFinding } from '../detect/egress-finding.js';
import { IntentService } from '../intent/intent-service.js';
import { commitEncodedBatch } from './batch-commit.js';
import { processLogger } from './logger.js';
import { BACKGROUND_NICE, lowerThread, nameOwnThread, ownThreadId } from './thread-priority.js';
import type { BatchSender, CommitOutcome } from './batch-types.js';
import type { EncodedBatchStore } from './store-port.js';

type ToWorker =
  | { op: 'commit'; id: number; stream: number; bytes: Uint8Array; sender: BatchSender }
  | { op: 'status'; id: number }
  | { op: 'egress'; id: number; finding: EgressFinding }
  | { op: 'close'; id: number };

type FromWorker =
  | { op: 'ready' }
  | { op: 'error'; message: string }
  | { op: 'reply'; id: number; value: CommitOutcome | StoreStatus | null }
  | { op: 'failure'; id: number; message: string };

const MARK = 'agent-sensor-store-worker';

/** The writer's options: the store's, the detection engine's when detectors run after commit, and where turns go as OpenTelemetry. */
export type WriterStoreOptions = WorkerStoreOptions & { detection?: DetectionOptions; otelEndpoint?: string };

/** A worker runs JavaScript only: from TypeScript source (vite-node, tests) the store stays on this thread. */
export const STORE_WORKER_AVAILABLE = import.meta.url.endsWith('.js');

/**
 * The collector's writer store: on a worker thread when this module is
 * compiled, else (TypeScript source) an EventStore on this thread.
 */
export async function openWriterStore(opts: WriterStoreOptions): Promise<WorkerStore | EventStore> {
  return STORE_WORKER_AVAILABLE ? WorkerStore.open(opts) : withDetection(EventStore.open(withSensitive(opts)), opts);
}

/** The store tags opens with the catalogue detection is configured with (the config's `sensitive:`). */
function withSensitive(opts: WriterStoreOptions): WriterStoreOptions {
  if (opts.sensitive !== undefined || !opts.detection) return opts;
  return { ...opts, sensitive: { classes: opts.detection.sensitive, passwdFile: opts.detection.passwdFile } };
}

/** The engine beside each writer store on this thread (egress findings go to it); the intent join beside it (turns come with batches). */
const engines = new WeakMap<EventStore, DetectionEngine>();

function withDetection(store: EventStore, opts: WriterStoreOptions): EventStore {
  const engine = opts.detection ? attachDetection(store, protectStateDir(opts.detection, opts.stateDir), processLogger()) : undefined;
  if (engine) engines.set(store, engine);
  const intent = new IntentService(store, processLogger().child({ module: 'collector.intent' }), {
    passwdFile: opts.detection?.passwdFile, ...(opts.otelEndpoint ? { otelEndpoint: opts.otelEndpoint } : {}),
    onUnexplained: (u) => engine?.unexplainedAction(u),
  });
  const closeStore = store.close.bind(store);
  store.close = async () => {
    // Stopping: no call can come for what is left, so every exec no call claimed is judged now.
    intent.flush(Number.MAX_SAFE_INTEGER);
    await intent.close();
    await closeStore();
  };
  return store;
}

/**
 * A secret the sensor's content capture saw leaving an agent: to the
 * detection engine of the store (on its worker thread, the one writer), which
 * stores a `secret_egress` alert. Without detection there is nowhere to put it: false.
 */
export function reportEgressFinding(store: WorkerStore | EventStore, finding: EgressFinding): boolean {
  if (store instanceof WorkerStore) return store.egressFinding(finding);
  const engine = engines.get(store);
  engine?.egressFinding(finding);
  return engine !== undefined;
}

export interface WorkerStoreOptions extends EventStoreOptions {
  /** the worker died unasked: nothing will be committed any more */
  onDeath?: (err: Error) => void;
  /** heap limit of the worker, MiB (tests make it die of it) */
  workerHeapMb?: number;
}

interface Waiter {
  resolve: (v: never) => void;
  reject: (err: Error) => void;
  /** performance.now() when asked */
  at: number;
}

export class WorkerStore implements EncodedBatchStore {
  private nextId = 1;
  private readonly waiting = new Map<number, Waiter>();
  private dead?: Error;
  private closing?: Promise<void>;

  private constructor(
    private readonly worker: Worker,
    private readonly exited: Promise<unknown>,
    private readonly reader: EventStore,
    private readonly checkpointer: WalCheckpointer,
    private readonly onDeath?: (err: Error) => void,
  ) {
    worker.on('message', (m: FromWorker) => this.onMessage(m));
    worker.on('error', (err) => this.fail(err));
    void exited.then((args) => this.fail(new Error(`the store worker exited (code ${(args as unknown[])[0]})`)));
  }

  /** Opens the store on a new worker thread; resolves once it is open. */
  static async open(opts: WriterStoreOptions): Promise<WorkerStore> {
    if (opts.readonly) throw new Error('a worker store is the writer; open a read-only EventStore directly');
    const { onDeath, workerHeapMb, ...storeOpts } = opts;
    const worker = new Worker(new URL(import.meta.url), {
      workerData: { [MARK]: { ...storeOpts, checkpointElsewhere: true } },
      ...(workerHeapMb ? { resourceLimits: { maxOldGenerationSizeMb: workerHeapMb } } : {}),
    });
    // Not once(): that rejects when the worker emits 'error' first (a crash), and the exit would go unseen.
    const exited = new Promise<unknown[]>((resolve) => worker.once('exit', (code) => resolve([code])));
    try {
      const [msg] = (await Promise.race([
        once(worker, 'message'),
        once(worker, 'error').then(([err]) => [{ op: 'error', message: String((err as Error)?.message ?? err) }]),
        exited.then(([code]) => [{ op: 'error', message: `store worker exited with code ${code} before opening` }]),
      ])) as [FromWorker];
      if (msg.op === 'error') throw new Error(msg.message);
      const reader = EventStore.open({ stateDir: opts.stateDir, readonly: true });
      try {
        return new WorkerStore(worker, exited, reader, new WalCheckpointer(reader.path), onDeath);
      } catch (err) {
        await reader.close();
        throw err;
      }
    } catch (err) {
      await worker.terminate();
      throw err;
    }
  }

  /** A read-only connection to the database (queries). */
  get database(): EventStore['database'] {
    return this.reader.database;
  }

  commitEncoded(bytes: Buffer, stream: number, sender: BatchSender): Promise<CommitOutcome> {
    // A copy in a buffer of its own, moved rather than cloned (a Buffer is
    // often a view into a larger one, which a clone would copy whole).
    const own = new Uint8Array(bytes.length);
    own.set(bytes);
    return this.call<CommitOutcome>({ op: 'commit', id: 0, stream, bytes: own, sender }, [own.buffer]);
  }

  lastSeq(sensorId: string, bootId: string): bigint | null {
    return this.reader.lastSeq(sensorId, bootId);
  }

  status(): Promise<StoreStatus> {
    return this.call<StoreStatus>({ op: 'status', id: 0 });
  }

  /** Hands a finding to the engine on the worker; false when the store is closed or dead. */
  egressFinding(finding: EgressFinding): boolean {
    if (this.dead || this.closing) return false;
    this.worker.postMessage({ op: 'egress', id: 0, finding } satisfies ToWorker);
    return true;
  }

  /** Closes the store (after every commit already passed) and ends the worker. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (!this.dead) {
        try {
          await this.call({ op: 'close', id: 0 });
        } catch {
          // the worker died: nothing left to close there
        }
      }
      await this.exited;
      await this.reader.close();
      this.checkpointer.close(); // the last connection: checkpoints fully, removes the WAL
    })();
    return this.closing;
  }

  private call<T>(msg: ToWorker, transfer: ArrayBuffer[] = []): Promise<T> {
    if (this.dead) return Promise.reject(this.dead);
    if (this.closing && msg.op !== 'close') return Promise.reject(new Error('the store is closed'));
    msg.id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(msg.id, { resolve: resolve as (v: never) => void, reject, at: performance.now() });
      this.worker.postMessage(msg, transfer);
    });
  }

  /** ms the oldest request still unanswered has waited (0: none waits) */
  oldestWaitMs(): number {
    for (const w of this.waiting.values()) return performance.now() - w.at; // insertion order: the first is the oldest
    return 0;
  }

  private onMessage(m: FromWorker): void {
    if (m.op !== 'reply' && m.op !== 'failure') return;
    const w = this.waiting.get(m.id);
    if (!w) return;
    this.waiting.delete(m.id);
    if (m.op === 'reply') w.resolve(m.value as never);
    else w.reject(new Error(m.message));
  }

  private fail(err: Error): void {
    const first = this.dead === undefined;
    // "store is closed" marks it retryable for the server: the sensor resends later.
    this.dead ??= new Error(`the store is closed: ${err.message}`);
    for (const w of this.waiting.values()) w.reject(this.dead);
    this.waiting.clear();
    if (first && !this.closing) this.onDeath?.(err);
  }
}

const POISONED_MAX = 4096;

export { BACKGROUND_NICE };

/** The worker's own thread: named (top -H, the bench), and lowered to BACKGROUND_NICE; its nice, or null. */
function backgroundThread(): { tid: number | null; nice: number | null } {
  const tid = ownThreadId();
  if (tid === null) return { tid: null, nice: null };
  nameOwnThread('store-worker');
  return { tid, nice: lowerThread(tid) }; // null: not allowed, it runs at the process's priority
}

function runInWorker(opts: WriterStoreOptions): void {
  const port = parentPort!;
  const background = backgroundThread();
  let store: EventStore;
  try {
    store = withDetection(EventStore.open(withSensitive(opts)), opts);
  } catch (err) {
    port.postMessage({ op: 'error', message: err instanceof Error ? err.message : String(err) } satisfies FromWorker);
    port.close();
    return;
  }
  const poisoned = new Set<number>(); // streams with a failed commit
  const commit = (stream: number, bytes: Buffer, sender: BatchSender): CommitOutcome => {
    if (poisoned.has(stream)) return failedAfterEarlier(bytes);
    const outcome = commitEncodedBatch(store, bytes, sender);
    if (outcome.kind === 'failed') {
      if (poisoned.size >= POISONED_MAX) poisoned.delete(poisoned.values().next().value!);
      poisoned.add(stream);
    }
    return outcome;
  };
  port.on('message', (m: ToWorker) => {
    try {
      if (m.op === 'commit') {
        const value = commit(m.stream, Buffer.from(m.bytes.buffer, m.bytes.byteOffset, m.bytes.byteLength), m.sender);
        port.postMessage({ op: 'reply', id: m.id, value } satisfies FromWorker);
      } else if (m.op === 'egress') {
        engines.get(store)?.egressFinding(m.finding); // no reply: a finding is fire-and-forget
      } else if (m.op === 'status') {
        port.postMessage({ op: 'reply', id: m.id, value: { ...store.status(), workerNice: background.nice } } satisfies FromWorker);
      } else if (m.op === 'close') {
        void store.close().then(() => {
          port.postMessage({ op: 'reply', id: m.id, value: null } satisfies FromWorker);
          process.exit(0); // in a worker: ends this thread only, even if a stray handle is left
        });
      }
    } catch (err) {
      port.postMessage({ op: 'failure', id: m.id, message: err instanceof Error ? err.message : String(err) } satisfies FromWorker);
    }
  });
  port.postMessage({ op: 'ready' } satisfies FromWorker);
}

function failedAfterEarlier(bytes: Buffer): CommitOutcome {
  let ids = { sensor_id: '', boot_id: '', seq: '0' };
  try {
    const b = decodeEventBatch(bytes);
    ids = { sensor_id: b.sensor_id ?? '', boot_id: b.boot_id ?? '', seq: b.seq ?? '0' };
  } catch {
    // only for the log line
  }
  return { kind: 'failed', ids, message: 'an earlier batch of this stream could not be committed; resend in order' };
}

if (!isMainThread && workerData && typeof workerData === 'object' && MARK in workerData) {
  runInWorker((workerData as Record<string, WriterStoreOptions>)[MARK]!);
}
