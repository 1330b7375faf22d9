// `sensor query`: reads the collector's store directly (read-only), by
// filters or, for anything else, by a read-only SQL statement.
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { EventStore } from '../../../collector/store/event-store.js';
import { DEFAULT_STATE_DIR } from '../../../collector/store/schema.js';
import { queryEvents, type EventFilters } from '../../../collector/query/event-query.js';
import { renderEventTable } from '../../../collector/query/event-table.js';
import { runReadOnlySql } from '../../../collector/query/sql-query.js';
import { parseTimeSpec } from '../../../collector/query/time-spec.js';
import { EVENT_TYPE_NUMBER, type EventType } from '../../../proto/events/types.js';

interface QueryOptions {
  stateDir: string;
  agent?: string;
  pid?: number;
  agentPid?: number;
  type?: EventType[];
  path?: string;
  addr?: string;
  since?: string;
  until?: string;
  limit: number;
  json?: boolean;
  sql?: string;
}

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError('expected a non-negative integer');
  return n;
}

function eventTypes(v: string): EventType[] {
  const types = v.split(',').map((t) => t.trim()).filter(Boolean);
  for (const t of types) {
    if (!(t in EVENT_TYPE_NUMBER)) throw new InvalidArgumentError(`unknown type ${t} (one of ${Object.keys(EVENT_TYPE_NUMBER).join(', ')})`);
  }
  return types as EventType[];
}

/** Opens the store read-only with a message that names the missing file. */
export function openStoreReadOnly(stateDir: string): EventStore {
  try {
    return EventStore.open({ stateDir, readonly: true });
  } catch (err) {
    throw new Error(`cannot open the event store in ${stateDir}: ${(err as Error).message}`);
  }
}

const jsonLine = (v: unknown): string =>
  `${JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x))}\n`;

async function runQuery(opts: QueryOptions): Promise<void> {
  const store = openStoreReadOnly(opts.stateDir);
  try {
    if (opts.sql !== undefined) {
      for (const row of runReadOnlySql(store.database, opts.sql)) process.stdout.write(jsonLine(row));
      return;
    }
    const filters: EventFilters = {
      agent: opts.agent, pid: opts.pid, agentPid: opts.agentPid, types: opts.type, pathGlob: opts.path, addr: opts.addr,
      sinceNs: opts.since !== undefined ? parseTimeSpec(opts.since) : undefined,
      untilNs: opts.until !== undefined ? parseTimeSpec(opts.until) : undefined,
      limit: opts.limit,
    };
    const rows = queryEvents(store.database, filters);
    if (opts.json) {
      for (const r of rows) process.stdout.write(jsonLine({ id: r.id, sensorId: r.sensorId, ...r.event }));
    } else {
      process.stdout.write(`${renderEventTable(rows)}\n`);
    }
  } finally {
    await store.close();
  }
}

export function register(program: Command): void {
  program
    .command('query')
    .description('Search stored events in the collector\'s database (read-only)')
    .option('--state-dir <dir>', 'the collector\'s state directory', DEFAULT_STATE_DIR)
    .option('--agent <name>', 'only this agent')
    .option('--pid <pid>', 'only this process id', positiveInt)
    .option('--agent-pid <pid>', 'only the agent instance rooted at this pid (its own events and its descendants\')', positiveInt)
    .option('--type <types>', 'only these event types, comma separated (exec,open,connect,...)', eventTypes)
    .option('--path <glob>', 'path glob (* ? [...]) over the stored bytes; matches exec filenames too')
    .option('--addr <addr>', 'remote address (IP text or unix socket path)')
    .option('--since <time>', 'from this time: 10m, 2h, 7d, ISO-8601 or epoch ns')
    .option('--until <time>', 'before this time (same forms)')
    .option('--limit <n>', 'at most n events: the newest, or the oldest after --since', positiveInt, 100)
    .option('--json', 'one JSON object per line, field names as the event contract')
    .option('--sql <statement>', 'run one read-only SQL statement; rows printed as JSON lines')
    .action(runQuery);
}
