// Detection settings: the schema of an agent's `grants:` and `detect:`
// sections in agents.yaml (sensor/agents/config.ts embeds these, so errors
// name file, line and field), and the resolved settings the engine uses.
//
//   detect:
//     learning: { duration: 7d, minEvents: 10000 }   # learning ends when both are reached
//     dedupWindow: 10m                              # one alert per instance, rule and subject within it
//     new_destination: { enabled: true, severity: medium }
//     rate_spike: { factor: 4, floor: { opens: 3000 } }
import { z } from 'zod';
import { parseConnectGrant } from './connect-grant.js';
import { SEVERITIES, type Severity } from './detector.js';
import { DETECTORS } from './detectors/index.js';
import { parseDuration } from './duration.js';
import type { GrantsInput } from './grants.js';
import type { SensitiveClass } from '../sensitive/catalogue.js';

const duration = z.union([z.string(), z.number()]).refine((v) => parseDuration(v) !== null, 'must be a duration such as 90s, 10m, 3h or 7d');
const pathGlob = z.string().min(1).refine((g) => g.startsWith('/') || g.startsWith('~') || g.startsWith('{cwd}'),
  'must start with /, ~ or {cwd}');

export const grantsSchema = z.object({
  read: z.array(pathGlob).optional(),
  write: z.array(pathGlob).optional(),
  connect: z.array(z.string().superRefine((v, ctx) => {
    const g = parseConnectGrant(v);
    if (typeof g === 'string') ctx.addIssue({ code: z.ZodIssueCode.custom, message: g });
  })).optional(),
  exec: z.array(pathGlob).optional(),
}).strict();

const learningSchema = z.object({
  duration: duration.optional(),
  minEvents: z.number().int().nonnegative().optional(),
}).strict();

const detectorSections = Object.fromEntries(DETECTORS.map((d) => [
  d.meta.id,
  d.meta.params.partial().extend({ enabled: z.boolean().optional(), severity: z.enum(SEVERITIES as [Severity, ...Severity[]]).optional() })
    .strict().optional(),
]));

export const detectSchema = z.object({
  learning: learningSchema.optional(),
  dedupWindow: duration.optional(),
  ...detectorSections,
}).strict();

/** An agent's `detect:` section (or the defaults): learning, dedupWindow, and one section per detector id. */
export type DetectInput = {
  learning?: { duration?: string | number; minEvents?: number };
  dedupWindow?: string | number;
} & Record<string, unknown>;

/** Defaults fit a real deployment: a week of use and enough events to have seen the agent's routine. */
export const DEFAULT_LEARNING = { duration: '7d', minEvents: 10_000 } as const;
export const DEFAULT_DEDUP_WINDOW = '10m';

/** What the collector is given (plain data: it crosses to the store worker). */
export interface DetectionOptions {
  /** for every agent, under each agent's own `detect:` */
  defaults?: DetectInput;
  agents?: { name: string; grants?: GrantsInput; detect?: DetectInput }[];
  /** where homes of uids come from (default /etc/passwd) */
  passwdFile?: string;
  /** how often pending `sensor baseline` requests are looked for, ms */
  requestPollMs?: number;
  /** how often a learning baseline is saved, ms */
  saveEveryMs?: number;
  /** the sensitive catalogue (built-in merged with the config's `sensitive:`); default the built-in one */
  sensitive?: SensitiveClass[];
}

export interface DetectorSettings {
  enabled: boolean;
  severity: Severity;
  params: unknown;
}

export interface AgentSettings {
  learningMs: number;
  learningMinEvents: number;
  dedupWindowMs: number;
  detectors: Map<string, DetectorSettings>;
}

type Section = Record<string, unknown> & { enabled?: boolean; severity?: Severity };

/**
 * The options with the collector's own state directory among the paths the
 * sensor_tamper rule protects (for every agent, beside what each configures).
 * A directory whose name holds glob characters is left out: it cannot be
 * written as a glob of itself.
 */
export function protectStateDir(opts: DetectionOptions, stateDir: string): DetectionOptions {
  if (/[*?[\]{}]/.test(stateDir) || !stateDir.startsWith('/')) return opts;
  const defaults = (opts.defaults ?? {}) as Record<string, unknown>;
  const section = (defaults.sensor_tamper ?? {}) as Record<string, unknown>;
  const dir = stateDir.replace(/\/+$/, '');
  return { ...opts, defaults: { ...defaults, sensor_tamper: { ...section, statePaths: [dir, `${dir}/**`] } } };
}

/** One agent's settings: its own section over the defaults over the built-in defaults. */
export function resolveSettings(defaults: DetectInput | undefined, own: DetectInput | undefined): AgentSettings {
  const d = (defaults ?? {}) as Record<string, unknown>;
  const o = (own ?? {}) as Record<string, unknown>;
  const learning = { ...DEFAULT_LEARNING, ...(d.learning as object), ...(o.learning as object) } as { duration: string | number; minEvents: number };
  const detectors = new Map<string, DetectorSettings>();
  for (const det of DETECTORS) {
    const merged: Section = { ...(d[det.meta.id] as Section), ...(o[det.meta.id] as Section) };
    const { enabled, severity, ...params } = merged;
    detectors.set(det.meta.id, {
      enabled: enabled ?? true,
      severity: severity ?? det.meta.severity,
      params: det.meta.params.parse(params),
    });
  }
  return {
    learningMs: parseDuration(learning.duration)!,
    learningMinEvents: learning.minEvents,
    dedupWindowMs: parseDuration((o.dedupWindow ?? d.dedupWindow ?? DEFAULT_DEDUP_WINDOW) as string)!,
    detectors,
  };
}
