// Naming the agent instances a responder means: `--agent-pid N` is one
// instance; `--agent NAME` is every live instance of that agent, found in the
// launch cgroups (`sensor launch` names them <agent>-<pid>-<hex>) and in the
// store (agentPid tags, else process rows whose parent is not of the agent).
import Database from 'better-sqlite3';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { DB_FILE_NAME } from '../../collector/store/schema.js';
import { launchParent } from '../launch/cgroup-v2.js';
import { cgroupMembers } from './instance-processes.js';
import { readProc } from './proc-table.js';

export interface InstanceRef {
  rootPid: number;
  agent: string | null;
}

export function openStoreIfAny(stateDir: string): Database.Database | null {
  const path = join(stateDir, DB_FILE_NAME);
  if (!existsSync(path)) return null;
  const db = new Database(path, { readonly: true, fileMustExist: true });
  db.pragma('busy_timeout = 5000');
  return db;
}

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Root of each launch cgroup of the agent: the member whose parent is outside it. */
export function launchedInstances(mount: string, agent: string): InstanceRef[] {
  const parent = launchParent(mount);
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return [];
  }
  const re = new RegExp(`^${escapeRe(agent)}-\\d+-[0-9a-f]+$`);
  const out: InstanceRef[] = [];
  for (const n of names.filter((x) => re.test(x))) {
    const members = cgroupMembers(join(parent, n));
    const set = new Set(members);
    const roots = members.map(readProc).filter((e) => e !== null && !set.has(e.ppid))
      .sort((a, b) => a!.startTicks - b!.startTicks);
    if (roots[0]) out.push({ rootPid: roots[0].pid, agent });
  }
  return out;
}

/** Live roots of the agent's instances by what the store saw. */
export function storedInstances(db: Database.Database, agent: string): InstanceRef[] {
  const agentId = (db.prepare('SELECT id FROM agents WHERE name = ?').get(agent) as { id: number } | undefined)?.id;
  if (agentId === undefined) return [];
  const roots = new Set<number>();
  const hasAgentPid = db.prepare(`SELECT 1 FROM pragma_table_info('events') WHERE name = 'agent_pid'`).get() !== undefined;
  if (hasAgentPid) {
    for (const r of db.prepare('SELECT DISTINCT agent_pid AS p FROM events WHERE agent_id = ? AND agent_pid IS NOT NULL').all(agentId) as { p: number }[]) roots.add(r.p);
  }
  const rows = db.prepare('SELECT pid, ppid FROM processes WHERE agent_id = ?').all(agentId) as { pid: number; ppid: number | null }[];
  const agentPids = new Set(rows.map((r) => r.pid));
  for (const r of rows) if (r.ppid === null || !agentPids.has(r.ppid)) roots.add(r.pid);
  return [...roots].filter((p) => readProc(p) !== null).map((rootPid) => ({ rootPid, agent }));
}

/** The agent a process was stored under, newest process of that pid first. */
export function agentOfPid(db: Database.Database | null, pid: number): string | null {
  if (db) {
    const r = db.prepare(`SELECT a.name FROM processes p JOIN agents a ON a.id = p.agent_id WHERE p.pid = ? ORDER BY p.start_ns DESC LIMIT 1`)
      .get(pid) as { name: string } | undefined;
    if (r) return r.name;
  }
  return null;
}

/**
 * The instance a pid names. A `sensor launch` process is not part of its
 * instance (the command runs in a cgroup launch made, named
 * <agent>-<launcher pid>-<hex>), but people reach for its pid (pgrep finds it
 * first): while the launch runs, its pid names the launched instance.
 */
export function instanceRootFor(mount: string, pid: number): InstanceRef | null {
  const parent = launchParent(mount);
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return null;
  }
  const mine = names.find((n) => new RegExp(`^(.+)-${pid}-[0-9a-f]+$`).test(n));
  if (!mine) return null;
  const agent = /^(.+)-\d+-[0-9a-f]+$/.exec(mine)![1]!;
  return launchedInstances(mount, agent).find((i) => {
    const members = cgroupMembers(join(parent, mine));
    return members.includes(i.rootPid);
  }) ?? null;
}

export function resolveInstances(opts: { agent?: string; agentPid?: number; mount: string; db: Database.Database | null }): InstanceRef[] {
  if (opts.agentPid !== undefined) {
    const launched = instanceRootFor(opts.mount, opts.agentPid);
    if (launched) return [launched];
    return [{ rootPid: opts.agentPid, agent: opts.agent ?? agentOfPid(opts.db, opts.agentPid) }];
  }
  if (opts.agent === undefined) throw new Error('name the instance: --agent NAME or --agent-pid N');
  const byRoot = new Map<number, InstanceRef>();
  for (const i of [...launchedInstances(opts.mount, opts.agent), ...(opts.db ? storedInstances(opts.db, opts.agent) : [])]) {
    byRoot.set(i.rootPid, i);
  }
  // A root whose own ancestor is another root is part of that instance.
  const roots = [...byRoot.values()];
  return roots.filter((i) => {
    let p = readProc(i.rootPid)?.ppid;
    for (let hops = 0; p && p > 1 && hops < 64; hops++) {
      if (byRoot.has(p)) return false;
      p = readProc(p)?.ppid;
    }
    return true;
  });
}
