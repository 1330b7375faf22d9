// `sensor forward`: ships the store's events and alerts to a SIEM as OCSF,
// at least once, as its own process beside the collector (or inside `sensor
// run --forward`). One cursor per destination lives in the store; see
// collector/forward/OCSF.md for the records and README for the outputs.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { Command } from 'commander';
import type { Logger } from 'pino';
import { storeAlertSource } from '../../../collector/forward/alert-source.js';
import { DESTINATION_FORMS, parseDestination } from '../../../collector/forward/destination.js';
import { openForwardDatabase } from '../../../collector/forward/forward-db.js';
import { forwardStatus } from '../../../collector/forward/forward-status.js';
import { Forwarder, type ForwarderStatus, type ForwardFilter } from '../../../collector/forward/forwarder.js';
import { registerForwarderMetrics } from '../../../collector/metrics/forward-metrics.js';
import { createMetricsRegistry } from '../../../collector/metrics/metrics-registry.js';
import { parseLoopbackListen, startMetricsServer, type MetricsEndpoint } from '../../../collector/metrics/metrics-server.js';
import { registerStoreMetrics } from '../../../collector/metrics/store-metrics.js';
import { processLogger } from '../../../collector/server/logger.js';
import { DB_FILE_NAME, DEFAULT_STATE_DIR } from '../../../collector/store/schema.js';
import { EVENT_TYPE_NUMBER, type EventType } from '../../../proto/events/types.js';
import { packageRoot } from '../../kernel/addon.js';
import { untilSignal } from './collector.js';
import { hostname } from 'node:os';

export interface ForwardOptions {
  stateDir: string;
  to: string[];
  alertsOnly?: boolean;
  types?: EventType[];
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  metrics?: string;
  batchSize?: number;
}

export interface RunningForwarders {
  forwarders: Forwarder[];
  metrics?: MetricsEndpoint;
  /** stops, commits what settled, closes; the final figures of each forwarder */
  stop(): Promise<ForwarderStatus[]>;
}

function productVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export function parseTypes(text: string): EventType[] {
  const types = text.split(',').map((t) => t.trim()).filter((t) => t.length > 0);
  for (const t of types) {
    if (!(t in EVENT_TYPE_NUMBER)) throw new Error(`--types: unknown event type ${JSON.stringify(t)} (known: ${Object.keys(EVENT_TYPE_NUMBER).join(', ')})`);
  }
  return types as EventType[];
}

function filterOf(opts: ForwardOptions): ForwardFilter {
  if (opts.alertsOnly && opts.types) throw new Error('--alerts-only and --types exclude each other (--types ships alerts too)');
  if (opts.alertsOnly) return { types: [], alerts: true };
  return { types: opts.types, alerts: true };
}

/** Starts one forwarder per destination on the store in stateDir (used by `forward` and `run --forward`). */
export async function startForwarders(opts: ForwardOptions, logger: Logger): Promise<RunningForwarders> {
  if (opts.to.length === 0 && !opts.metrics) throw new Error(`no destination: give --to ${DESTINATION_FORMS}`);
  if (opts.metrics) parseLoopbackListen(opts.metrics); // a bad address fails before anything starts
  const log = logger.child({ module: 'forward' });
  const tls = { ca: opts.tlsCa, cert: opts.tlsCert, key: opts.tlsKey };
  const outputs = opts.to.map((url) => parseDestination(url, url.startsWith('syslog+tls:') ? tls : {}));
  const filter = filterOf(opts);
  const dbs: Database.Database[] = [];
  const forwarders = outputs.map((output) => {
    const db = openForwardDatabase(opts.stateDir); // one connection each: a slow destination never holds up another
    dbs.push(db);
    return new Forwarder({
      db, output, filter, alerts: storeAlertSource(db), batchSize: opts.batchSize,
      product: { version: productVersion() }, collectorName: hostname(), log,
    });
  });
  let metrics: MetricsEndpoint | undefined;
  if (opts.metrics) {
    const registry = createMetricsRegistry();
    registerForwarderMetrics(registry, () => forwarders.map((f) => f.status()));
    const storeDb = dbs[0] ?? openForwardDatabase(opts.stateDir);
    if (dbs.length === 0) dbs.push(storeDb);
    registerStoreMetrics(registry, storeDb, join(opts.stateDir, DB_FILE_NAME));
    metrics = await startMetricsServer(opts.metrics, registry);
    log.info({ url: metrics.url }, 'metrics endpoint');
  }
  for (const f of forwarders) f.start();
  log.info({ destinations: forwarders.map((f) => f.dest), types: filter.types ?? 'all', alerts: filter.alerts }, 'forwarding');
  return {
    forwarders, metrics,
    async stop() {
      await Promise.all(forwarders.map((f) => f.stop()));
      const final = forwarders.map((f) => f.status());
      await metrics?.close();
      for (const db of dbs) db.close();
      return final;
    },
  };
}

