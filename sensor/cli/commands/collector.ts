// `sensor collector`: runs the collector alone: the gRPC server in front of
// the SQLite event store. Sensors on this host reach it over the root-only
// unix socket; sensors elsewhere over TCP with mutual TLS.
import type { Command } from 'commander';
import type { Logger } from 'pino';
import { CollectorServer, DEFAULT_MAX_RECEIVE_BYTES } from '../../../collector/server/collector-server.js';
import type { LaunchControl } from '../../../collector/server/launch-control.js';
import { processLogger } from '../../../collector/server/logger.js';
import { queryEvents } from '../../../collector/query/event-query.js';
import { openWriterStore } from '../../../collector/server/store-worker.js';
import { DEFAULT_STATE_DIR } from '../../../collector/store/schema.js';
import { DEFAULT_COLLECTOR_ADDRESS } from '../../../proto/transport/address.js';
import { tlsFilesFromOptions } from '../../../proto/transport/tls.js';

export interface CollectorCommandOptions {
  listen: string;
  stateDir: string;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  maxMessageBytes: number;
}

/**
 * Opens the store (on a worker thread that owns the database, so decoding and
 * commits run beside the gRPC server; see store-worker.ts) and starts the server; the caller owns
 * both until stop().
 */
export async function startCollector(
  opts: CollectorCommandOptions, logger: Logger, launchControl?: LaunchControl,
): Promise<{ server: CollectorServer; stop: () => Promise<void> }> {
  const store = await openWriterStore({ stateDir: opts.stateDir });
  let server: CollectorServer;
  try {
    server = await CollectorServer.start({
      listen: opts.listen,
      store,
      query: (filters) => queryEvents(store.database, filters),
      tls: tlsFilesFromOptions(opts),
      maxReceiveBytes: opts.maxMessageBytes,
      logger,
      launchControl,
    });
  } catch (err) {
    await store.close();
    throw err;
  }
  return {
    server,
    stop: async () => {
      await server.close();
      await store.close();
    },
  };
}

/** Resolves on the first SIGINT/SIGTERM. */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (sig: NodeJS.Signals) => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(sig);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

const positiveInt = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`not a positive integer: ${v}`);
  return n;
};

export function register(program: Command): void {
  program
    .command('collector')
    .description('Run the collector alone: receive event batches from sensors and store them in SQLite')
    .option('--listen <addr>', 'unix:///path/to.sock, or host:port for TCP with mutual TLS', DEFAULT_COLLECTOR_ADDRESS)
    .option('--state-dir <dir>', 'where the event database lives', DEFAULT_STATE_DIR)
    .option('--tls-ca <file>', 'CA that signed the sensors\' client certificates (TCP)')
    .option('--tls-cert <file>', 'this collector\'s certificate (TCP)')
    .option('--tls-key <file>', 'this collector\'s private key (TCP)')
    .option('--max-message-bytes <n>', 'largest batch accepted on the wire', positiveInt, DEFAULT_MAX_RECEIVE_BYTES)
    .action(async (opts: CollectorCommandOptions) => {
      const logger = processLogger();
      const { stop } = await startCollector(opts, logger);
      const signal = await untilSignal();
      logger.child({ module: 'cli.collector' }).info({ signal }, 'stopping');
      await stop();
    });
}
