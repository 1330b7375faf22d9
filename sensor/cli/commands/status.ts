// `sensor status`: asks a collector (the Status RPC) how much it holds and
// what it has heard from each sensor.
import type { Command } from 'commander';
import { DEFAULT_COLLECTOR_ADDRESS, parseAddress } from '../../../proto/transport/address.js';
import { collectorStatus } from '../../transport/collector-rpc.js';
import { probeCollector } from '../../transport/collector-probe.js';
import type { PbStatusResponse } from '../../../proto/codec/proto.js';
import { clientTlsFor, tlsFilesFromOptions, type TlsFiles } from '../../../proto/transport/tls.js';
import { CliError, EXIT_FAILURE } from '../exit-codes.js';
import { writeOut } from '../../output/stdout.js';
import { containmentInForce, renderInForce } from '../../response/containment.js';
import { readVisibility, renderVisibility } from '../../content/visibility-file.js';

interface StatusOptions {
  collector: string;
  json?: boolean;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  stateDir?: string;
}

/** a collector answers Status from counters it holds: seconds mean it is not one, or is stuck */
const STATUS_TIMEOUT_MS = 3000;

function mib(bytes: string | undefined): string {
  return `${(Number(bytes ?? 0) / (1024 * 1024)).toFixed(1)} MiB`;
}

interface StoreDetails {
  prunedBatches?: number;
  prunedEvents?: number;
  integrityAlarms?: number;
  retention?: { maxAgeDays?: number | null; maxBytes?: number | null };
}

function storeDetails(json: string | undefined): StoreDetails | null {
  if (!json) return null;
  try {
    return JSON.parse(json) as StoreDetails;
  } catch {
    return null;
  }
}

export function renderStatus(s: PbStatusResponse): string {
  const lines = [
    `events:  ${s.events ?? 0}`,
    `batches: ${s.batches ?? 0}`,
    `store:   ${mib(s.db_bytes)}`,
  ];
  const store = storeDetails(s.store_json);
  if (store) {
    const r = store.retention ?? {};
    lines.push(`pruned:  ${store.prunedBatches ?? 0} batches, ${store.prunedEvents ?? 0} events ` +
      `(retention: ${r.maxAgeDays ? `${r.maxAgeDays} days` : 'no age bound'}, ${r.maxBytes ? mib(String(r.maxBytes)) : 'no size bound'})`);
    if (store.integrityAlarms) lines.push(`INTEGRITY ALARMS: ${store.integrityAlarms} batch(es) reused a stored sensor/boot/seq with other events (see the collector log)`);
  }
  const counters = Object.entries(s.counters ?? {}).sort(([a], [b]) => a.localeCompare(b));
  if (counters.length) lines.push(`collector: ${counters.map(([k, v]) => `${k}=${v}`).join(' ')}`);
  const sensors = s.sensors ?? [];
  lines.push(sensors.length ? 'sensors seen by this collector run:' : 'no sensor has sent a batch to this collector run');
  for (const x of sensors) {
    const c = x.counters ?? {};
    const seen = x.last_seen_ns ? new Date(Number(BigInt(x.last_seen_ns) / 1_000_000n)).toISOString() : '-';
    lines.push(`  ${x.sensor_id} boot ${x.boot_id}: last seq ${x.last_seq ?? 0}, last seen ${seen}, dropped reported ${x.dropped_reported ?? 0}, undelivered by earlier runs ${x.undelivered_reported ?? 0}`);
    lines.push(`    transport: sent=${c.sent ?? 0} acked=${c.acked ?? 0} resent=${c.resent ?? 0} dropped=${c.dropped ?? 0} buffered=${c.buffered ?? 0} rejected=${c.rejected ?? 0}`);
    const loss = Object.entries(c.sensor_loss ?? {}).sort(([a], [b]) => a.localeCompare(b));
    lines.push(`    sensor loss: ${loss.length ? loss.map(([k, n]) => `${k}=${n}`).join(' ') : 'none'}`);
  }
  return lines.join('\n');
}

export function register(program: Command): void {
  program
    .command('status')
    .description('Show a collector\'s store size, event count, per-sensor last sequence number and counters')
    .option('--collector <addr>', 'collector address', DEFAULT_COLLECTOR_ADDRESS)
    .option('--json', 'print the raw Status answer as JSON')
    .option('--tls-ca <file>', 'CA of the collector\'s certificate (TCP)')
    .option('--tls-cert <file>', 'client certificate (TCP)')
    .option('--tls-key <file>', 'client key (TCP)')
    .option('--state-dir <dir>', 'store to name who isolated what and why (containment is read from this host)')
    .action(async (opts: StatusOptions) => {
      let tls: TlsFiles | undefined;
      try {
        tls = clientTlsFor(parseAddress(opts.collector), tlsFilesFromOptions(opts));
      } catch (err) {
        throw new CliError((err as Error).message); // the command line asks for what cannot work
      }
      const contained = containmentInForce(opts.stateDir); // this host's kernel and cgroups, not the collector's
      let status: PbStatusResponse;
      try {
        // A quick look first: a missing socket or a peer that is not gRPC is
        // said in one line at once, not after the call's deadline.
        await probeCollector(opts.collector, { tls: tls !== undefined });
        status = await collectorStatus({ address: opts.collector, tls, timeoutMs: STATUS_TIMEOUT_MS });
      } catch (err) {
        // Containment outlives the collector: say what is in force even when it cannot be reached.
        if (!opts.json) writeOut(renderInForce(contained));
        throw new CliError((err as Error).message, EXIT_FAILURE);
      }
      const content = opts.stateDir ? readVisibility(opts.stateDir) : undefined; // written by `sensor run` on this host
      writeOut(opts.json ? JSON.stringify({ ...status, containment: contained, ...(content ? { egressContent: content } : {}) }, null, 2)
        : `${renderStatus(status)}\n${renderInForce(contained)}${content ? `\n${renderVisibility(content)}` : ''}`);
    });
}
