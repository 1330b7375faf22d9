// Alerts -> OCSF 1.3.0 Detection Finding (2004). The evidence event ids are
// given as related_events with the same uid their own forwarded records carry,
// so a SIEM can join a finding to the activity behind it.
import type { ForwardAlert } from './alert-source.js';
import { baseRecord, SEVERITY, type ForwardRecord, type OcsfObject, type ProductInfo } from './ocsf-common.js';
import { OCSF_CLASS } from './ocsf-events.js';

const SEVERITY_ID: Record<string, number> = {
  low: SEVERITY.low, medium: SEVERITY.medium, high: SEVERITY.high, critical: SEVERITY.critical,
};

export interface AlertContext {
  /** forwarded uid of each evidence event that is still in the store */
  evidenceUids: Map<bigint, string>;
  /** the sensor of the first evidence event, else the collector's own name */
  sensorId: string;
  /** names the store, so alert ids from two collectors never collide */
  storeUid: string;
}

export function alertToOcsf(a: ForwardAlert, ctx: AlertContext, product: ProductInfo): ForwardRecord {
  const severityId = SEVERITY_ID[a.severity] ?? 99;
  const uid = `alert/${ctx.storeUid}/${a.id}`;
  const actor: OcsfObject = {};
  if (a.agent !== null) actor.app_name = a.agent;
  if (a.agentPid !== null) actor.app_uid = `${a.agent ?? ''}#${a.agentPid}`;
  if (a.pid !== null) actor.process = { pid: a.pid };
  const unmapped: OcsfObject = { time_ns: a.tsNs.toString(), alert_id: a.id.toString(), evidence_event_ids: a.evidence.map(String) };
  if (a.agentPid !== null) unmapped.agent_pid = a.agentPid;
  if (a.baseline !== null) unmapped.baseline = a.baseline;
  if (a.subject !== null) unmapped.subject = a.subject;
  if (severityId === 99) unmapped.severity_text = a.severity;
  const ocsf: OcsfObject = {
    ...baseRecord(OCSF_CLASS.detectionFinding, 2, 1, 'Create', a.tsNs, severityId, uid, ctx.sensorId, product),
    status_id: 1,
    status: 'New',
    message: a.summary,
    finding_info: {
      uid,
      title: a.rule,
      desc: a.summary,
      analytic: { uid: a.rule, name: a.rule, type_id: 1, type: 'Rule' },
      related_events: a.evidence.map((id) => ({ uid: ctx.evidenceUids.get(id) ?? `store-event/${ctx.storeUid}/${id}` })),
    },
    actor,
    unmapped,
  };
  return { ocsf, uid, classUid: OCSF_CLASS.detectionFinding, sensorId: ctx.sensorId, tsNs: a.tsNs, severityId };
}
