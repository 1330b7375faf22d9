// Data destruction: an agent deleting the user's files wholesale, or running
// a command line that wipes a disk or a tree someone lives in. The failure
// users fear most from an agent (`rm -rf ~/` from a mistaken variable) and a
// wiper's or extortionist's first step.
// - By count: at least minFiles files (not directories) that the instance
//   did not write itself, deleted from one top folder within the window (or
//   4 × minFiles across folders). Not counted: what can be made again or was
//   never the user's (temporary folders, dependency and build folders such
//   as node_modules, target, dist, caches, virtualenvs; object files and
//   editor leftovers), git's own deletions (checkout, reset, gc: the content
//   stays in its history) but `git clean`, and the agent's own program
//   pruning its state in a hidden folder of the home. High; critical when
//   the files lie outside the agent's working folder.
// - By renames: at least minFiles such files in one folder renamed with one
//   suffix appended (report.docx → report.docx.locked), how ransomware marks
//   what it encrypted: critical.
// - By command line: rm -r of /, a top-level system folder, /home or a
//   user's home; mkfs, wipefs, blkdiscard, dd onto a block device (critical);
//   shred (high), whatever it ends up deleting.
import { z } from 'zod';
import { defineDetector, type Instance, type JudgedEvent, type Severity } from '../detector.js';
import { basename, expire, runsAgentProgram, toNs, windowParam } from './credential-use.js';

const TEMP_ROOTS = ['/tmp/', '/var/tmp/', '/dev/shm/', '/run/user/'];
// Folders whose content a tool makes again: dependencies, build output, caches, virtualenvs.
const REGENERABLE = new Set([
  'node_modules', 'bower_components', '.pnpm-store', '.yarn', '.npm', '.cache', '__pycache__', '.pytest_cache', '.mypy_cache',
  '.ruff_cache', '.tox', '.nox', '.venv', 'venv', 'site-packages', 'dist-packages', '.eggs', 'target', 'build', 'dist', 'out',
  '.next', '.nuxt', '.svelte-kit', '.turbo', '.parcel-cache', '.gradle', 'coverage', '.nyc_output', 'tmp', '.tmp',
]);

const insideDir = (path: string, dir: string | null): boolean => dir !== null && (path === dir || path.startsWith(dir.endsWith('/') ? dir : `${dir}/`));

// Files a compiler or an editor makes again (`make clean`).
const REGENERABLE_FILE = /\.(?:o|a|so|obj|lo|la|gch|pch|pyc|pyo|class|d|tmp|swp|bak|orig|rej)$/;

/** Made again by a tool, or scratch space (a temporary folder, unless the agent works or lives there). */
function regenerable(path: string, inst: Instance): boolean {
  if (TEMP_ROOTS.some((r) => path.startsWith(r)) && !insideDir(path, inst.cwd) && !insideDir(path, inst.home)) return true;
  if (REGENERABLE_FILE.test(path)) return true;
  const segs = path.split('/');
  for (let i = 2; i < segs.length - 1; i++) { // below the top level: /tmp is judged above, a project's tmp/ here
    if (REGENERABLE.has(segs[i]!) || segs[i]!.endsWith('.egg-info')) return true;
  }
  return false;
}

/** The agent's own program pruning its state (old sessions, logs) in a hidden folder of the home. */
function ownStatePruned(ev: JudgedEvent, path: string): boolean {
  const home = ev.instance.home;
  return home !== null && path.startsWith(`${home}/.`) && runsAgentProgram(ev);
}

/** Deleted by git as part of its own bookkeeping (not `git clean`). */
function gitBookkeeping(ev: JudgedEvent): boolean {
  const proc = ev.features.proc;
  if (!proc || !/^git(?:-|$)/.test(basename(proc.exe))) return false;
  return !proc.argv.slice(1).includes('clean');
}

/** The longest directory every path lies under. */
function commonDir(paths: string[]): string {
  let dir = paths[0]!.slice(0, paths[0]!.lastIndexOf('/')) || '/';
  for (const p of paths) {
    while (dir !== '/' && !p.startsWith(`${dir}/`)) dir = dir.slice(0, dir.lastIndexOf('/')) || '/';
  }
  return dir;
}

// ---- command lines ----

const SYSTEM_TOP = /^\/(?:bin|boot|dev|etc|home|lib|lib32|lib64|opt|root|sbin|srv|usr|var)\/?$/;
const BLOCK_DEVICE = /^\/dev\/(?:sd[a-z]|nvme\d|vd[a-z]|xvd[a-z]|hd[a-z]|mmcblk\d|dm-\d|mapper\/|md\d|disk\/)/;

