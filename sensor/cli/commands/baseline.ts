// `sensor baseline --agent NAME [--freeze | --relearn]`: shows an agent's
// learned baseline, or asks the collector to end learning now (--freeze) or
// to learn again from empty (--relearn). The collector owns the baseline in
// memory, so the request goes through the store (baseline_requests) and this
// waits for the collector to apply it; with no collector running it stays
// queued and is applied when the collector next starts.
import Database from 'better-sqlite3';
import { InvalidArgumentError, type Command } from 'commander';
import { join } from 'node:path';
import type { BaselineJson } from '../../../collector/detect/baseline.js';
import { count, spanText } from '../../../collector/detect/duration.js';
import { readBaselines, readRequest, requestBaselineChange } from '../../../collector/store/detect-rows.js';
import { DB_FILE_NAME, DEFAULT_STATE_DIR } from '../../../collector/store/schema.js';
import { openStoreReadOnly } from './query.js';

interface BaselineOptions {
  stateDir: string;
  agent: string;
  freeze?: boolean;
  relearn?: boolean;
  wait: number;
  json?: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function request(opts: BaselineOptions, op: 'freeze' | 'relearn'): Promise<void> {
  let db: Database.Database;
  try {
    db = new Database(join(opts.stateDir, DB_FILE_NAME), { fileMustExist: true });
  } catch (err) {
    throw new Error(`cannot open the event store in ${opts.stateDir}: ${(err as Error).message}`);
  }
  try {
    db.pragma('busy_timeout = 5000');
    const id = requestBaselineChange(db, opts.agent, op);
    const deadline = Date.now() + opts.wait * 1000;
    for (;;) {
      const r = readRequest(db, id)!;
      if (r.appliedAt !== null) {
        process.stdout.write(`${opts.agent}: ${r.result}\n`);
        return;
      }
      if (Date.now() >= deadline) break;
      await sleep(100);
    }
    process.stdout.write(`${opts.agent}: ${op} queued; no collector applied it within ${opts.wait} s, the collector applies it when it next runs\n`);
  } finally {
    db.close();
  }
}

function top(entries: Record<string, number>, n: number): string {
  const list = Object.entries(entries).sort((a, b) => b[1] - a[1]);
  const shown = list.slice(0, n).map(([k, c]) => `${k} (${count(c)})`).join(', ');
  return list.length > n ? `${shown}, … ${list.length - n} more` : shown || '-';
}

async function show(opts: BaselineOptions): Promise<void> {
  const store = openStoreReadOnly(opts.stateDir);
  try {
    const rec = readBaselines(store.database).find((b) => b.agent === opts.agent);
    if (!rec) throw new Error(`no baseline for agent ${opts.agent} in ${opts.stateDir} (the collector has seen no event of it)`);
    const body = JSON.parse(rec.body) as BaselineJson;
    if (opts.json) {
      process.stdout.write(`${JSON.stringify({ agent: rec.agent, state: rec.state, endedBy: rec.endedBy, learnFrom: new Date(rec.learnFrom).toISOString(), digest: rec.digest, baseline: body })}\n`);
      return;
    }
    const span = body.firstNs && body.lastNs ? Number((BigInt(body.lastNs) - BigInt(body.firstNs)) / 1_000_000n) : 0;
    process.stdout.write([
      `${rec.agent}: ${rec.state}${rec.endedBy ? ` (learning ended: ${rec.endedBy})` : ''}`,
      `  learned: ${count(body.seen.events)} events (${count(body.seen.opens)} opens, ${count(body.seen.connects)} connects, ${count(body.seen.execs)} execs) from ${count(body.seen.instances)} instances over ${spanText(span)}`,
      `  destinations: ${top(body.sets.destinations, 12)}`,
      `  executables: ${top(body.sets.executables, 12)}`,
      `  areas: ${top(body.sets.areas, 16)}`,
    ].join('\n') + '\n');
  } finally {
    await store.close();
  }
}

async function runBaseline(opts: BaselineOptions): Promise<void> {
  if (opts.freeze && opts.relearn) throw new InvalidArgumentError('--freeze and --relearn exclude each other');
  if (opts.freeze) return request(opts, 'freeze');
  if (opts.relearn) return request(opts, 'relearn');
  return show(opts);
}

export function register(program: Command): void {
  program
    .command('baseline')
    .description('Show an agent\'s learned baseline, or end its learning now (--freeze) or learn again (--relearn)')
    .requiredOption('--agent <name>', 'the agent')
    .option('--state-dir <dir>', 'the collector\'s state directory', DEFAULT_STATE_DIR)
    .option('--freeze', 'end learning now: the baseline stops changing and detection starts')
    .option('--relearn', 'start learning again from an empty baseline')
    .option('--wait <sec>', 'how long to wait for the collector to apply --freeze/--relearn', (v) => {
      const n = Number(v);
      if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('expected seconds');
      return n;
    }, 10)
    .option('--json', 'the baseline as JSON')
    .action(runBaseline);
}
