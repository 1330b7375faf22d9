// `sensor query`: reads the collector's store directly (read-only), by
// filters or, for anything else, by a read-only SQL statement.
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { EventStore } from '../../../collector/store/event-store.js';
import { DEFAULT_STATE_DIR } from '../../../collector/store/schema.js';
import { queryEvents, type EventFilters } from '../../../collector/query/event-query.js';
import { renderEventTable } from '../../../collector/query/event-table.js';
import { runReadOnlySql } from '../../../collector/query/sql-query.js';
import { parseTimeSpec, TIME_FORMS } from '../../../collector/query/time-spec.js';
import { EVENT_TYPE_NUMBER, type EventType } from '../../../proto/events/types.js';

interface QueryOptions {
  stateDir: string;
  agent?: string;
  pid?: number;
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

/** Checks a --since/--until value when the flags are read, so a bad one is a usage error. */
function timeSpec(v: string): string {
  try {
    parseTimeSpec(v);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
  return v;
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
      agent: opts.agent, pid: opts.pid, types: opts.type, pathGlob: opts.path, addr: opts.addr,
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
    .option('--type <types>', 'only these event types, comma separated (exec,open,connect,...)', eventTypes)
    .option('--path <glob>', 'path glob (* ? [...]) over every path an event carries (path, rename/link target, exe)')
    .option('--addr <addr>', 'remote address (IP text or unix socket path)')
    .option('--since <time>', `from this time: ${TIME_FORMS}`, timeSpec)
    .option('--until <time>', 'before this time (same forms)', timeSpec)
    .option('--limit <n>', 'at most n events: the newest, or the oldest after --since', positiveInt, 100)
    .option('--json', 'one JSON object per line, field names as the event contract')
    .option('--sql <statement>', 'run one read-only SQL statement; rows printed as JSON lines')
    .action(runQuery);
}
