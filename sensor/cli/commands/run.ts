// `sensor run`: the sensor as a service. Events go to a collector over gRPC:
// the one named by --collector, or, without it, a collector embedded in this
// process that stores into --state-dir.
//
// The embedded collector listens on the default socket
// (unix:///run/agent-sensor/collector.sock, root only) rather than on a
// private one, so `sensor status` and `sensor query --collector` reach it
// with their defaults. If another collector already listens there, `run`
// stops with an error that says to pass --collector to use that one instead
// (sending to it silently would put the events in a different state dir).
// The sensor still talks to its embedded collector through the socket: one
// code path, with the same acks and resend, whether local or remote.
//
// `sensor launch` reaches this sensor through the same socket (LaunchControl,
// sensor/launch/); run writes the socket's address into the state dir so
// launch finds it from --state-dir wherever --listen put it.
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { Command, Option } from 'commander';
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { DEFAULT_MAX_RECEIVE_BYTES } from '../../../collector/server/collector-server.js';
import { processLogger } from '../../../collector/server/logger.js';
import { createBackend, type BackendChoice } from '../../backends/choose.js';
import { lossCauses } from '../../loss.js';
import { Sensor } from '../../sensor.js';
import { DEFAULT_COLLECTOR_ADDRESS, parseAddress } from '../../../proto/transport/address.js';
import { CLIENT_DEFAULTS, CollectorClient, DEFAULT_HEARTBEAT_MS, type TransportCounters } from '../../transport/collector-client.js';
import { SensorHealthReport } from '../../transport/sensor-health.js';
import { defaultSensorId, newBootId } from '../../transport/identity.js';
import { clientTlsFor, tlsFilesFromOptions } from '../../../proto/transport/tls.js';
import { DEFAULT_STATE_DIR } from '../../../collector/store/schema.js';
import { addStoreOptions, ListenError, startCollector } from './collector.js';
import { agentsFromOptions, countersText, unavailableText, watchedText } from './watch.js';
import { collect, nonNegativeInt, positiveInt } from '../arguments.js';
import { CliError } from '../exit-codes.js';
import { untilSignal } from '../signals.js';
import { startForwarders } from './forward.js';
import { probeCollector } from '../../transport/collector-probe.js';
import { addDetectFlags, detectionOptions, type DetectFlags } from './detect-options.js';
import { startResponseService } from '../../response/response-service.js';
import { defaultAgents } from '../../agents/known-agents.js';
import type { AgentSpec } from '../../agents/config.js';
import { LaunchRegistry } from '../../launch/launch-registry.js';
import { removeRunAddress, writeRunAddress } from '../../launch/run-address.js';
import { EgressContent } from '../../content/egress-content.js';
import { writeVisibility } from '../../content/visibility-file.js';
import { reportEgressFinding, WorkerStore } from '../../../collector/server/store-worker.js';
import { IntentCapture } from '../../content/intent-capture.js';
import { keepBackgroundThreadsLow, type BackgroundThreads } from '../../background-threads.js';
import type { ThreadPriority } from '../../kernel/addon.js';
import type { PbThreadPriority } from '../../../proto/codec/proto.js';
import { BACKGROUND_NICE } from '../../../collector/server/thread-priority.js';
import type { EgressFinding } from '../../../collector/detect/egress-finding.js';
import { tuneJitForLongRunning } from '../jit-tiering.js';

interface RunOptions extends DetectFlags {
  /** the sensor's threads against the agents' (background-threads.ts) */
  priority: 'idle' | 'nice' | 'normal';
  collector?: string;
  listen: string;
  stateDir: string;
  agentExe: string[];
  agentComm: string[];
  config?: string;
  all?: boolean;
  backend: BackendChoice;
  watchOpenRaces?: boolean;
  sensorId: string;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  bufferBytes: number;
  statsEverySec: number;
  retainDays?: number;
  retainBytes?: number;
  otelEndpoint?: string;
  /** --sensor-id was given (not the machine default) */
  sensorIdGiven?: boolean;
  forward: string[];
  metrics?: string;
  responseConfig?: string;
  /** --no-content-capture: false */
  contentCapture: boolean;
  contentMaxWrite: number;
  contentMaxConn: number;
  /** --no-content-preattach: false */
  contentPreattach: boolean;
}

