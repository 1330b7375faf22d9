// `sensor status`: asks a collector (the Status RPC) how much it holds and
// what it has heard from each sensor.
import type { Command } from 'commander';
import { DEFAULT_COLLECTOR_ADDRESS } from '../../../proto/transport/address.js';
import { collectorStatus } from '../../transport/collector-rpc.js';
import type { PbStatusResponse } from '../../../proto/codec/proto.js';
import { tlsFilesFromOptions } from '../../../proto/transport/tls.js';
import { containmentInForce, renderInForce } from '../../response/containment.js';

interface StatusOptions {
  collector: string;
  json?: boolean;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  stateDir?: string;
}

function mib(bytes: string | undefined): string {
  return `${(Number(bytes ?? 0) / (1024 * 1024)).toFixed(1)} MiB`;
}

export function renderStatus(s: PbStatusResponse): string {
  const lines = [
    `events:  ${s.events ?? 0}`,
    `batches: ${s.batches ?? 0}`,
    `store:   ${mib(s.db_bytes)}`,
  ];
  const counters = Object.entries(s.counters ?? {}).sort(([a], [b]) => a.localeCompare(b));
  if (counters.length) lines.push(`collector: ${counters.map(([k, v]) => `${k}=${v}`).join(' ')}`);
  const sensors = s.sensors ?? [];
  lines.push(sensors.length ? 'sensors seen by this collector run:' : 'no sensor has sent a batch to this collector run');
  for (const x of sensors) {
    const c = x.counters ?? {};
    const seen = x.last_seen_ns ? new Date(Number(BigInt(x.last_seen_ns) / 1_000_000n)).toISOString() : '-';
    lines.push(`  ${x.sensor_id} boot ${x.boot_id}: last seq ${x.last_seq ?? 0}, last seen ${seen}, dropped reported ${x.dropped_reported ?? 0}`);
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
      const contained = containmentInForce(opts.stateDir); // this host's kernel and cgroups, not the collector's
      // Containment outlives the collector: say what is in force even when it cannot be reached.
      const status = await collectorStatus({ address: opts.collector, tls: tlsFilesFromOptions(opts) }).catch((err: unknown) => {
        if (!opts.json) process.stdout.write(`${renderInForce(contained)}\n`);
        throw err;
      });
      process.stdout.write(opts.json ? `${JSON.stringify({ ...status, containment: contained }, null, 2)}\n`
        : `${renderStatus(status)}\n${renderInForce(contained)}\n`);
    });
}
