// classifyPath(): which sensitive classes a path an agent opened belongs to.
//
// A detector calls it per open event with what the event knows: the path as
// the agent gave it, the opener's pid (so /proc/<own pid>/... is not
// "another process"), its cwd (to resolve a relative path) and the home of
// its user. `~` in a glob stands for that home AND for every other home
// (/root, /home/<user>): reading another user's key is no less sensitive.
import { posix } from 'node:path';
import { builtInClasses, type SensitiveClass } from './catalogue.js';
import { compileGlob, type CompiledGlob } from './glob.js';

export interface PathContext {
  /** the opener's home directory, e.g. /home/alice */
  home?: string;
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

interface CompiledSet {
  /** globs that start with `~/`, compiled on what follows the home */
  inHome: CompiledGlob[];
  absolute: CompiledGlob[];
}

interface CompiledClass {
  def: SensitiveClass;
  include: CompiledSet;
  exclude: CompiledSet;
}

function compileSet(globs: string[]): CompiledSet {
  const set: CompiledSet = { inHome: [], absolute: [] };
  for (const g of globs) {
    if (g.startsWith('~/')) set.inHome.push(compileGlob(g.slice(2)));
    else set.absolute.push(compileGlob(g));
  }
  return set;
}

const PROC_PID = /^\/proc\/(\d+)\//;

/** The offsets where a home's contents start in `path` (after "<home>/"), longest home first. */
function homeStarts(path: string, home: string | undefined): number[] {
  const out: number[] = [];
  if (home && home.length > 1) {
    const h = home.endsWith('/') ? home : `${home}/`;
    if (path.startsWith(h)) out.push(h.length);
  }
  if (path.startsWith('/root/')) out.push(6);
  if (path.startsWith('/home/')) {
    const slash = path.indexOf('/', 6);
    if (slash > 6) out.push(slash + 1);
  }
  return out;
}

function setMatches(set: CompiledSet, path: string, starts: number[]): boolean {
  for (const g of set.absolute) if (g.matches(path)) return true;
  for (const from of starts) for (const g of set.inHome) if (g.matches(path, from)) return true;
  return false;
}

export class PathClassifier {
  private readonly classes: CompiledClass[];

  constructor(classes: SensitiveClass[] = builtInClasses()) {
    this.classes = classes.map((def) => ({ def, include: compileSet(def.paths), exclude: compileSet(def.exclude) }));
  }

  get classNames(): string[] {
    return this.classes.map((c) => c.def.name);
  }

  classOf(name: string): SensitiveClass | undefined {
    return this.classes.find((c) => c.def.name === name)?.def;
  }

  /** Classes the path belongs to (usually zero or one). Never throws. */
  classify(rawPath: string | Uint8Array, ctx: PathContext = {}): SensitiveMatch[] {
    const path = normalise(rawPath, ctx.cwd);
    if (path === undefined) return [];
    const starts = homeStarts(path, ctx.home);
    const pidMatch = PROC_PID.exec(path);
    const out: SensitiveMatch[] = [];
    for (const c of this.classes) {
      if (!setMatches(c.include, path, starts) || setMatches(c.exclude, path, starts)) continue;
      if (c.def.excludeOwnProcess && pidMatch && ctx.pid !== undefined && Number(pidMatch[1]) === ctx.pid) continue;
      out.push({ class: c.def.name, attack: c.def.attack, alertOnRead: c.def.alertOnRead });
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
  path = posix.normalize(path);
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}

let defaultClassifier: PathClassifier | undefined;

/** classify() against the built-in catalogue (build a PathClassifier for a configured one). */
export function classifyPath(path: string | Uint8Array, ctx: PathContext = {}): SensitiveMatch[] {
  defaultClassifier ??= new PathClassifier();
  return defaultClassifier.classify(path, ctx);
}
