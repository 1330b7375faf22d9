// Agent definitions: a YAML file (--config) and/or ad-hoc CLI selectors.
//
//   agents:
//     - name: claude-code
//       exe: ["/usr/bin/claude"]              # exec'd path, exact (as passed to execve)
//       comm: ["claude"]                      # task comm at exec, <= 15 bytes
//       cgroup: ["/sys/fs/cgroup/agents.slice"]  # cgroup v2 dir; its inode number is the cgroup id
//       argv: ["**/@anthropic-ai/claude-code/cli.js"]  # see ./argv-match.ts
//       interpreters: ["node"]                # whose exec is checked against argv (default: DEFAULT_INTERPRETERS)
//       grants: { read: ["{cwd}/**"], connect: ["api.example.com:443"] }  # policy, see collector/detect/grants.ts
//       detect: { learning: { duration: 7d, minEvents: 10000 } }           # see collector/detect/settings.ts
//
// A process is an agent when it matches any selector of an agent; its
// descendants inherit the agent. See ./README.md.
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { LineCounter, parseDocument, isMap, isNode, isScalar, type Document } from 'yaml';
import { z } from 'zod';
import type { GrantsInput } from '../../collector/detect/grants.js';
import { detectSchema, grantsSchema, type DetectInput } from '../../collector/detect/settings.js';
import { parseSensitiveSection, SensitiveConfigError, type SensitiveClass } from '../../collector/sensitive/catalogue.js';

/** comm names of interpreters an argv rule watches when `interpreters` is not given */
export const DEFAULT_INTERPRETERS = ['node', 'nodejs', 'python', 'python3', 'deno', 'bun', 'ruby', 'perl'];

export interface AgentSpec {
  name: string;
  exe: string[];
  comm: string[];
  cgroup: string[];
  argv: string[];
  interpreters: string[];
  /** declared grants, enforced by the collector's detectors */
  grants?: GrantsInput;
  /** detection settings of this agent (learning, detectors' parameters) */
  detect?: DetectInput;
  /**
   * keep the text of its model turns (tool calls with arguments, tool
   * results; bounded) in the store; off: names, subjects and digests only
   */
  keepContent?: boolean;
}

const absolutePath = z.string().startsWith('/', 'must be an absolute path')
  .refine((s) => Buffer.byteLength(s) < 256, 'must be shorter than 256 bytes (kernel rule key)');
const comm = z.string().min(1)
  .refine((s) => Buffer.byteLength(s) <= 15, 'must be at most 15 bytes (the kernel truncates comm to 15)');

/** an argv "re:" pattern must compile here, where the error can name file and line, not at start */
function checkRegexPattern(pattern: string, ctx: z.RefinementCtx): void {
  if (!pattern.startsWith('re:')) return;
  try {
    new RegExp(pattern.slice(3), 's');
  } catch (err) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `invalid regular expression: ${(err as Error).message.replace(/^Invalid regular expression: /, '')}` });
  }
}

export const AGENT_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
export const AGENT_NAME_RULE = 'must be 1-63 letters, digits, ".", "_" or "-"';

const agentSchema = z.object({
  name: z.string().regex(AGENT_NAME_PATTERN, AGENT_NAME_RULE),
  exe: z.array(absolutePath).default([]),
  comm: z.array(comm).default([]),
  cgroup: z.array(absolutePath).default([]),
  argv: z.array(z.string().min(1).superRefine(checkRegexPattern)).default([]),
  interpreters: z.array(comm).min(1).optional(),
  grants: grantsSchema.optional(),
  detect: detectSchema.optional(),
  keepContent: z.boolean().optional(),
}).strict().refine((a) => a.exe.length + a.comm.length + a.cgroup.length + a.argv.length > 0, {
  message: 'needs at least one of exe, comm, cgroup, argv',
});

const configSchema = z.object({
  agents: z.array(agentSchema).min(1, 'must list at least one agent'),
  /** the sensitive catalogue over the built-in one (collector/sensitive/catalogue.ts); checked by parseSensitiveSection */
  sensitive: z.unknown().optional(),
}).strict();

// The catalogue a parsed config carries, beside its agents (the agents list stays the API).
const sensitiveOfConfig = new WeakMap<AgentSpec[], SensitiveClass[]>();

/** `to` (agents built from `from`) carries the catalogue of the config `from` was parsed from. */
export function carrySensitiveClasses(from: AgentSpec[], to: AgentSpec[]): AgentSpec[] {
  const c = sensitiveOfConfig.get(from);
  if (c) sensitiveOfConfig.set(to, c);
  return to;
}

/** The sensitive classes of a config parsed by parseAgentConfig (the built-in catalogue merged with its `sensitive:`). */
export function sensitiveClassesOf(agents: AgentSpec[]): SensitiveClass[] | undefined {
  return sensitiveOfConfig.get(agents);
}

export class ConfigError extends Error {
  readonly exitCode = 2;
}

type ConfigPath = (string | number)[];

/**
 * Every error of a config file goes through here: "file:line: field: what"
 * (exit 2). The line is that of the deepest part of `path` the file has; with
 * `key`, the line of that key in the mapping at `path` (an unknown key).
 */