interface Wipe { what: string; severity: Severity; attack: string }

function wipeShape(name: string, args: string[], home: string | null): Wipe | undefined {
  if (name === 'rm') {
    const flags = args.filter((a) => a.startsWith('-') && a !== '--');
    const recursive = flags.some((f) => /^-[a-zA-Z]*[rR]/.test(f) || f === '--recursive');
    const targets = args.filter((a) => !a.startsWith('-'));
    const hit = targets.find((t) => t === '/' || t === '/*' || SYSTEM_TOP.test(t) || /^\/home\/[^/]+\/?$/.test(t) || (home !== null && t.replace(/\/+$/, '') === home));
    if (recursive && (hit || flags.includes('--no-preserve-root'))) {
      return { what: `a recursive delete of ${hit ?? '/'}`, severity: 'critical', attack: 'T1485' };
    }
    return undefined;
  }
  if (/^mkfs(?:\.|$)|^mke2fs$/.test(name)) return { what: 'a file system made over a device', severity: 'critical', attack: 'T1561.001' };
  if (name === 'wipefs' || name === 'blkdiscard') return { what: `${name} on a device`, severity: 'critical', attack: 'T1561.001' };
  if (name === 'dd') {
    const of = args.find((a) => a.startsWith('of='))?.slice(3);
    if (of && BLOCK_DEVICE.test(of)) return { what: `dd writing onto ${of}`, severity: 'critical', attack: 'T1561.001' };
    return undefined;
  }
  if (name === 'shred') return { what: 'files overwritten beyond recovery', severity: 'high', attack: 'T1485' };
  return undefined;
}

interface Deleted { ts: bigint; id: bigint; path: string }

/**
 * The top folder a deletion counts toward: the first level under the
 * working folder or the home (a project's `data/`, `~/Documents`), two
 * levels elsewhere (`/srv/www`). One spree, one folder; two sprees in two
 * folders are two, not one mixed count.
 */
function folderOf(path: string, cwd: string | null, home: string | null): string {
  const under = (root: string, depth: number): string => {
    const dirs = path.slice(root === '/' ? 1 : root.length + 1).split('/').slice(0, -1);
    return [root === '/' ? '' : root, ...dirs.slice(0, depth)].join('/') || '/';
  };
  if (cwd && cwd !== '/' && insideDir(path, cwd)) return under(cwd, 1);
  if (home && insideDir(path, home)) return under(home, 1);
  return under('/', 2);
}

/** distinct folders an instance is told about; later sprees fold into one alert (its repeats count them) */
const MAX_FOLDERS = 3;
const MAX_KEPT = 8192;

interface State {
  byFolder: Map<string, Deleted[]>;
  all: Deleted[];
  raised: string[];
  /** renames that appended one suffix, by folder and suffix */
  marked: Map<string, Deleted[]>;
}

// A suffix appended to a whole file name (`report.docx` → `report.docx.locked`): how
// ransomware marks what it encrypted. (`a.tmp` → `a`, `a` → `a.bak` by one tool now and
// then, or a rename to another name entirely, is not this.)
const APPENDED = /^\.[A-Za-z0-9_-]{1,16}$/;

function appendedSuffix(from: string, to: string): string | undefined {
  if (!to.startsWith(from) || to.length === from.length) return undefined;
  const suffix = to.slice(from.length);
  return APPENDED.test(suffix) ? suffix : undefined;
}

