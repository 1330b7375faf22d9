// The console's JSON answers: each wraps the function the matching CLI
// command calls (agents, alerts, timeline, baseline, status, collect), over
// the same read-only store, so the page and the terminal never disagree.
import type Database from 'better-sqlite3';
import type { BaselineJson } from '../../collector/detect/baseline.js';
import { listAlerts } from '../../collector/store/alert-query.js';
import { readBaselines } from '../../collector/store/detect-rows.js';
import { buildTimeline, TIMELINE_MAX_EVENTS } from '../../collector/query/timeline.js';
import { parseTimeSpec } from '../../collector/query/time-spec.js';
import { isoFromNs } from '../../proto/codec/convert.js';
import type { PbStatusResponse } from '../../proto/codec/proto.js';
import { agentSummaries } from '../cli/commands/agents.js';
import { alertJson } from '../cli/commands/alerts.js';
import { launchedRoot } from '../cli/commands/timeline.js';
import { containmentInForce } from '../response/containment.js';
import { collectEvidence } from '../response/evidence-bundle.js';
import { collectorStatus } from '../transport/collector-rpc.js';

export class ApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

export interface ApiContext {
  db: Database.Database;
  stateDir: string;
  /** the collector whose Status RPC gives the loss counters (as `sensor status`) */
  collector: string;
}

const SEVERITIES = ['low', 'medium', 'high', 'critical'] as const;
/** alerts the overview's chart counts: enough for a day of a busy desktop */
const OVERVIEW_ALERTS = 5000;

function intParam(v: string | null, name: string, min = 0): number | undefined {
  if (v === null || v === '') return undefined;
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v)) || Number(v) < min) throw new ApiError(400, `${name}: expected an integer >= ${min}`);
  return Number(v);
}

function timeParam(v: string | null, name: string): bigint | undefined {
  if (v === null || v === '') return undefined;
  try {
    return parseTimeSpec(v);
  } catch (err) {
    throw new ApiError(400, `${name}: ${(err as Error).message}`);
  }
}

async function statusOf(address: string): Promise<{ status: PbStatusResponse | null; error: string | null }> {
  try {
    return { status: await collectorStatus({ address, timeoutMs: 1500 }), error: null };
  } catch (err) {
    return { status: null, error: (err as Error).message };
  }
}

/** `sensor agents` + `sensor status` + the alerts' severities over time. */
export async function overview(ctx: ApiContext): Promise<unknown> {
  const alerts = listAlerts(ctx.db, { limit: OVERVIEW_ALERTS }).map((a) => ({
    id: a.id, ts: isoFromNs(a.tsNs.toString()), severity: a.severity, agent: a.agent, count: a.count,
  }));
  const { status, error } = await statusOf(ctx.collector);
  return {
    agents: agentSummaries(ctx.db, 20),
    alerts,
    containment: containmentInForce(ctx.stateDir),
    collector: { address: ctx.collector, error, status },
  };
}

/** `sensor alerts --json` with its filters. */
export function alerts(ctx: ApiContext, q: URLSearchParams): unknown {
  const severity = q.get('severity') || undefined;
  if (severity !== undefined && !(SEVERITIES as readonly string[]).includes(severity)) throw new ApiError(400, `severity: one of ${SEVERITIES.join(', ')}`);
  return listAlerts(ctx.db, {
    agent: q.get('agent') || undefined,
    minSeverity: severity as (typeof SEVERITIES)[number] | undefined,
    sinceNs: timeParam(q.get('since'), 'since'),
    afterId: intParam(q.get('after'), 'after'),
    limit: Math.min(intParam(q.get('limit'), 'limit', 1) ?? 1000, 10_000),
  }).map(alertJson);
}

/** One alert with its evidence: the stored events it names, read through the instance's timeline (`sensor timeline`). */
export function alertDetail(ctx: ApiContext, id: number): unknown {
  const a = listAlerts(ctx.db, { id, limit: 1 })[0];
  if (!a) throw new ApiError(404, `no alert ${id}`);
  const wanted = new Set(a.evidence.map(String));
  let evidence: unknown[] = [];
  let note: string | null = null;
  if (a.agentPid !== null) {
    const t = buildTimeline(ctx.db, { rootPid: a.agentPid, limit: TIMELINE_MAX_EVENTS });
    evidence = t.entries.filter((e) => e.kind !== 'alert' && e.kind !== 'response' && wanted.has(e.id));
    if (evidence.length < wanted.size) note = `${wanted.size - evidence.length} of ${wanted.size} evidence events are not in the instance's stored timeline (pruned, or outside the instance)`;
  } else if (wanted.size) {
    note = 'the alert names no instance (agentPid), so its evidence events cannot be placed on a timeline';
  }
  return { alert: alertJson(a), evidence, note };
}

/** `sensor timeline --agent-pid N --json`. */
export function timeline(ctx: ApiContext, q: URLSearchParams): unknown {
  const pid = intParam(q.get('agentPid'), 'agentPid', 1);
  if (pid === undefined) throw new ApiError(400, 'agentPid: required');
  return buildTimeline(ctx.db, {
    rootPid: launchedRoot(pid), sinceNs: timeParam(q.get('since'), 'since'), untilNs: timeParam(q.get('until'), 'until'),
  });
}

/** `sensor baseline --agent NAME --json`, with the alerts raised since learning ended (what is new). */
export function baseline(ctx: ApiContext, q: URLSearchParams): unknown {
  const agent = q.get('agent');
  if (!agent) throw new ApiError(400, 'agent: required');
  const rec = readBaselines(ctx.db).find((b) => b.agent === agent);
  if (!rec) throw new ApiError(404, `no baseline for agent ${agent} (none saved yet: the collector saves a learning baseline every 30 s and at once when learning ends, or it has seen no event of it)`);
  const since = rec.detectFrom ? BigInt(rec.detectFrom) * 1_000_000n : undefined;
  const newSince = since === undefined ? [] : listAlerts(ctx.db, { agent, sinceNs: since, limit: 1000 }).map(alertJson);
  return {
    agent: rec.agent, state: rec.state, endedBy: rec.endedBy, learnFrom: new Date(rec.learnFrom).toISOString(),
    detectingSince: rec.detectFrom ? new Date(rec.detectFrom).toISOString() : null, digest: rec.digest,
    baseline: JSON.parse(rec.body) as BaselineJson, newSinceLearning: newSince,
  };
}

/** `sensor collect --agent-pid N`: the bundle's bytes, for a download. */
export function bundle(ctx: ApiContext, pid: number): { name: string; data: Buffer; sha256: string } {
  const r = collectEvidence({ agentPid: launchedRoot(pid), db: ctx.db, stateDir: ctx.stateDir });
  return { name: `evidence-${pid}.tar.gz`, data: r.bundle, sha256: r.manifestSha256 };
}