/** Where the sensor counts batches it could not deliver before it stopped (undelivered-file.ts). */
const UNDELIVERED_FILE = 'sensor-undelivered.json';

/**
 * Over mutual TLS the collector accepts batches only under the name in this
 * sensor's certificate (CN, else first DNS name): use it as the sensor id,
 * and refuse a --sensor-id that differs rather than have every batch refused.
 */
function sensorIdFor(opts: RunOptions, tlsCert: string | undefined): string {
  if (!tlsCert) return opts.sensorId;
  const cert = new X509Certificate(readFileSync(tlsCert));
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(cert.subject)?.[1] ?? /DNS:([^,]+)/.exec(cert.subjectAltName ?? '')?.[1]?.trim();
  if (!cn) throw new Error(`the certificate ${tlsCert} names no sensor (no CN or DNS name); the collector would refuse its batches`);
  if (opts.sensorIdGiven && opts.sensorId !== cn) {
    throw new Error(`--sensor-id ${opts.sensorId} differs from the name in ${tlsCert} (${cn}); the collector accepts batches only under the certificate's name`);
  }
  return cn;
}

export function transportText(c: TransportCounters): string {
  return `transport: sent ${c.sent}, acked ${c.acked}, resent ${c.resent}, dropped ${c.dropped}, ` +
    `rejected ${c.rejected}, unacked ${c.buffered}, reconnects ${c.reconnects}, last seq ${c.lastSeq}`;
}

const selectorsGiven = (o: RunOptions): boolean => o.agentExe.length + o.agentComm.length > 0 || !!o.config || !!o.all;

/** A service started with no rules watches the system config or the well-known agents. */
function fallbackAgents(log: Logger): AgentSpec[] {
  const { agents, source } = defaultAgents();
  log.info({ agents: agents.map((a) => a.name) }, `no agent rules given: watching ${source}`);
  return agents;
}