async function forward(opts: ForwardOptions & { status?: boolean; untilCaughtUp?: boolean }): Promise<void> {
  if (opts.status) {
    process.stdout.write(`${JSON.stringify(forwardStatus(opts.stateDir), null, 2)}\n`);
    return;
  }
  const logger = processLogger();
  const running = await startForwarders(opts, logger);
  if (opts.untilCaughtUp) {
    // Bounded: gives up after 10 minutes without progress on any destination.
    let last = -1;
    let still = Date.now();
    for (;;) {
      await new Promise((r) => setTimeout(r, 200));
      const s = running.forwarders.map((f) => f.status());
      const lag = s.reduce((n, x) => n + x.lagEvents + x.lagAlerts, 0);
      if (lag === 0 && s.every((x) => x.lastError === null)) break;
      if (lag !== last) [last, still] = [lag, Date.now()];
      if (Date.now() - still > 600_000) {
        await running.stop();
        throw new Error(`forwarding made no progress for 10 minutes: ${s.map((x) => `${x.dest}: ${x.lastError ?? `lag ${x.lagEvents}`}`).join('; ')}`);
      }
    }
  } else {
    const signal = await untilSignal();
    logger.info({ signal }, 'stopping');
  }
  for (const s of await running.stop()) {
    process.stderr.write(`forward ${s.dest}: shipped ${s.shippedEvents} events, ${s.shippedAlerts} alerts; lag ${s.lagEvents}; ` +
      `missed (retention) ${s.missedEvents}; send failures ${s.sendFailures}\n`);
  }
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];
const positiveInt = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`not a positive integer: ${v}`);
  return n;
};

export function register(program: Command): void {
  program
    .command('forward')
    .description('Ship stored events and alerts to a SIEM as OCSF (syslog RFC 5424 over TCP/TLS, or ClickHouse over HTTP), at least once')
    .option('--state-dir <dir>', 'the collector\'s database folder', DEFAULT_STATE_DIR)
    .option('--to <url>', `destination (repeatable): ${DESTINATION_FORMS}`, collect, [])
    .option('--alerts-only', 'ship alerts only, no events')
    .option('--types <list>', 'ship alerts and only these event types, e.g. exec,connect', parseTypes)
    .option('--tls-ca <file>', 'CA that signed the syslog server\'s certificate (syslog+tls)')
    .option('--tls-cert <file>', 'client certificate for syslog+tls, if the server asks for one')
    .option('--tls-key <file>', 'client key for syslog+tls')
    .option('--batch-size <n>', 'records per send, at most', positiveInt, 1000)
    .option('--metrics <host:port>', 'serve Prometheus metrics on this loopback address (off by default)')
    .option('--until-caught-up', 'exit once every destination has everything stored so far')
    .option('--status', 'print each destination\'s cursor, lag and last error as JSON, and exit')
    .action((opts) => forward(opts as ForwardOptions & { status?: boolean; untilCaughtUp?: boolean }));
}
