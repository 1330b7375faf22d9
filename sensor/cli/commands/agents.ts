// `sensor agents`: each agent the collector has seen, its instances (root
// pid, start, end, command line, cwd, user), its state (learning, with
// progress toward both targets, or detecting) and a summary of its baseline.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { BaselineJson } from '../../../collector/detect/baseline.js';
import { count, spanText } from '../../../collector/detect/duration.js';
import { readBaselines, readInstances, type InstanceRecord } from '../../../collector/store/detect-rows.js';
import { DEFAULT_STATE_DIR } from '../../../collector/store/schema.js';
import { isoFromNs } from '../../../proto/codec/convert.js';
import { openStoreReadOnly } from './query.js';

interface AgentsOptions {
  stateDir: string;
  json?: boolean;
  instances: number;
}

function userNames(): Map<number, string> {
  const m = new Map<number, string>();
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':');
      if (f.length >= 7 && !m.has(Number(f[2]))) m.set(Number(f[2]), f[0]!);
    }
  } catch {
    // names are a courtesy; uids are printed anyway
  }
  return m;
}

const ts = (ns: bigint | null): string | null => (ns === null ? null : isoFromNs(ns.toString()));

export function agentSummaries(db: Parameters<typeof readBaselines>[0], maxInstances: number): Record<string, unknown>[] {
  const names = userNames();
  const baselines = new Map(readBaselines(db).map((b) => [b.agent, b]));
  const instances = new Map<string, InstanceRecord[]>();
  for (const i of readInstances(db)) {
    const list = instances.get(i.agent) ?? [];
    list.push(i);
    instances.set(i.agent, list);
  }
  const agents = [...new Set([...baselines.keys(), ...instances.keys()])].sort();
  return agents.map((agent) => {
    const rec = baselines.get(agent);
    const body = rec ? (JSON.parse(rec.body) as BaselineJson) : null;
    const spanMs = body?.firstNs && body.lastNs ? Number((BigInt(body.lastNs) - BigInt(body.firstNs)) / 1_000_000n) : 0;
    const list = instances.get(agent) ?? [];
    const state = rec?.state ?? 'learning';
    return {
      agent,
      state,
      progress: state === 'learning' && rec ? {
        events: body!.seen.events, minEvents: rec.learnEvents, spanMs, durationMs: rec.learnMs,
        ratio: Math.min(1, Math.min(body!.seen.events / Math.max(1, rec.learnEvents), spanMs / Math.max(1, rec.learnMs))),
      } : null,
      detectingSince: rec?.detectFrom ? new Date(rec.detectFrom).toISOString() : null,
      learningEndedBy: rec?.endedBy ?? null,
      baseline: body ? {
        events: body.seen.events, opens: body.seen.opens, connects: body.seen.connects, execs: body.seen.execs,
        instances: body.seen.instances, spanMs, destinations: Object.keys(body.sets.destinations).length,
        executables: Object.keys(body.sets.executables).length, areas: Object.keys(body.sets.areas).length,
        minutes: body.rates.opens.n, bytes: Buffer.byteLength(rec!.body),
      } : null,
      instanceCount: list.length,
      instances: list.slice(-maxInstances).map((i) => ({
        sensorId: i.sensorId, agentPid: i.agentPid, start: ts(i.startNs), end: ts(i.endNs), exitCode: i.exitCode,
        cmdline: i.argv.join(' '), exe: i.exe, cwd: i.cwd, uid: i.uid, user: i.uid === null ? null : names.get(i.uid) ?? null,
        home: i.home, events: i.events, lastSeen: ts(i.lastNs),
      })),
    };
  });
}

function text(a: Record<string, unknown>): string {
  const p = a.progress as { events: number; minEvents: number; spanMs: number; durationMs: number; ratio: number } | null;
  const b = a.baseline as { events: number; spanMs: number; destinations: number; executables: number; areas: number; instances: number; bytes: number } | null;
  const state = p
    ? `learning ${Math.floor(p.ratio * 100)}% (${count(p.events)}/${count(p.minEvents)} events, ${spanText(p.spanMs)}/${spanText(p.durationMs)})`
    : `${a.state as string}${a.detectingSince ? ` since ${a.detectingSince as string}` : ''}`;
  const lines = [`${a.agent as string}: ${state}`];
  if (b) {
    lines.push(`  baseline: ${count(b.events)} events from ${count(b.instances)} instances over ${spanText(b.spanMs)}; ` +
      `${count(b.destinations)} destinations, ${count(b.executables)} executables, ${count(b.areas)} areas (${count(b.bytes)} bytes)`);
  }
  for (const i of a.instances as Record<string, unknown>[]) {
    lines.push(`  [${i.agentPid as number}] ${(i.start as string | null) ?? '?'} .. ${(i.end as string | null) ?? 'running'} ` +
      `${(i.user as string | null) ?? `uid ${String(i.uid)}`} cwd ${(i.cwd as string | null) ?? '?'}: ${i.cmdline as string}`);
  }
  return lines.join('\n');
}

async function runAgents(opts: AgentsOptions): Promise<void> {
  const store = openStoreReadOnly(opts.stateDir);
  try {
    const list = agentSummaries(store.database, opts.instances);
    if (opts.json) for (const a of list) process.stdout.write(`${JSON.stringify(a)}\n`);
    else process.stdout.write(list.length === 0 ? 'no agents seen\n' : `${list.map(text).join('\n')}\n`);
  } finally {
    await store.close();
  }
}

export function register(program: Command): void {
  program
    .command('agents')
    .description('List the agents the collector has seen: instances, learning or detecting, baseline summary')
    .option('--state-dir <dir>', 'the collector\'s state directory', DEFAULT_STATE_DIR)
    .option('--instances <n>', 'show the newest n instances per agent', (v) => Math.max(0, Number(v) || 0), 20)
    .option('--json', 'one JSON object per agent per line')
    .action(runAgents);
}
