// `sensor collector`: runs the collector alone: the gRPC server in front of
// the SQLite event store. Sensors on this host reach it over the root-only
// unix socket; sensors elsewhere over TCP with mutual TLS.
import { InvalidArgumentError, type Command } from 'commander';
import type { Logger } from 'pino';
import { CollectorServer, DEFAULT_MAX_RECEIVE_BYTES } from '../../../collector/server/collector-server.js';
import type { LaunchControl } from '../../../collector/server/launch-control.js';
import { processLogger } from '../../../collector/server/logger.js';
import { queryEvents } from '../../../collector/query/event-query.js';
import { QUERY_WORKER_AVAILABLE, QueryWorker } from '../../../collector/query/query-worker.js';
import { openWriterStore } from '../../../collector/server/store-worker.js';
import type { RetentionPolicy } from '../../../collector/store/retention.js';
import { DB_FILE_NAME, DEFAULT_STATE_DIR } from '../../../collector/store/schema.js';
import { storeHealthRows } from '../../../collector/store/health-rows.js';
import { join } from 'node:path';
import { DEFAULT_COLLECTOR_ADDRESS } from '../../../proto/transport/address.js';
import { tlsFilesFromOptions } from '../../../proto/transport/tls.js';
import { collect, positiveInt } from '../arguments.js';
import { untilSignal } from '../signals.js';

export { untilSignal };
import type { DetectionOptions } from '../../../collector/detect/settings.js';
import { loadAgentConfig } from '../../agents/config.js';
import { addDetectFlags, detectionOptions, type DetectFlags } from './detect-options.js';
import { tuneJitForLongRunning } from '../jit-tiering.js';

export interface CollectorCommandOptions {
  listen: string;
  stateDir: string;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsAdmin?: string[];
  maxMessageBytes: number;
  retainDays?: number;
  retainBytes?: number;
  /** detectors after commit; undefined: none */
  detection?: DetectionOptions;
  /** OTLP/HTTP traces endpoint for model turns and their actions (GenAI spans) */
  otelEndpoint?: string;
}

/** Retention unless told otherwise: the store must not grow until the disk is full. */
export const DEFAULT_RETAIN_DAYS = 30;
export const DEFAULT_RETAIN_BYTES = 10 * 1024 ** 3;

/** --retain-days / --retain-bytes to a policy; 0 turns that bound off. */
export function retentionFromOptions(o: { retainDays?: number; retainBytes?: number }): RetentionPolicy {
  const days = o.retainDays ?? DEFAULT_RETAIN_DAYS;
  const bytes = o.retainBytes ?? DEFAULT_RETAIN_BYTES;
  return { ...(days > 0 ? { maxAgeDays: days } : {}), ...(bytes > 0 ? { maxBytes: bytes } : {}) };
}

/** `10G`, `500M`, `2T`, or bytes. */
export function byteSize(v: string): number {
  const m = /^(\d+(?:\.\d+)?)([KMGT]?)i?B?$/i.exec(v.trim());
  if (!m) throw new Error(`not a size: ${v} (examples: 500M, 10G, 1T, 0 for no bound)`);
  const unit = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 }[m[2]!.toUpperCase() as '' | 'K' | 'M' | 'G' | 'T'];
  return Math.floor(Number(m[1]) * unit);
}

const nonNegative = (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`not a non-negative number: ${v}`);
  return n;
};

/** The collector cannot commit any more: say why and exit non-zero, so a supervisor restarts it. */
function dieWithStore(logger: Logger, err: Error): never {
  logger.child({ module: 'cli.collector' }).fatal({ err: err.message, stack: err.stack }, 'the store worker died; exiting');
  process.exit(70); // EX_SOFTWARE
}

/** The store opened but the server could not listen (its address is taken, or not ours to use). */
export class ListenError extends Error {}

/**
 * Opens the store (on a worker thread that owns the database, so decoding and
 * commits run beside the gRPC server; see store-worker.ts) and starts the server; the caller owns
 * both until stop().
 */
