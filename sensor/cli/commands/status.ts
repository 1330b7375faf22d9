// `sensor status`: is this host's sensor healthy, for a person or a fleet
// tool. Asks the collector (the Status RPC; by default the one `sensor run`
// embeds, on the default socket) and prints one view: sensors with their
// backend, programs and kernel, events per second, loss at every stage, the
// store, forwarders, agents and containment in force. Exit status:
//   0 healthy, 1 degraded (the reasons are printed), 2 down (no collector
//   answers) or a usage error.
import type { Command } from 'commander';
import { DEFAULT_COLLECTOR_ADDRESS, parseAddress } from '../../../proto/transport/address.js';
import { collectorStatus } from '../../transport/collector-rpc.js';
import { probeCollector } from '../../transport/collector-probe.js';
import { clientTlsFor, tlsFilesFromOptions, type TlsFiles } from '../../../proto/transport/tls.js';
import { DEFAULT_STATE_DIR } from '../../../collector/store/schema.js';
import { CliError, EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from '../exit-codes.js';
import { writeOut } from '../../output/stdout.js';
import { containmentInForce } from '../../response/containment.js';
import { buildStatusReport, DEFAULT_MAX_LAG_SEC, downReport, type HealthState } from '../status/status-report.js';
import { renderDownText, renderStatusText } from '../status/status-text.js';
import type { PbStatusResponse } from '../../../proto/codec/proto.js';
import { readVisibility, renderVisibility } from '../../content/visibility-file.js';

interface StatusOptions {
  collector: string;
  json?: boolean;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  stateDir: string;
  silentAfter?: number;
  maxLag: number;
}

/** a collector answers Status from counters it holds: seconds mean it is not one, or is stuck */
const STATUS_TIMEOUT_MS = 3000;

export const EXIT_FOR_STATE: Record<HealthState, number> = { healthy: EXIT_OK, degraded: EXIT_FAILURE, down: EXIT_USAGE };

const seconds = (v: string): number => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`not a positive number of seconds: ${v}`);
  return n;
};

/** The human view of a Status answer with the default thresholds and no containment (tests, other commands). */
export function renderStatus(pb: PbStatusResponse, address = DEFAULT_COLLECTOR_ADDRESS): string {
  return renderStatusText(buildStatusReport(pb, { address, containment: [], nowMs: Date.now(), thresholds: { maxLagSec: DEFAULT_MAX_LAG_SEC } }));
}

async function status(opts: StatusOptions): Promise<void> {
  let tls: TlsFiles | undefined;
  try {
    tls = clientTlsFor(parseAddress(opts.collector), tlsFilesFromOptions(opts));
  } catch (err) {
    throw new CliError((err as Error).message); // the command line asks for what cannot work
  }
  // This host's kernel and cgroups, not the collector's; it outlives the collector, so it is said even when down.
  const containment = containmentInForce(opts.stateDir);
  let report;
  try {
    // A quick look first: a missing socket or a peer that is not gRPC is
    // said at once, not after the call's deadline.
    await probeCollector(opts.collector, { tls: tls !== undefined });
    const pb = await collectorStatus({ address: opts.collector, tls, timeoutMs: STATUS_TIMEOUT_MS });
    report = buildStatusReport(pb, {
      address: opts.collector, containment, nowMs: Date.now(),
      thresholds: { silentAfterSec: opts.silentAfter, maxLagSec: opts.maxLag },
    });
  } catch (err) {
    const down = downReport(opts.collector, (err as Error).message, containment);
    process.stderr.write(`sensor: ${(err as Error).message}\n`); // the one-line error every command gives
    writeOut(opts.json ? JSON.stringify(down, null, 2) : renderDownText(down));
    process.exitCode = EXIT_FOR_STATE.down;
    return;
  }
  // Which agents' egress content the sensor on this host can see (written by `sensor run`, sensor/content/).
  const content = readVisibility(opts.stateDir);
  writeOut(opts.json ? JSON.stringify(content ? { ...report, egressContent: content } : report, null, 2)
    : `${renderStatusText(report)}${content ? `\n${renderVisibility(content)}` : ''}`);
  process.exitCode = EXIT_FOR_STATE[report.state];
}

export function register(program: Command): void {
  program
    .command('status')
    .description('Health of this host\'s sensor and collector: exit 0 healthy, 1 degraded, 2 down')
    .option('--collector <addr>', 'collector address', DEFAULT_COLLECTOR_ADDRESS)
    .option('--json', 'one JSON object (fields in README: Health)')
    .option('--tls-ca <file>', 'CA of the collector\'s certificate (TCP)')
    .option('--tls-cert <file>', 'client certificate (TCP)')
    .option('--tls-key <file>', 'client key (TCP)')
    .option('--state-dir <dir>', 'store to name who isolated what and why (containment is read from this host)', DEFAULT_STATE_DIR)
    .option('--silent-after <sec>', 'a running sensor silent this long is degraded (default: three of its heartbeats, 90 s)', seconds)
    .option('--max-lag <sec>', 'a forwarder whose oldest unshipped event is older than this is degraded', seconds, DEFAULT_MAX_LAG_SEC)
    .action(status);
}