export default defineDetector({
  meta: {
    id: 'data_destruction',
    title: 'Data destruction',
    description: 'Deletes ≥ minFiles files it did not write from one folder within the window, or 4 × minFiles across folders (not temporary, dependency, build or cache folders, not git bookkeeping); renames ≥ minFiles such files in one folder appending one suffix (ransomware\'s mark); or a command line that deletes /, a system folder or a home recursively, makes a file system, wipes or dd-writes a block device, or shreds files.',
    severity: 'high',
    attack: ['T1485', 'T1561.001', 'T1486'],
    falsePositives: 'A cleanup the user asked for in a folder of generated files not named like one (a data directory of a pipeline); raise minFiles or switch the rule off for that agent.',
    phase: 'always',
    params: z.object({
      window: windowParam('60s'),
      minFiles: z.number().int().min(2).default(50),
    }).strict(),
  },
  newState: (): State => ({ byFolder: new Map(), all: [], raised: [], marked: new Map() }),
  onEvent(ev, { agent, state, params }) {
    const e = ev.event;
    const proc = ev.features.proc;
    if (e.type === 'exec' && proc) {
      const wipe = wipeShape(basename(proc.exe), proc.argv.slice(1), ev.instance.home);
      if (!wipe) return undefined;
      return [{ severity: wipe.severity, subject: `command:${proc.argv.slice(0, 4).join(' ')}`, summary: `${agent.name} ran ${proc.argv.join(' ').slice(0, 200)}: ${wipe.what} [${wipe.attack}]`, evidence: [ev.id] }];
    }
    const f = ev.features.file;
    if (e.type === 'rename') return markedFiles(ev, state, params, agent.name);
    if (e.type !== 'unlink' || e.rmdir || !f?.ok || f.ownOutput || regenerable(f.path, ev.instance) || gitBookkeeping(ev) || ownStatePruned(ev, f.path)) return undefined;
    const window = toNs(params.window);
    const folder = folderOf(f.path, ev.instance.cwd, ev.instance.home);
    if (!state.byFolder.has(folder) && state.byFolder.size >= 1024) state.byFolder.clear();
    const inFolder = state.byFolder.get(folder) ?? [];
    state.byFolder.set(folder, inFolder);
    const d = { ts: ev.tsNs, id: ev.id, path: f.path };
    for (const list of [inFolder, state.all]) {
      expire(list, ev.tsNs, window);
      list.push(d);
      if (list.length > MAX_KEPT) list.shift();
    }
    let spree: Deleted[];
    if (inFolder.length >= params.minFiles) spree = inFolder;
    else if (state.all.length >= 4 * params.minFiles) spree = state.all;
    else return undefined;
    const paths = spree.map((x) => x.path);
    const evidence = spree.slice(-32).map((x) => x.id);
    // the count starts again: a spree that goes on is told again (a repeat of the same folder, or a folder of its own)
    for (const x of new Set(spree.map((y) => folderOf(y.path, ev.instance.cwd, ev.instance.home)))) state.byFolder.delete(x);
    state.all = state.all.filter((x) => !spree.includes(x));
    let dir = commonDir(paths);
    const earlier = state.raised.find((r) => insideDir(dir, r));
    if (earlier) dir = earlier;
    else if (state.raised.length < MAX_FOLDERS) state.raised.push(dir);
    else dir = '*';
    const outside = paths.filter((p) => !insideDir(p, ev.instance.cwd)).length;
    const examples = paths.slice(-5).map((p) => (dir !== '*' && p.startsWith(`${dir}/`) ? p.slice(dir.length + 1) : p));
    return [{
      severity: outside >= params.minFiles ? 'critical' : undefined,
      subject: `files:${dir}`,
      summary: `${agent.name} deleted ${paths.length} files${dir === '*' ? ' more' : ` under ${dir}`} within ${params.window} that it had not written (${examples.join(', ')}, …)` +
        `${outside > 0 ? `, ${outside} of them outside its working folder${ev.instance.cwd ? ` ${ev.instance.cwd}` : ''}` : ''} [T1485]`,
      evidence,
    }];
  },
});

/** Renames that append one suffix to ≥ minFiles files it did not write, in one folder: critical, once per folder and suffix. */
function markedFiles(ev: JudgedEvent, state: State, params: { window: string | number; minFiles: number }, agentName: string) {
  const from = ev.features.file;
  const to = ev.features.file2;
  if (!from?.ok || !to || from.ownOutput || regenerable(from.path, ev.instance) || gitBookkeeping(ev)) return undefined;
  const suffix = appendedSuffix(from.path, to.path);
  if (!suffix) return undefined;
  const key = `${folderOf(from.path, ev.instance.cwd, ev.instance.home)}\0${suffix}`;
  if (!state.marked.has(key) && state.marked.size >= 1024) state.marked.clear();
  const list = state.marked.get(key) ?? [];
  state.marked.set(key, list);
  expire(list, ev.tsNs, toNs(params.window));
  list.push({ ts: ev.tsNs, id: ev.id, path: from.path });
  if (list.length > MAX_KEPT) list.shift();
  if (list.length !== params.minFiles) return undefined; // once per spree: at the count, not after it
  const dir = commonDir(list.map((x) => x.path));
  const examples = list.slice(-3).map((x) => `${x.path.slice(dir.length + 1)} → ${x.path.slice(dir.length + 1)}${suffix}`);
  return [{
    severity: 'critical' as const,
    subject: `renamed:${dir}:${suffix}`,
    summary: `${agentName} renamed ${list.length} files under ${dir} it had not written within ${params.window}, each with ${suffix} appended (${examples.join(', ')}, …): how ransomware marks what it encrypted [T1486]`,
    evidence: list.slice(-32).map((x) => x.id),
  }];
}