export async function startCollector(
  opts: CollectorCommandOptions, logger: Logger, launchControl?: LaunchControl,
): Promise<{ server: CollectorServer; store: Awaited<ReturnType<typeof openWriterStore>>; stop: () => Promise<void> }> {
  const retention = retentionFromOptions(opts);
  const store = await openWriterStore({
    stateDir: opts.stateDir, retention, detection: opts.detection, onDeath: (err) => dieWithStore(logger, err),
    ...(opts.otelEndpoint ? { otelEndpoint: opts.otelEndpoint } : {}),
  });
  let server: CollectorServer;
  let queries: QueryWorker | undefined;
  try {
    // Queries off the ingest path: on a thread of their own (see query-worker.ts).
    queries = QUERY_WORKER_AVAILABLE ? await QueryWorker.open(opts.stateDir) : undefined;
    server = await CollectorServer.start({
      listen: opts.listen,
      store,
      query: queries ? undefined : (filters) => queryEvents(store.database, filters),
      queryEncoded: queries ? (filters) => queries!.queryEncoded(filters) : undefined,
      tls: tlsFilesFromOptions(opts),
      tlsAdmins: opts.tlsAdmin,
      maxReceiveBytes: opts.maxMessageBytes,
      logger,
      launchControl,
      storePath: join(opts.stateDir, DB_FILE_NAME),
      // read on the read-only connection: a status poll never waits behind a commit
      storeHealth: () => storeHealthRows(store.database),
    });
  } catch (err) {
    await queries?.close();
    await store.close();
    throw new ListenError((err as Error).message);
  }
  logger.child({ module: 'cli.collector' }).info({ stateDir: opts.stateDir, retention }, 'store open');
  return {
    server,
    store,
    stop: async () => {
      await server.close();
      await queries?.close();
      await store.close();
    },
  };
}

/** The flags `sensor collector` and `sensor run` share for the store. */
export function addStoreOptions(cmd: Command): Command {
  return cmd
    .option('--retain-days <n>', `prune batches older than n days (0: no age bound; default ${DEFAULT_RETAIN_DAYS})`, nonNegative)
    .option('--retain-bytes <size>', 'prune the oldest batches while the store holds more than this (500M, 10G; 0: no size bound; default 10G)', byteSize)
    .option('--otel-endpoint <url>', 'export each model turn and the actions its tool calls caused as OpenTelemetry GenAI spans, OTLP/HTTP protobuf to this URL (e.g. http://otel:4318/v1/traces)', otelUrl);
}

/** An http(s) URL: the OTLP/HTTP exporter's only transport. */
function otelUrl(v: string): string {
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new InvalidArgumentError(`not a URL (example: http://127.0.0.1:4318/v1/traces)`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new InvalidArgumentError(`must be http or https, not ${u.protocol}`);
  return v;
}

export function register(program: Command): void {
  const cmd = program
    .command('collector')
    .description('Run the collector alone: receive event batches from sensors and store them in SQLite')
    .option('--listen <addr>', 'unix:///path/to.sock, or host:port for TCP with mutual TLS', DEFAULT_COLLECTOR_ADDRESS)
    .option('--state-dir <dir>', 'where the event database lives', DEFAULT_STATE_DIR)
    .option('--tls-ca <file>', 'CA that signed the sensors\' client certificates (TCP)')
    .option('--tls-cert <file>', 'this collector\'s certificate (TCP)')
    .option('--tls-key <file>', 'this collector\'s private key (TCP)')
    .option('--tls-admin <name>', 'a client certificate name (CN) that may read every sensor\'s data (repeatable); others read only their own', collect)
    .option('--max-message-bytes <n>', 'largest batch accepted on the wire', positiveInt, DEFAULT_MAX_RECEIVE_BYTES)
    .option('--config <file>', 'agents.yaml: each agent\'s grants and detect settings');
  addStoreOptions(addDetectFlags(cmd))
    .action(async (opts: CollectorCommandOptions & DetectFlags & { config?: string }) => {
      tuneJitForLongRunning();
      const logger = processLogger();
      const detection = detectionOptions(opts, opts.config ? loadAgentConfig(opts.config) : []);
      const { stop } = await startCollector({ ...opts, detection }, logger);
      const signal = await untilSignal(() => process.stderr.write('sensor: batches not yet committed are not acked; their sensors send them again\n'));
      logger.child({ module: 'cli.collector' }).info({ signal }, 'stopping');
      await stop();
    });
}
