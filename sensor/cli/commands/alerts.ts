// `sensor alerts`: the alerts the collector's detectors stored (read-only),
// oldest first, each with its repeat count.
import { InvalidArgumentError, type Command } from 'commander';
import { listAlerts, type StoredAlert } from '../../../collector/store/alert-query.js';
import { DEFAULT_STATE_DIR } from '../../../collector/store/schema.js';
import { parseTimeSpec } from '../../../collector/query/time-spec.js';
import { isoFromNs } from '../../../proto/codec/convert.js';
import { openStoreReadOnly } from './query.js';
import { alertCause, alertCauseText, type AlertCause } from '../../../collector/intent/alert-cause.js';

interface AlertsOptions {
  stateDir: string;
  agent?: string;
  since?: string;
  severity?: 'low' | 'medium' | 'high' | 'critical';
  limit: number;
  json?: boolean;
}

const SEVERITIES = ['low', 'medium', 'high', 'critical'];

function severity(v: string): AlertsOptions['severity'] {
  if (!SEVERITIES.includes(v)) throw new InvalidArgumentError(`one of ${SEVERITIES.join(', ')}`);
  return v as AlertsOptions['severity'];
}

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

/** The JSON form: the documented fields first. */
export function alertJson(a: StoredAlert): Record<string, unknown> {
  return {
    id: a.id, ts: isoFromNs(a.tsNs.toString()), agent: a.agent, agentPid: a.agentPid, pid: a.pid, rule: a.rule,
    severity: a.severity, summary: a.summary, evidence: a.evidence, baseline: a.baseline,
    count: a.count, lastTs: isoFromNs(a.lastNs.toString()), subject: a.subject, sensorId: a.sensorId,
  };
}

function alertLine(a: StoredAlert, cause?: AlertCause): string {
  const repeat = a.count > 1 ? ` (x${a.count}, last ${isoFromNs(a.lastNs.toString()).slice(11, 23)})` : '';
  return `${isoFromNs(a.tsNs.toString()).slice(0, 23)}Z ${a.severity.padEnd(8)} ${a.agent}[${a.agentPid ?? '?'}] pid ${a.pid ?? '?'} ` +
    `${a.rule}${repeat}: ${a.summary}${alertCauseText(cause)}`;
}

async function runAlerts(opts: AlertsOptions): Promise<void> {
  const store = openStoreReadOnly(opts.stateDir);
  try {
    const alerts = listAlerts(store.database, {
      agent: opts.agent, minSeverity: opts.severity, limit: opts.limit,
      sinceNs: opts.since !== undefined ? parseTimeSpec(opts.since) : undefined,
    });
    const causes = alerts.map((a) => alertCause(store.database, a.evidence));
    if (opts.json) {
      alerts.forEach((a, i) => process.stdout.write(`${JSON.stringify({ ...alertJson(a), ...(causes[i] ? { toolCall: causes[i]!.toolCall } : {}) })}\n`));
    } else {
      process.stdout.write(alerts.length === 0 ? 'no alerts\n' : `${alerts.map((a, i) => alertLine(a, causes[i])).join('\n')}\n`);
    }
  } finally {
    await store.close();
  }
}

export function register(program: Command): void {
  program
    .command('alerts')
    .description('List the alerts the collector\'s detectors raised (read-only), oldest first')
    .option('--state-dir <dir>', 'the collector\'s state directory', DEFAULT_STATE_DIR)
    .option('--agent <name>', 'only this agent')
    .option('--since <time>', 'from this time: 10m, 2h, 7d, ISO-8601 or epoch ns')
    .option('--severity <level>', 'this severity and above: low, medium, high, critical', severity)
    .option('--limit <n>', 'at most n alerts (the newest)', positiveInt, 1000)
    .option('--json', 'one JSON object per line: id, ts, agent, agentPid, pid, rule, severity, summary, evidence, baseline, count, ..., toolCall (the tool call behind its events; null: none)')
    .action(runAlerts);
}
