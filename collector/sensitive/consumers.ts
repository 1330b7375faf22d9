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

const cache = new WeakMap<SensitiveClass, { names: CompiledGlob[]; paths: CompiledGlob[] }>();

function compiled(cls: SensitiveClass) {
  let c = cache.get(cls);
  if (!c) {
    c = { names: [], paths: [] };
    for (const g of cls.consumers) (g.includes('/') ? c.paths : c.names).push(compileGlob(g));
    cache.set(cls, c);
  }
  return c;
}

/** True when `proc` is a legitimate consumer of the class's credential. */
export function isConsumer(cls: SensitiveClass, proc: ProcessIdentity): boolean {
  const { names, paths } = compiled(cls);
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
