// The response configuration (response.yaml, --response-config): egress
// enforcement per agent and the graduated automatic response. Both are off
// unless written here.
//
//   egress:                       # per agent: grants enforced in the kernel
//     qwen-code:
//       mode: shadow              # shadow (would_deny only) first, then enforce
//       allow: ["api.example.com:443", "10.0.0.0/8", "127.0.0.1:8000-8100"]
//   auto_response:
//     enabled: false              # the default
//     rules:                      # first match wins
//       - rule: mass_read         # an alert rule name (optional)
//         agent: qwen-code        # only this agent (optional)
//         min_severity: high      # low | medium | high | critical (optional)
//         action: freeze          # freeze | isolate | isolate+freeze
//   loopback_ports: [11434]       # loopback ports isolated agents may still reach
import { readFileSync } from 'node:fs';
import { isNode, LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { AGENT_NAME_PATTERN, AGENT_NAME_RULE, ConfigError } from '../agents/config.js';
import { GrantError, parseGrant, type GrantSpec } from './egress-grants.js';

export const SEVERITIES = ['low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];
export const AUTO_ACTIONS = ['freeze', 'isolate', 'isolate+freeze'] as const;
export type AutoAction = (typeof AUTO_ACTIONS)[number];

export interface AutoRule {
  rule?: string;
  agent?: string;
  minSeverity?: Severity;
  action: AutoAction;
}

export interface ResponseConfig {
  egress: Record<string, { mode: 'shadow' | 'enforce'; allow: GrantSpec[] }>;
  autoResponse: { enabled: boolean; rules: AutoRule[] };
  loopbackPorts: number[];
}

export const DEFAULT_RESPONSE_CONFIG: ResponseConfig = { egress: {}, autoResponse: { enabled: false, rules: [] }, loopbackPorts: [] };

const grant = z.string().superRefine((s, ctx) => {
  try { parseGrant(s); } catch (err) { ctx.addIssue({ code: z.ZodIssueCode.custom, message: (err as GrantError).message }); }
});

const schema = z.object({
  egress: z.record(z.string().regex(AGENT_NAME_PATTERN, AGENT_NAME_RULE), z.object({
    mode: z.enum(['shadow', 'enforce']),
    allow: z.array(grant).default([]),
  }).strict()).default({}),
  auto_response: z.object({
    enabled: z.boolean().default(false),
    rules: z.array(z.object({
      rule: z.string().min(1).optional(),
      agent: z.string().regex(AGENT_NAME_PATTERN, AGENT_NAME_RULE).optional(),
      min_severity: z.enum(SEVERITIES).optional(),
      action: z.enum(AUTO_ACTIONS),
    }).strict()).default([]),
  }).strict().default({}),
  loopback_ports: z.array(z.number().int().min(1).max(65535)).default([]),
}).strict();

export function parseResponseConfig(text: string, file: string): ResponseConfig {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  if (doc.errors.length > 0) {
    const { line, col } = lines.linePos(doc.errors[0]!.pos[0]);
    throw new ConfigError(`${file}:${line}:${col}: invalid YAML: ${doc.errors[0]!.message.split('\n')[0]}`);
  }
  const parsed = schema.safeParse(doc.toJS() ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    let where = '';
    for (let n = issue.path.length; n >= 0; n--) {
      const node = n === 0 ? doc.contents : doc.getIn(issue.path.slice(0, n), true);
      if (isNode(node) && node.range) {
        where = `:${lines.linePos(node.range[0]).line}`;
        break;
      }
    }
    const field = issue.path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('') || '(top level)';
    throw new ConfigError(`${file}${where}: ${field}: ${issue.message}`);
  }
  const d = parsed.data;
  return {
    egress: Object.fromEntries(Object.entries(d.egress).map(([agent, e]) => [agent, { mode: e.mode, allow: e.allow.map(parseGrant) }])),
    autoResponse: {
      enabled: d.auto_response.enabled,
      rules: d.auto_response.rules.map((r) => ({ rule: r.rule, agent: r.agent, minSeverity: r.min_severity, action: r.action })),
    },
    loopbackPorts: d.loopback_ports,
  };
}

export function loadResponseConfig(file: string): ResponseConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`${file}: cannot read response config: ${(err as Error).message}`);
  }
  return parseResponseConfig(text, file);
}
