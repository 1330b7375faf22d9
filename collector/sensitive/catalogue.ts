// The catalogue of sensitive locations: the built-in classes (catalogue.json,
// beside this file, shipped in dist/ by tsc) merged with a config's
// `sensitive:` section.
//
//   sensitive:
//     disable: [repl-history]            # built-in classes switched off
//     classes:
//       - name: vault-token              # a new class: paths are required
//         description: HashiCorp Vault token
//         attack: [T1552.001]
//         paths: ["~/.vault-token"]
//         consumers: [vault]
//       - name: dotenv                   # a built-in: fields given replace its own,
//         addExclude: ["**/.env.ci"]     # add* fields append to them
//
// The config loader (sensor/agents/config.ts) owns the file; it calls
// parseSensitiveSection() with the section's value and, optionally, a
// locator that turns a field path into ":line" so errors name file, line
// and field as its own do.
import { z } from 'zod';
import builtIn from './catalogue.json' with { type: 'json' };
import { compileGlob, GlobError } from './glob.js';

export interface SensitiveClass {
  name: string;
  description: string;
  /** MITRE ATT&CK technique ids, e.g. T1552.004 */
  attack: string[];
  /** globs; `~/` at the start is a home directory */
  paths: string[];
  exclude: string[];
  /** executables that use the credential for its purpose (see ./consumers.ts) */
  consumers: string[];
  /**
   * executables that open these paths while they scan and show nothing of
   * them unless asked (procps 4.0's ps opens every process's environ): such
   * an open is not a read of the data (see ./consumers.ts)
   */
  scanners: string[];
  /** one read by an agent deserves an alert on its own (shadow, browser stores, other agents' folders, /proc) */
  alertOnRead: boolean;
  /** /proc/<pid>/... classes: a process reading its own pid is not a match */
  excludeOwnProcess: boolean;
  /** the agent whose own folder this is, when it is one */
  agent?: string;
}

export class SensitiveConfigError extends Error {
  readonly exitCode = 2;
}

// A path glob as the catalogue writes them: from the root, a home (~/) or anywhere (a leading **/).
export const pathGlob = z.string().min(1).superRefine((g, ctx) => {
  if (!(g.startsWith('/') || g.startsWith('~/') || g.startsWith('**/'))) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'must start with "/", "~/" or "**/"' });
    return;
  }
  try { compileGlob(g.startsWith('~/') ? g.slice(2) || '*' : g); } catch (err) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: err instanceof GlobError ? err.message : String(err) });
  }
});
const consumerString = z.string().min(1).superRefine((g, ctx) => {
  try { compileGlob(g); } catch (err) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: err instanceof GlobError ? err.message : String(err) });
  }
});
const className = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'must be 1-63 lower-case letters, digits, ".", "_" or "-"');

const classSchema = z.object({
  name: className,
  description: z.string().optional(),
  attack: z.array(z.string().regex(/^T\d{4}(\.\d{3})?$/, 'must be an ATT&CK technique id like T1552 or T1552.001')).optional(),
  paths: z.array(pathGlob).optional(),
  exclude: z.array(pathGlob).optional(),
  consumers: z.array(consumerString).optional(),
  addPaths: z.array(pathGlob).optional(),
  addExclude: z.array(pathGlob).optional(),
  addConsumers: z.array(consumerString).optional(),
  scanners: z.array(consumerString).optional(),
  addScanners: z.array(consumerString).optional(),
  alertOnRead: z.boolean().optional(),
  excludeOwnProcess: z.boolean().optional(),
  agent: z.string().min(1).optional(),
}).strict();

export const sensitiveSectionSchema = z.object({
  disable: z.array(className).default([]),
  classes: z.array(classSchema).default([]),
}).strict();

export type SensitiveSection = z.input<typeof sensitiveSectionSchema>;

const builtInFileSchema = z.object({ $comment: z.array(z.string()).optional(), classes: z.array(classSchema) }).strict();

function fullClass(c: z.infer<typeof classSchema>): SensitiveClass {
  return {
    name: c.name,
    description: c.description ?? '',
    attack: c.attack ?? [],
    paths: [...(c.paths ?? []), ...(c.addPaths ?? [])],
    exclude: [...(c.exclude ?? []), ...(c.addExclude ?? [])],
    consumers: [...(c.consumers ?? []), ...(c.addConsumers ?? [])],
    scanners: [...(c.scanners ?? []), ...(c.addScanners ?? [])],
    alertOnRead: c.alertOnRead ?? false,
    excludeOwnProcess: c.excludeOwnProcess ?? false,
    ...(c.agent ? { agent: c.agent } : {}),
  };
}

