// "A credential used by its own consumer is not a leak": is this process one
// of a class's consumers?
//
// A consumer without '/' is a glob on the executable's basename (`ssh`,
// `docker-credential-*`). One with '/' is a glob on the executable's path or,
// when the executable is an interpreter, on the script it runs (argv[1]):
// aws, gcloud and az are Python programs, npm is a Node one. Naming the
// script by path (not by basename) keeps `python3 /tmp/aws` from passing as
// the AWS CLI. An interpreter or shell is never a consumer by itself unless a
// class names it (shell-history names the shells that keep it).
import { posix } from 'node:path';
import { compileGlob, type CompiledGlob } from './glob.js';
import type { SensitiveClass } from './catalogue.js';

const INTERPRETER = /^(?:python[0-9.]*|node|nodejs|ruby[0-9.]*|perl[0-9.]*|bun|deno|php[0-9.]*)$/;

export interface ProcessIdentity {
  /** the executable's path (from exec) */
  exe: string;
  /** argv, when known */
  argv?: string[];
}

interface Executables { names: CompiledGlob[]; paths: CompiledGlob[] }
const cache = { consumers: new WeakMap<SensitiveClass, Executables>(), scanners: new WeakMap<SensitiveClass, Executables>() };

function compiled(cls: SensitiveClass, field: 'consumers' | 'scanners'): Executables {
  let c = cache[field].get(cls);
  if (!c) {
    c = { names: [], paths: [] };
    for (const g of cls[field]) (g.includes('/') ? c.paths : c.names).push(compileGlob(g));
    cache[field].set(cls, c);
  }
  return c;
}

/** True when `proc` is a legitimate consumer of the class's credential. */
export function isConsumer(cls: SensitiveClass, proc: ProcessIdentity): boolean {
  return named(compiled(cls, 'consumers'), proc);
}

/**
 * True when `proc` is one of the class's scanners and its arguments do not
 * ask it to show what it opened. procps 4.0 (Debian 12) `ps` opens the
 * environ of every process it looks at, whatever it was asked to print:
 * every agent that runs `ps` (Qwen Code does, for its shell tool) would
 * otherwise read as stealing every process's environment. `ps e`,
 * `ps auxe` or `-o environ` print it: those are reads.
 */
export function isScanner(cls: SensitiveClass, proc: ProcessIdentity): boolean {
  if (!named(compiled(cls, 'scanners'), proc)) return false;
  return !showsEnvironment(posix.basename(proc.exe), proc.argv);
}

// ps options whose next word is a value (a user, a pid list, a format), not BSD option letters.
const PS_VALUE_OPTIONS = new Set(['-C', '-G', '-U', '-g', '-p', '-q', '-s', '-t', '-u', '-o', '-O', '-N', '--cols', '--columns',
  '--format', '--group', '--Group', '--pid', '--ppid', '--quick-pid', '--rows', '--lines', '--sid', '--sort', '--tty', '--user',
  '--User', '--width', 'o', 'O', 'p', 'q', 't', 'U', 'k']);

/** Does this argv ask the scanner to print the environments it opens? Unknown argv: assume it does. */
function showsEnvironment(base: string, argv: string[] | undefined): boolean {
  if (!argv) return true;
  if (base !== 'ps') return false;
  for (let i = 1; i < argv.length; i++) {
    const word = argv[i]!;
    if (/environ/i.test(word)) return true;
    // a BSD option word (no dash): 'e' shows the environment after the command
    if (/^[A-Za-z]+$/.test(word) && word.includes('e') && !PS_VALUE_OPTIONS.has(argv[i - 1] ?? '')) return true;
  }
  return false;
}

function named({ names, paths }: Executables, proc: ProcessIdentity): boolean {
  const exe = posix.normalize(proc.exe);
  const base = posix.basename(exe);
  if (names.some((g) => g.matches(base)) || paths.some((g) => g.matches(exe))) return true;
  const script = proc.argv?.[1];
  if (INTERPRETER.test(base) && script && script.startsWith('/')) {
    const s = posix.normalize(script);
    return paths.some((g) => g.matches(s));
  }
  return false;
}
