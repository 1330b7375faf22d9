// Automatic first response, for the alerts engine: `respond(action, instance)`
// freezes and/or isolates an instance the moment an alert fires, recorded
// like a manual `sensor isolate` (actor auto:<rule>) and shown by `sensor
// status` until `sensor release`. AutoResponder picks the action from the
// response config (off by default) and never stacks a second response on an
// instance already contained (it only adds a freeze the first one lacked).
//
// Also here: applyConfiguredEgress(), which puts a new instance of an agent
// with an `egress` block under its grants (shadow or enforce); the sensor
// calls it when it learns of an instance.
import { inForce, isolateInstance, type IsolateResult } from './containment.js';
import type { EgressMode } from './egress-control.js';
import type { InstanceRef } from './instances.js';
import { SEVERITIES, type AutoAction, type ResponseConfig, type Severity } from './response-config.js';

export interface AlertForResponse {
  rule: string;
  severity: Severity;
  agent: string | null;
  /** the instance (root pid) the alert is about */
  agentPid: number;
  summary?: string;
  id?: string | number;
}

export async function respond(action: AutoAction, instance: InstanceRef, opts: { stateDir: string; actor: string; reason: string | null }): Promise<IsolateResult> {
  return isolateInstance(instance, {
    stateDir: opts.stateDir, actor: opts.actor, reason: opts.reason,
    network: action !== 'freeze', freeze: action !== 'isolate',
  });
}

export function chooseAction(config: ResponseConfig, alert: AlertForResponse): AutoAction | null {
  if (!config.autoResponse.enabled) return null;
  for (const r of config.autoResponse.rules) {
    if (r.rule !== undefined && r.rule !== alert.rule) continue;
    if (r.agent !== undefined && r.agent !== alert.agent) continue;
    if (r.minSeverity !== undefined && SEVERITIES.indexOf(alert.severity) < SEVERITIES.indexOf(r.minSeverity)) continue;
    return r.action;
  }
  return null;
}

export interface AutoResponseOutcome {
  action: AutoAction | null;
  result?: IsolateResult;
  skipped?: string;
  /** ms from onAlert() to the response in force and recorded */
  latencyMs: number;
}

export class AutoResponder {
  // One response at a time: two alerts of one instance must not race two isolations.
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly config: ResponseConfig, private readonly stateDir: string) {}

  onAlert(alert: AlertForResponse): Promise<AutoResponseOutcome> {
    const start = performance.now();
    const run = async (): Promise<AutoResponseOutcome> => {
      const action = chooseAction(this.config, alert);
      if (!action) return { action: null, latencyMs: performance.now() - start };
      const now = inForce().find((f) => f.rootPid === alert.agentPid);
      const wantNet = action !== 'freeze';
      const wantFreeze = action !== 'isolate';
      const hasNet = now?.mode === 'deny';
      const hasFreeze = !!now?.frozenCgroup;
      if ((!wantNet || hasNet) && (!wantFreeze || hasFreeze)) {
        return { action, skipped: 'already in force', latencyMs: performance.now() - start };
      }
      const result = await respond(
        hasNet && wantFreeze ? 'freeze' : action,
        { rootPid: alert.agentPid, agent: alert.agent },
        { stateDir: this.stateDir, actor: `auto:${alert.rule}`, reason: `${alert.severity} alert${alert.id !== undefined ? ` ${alert.id}` : ''}${alert.summary ? `: ${alert.summary}` : ''}` },
      );
      return { action, result, latencyMs: performance.now() - start };
    };
    const next = this.chain.then(run, run);
    this.chain = next.catch(() => undefined);
    return next;
  }
}

/** Puts an instance under its agent's configured egress grants, if any; null when the agent has none. */
export async function applyConfiguredEgress(config: ResponseConfig, instance: InstanceRef, stateDir: string): Promise<IsolateResult | null> {
  const policy = instance.agent ? config.egress[instance.agent] : undefined;
  if (!policy) return null;
  const mode: EgressMode = policy.mode === 'enforce' ? 'grants' : 'grants-shadow';
  return isolateInstance(instance, { stateDir, mode, grants: policy.allow, actor: 'config:egress', reason: `egress ${policy.mode} for ${instance.agent}` });
}