let builtInCache: SensitiveClass[] | undefined;

/** The built-in classes, validated once (a broken catalogue.json fails loudly, naming the field). */
export function builtInClasses(): SensitiveClass[] {
  if (!builtInCache) {
    const parsed = builtInFileSchema.safeParse(builtIn);
    if (!parsed.success) throw new Error(`catalogue.json: ${describeIssue(parsed.error.issues[0], [])}`);
    builtInCache = parsed.data.classes.map(fullClass);
  }
  return builtInCache.map((c) => ({ ...c, paths: [...c.paths], exclude: [...c.exclude], consumers: [...c.consumers], scanners: [...c.scanners], attack: [...c.attack] }));
}

type FieldPath = (string | number)[];

function fieldName(path: FieldPath): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('') || '(top level)';
}

function describeIssue(issue: z.ZodIssue, prefix: FieldPath): string {
  return `${fieldName([...prefix, ...issue.path])}: ${issue.message}`;
}

export interface ParseOptions {
  /** where the section sits in its file; default ['sensitive'] */
  prefix?: FieldPath;
  /** turns a full field path into a location suffix such as ":12" (the YAML loader knows lines) */
  locate?: (path: FieldPath) => string | undefined;
}

/**
 * Validates a config's `sensitive:` section and merges it over the built-in
 * classes. `undefined` (no section) gives the built-ins. Throws
 * SensitiveConfigError naming file, line (with a locator) and field.
 */
export function parseSensitiveSection(value: unknown, file: string, opts: ParseOptions = {}): SensitiveClass[] {
  const prefix = opts.prefix ?? ['sensitive'];
  const fail = (path: FieldPath, message: string): never => {
    const full = [...prefix, ...path];
    throw new SensitiveConfigError(`${file}${opts.locate?.(full) ?? ''}: ${fieldName(full)}: ${message}`);
  };
  const parsed = sensitiveSectionSchema.safeParse(value ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    fail(issue.path, issue.message);
  }
  const section = parsed.data!;
  const classes = builtInClasses();
  const byName = new Map(classes.map((c) => [c.name, c]));
  const seen = new Set<string>();
  section.classes.forEach((entry, i) => {
    if (seen.has(entry.name)) fail(['classes', i, 'name'], `class "${entry.name}" is listed twice`);
    seen.add(entry.name);
    const existing = byName.get(entry.name);
    if (!existing) {
      if (!entry.paths || entry.paths.length === 0) fail(['classes', i, 'paths'], `new class "${entry.name}" needs at least one path (it is not a built-in class)`);
      const c = fullClass(entry);
      classes.push(c);
      byName.set(c.name, c);
      return;
    }
    if (entry.description !== undefined) existing.description = entry.description;
    if (entry.attack !== undefined) existing.attack = entry.attack;
    if (entry.paths !== undefined) existing.paths = [...entry.paths];
    if (entry.exclude !== undefined) existing.exclude = [...entry.exclude];
    if (entry.consumers !== undefined) existing.consumers = [...entry.consumers];
    if (entry.scanners !== undefined) existing.scanners = [...entry.scanners];
    existing.paths.push(...(entry.addPaths ?? []));
    existing.exclude.push(...(entry.addExclude ?? []));
    existing.consumers.push(...(entry.addConsumers ?? []));
    existing.scanners.push(...(entry.addScanners ?? []));
    if (entry.alertOnRead !== undefined) existing.alertOnRead = entry.alertOnRead;
    if (entry.excludeOwnProcess !== undefined) existing.excludeOwnProcess = entry.excludeOwnProcess;
    if (entry.agent !== undefined) existing.agent = entry.agent;
    if (existing.paths.length === 0) fail(['classes', i, 'paths'], `class "${entry.name}" would have no path left`);
  });
  const disabled = new Set<string>();
  section.disable.forEach((name, i) => {
    if (!byName.has(name)) fail(['disable', i], `unknown class "${name}" (known: ${[...byName.keys()].join(', ')})`);
    disabled.add(name);
  });
  return classes.filter((c) => !disabled.has(c.name));
}
