// Queries on a thread of their own with their own read-only connection, so
// a large Query (100k rows decoded and converted) never holds the
// collector's main thread, where acks are sent, or the store worker, where
// batches commit. One query at a time, in arrival order.
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { once } from 'node:events';
import { EventStore } from '../store/event-store.js';
import { queryEvents, type EventFilters, type QueriedRow } from './event-query.js';

const MARK = 'agent-sensor-query-worker';

/** A worker runs JavaScript only: from TypeScript source (tests) queries run on the calling thread. */
export const QUERY_WORKER_AVAILABLE = import.meta.url.endsWith('.js');

type Reply = { id: number; rows?: QueriedRow[]; error?: string };

export class QueryWorker {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (r: QueriedRow[]) => void; reject: (e: Error) => void }>();
  private dead?: Error;

  private constructor(private readonly worker: Worker) {
    worker.on('message', (m: Reply) => {
      const w = this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id);
      if (m.error !== undefined) w.reject(new Error(m.error));
      else w.resolve(m.rows!);
    });
    const die = (err: Error) => {
      this.dead ??= err;
      for (const w of this.waiting.values()) w.reject(err);
      this.waiting.clear();
    };
    worker.on('error', die);
    worker.on('exit', () => die(new Error('the query worker exited')));
  }

  static async open(stateDir: string): Promise<QueryWorker> {
    const worker = new Worker(new URL(import.meta.url), { workerData: { [MARK]: stateDir } });
    const [msg] = (await Promise.race([once(worker, 'message'), once(worker, 'error').then(([e]) => [{ error: String(e) }])])) as [
      { ready?: true; error?: string },
    ];
    if (msg.error !== undefined) {
      await worker.terminate();
      throw new Error(msg.error);
    }
    return new QueryWorker(worker);
  }

  query(filters: EventFilters): Promise<QueriedRow[]> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage({ id, filters });
    });
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}

function runInWorker(stateDir: string): void {
  const port = parentPort!;
  let store: EventStore;
  try {
    store = EventStore.open({ stateDir, readonly: true });
  } catch (err) {
    port.postMessage({ error: err instanceof Error ? err.message : String(err) });
    return;
  }
  port.on('message', (m: { id: number; filters: EventFilters }) => {
    try {
      port.postMessage({ id: m.id, rows: queryEvents(store.database, m.filters) } satisfies Reply);
    } catch (err) {
      port.postMessage({ id: m.id, error: err instanceof Error ? err.message : String(err) } satisfies Reply);
    }
  });
  port.postMessage({ ready: true });
}

if (!isMainThread && workerData && typeof workerData === 'object' && MARK in workerData) {
  runInWorker((workerData as Record<string, string>)[MARK]!);
}