async function run(opts: RunOptions): Promise<void> {
  const logger = processLogger();
  const log = logger.child({ module: 'sensor.run' });
  const agents = selectorsGiven(opts) ? agentsFromOptions(opts) : fallbackAgents(log);
  // A TCP collector without TLS would refuse every handshake while we retry forever: refuse now.
  const tls = opts.collector ? usage(() => clientTlsFor(parseAddress(opts.collector!), tlsFilesFromOptions(opts))) : undefined;

  // `sensor launch` reaches this sensor through the embedded collector's socket.
  const launches = new LaunchRegistry(logger.child({ module: 'sensor.launch' }));
  let embedded: Awaited<ReturnType<typeof startCollector>> | undefined;
  if (!opts.collector) {
    const listen = usage(() => parseAddress(opts.listen));
    if (listen.kind !== 'unix') throw new CliError('the embedded collector listens on a unix socket only; for TCP run `sensor collector`');
    try {
      embedded = await startCollector({
        listen: opts.listen, stateDir: opts.stateDir, maxMessageBytes: DEFAULT_MAX_RECEIVE_BYTES,
        retainDays: opts.retainDays, retainBytes: opts.retainBytes, detection: detectionOptions(opts, agents),
        ...(opts.otelEndpoint ? { otelEndpoint: opts.otelEndpoint } : {}),
      }, logger, launches);
    } catch (err) {
      // The hint fits one case only: listening failed and a collector already answers on that socket.
      const taken = err instanceof ListenError && existsSync(listen.path) &&
        await probeCollector(opts.listen, { tls: false }).then(() => true, () => false);
      throw new Error(`${(err as Error).message}${taken ? `\n(to send to that collector instead: sensor run --collector ${opts.listen})` : ''}`);
    }
  }
  if (opts.collector && (opts.forward.length > 0 || opts.metrics)) throw new CliError('--forward and --metrics need the embedded collector\'s store: run `sensor forward` beside that collector instead');
  const forwarding = embedded && (opts.forward.length > 0 || opts.metrics) ? await startForwarders({ stateDir: opts.stateDir, to: opts.forward, metrics: opts.metrics }, logger) : undefined;
  // each forwarder reports its lag and last error to `sensor status` through the embedded collector
  for (const f of forwarding?.forwarders ?? []) embedded?.server.forwarders.register(f);
  const address = opts.collector ?? opts.listen;
  const bootId = newBootId();
  const clientTls = opts.collector ? tls : undefined;
  opts.sensorId = sensorIdFor(opts, clientTls?.cert);
  // For `sensor status`: what only this process knows (backend, programs, kernel, events by type).
  // Batches can be sealed before the sensor exists (an earlier run's undelivered report): no report, no loss, then.
  let started: Sensor | undefined;
  let lowered: BackgroundThreads | undefined;
  const health = new SensorHealthReport({
    backend: () => started!.backend.name, unavailable: () => started!.backend.unavailable(), counters: () => started!.counters(),
    priority: () => priorityReport(lowered, started?.backend.priority?.()),
  }, DEFAULT_HEARTBEAT_MS);
  const client = new CollectorClient({
    address, tls: clientTls, sensorId: opts.sensorId, bootId, bufferBytes: opts.bufferBytes, logger,
    undeliveredFile: join(opts.stateDir, UNDELIVERED_FILE),
    sensorLoss: () => (started ? lossCauses(started.counters()) : {}),
    health: (stopped) => (started ? health.report(stopped) : undefined),
    heartbeatMs: DEFAULT_HEARTBEAT_MS,
  });
  client.start();

  const sensorLog = (msg: string) => log.info(msg);
  const backend = createBackend(opts.backend, { traceAll: opts.all ?? false, selfPid: process.pid, watchOpenRaces: opts.watchOpenRaces }, sensorLog);
  const sensor = new Sensor({ backend, agents, traceAll: opts.all ?? false, log: sensorLog });
  sensor.onEvents((events) => {
    health.noteEvents(events);
    client.push(events);
  });
  if (embedded) launches.adoptLeftovers(sensor.registry);
  const intent = opts.contentCapture ? startIntent(opts, log, agents, client) : undefined;
  if (intent) sensor.onEvents((events) => intent.observe(events));
  const content = opts.contentCapture ? await startContent(opts, log, embedded?.store, intent) : undefined;
  if (content) sensor.onEvents((events) => content.observe(events));
  try {
    await sensor.start();
  } catch (err) {
    await content?.stop();
    await client.close(0);
    await forwarding?.stop();
    await embedded?.stop();
    throw err;
  }
  // A launch cgroup is captured from its first exec: the content map holds it before launch goes on.
  launches.attach(content ? {
    watchCgroup: async (name, id) => {
      await content.watchCgroup(id);
      return sensor.watchCgroup(name, id);
    },
    removeCgroupAgent: (id) => {
      content.unwatchCgroup(id);
      sensor.removeCgroupAgent(id);
    },
  } : sensor);
  started = sensor;
  // The sensor's user space after the agents on a busy machine (background-threads.ts).
  const idle = opts.priority === 'idle' ? sensor.backend.idleThreads : undefined;
  const stopLowering = opts.priority === 'normal' ? () => undefined : keepBackgroundThreadsLow(5000, (r) => (lowered = r, log.info(r, !r.lowered ? `sensor threads not lowered: ${r.reason}`
    : r.mode === 'idle' ? `sensor threads at idle priority but the ring reader's, raised while events wait over ${sensor.backend.priority?.()?.boostAfterMs ?? '?'} ms`
      : `background threads at nice ${BACKGROUND_NICE}`)), idle);
  // At idle priority, "keeping up" is said to the ring reader: this thread runs and
  // the store answers within the bound. Unsaid, the reader raises every thread
  // (alerts, responses and hashing must not starve behind a busy machine either).
  const store = embedded?.store;
  const aliveEveryMs = sensor.backend.priority?.()?.aliveEveryMs;
  const keepingUp = idle && aliveEveryMs ? setInterval(() => {
    if (!(store instanceof WorkerStore) || store.oldestWaitMs() < STORE_BEHIND_MS) sensor.backend.alive?.();
  }, aliveEveryMs / 2) : undefined;
  keepingUp?.unref();
  client.reportHealth(); // the collector knows the programs and the kernel before the first event
  if (embedded) writeRunAddress(opts.stateDir, opts.listen);
  const missing = sensor.backend.unavailable();
  if (missing.length > 0) log.warn({ missing }, unavailableText(sensor.backend.name));
  log.info({
    sensorId: opts.sensorId, bootId, collector: address, embeddedCollector: Boolean(embedded),
    stateDir: embedded ? opts.stateDir : undefined, agents: agents.map((a) => a.name), all: Boolean(opts.all),
  }, `sensor running: ${watchedText(sensor, Boolean(opts.all))}`);

  const responses = opts.responseConfig ? startResponseService(opts.responseConfig, opts.stateDir, logger.child({ module: 'sensor.response' })) : undefined;
  const stats = opts.statsEverySec > 0 ? setInterval(() => logStats(log, sensor, client), opts.statsEverySec * 1000) : undefined;
  const signal = await untilSignal(() => {
    // what is known now: a forced stop does not wait for acks, so the unacked events are lost
    process.stderr.write(`${countersText(sensor.counters())}\n${transportText(client.counters())}\n`);
  });
  log.info({ signal }, 'stopping');
  clearInterval(stats);
  stopLowering();
  clearInterval(keepingUp);
  responses?.stop();
  if (embedded) removeRunAddress(opts.stateDir, opts.listen);
  launches.close();
  await sensor.stop();
  await content?.stop();
  intent?.stop();
  const transport = await client.close(5000);
  await forwarding?.stop();
  await embedded?.stop();
  process.stderr.write(`sensor: stopped\n${countersText(sensor.counters())}\n${transportText(transport)}\n`);
}

