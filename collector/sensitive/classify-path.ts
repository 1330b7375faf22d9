// classifyPath(): which sensitive classes a path an agent opened belongs to.
//
// A detector calls it per open event with what the event knows: the path as
// the agent gave it, the opener's pid (so /proc/<own pid>/... is not
// "another process"), its cwd (to resolve a relative path) and the home of
// its user. `~` in a glob stands for that home AND for every other home
// (/root, /home/<user>), and for the HOME the agent was started with
// (agent-home.ts): reading another user's key is no less sensitive.
import { posix } from 'node:path';
import { builtInClasses, type SensitiveClass } from './catalogue.js';
import { compileGlob, type CompiledGlob } from './glob.js';

export interface PathContext {
  /** the opener's home directory, e.g. /home/alice */
  home?: string;
  /** the HOME in the agent's environment, when it has one (agent-home.ts) */
  agentHome?: string;
  /** the opener's pid (thread-group id): its own /proc/<pid> is excluded */
  pid?: number;
  /** the opener's cwd, to resolve a relative path */
  cwd?: string;
}

export interface SensitiveMatch {
  class: string;
  attack: string[];
  alertOnRead: boolean;
}

// Every glob is filed under the first path segment its literal head fixes
// ("/etc/shadow" under "etc", "~/.ssh/id_*" under ".ssh" in the home table),
// or under "anywhere" when its head does not fix one ("**/.env"). A path then
// runs only the globs of its own first segment (and of the segment after each
// home it is under) plus the anywhere ones: a handful, not the whole catalogue.
interface Filed {
  classIndex: number;
  exclude: boolean;
  glob: CompiledGlob;
}

interface GlobTable {
  bySegment: Map<string, Filed[]>;
  anywhere: Filed[];
}

const newTable = (): GlobTable => ({ bySegment: new Map(), anywhere: [] });

/** The first segment `head` fixes, for a glob matched from the start of that segment. */
function firstSegment(head: string, whole: boolean): string | undefined {
  const slash = head.indexOf('/');
  if (slash >= 0) return head.slice(0, slash);
  return whole ? head : undefined;
}

function file(table: GlobTable, entry: Filed, headFromSegment: string, whole: boolean) {
  const seg = firstSegment(headFromSegment, whole);
  if (seg === undefined || seg.length === 0) { table.anywhere.push(entry); return; }
  const list = table.bySegment.get(seg) ?? [];
  list.push(entry);
  table.bySegment.set(seg, list);
}

const segmentAt = (path: string, from: number): string => {
  const slash = path.indexOf('/', from);
  return slash < 0 ? path.slice(from) : path.slice(from, slash);
};

const PROC_PID = /^\/proc\/(\d+)\//;

/** The offsets where a home's contents start in `path` (after "<home>/"): the opener's, the agent's HOME, /root, /home/<user>. */
function homeStarts(path: string, home: string | undefined, agentHome: string | undefined): number[] {
  const out: number[] = [];
  for (const one of [home, agentHome]) {
    if (!one || one.length <= 1) continue;
    const h = one.endsWith('/') ? one : `${one}/`;
    if (path.startsWith(h) && !out.includes(h.length)) out.push(h.length);
  }
  if (path.startsWith('/root/') && !out.includes(6)) out.push(6);
  if (path.startsWith('/home/')) {
    const slash = path.indexOf('/', 6);
    if (slash > 6 && !out.includes(slash + 1)) out.push(slash + 1);
  }
  return out;
}

export class PathClassifier {
  private readonly classes: SensitiveClass[];
  private readonly absolute = newTable();
  private readonly inHome = newTable();

  constructor(classes: SensitiveClass[] = builtInClasses()) {
    this.classes = classes;
    classes.forEach((def, classIndex) => {
      for (const [globs, exclude] of [[def.paths, false], [def.exclude, true]] as const) {
        for (const g of globs) {
          if (g.startsWith('~/')) {
            const glob = compileGlob(g.slice(2));
            file(this.inHome, { classIndex, exclude, glob }, glob.head, glob.head.length === g.length - 2);
          } else {
            const glob = compileGlob(g);
            // an absolute head starts with '/': its segment is what follows
            file(this.absolute, { classIndex, exclude, glob }, glob.head.slice(1), glob.head.length === g.length);
          }
        }
      }
    });
  }

  get classNames(): string[] {
    return this.classes.map((c) => c.name);
  }

  classOf(name: string): SensitiveClass | undefined {
    return this.classes.find((c) => c.name === name);
  }

  /** Classes the path belongs to (usually zero or one). Never throws. */
  classify(rawPath: string | Uint8Array, ctx: PathContext = {}): SensitiveMatch[] {
    const path = normalise(rawPath, ctx.cwd);
    if (path === undefined) return [];
    const included = new Set<number>();
    const excluded = new Set<number>();
    // includes first; an exclude glob runs only for a class already included
    const pass = (exclude: boolean) => {
      const tryAll = (entries: Filed[] | undefined, from: number) => {
        for (const e of entries ?? []) {
          if (e.exclude !== exclude) continue;
          if (exclude ? !included.has(e.classIndex) || excluded.has(e.classIndex) : included.has(e.classIndex)) continue;
          if (e.glob.matches(path, from)) (exclude ? excluded : included).add(e.classIndex);
        }
      };
      tryAll(this.absolute.bySegment.get(segmentAt(path, 1)), 0);
      tryAll(this.absolute.anywhere, 0);
      for (const from of homes) {
        tryAll(this.inHome.bySegment.get(segmentAt(path, from)), from);
        tryAll(this.inHome.anywhere, from);
      }
    };
    const homes = homeStarts(path, ctx.home, ctx.agentHome);
    pass(false);
    if (included.size === 0) return [];
    pass(true);
    const pidMatch = PROC_PID.exec(path);
    const out: SensitiveMatch[] = [];
    for (const i of [...included].sort((x, y) => x - y)) {
      if (excluded.has(i)) continue;
      const def = this.classes[i];
      if (def.excludeOwnProcess && pidMatch && ctx.pid !== undefined && Number(pidMatch[1]) === ctx.pid) continue;
      out.push({ class: def.name, attack: def.attack, alertOnRead: def.alertOnRead });
    }
    return out;
  }
}

/**
 * The path as an absolute, lexically normalised string, or undefined when it
 * cannot be placed (relative without a cwd). Bytes that are not UTF-8 become
 * U+FFFD, which no catalogue glob contains.
 */
function normalise(raw: string | Uint8Array, cwd: string | undefined): string | undefined {
  let path = typeof raw === 'string' ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('utf8');
  const nul = path.indexOf('\0');
  if (nul >= 0) path = path.slice(0, nul);
  if (path.length === 0) return undefined;
  if (!path.startsWith('/')) {
    if (!cwd || !cwd.startsWith('/')) return undefined;
    path = `${cwd}/${path}`;
  }
  // only paths with ".", ".." or "//" segments need normalising (most do not)
  if (/\/\.{0,2}(?:\/|$)/.test(path)) path = posix.normalize(path);
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}

let defaultClassifier: PathClassifier | undefined;

/** classify() against the built-in catalogue (build a PathClassifier for a configured one). */
export function classifyPath(path: string | Uint8Array, ctx: PathContext = {}): SensitiveMatch[] {
  defaultClassifier ??= new PathClassifier();
  return defaultClassifier.classify(path, ctx);
}
