// The automatic half of incident response inside `sensor run
// --response-config FILE`: every POLL_MS it
//   - hands new alerts (the alerts engine's `alert_chain` rows, kind 'alert',
//     written after this service started) to the AutoResponder, and
//   - puts every live instance of an agent with an `egress` block under its
//     grants (shadow or enforce), once per instance, and
//   - logs (warn) each destination first refused or would-be refused per
//     instance, with its count: the alert of enforcement until the alerts
//     engine takes these verdicts in.
// It reads the store through its own read-only connection: no coupling to
// the engine's internals, only to its table. An instance started between two
// polls runs unenforced until the next poll (at most POLL_MS): enforcement
// from the first instruction needs the launch path to apply it (not done).
import type Database from 'better-sqlite3';
import type { Logger } from 'pino';
import { cgroup2Mount } from '../launch/cgroup-v2.js';
import { egressVerdicts, ensureEgressMaps, setLoopbackPorts } from './egress-control.js';
import { launchedInstances, openStoreIfAny, storedInstances, type InstanceRef } from './instances.js';
import { AutoResponder, applyConfiguredEgress, type AlertForResponse } from './respond.js';
import { loadResponseConfig, SEVERITIES, type ResponseConfig, type Severity } from './response-config.js';

export const POLL_MS = 250;

export interface ResponseService {
  stop(): void;
}

interface AlertRow { id: number; rule: string; severity: string; agent: string; agent_pid: number | null; summary: string | null }

export function startResponseService(configFile: string, stateDir: string, log: Logger): ResponseService {
  const config: ResponseConfig = loadResponseConfig(configFile);
  const mount = cgroup2Mount();
  if (config.loopbackPorts.length || Object.keys(config.egress).length) {
    ensureEgressMaps(mount); // programs are attached by the first isolation, detached by the last release
    setLoopbackPorts(config.loopbackPorts);
  }
  const responder = new AutoResponder(config, stateDir);
  const limited = new Set<number>();
  const reported = new Set<string>();
  let db: Database.Database | null = null;
  let lastAlert: number | null = null;
  let busy = false;

  const newAlerts = (): AlertRow[] => {
    db ??= openStoreIfAny(stateDir);
    if (!db || !config.autoResponse.enabled) return [];
    if (db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alert_chain'`).get() === undefined) {
      lastAlert ??= 0; // alerts written later are all new
      return [];
    }
    if (lastAlert === null) {
      lastAlert = (db.prepare(`SELECT coalesce(max(id), 0) AS m FROM alert_chain`).get() as { m: number }).m;
      return [];
    }
    const rows = db.prepare(`SELECT id, rule, severity, agent, agent_pid, summary FROM alert_chain WHERE kind = 'alert' AND id > ? ORDER BY id`)
      .all(lastAlert) as AlertRow[];
    if (rows.length) lastAlert = rows[rows.length - 1]!.id;
    return rows;
  };

  const instancesToLimit = (): InstanceRef[] => {
    const out: InstanceRef[] = [];
    for (const agent of Object.keys(config.egress)) {
      const found = [...launchedInstances(mount, agent), ...(db ? storedInstances(db, agent) : [])];
      for (const i of found) if (!limited.has(i.rootPid)) out.push(i);
    }
    return out;
  };

  const tick = async () => {
    if (busy) return;
    busy = true;
    try {
      for (const a of newAlerts()) {
        if (a.agent_pid === null || !(SEVERITIES as readonly string[]).includes(a.severity)) continue;
        const alert: AlertForResponse = {
          rule: a.rule, severity: a.severity as Severity, agent: a.agent, agentPid: a.agent_pid, summary: a.summary ?? undefined, id: a.id,
        };
        const out = await responder.onAlert(alert).catch((err: unknown) => {
          log.error({ err, alert: a.id }, 'automatic response failed');
          return null;
        });
        if (out?.action) log.warn({ alert: a.id, agentPid: a.agent_pid, action: out.action, skipped: out.skipped, latencyMs: Math.round(out.latencyMs) }, 'automatic response');
      }
      for (const inst of instancesToLimit()) {
        limited.add(inst.rootPid);
        try {
          const r = await applyConfiguredEgress(config, inst, stateDir);
          if (r) log.info({ agent: inst.agent, agentPid: inst.rootPid, pids: r.pids.length, mode: config.egress[inst.agent!]!.mode }, 'egress grants applied');
        } catch (err) {
          log.error({ err, agentPid: inst.rootPid }, 'cannot apply egress grants');
        }
      }
      if (limited.size) {
        for (const v of egressVerdicts()) {
          const key = `${v.rootPid} ${v.verdict} ${v.proto} ${v.addr} ${v.port}`;
          if (reported.has(key) || !limited.has(v.rootPid)) continue;
          reported.add(key);
          log.warn({ egress: v }, `egress ${v.verdict === 'denied' ? 'refused' : 'would be refused (shadow)'}: ${v.proto} ${v.addr}:${v.port} from instance ${v.rootPid}`);
        }
      }
    } catch (err) {
      log.error({ err }, 'response service tick failed'); // busy store or gone: the next tick tries again
      db?.close();
      db = null;
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void tick(), POLL_MS);
  timer.unref();
  log.info({ configFile, autoResponse: config.autoResponse.enabled, egressAgents: Object.keys(config.egress) }, 'response service started');
  return {
    stop() {
      clearInterval(timer);
      db?.close();
    },
  };
}