function configError(file: string, doc: Document, lines: LineCounter, path: ConfigPath, message: string, key?: string): ConfigError {
  let where = '';
  const container = path.length === 0 ? doc.contents : doc.getIn(path, true);
  const keyNode = key !== undefined && isMap(container)
    ? container.items.find((p) => isScalar(p.key) && String(p.key.value) === key)?.key
    : undefined;
  if (isNode(keyNode) && keyNode.range) where = `:${lines.linePos(keyNode.range[0]).line}`;
  for (let n = path.length; !where && n >= 0; n--) {
    const node = n === 0 ? doc.contents : doc.getIn(path.slice(0, n), true);
    if (isNode(node) && node.range) where = `:${lines.linePos(node.range[0]).line}`;
  }
  const full = key !== undefined ? [...path, key] : path;
  const field = full.length === 0 ? '(top level)'
    : full.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
  return new ConfigError(`${file}${where}: ${field}: ${message}`);
}

/** The keys a mapping at this path may have, read from the schema (for "unknown key" messages). */
function knownKeys(schema: z.ZodTypeAny, path: ConfigPath): string[] {
  let s: z.ZodTypeAny | undefined = schema;
  const unwrap = (t: z.ZodTypeAny): z.ZodTypeAny => {
    for (;;) {
      if (t instanceof z.ZodEffects) t = t.innerType();
      else if (t instanceof z.ZodDefault) t = t._def.innerType;
      else if (t instanceof z.ZodOptional) t = t.unwrap();
      else return t;
    }
  };
  for (const p of path) {
    s = unwrap(s);
    if (typeof p === 'number' && s instanceof z.ZodArray) s = s.element;
    else if (typeof p === 'string' && s instanceof z.ZodObject) s = (s.shape as Record<string, z.ZodTypeAny>)[p];
    else return [];
    if (!s) return [];
  }
  s = unwrap(s);
  return s instanceof z.ZodObject ? Object.keys(s.shape as object) : [];
}

/** Unknown keys first: a misspelt key also makes the one it stands for "Required", and the typo is the story. */
const issueRank = (i: z.ZodIssue): number => (i.code === z.ZodIssueCode.unrecognized_keys ? 0 : 1);

/** Parses agent config text; errors name the file, line and field. */
export function parseAgentConfig(text: string, file: string): AgentSpec[] {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const { line, col } = lines.linePos(e.pos[0]);
    throw new ConfigError(`${file}:${line}:${col}: invalid YAML: ${e.message.split('\n')[0]}`);
  }
  const parsed = configSchema.safeParse(doc.toJS());
  if (!parsed.success) {
    const issue = [...parsed.error.issues].sort((a, b) => issueRank(a) - issueRank(b))[0]!;
    if (issue.code === z.ZodIssueCode.unrecognized_keys) {
      const known = knownKeys(configSchema, issue.path);
      const what = issue.path.length === 0 ? 'unknown top-level key' : 'unknown key';
      throw configError(file, doc, lines, issue.path, `${what}${known.length ? ` (known: ${known.join(', ')})` : ''}`, issue.keys[0]);
    }
    throw configError(file, doc, lines, issue.path, issue.message);
  }
  const specs = parsed.data.agents.map((a) => ({ ...a, interpreters: a.interpreters ?? DEFAULT_INTERPRETERS }));
  const seen = new Set<string>();
  specs.forEach((s, i) => {
    if (seen.has(s.name)) throw configError(file, doc, lines, ['agents', i, 'name'], `"${s.name}" is used twice`);
    seen.add(s.name);
  });
  try {
    const classes = parseSensitiveSection(parsed.data.sensitive, file, {
      locate: (path) => {
        const node = doc.getIn(path, true);
        return isNode(node) && node.range ? `:${lines.linePos(node.range[0]).line}` : undefined;
      },
    });
    sensitiveOfConfig.set(specs, classes);
  } catch (err) {
    if (err instanceof SensitiveConfigError) throw new ConfigError(err.message);
    throw err;
  }
  return specs;
}

export function loadAgentConfig(file: string): AgentSpec[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`${file}: cannot read agent config: ${(err as Error).message}`);
  }
  return parseAgentConfig(text, file);
}

/**
 * --agent-exe PATH / --agent-comm NAME: one ad-hoc agent per name, named after
 * the exe's basename or the comm, so `--agent-exe /usr/bin/claude --agent-comm claude`
 * is one agent "claude".
 */
export function adHocAgents(exes: string[], comms: string[]): AgentSpec[] {
  const byName = new Map<string, AgentSpec>();
  const get = (name: string): AgentSpec => {
    let a = byName.get(name);
    if (!a) byName.set(name, (a = { name, exe: [], comm: [], cgroup: [], argv: [], interpreters: DEFAULT_INTERPRETERS }));
    return a;
  };
  for (const exe of exes) {
    const r = absolutePath.safeParse(exe);
    if (!r.success) throw new ConfigError(`--agent-exe ${exe}: ${r.error.issues[0].message}`);
    get(basename(exe)).exe.push(exe);
  }
  for (const c of comms) {
    const r = comm.safeParse(c);
    if (!r.success) throw new ConfigError(`--agent-comm ${c}: ${r.error.issues[0].message}`);
    get(c).comm.push(c);
  }
  return [...byName.values()];
}
