// Queries on a thread of their own with their own read-only connection, so
// a large Query (100k rows read, decoded, converted and protobuf-encoded)
// never holds the collector's main thread, where acks are sent, or the store
// worker, where batches commit: the answer comes back as the encoded
// QueryResponse bytes, which the server sends as they are. One query at a
// time, in arrival order.
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { once } from 'node:events';
import { EventStore } from '../store/event-store.js';
import { toProtoEvent } from '../../proto/codec/convert.js';
import { protoCodecs } from '../../proto/codec/proto.js';
import { queryEvents, type EventFilters } from './event-query.js';

const MARK = 'agent-sensor-query-worker';

/** A worker runs JavaScript only: from TypeScript source (tests) queries run on the calling thread. */
export const QUERY_WORKER_AVAILABLE = import.meta.url.endsWith('.js');

type Reply = { id: number; encoded?: Uint8Array; error?: string };

export class QueryWorker {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (r: Buffer) => void; reject: (e: Error) => void }>();
  private dead?: Error;

  private constructor(private readonly worker: Worker) {
    worker.on('message', (m: Reply) => {
      const w = this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id);
      if (m.error !== undefined) w.reject(new Error(m.error));
      else w.resolve(Buffer.from(m.encoded!.buffer, m.encoded!.byteOffset, m.encoded!.byteLength));
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

  /** The encoded QueryResponse for these filters. */
  queryEncoded(filters: EventFilters): Promise<Buffer> {
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
      const rows = queryEvents(store.database, m.filters);
      const bytes = protoCodecs().queryResponse.encode({
        events: rows.map((r) => ({ id: String(r.id), sensor_id: r.sensorId, event: toProtoEvent(r.event) })),
      });
      const encoded = new Uint8Array(bytes.length);
      encoded.set(bytes);
      port.postMessage({ id: m.id, encoded } satisfies Reply, [encoded.buffer]);
    } catch (err) {
      port.postMessage({ id: m.id, error: err instanceof Error ? err.message : String(err) } satisfies Reply);
    }
  });
  port.postMessage({ ready: true });
}

if (!isMainThread && workerData && typeof workerData === 'object' && MARK in workerData) {
  runInWorker((workerData as Record<string, string>)[MARK]!);
}