/**
 * Egress content capture (sensor/content/): its findings go to the embedded
 * collector's detection engine as `secret_egress` alerts. With a remote
 * collector (or --no-detect) there is no engine here: findings are logged.
 * A capture that cannot load is a warning, not a stop.
 */
async function startContent(opts: RunOptions, log: Logger, store: Parameters<typeof reportEgressFinding>[0] | undefined, intent?: IntentCapture): Promise<EgressContent | undefined> {
  const report = (f: EgressFinding): void => {
    if (store && reportEgressFinding(store, f)) return;
    log.warn({ egress: f }, `secret egress (not stored: no embedded collector with detection): ${f.agent} to ${f.destination}`);
  };
  try {
    const c = await EgressContent.start({
      sensorId: opts.sensorId, log: (m) => log.info(m), report,
      onVisibility: (notes) => writeVisibility(opts.stateDir, notes), // for `sensor status --state-dir`
      bounds: { maxWrite: opts.contentMaxWrite, maxConnEgress: opts.contentMaxConn },
      // node: the runtime of most agent CLIs (Claude Code, Gemini CLI, Qwen Code); probes in place before their first request
      preattach: opts.contentPreattach ? [realpathSync(process.execPath)] : [],
      ...(intent ? { onContent: (r, agent, agentPid) => intent.chunk(r, agent, agentPid) } : {}),
    });
    log.info({ maxWrite: opts.contentMaxWrite, maxConnEgress: opts.contentMaxConn }, 'egress content capture on (agent processes only)');
    if (intent) intent.plainIngress = c.plainIngress;
    return c;
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'egress content capture not available: no secret_egress alerts');
    return undefined;
  }
}

/**
 * Model turns from the captured traffic and the agents' session files
 * (sensor/content/intent-capture.ts), parsed here: the bytes stay on this
 * host; the turn records ride on the event batches to the collector (embedded
 * or remote), which stores them and joins their tool calls to the events.
 */
function startIntent(opts: RunOptions, log: Logger, agents: AgentSpec[], client: CollectorClient): IntentCapture {
  const keep = new Set(agents.filter((a) => a.keepContent).map((a) => a.name));
  if (keep.size) log.info({ agents: [...keep] }, 'keepContent: the text of these agents\' model turns is kept in the store');
  return new IntentCapture({
    sensorId: opts.sensorId, log: (m) => log.info(m), keepContent: (agent) => keep.has(agent),
    report: (turns) => client.pushTurns(turns),
  });
}

/** Runs a check of the command line; its error is a usage error (exit 2). */
function usage<T>(check: () => T): T {
  try {
    return check();
  } catch (err) {
    throw new CliError((err as Error).message);
  }
}

