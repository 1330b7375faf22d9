// `sensor query`: reads the collector's store directly (read-only), by
// filters or, for anything else, by a read-only SQL statement.
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import type Database from 'better-sqlite3';
import { DEFAULT_STATE_DIR } from '../../../collector/store/schema.js';
import { countEvents, queryEvents, type EventFilters } from '../../../collector/query/event-query.js';
import { renderEventTable } from '../../../collector/query/event-table.js';
import { runReadOnlySql } from '../../../collector/query/sql-query.js';
import { SQL_VIEW_NAMES } from '../../../collector/query/sql-views.js';
import { parseTimeSpec, TIME_FORMS } from '../../../collector/query/time-spec.js';
import { EVENT_TYPE_NUMBER, type EventType } from '../../../proto/events/types.js';
import { nonNegativeInt } from '../arguments.js';
import { CliError } from '../exit-codes.js';
import { openStoreReadOnly } from '../open-store.js';
import { writeLines } from '../../output/stdout.js';

export { openStoreReadOnly }; // moved to ../open-store.ts; kept for importers of this module

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
  sensitive?: string | true;
}

/** the filter options --sql does not combine with (it runs the statement as written) */
const FILTER_OPTIONS = ['agent', 'pid', 'type', 'path', 'addr', 'since', 'until', 'limit', 'json', 'sensitive'] as const;

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
  const types = v.split(',').map((t) => t.trim().toLowerCase()).filter(Boolean);
  for (const t of types) {
    if (!(t in EVENT_TYPE_NUMBER)) throw new InvalidArgumentError(`unknown type ${t} (one of ${Object.keys(EVENT_TYPE_NUMBER).join(', ')})`);
  }
  return types as EventType[];
}

const jsonLine = (v: unknown): string => JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x));
const note = (msg: string): void => {
  process.stderr.write(`sensor: ${msg}\n`);
};

/** "newest 100 of 4,182 matching; --limit to see more", on stderr so --json output stays clean */
function cutNotice(db: Database.Database, filters: EventFilters, shown: number): void {
  if (shown < filters.limit) return;
  const total = countEvents(db, filters);
  if (total <= shown) return;
  const which = filters.sinceNs !== undefined ? 'oldest' : 'newest';
  note(`${which} ${shown.toLocaleString('en-US')} of ${total.toLocaleString('en-US')} matching; --limit to see more`);
}

function unknownAgentNotice(db: Database.Database, agent: string): void {
  const names = (db.prepare('SELECT name FROM agents ORDER BY name').all() as { name: string }[]).map((r) => r.name);
  if (names.includes(agent)) return;
  note(`no agent named "${agent}" has any stored event` +
    `${names.length ? ` (agents in this store: ${names.slice(0, 20).join(', ')}${names.length > 20 ? ', ...' : ''})` : ' (this store has no agent events yet)'}`);
}

async function runQuery(opts: QueryOptions, command: Command): Promise<void> {
  if (opts.sql !== undefined) {
    const given = FILTER_OPTIONS.filter((o) => command.getOptionValueSource(o) === 'cli');
    if (given.length > 0) {
      throw new CliError(`--sql runs the statement as written; ${given.map((o) => `--${o}`).join(', ')} do not apply to it (put them in its WHERE clause)`);
    }
  }
  const filters: EventFilters = {
    agent: opts.agent, pid: opts.pid, agentPid: opts.agentPid, types: opts.type, pathGlob: opts.path, addr: opts.addr,
    sinceNs: opts.since !== undefined ? parseTimeSpec(opts.since) : undefined,
    untilNs: opts.until !== undefined ? parseTimeSpec(opts.until) : undefined,
    limit: opts.limit,
    ...(opts.sensitive !== undefined ? { sensitive: opts.sensitive === true ? '' : opts.sensitive } : {}),
  };
  const store = openStoreReadOnly(opts.stateDir);
  try {
    if (opts.sql !== undefined) {
      await writeLines((function* () {
        for (const row of runReadOnlySql(store.database, opts.sql!)) yield jsonLine(row);
      })());
      return;
    }
    const rows = queryEvents(store.database, filters);
    if (opts.json) {
      await writeLines(rows.map((r) => jsonLine({ id: r.id, sensorId: r.sensorId, ...r.event })));
    } else {
      await writeLines(renderEventTable(rows).split('\n'));
    }
    cutNotice(store.database, filters, rows.length);
    if (rows.length === 0 && !opts.json) note('no stored event matches');
    if (opts.agent !== undefined && rows.length === 0) unknownAgentNotice(store.database, opts.agent);
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
    .option('--pid <pid>', 'only this process id', nonNegativeInt)
    .option('--agent-pid <pid>', 'only the agent instance rooted at this pid (its own events and its descendants\')', nonNegativeInt)
    .option('--type <types>', 'only these event types, comma separated (exec,open,connect,...)', eventTypes)
    .option('--path <glob>', 'path glob: * within one directory, ** across directories, ? one character; over every path an event carries (path, rename/link target, exe)')
    .option('--addr <addr>', 'remote address (IP text or unix socket path)')
    .option('--sensitive [class]', 'only opens of sensitive data: a catalogue class (ssh-private-key, aws-credentials, ...) or a DLP class of the content read (private-key, dlp:aws-access-key, ...); no class: any')
    .option('--since <time>', `from this time: ${TIME_FORMS}`, timeSpec)
    .option('--until <time>', 'before this time (same forms)', timeSpec)
    .option('--limit <n>', 'at most n events: the newest, or the oldest after --since', nonNegativeInt, 100)
    .option('--json', 'one JSON object per line, field names as the event contract')
    .option('--sql <statement>', `run one read-only SQL statement, rows printed as JSON lines; views ${SQL_VIEW_NAMES.join(', ')} ` +
      'have names and paths as text (README.md); the filter options above do not apply to it')
    .action(runQuery);
}
