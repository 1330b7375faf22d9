// The embedded collector (gRPC server + SQLite store) on a worker thread.
// `sensor run` embeds the collector in the sensor process; on one thread the
// sensor's decoding and the collector's commits take turns on one core
// (measured ~52k events/s end to end on 2 cores). On a worker thread they
// overlap, as with a separate `sensor collector` process, while keeping one
// process and the same socket, acks and store. The sensor still reaches it
// through the socket, so nothing else changes.
import { once } from 'node:events';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { queryEvents } from '../query/event-query.js';
import { EventStore } from '../store/event-store.js';
import { CollectorServer, DEFAULT_MAX_RECEIVE_BYTES } from './collector-server.js';
import { processLogger } from './logger.js';

export interface CollectorWorkerOptions {
  /** unix:///path (the embedded collector listens on a unix socket) */
  listen: string;
  stateDir: string;
  maxMessageBytes?: number;
}

type FromWorker = { ready: true } | { error: string };
const MARK = 'agent-sensor-collector-worker';

/** Starts the collector on a worker thread; resolves once it listens. stop() closes server and store. */
export async function startCollectorWorker(opts: CollectorWorkerOptions): Promise<{ stop: () => Promise<void> }> {
  const worker = new Worker(new URL(import.meta.url), { workerData: { [MARK]: opts } });
  const exited = once(worker, 'exit');
  try {
    const [msg] = (await Promise.race([
      once(worker, 'message'),
      exited.then(([code]) => [{ error: `collector worker exited with code ${code} before listening` }]),
    ])) as [FromWorker];
    if ('error' in msg) throw new Error(msg.error);
  } catch (err) {
    await worker.terminate();
    throw err;
  }
  let stopped = false;
  return {
    stop: async () => {
      if (stopped) return;
      stopped = true;
      worker.postMessage('stop');
      await exited;
    },
  };
}

async function runInWorker(opts: CollectorWorkerOptions): Promise<void> {
  const port = parentPort!;
  let store: EventStore | undefined;
  let server: CollectorServer | undefined;
  try {
    store = EventStore.open({ stateDir: opts.stateDir });
    const opened = store;
    server = await CollectorServer.start({
      listen: opts.listen,
      store: opened,
      query: (filters) => queryEvents(opened.database, filters),
      maxReceiveBytes: opts.maxMessageBytes ?? DEFAULT_MAX_RECEIVE_BYTES,
      logger: processLogger(),
    });
  } catch (err) {
    await store?.close();
    port.postMessage({ error: err instanceof Error ? err.message : String(err) } satisfies FromWorker);
    port.close();
    return;
  }
  port.on('message', (m) => {
    if (m !== 'stop') return;
    void (async () => {
      await server!.close();
      await store!.close();
      process.exit(0); // in a worker: ends this thread only, even if a stray handle is left
    })();
  });
  port.postMessage({ ready: true } satisfies FromWorker);
}

if (!isMainThread && workerData && typeof workerData === 'object' && MARK in workerData) {
  void runInWorker((workerData as Record<string, CollectorWorkerOptions>)[MARK]!);
}