/** For `sensor status`: how the sensor's threads stand against the agents'. */
function priorityReport(lowered: BackgroundThreads | undefined, p: ThreadPriority | undefined): PbThreadPriority | undefined {
  if (!lowered?.lowered) return undefined;
  if (lowered.mode === 'nice' || !p) return { mode: 'nice', threads: lowered.lowered };
  return {
    mode: 'idle', threads: p.threads, boosted: p.boosted, boosts: String(p.boosts),
    boosted_ms: String(Math.round(p.boostedMs)), boost_after_ms: String(p.boostAfterMs),
  };
}

/** how long the oldest request to the store worker may wait before the sensor counts as behind */
const STORE_BEHIND_MS = 200;

function logStats(log: Logger, sensor: Sensor, client: CollectorClient): void {
  const c = sensor.counters();
  log.info({ delivered: c.delivered, lost: c.lost, transport: client.counters(), priority: sensor.backend.priority?.() }, 'stats');
}

export function register(program: Command): void {
  const cmd = program
    .command('run')
    .description('Run the sensor as a service and store its events in a collector (embedded unless --collector is given)')
    .option('--collector <addr>', 'send to this collector (unix:///path or host:port with --tls-*) instead of an embedded one')
    .option('--listen <addr>', 'socket of the embedded collector', DEFAULT_COLLECTOR_ADDRESS)
    .option('--state-dir <dir>', 'the embedded collector\'s database folder; also where the sensor counts batches it could not deliver', DEFAULT_STATE_DIR)
    .option('--agent-exe <path>', 'an agent by the path it is exec\'d as (repeatable)', collect, [])
    .option('--agent-comm <name>', 'an agent by its comm, at most 15 bytes (repeatable)', collect, [])
    .option('--config <file>', 'agents from a YAML file (see sensor/agents/README.md)')
    .option('--all', 'trace every process, not only agents')
    .addOption(new Option('--backend <name>', 'kernel backend').choices(['auto', 'libbpf', 'bpftrace']).default('auto'))
    .option('--watch-open-races', 'also read open paths at syscall entry, flagging a path another thread rewrote while the open blocked (libbpf; costs a BPF program run on every open of the machine)')
    .addOption(new Option('--priority <mode>', 'the sensor\'s threads against the agents\': idle (SCHED_IDLE but the ring reader, raised to normal while events wait over 200 ms; libbpf), nice (background threads at nice 10), normal')
      .choices(['idle', 'nice', 'normal']).default('idle'))
    .option('--sensor-id <id>', 'name of this sensor in the collector', defaultSensorId())
    .option('--tls-ca <file>', 'CA of the collector\'s certificate (TCP --collector)')
    .option('--tls-cert <file>', 'this sensor\'s client certificate (TCP --collector)')
    .option('--tls-key <file>', 'this sensor\'s client key (TCP --collector)')
    .option('--buffer-bytes <n>', 'unacked events held while the collector is away; beyond it new events are dropped and counted',
      positiveInt, CLIENT_DEFAULTS.bufferBytes)
    .option('--forward <url>', 'also ship stored events and alerts to this SIEM (repeatable; see sensor forward --help)', collect, [])
    .option('--metrics <host:port>', 'serve Prometheus metrics of the store and forwarders on this loopback address')
    .option('--response-config <file>', 'automatic response and per-agent egress enforcement (see README: incident response)')
    .option('--no-content-capture', 'do not capture what agents send (egress content DLP, secret_egress alerts)')
    .option('--no-content-preattach', 'put the TLS uprobes on node only when an agent execs it, not at start (a short-lived agent may send before they are in place)')
    .option('--content-max-write <bytes>', 'bytes of one captured record: of a write/SSL_write, or of a packet (up to 8 records a packet) at the socket level (at most 16384)', positiveInt, 16384)
    .option('--content-max-conn <bytes>', 'bytes an agent sends captured per connection (the rest counted as cut); of what it receives, 1 MiB', positiveInt, 256 * 1024)
    .option('--stats-every <sec>', 'log counters every N seconds (0: never)', nonNegativeInt, 60);
  addStoreOptions(addDetectFlags(cmd))
    .action((opts: RunOptions & { statsEvery: number }, cmd: Command) => {
      tuneJitForLongRunning();
      return run({ ...opts, statsEverySec: opts.statsEvery, sensorIdGiven: cmd.getOptionValueSource('sensorId') === 'cli' });
    });
}
