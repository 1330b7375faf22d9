// The one interface every detector implements. A detector is a small module:
// its metadata (id, title, severity, ATT&CK ids, false positives, parameters
// with defaults) beside one function fed the events of an agent instance in
// order, with state of its own per instance. It reads the agent's baseline
// and grants; it never writes them (the engine learns, see baseline.ts).
import type { z } from 'zod';
import type { SensorEvent } from '../../proto/events/types.js';
import type { BaselineView } from './baseline.js';
import type { Destination } from './generalise.js';
import type { GrantSet } from './grants.js';
import type { MinuteCounts } from './minute-rates.js';
import type { SensitiveClass } from '../sensitive/catalogue.js';

export type Severity = 'low' | 'medium' | 'high' | 'critical';
export const SEVERITIES: readonly Severity[] = ['low', 'medium', 'high', 'critical'];

/** One agent instance: the root process a rule matched (or `sensor launch` started) and its descendants. */
export interface Instance {
  /** the engine's id for it (agent_instances.id) */
  id: number;
  sensorId: string;
  agent: string;
  /** the root process's pid: `agentPid` on every event of the instance */
  agentPid: number;
  startNs: bigint | null;
  endNs: bigint | null;
  uid: number | null;
  /** what `~` stands for: the instance user's home (null: unknown) */
  home: string | null;
  /** what `{cwd}` stands for: the root's working directory at its exec (null: not seen) */
  cwd: string | null;
  exe: string | null;
  argv: string[];
}

/** What the engine derived from an event once, for every detector. */
export interface EventFeatures {
  /** file operations: the path and whether it reads or writes */
  file?: FileFeature;
  /** a second path written (rename's and link's new name) */
  file2?: FileFeature;
  exec?: {
    /** the program (exe, else the exec'd file) */
    path: string;
    /** the file as exec'd (a link such as /bin/true, where path is /usr/bin/true) */
    filename: string;
    key: string;
    /** the instance root's first exec: the agent itself starting */
    first: boolean;
  };
  dest?: Destination & { addr: string; port: number; host?: string; family: string };
  /** open: the sensitive catalogue classes of its path (collector/sensitive), as stored with the event */
  sensitive?: string[];
  /** the process behind the event, as its exec (or its parent's, before one) showed it */
  proc?: ProcInfo;
}

/** A process as the engine last saw it exec (inherited through fork until its own exec). */
export interface ProcInfo {
  exe: string;
  argv: string[];
  ppid: number;
  /** the agent instance it belongs to (its root's pid), 0 for none */
  agentPid: number;
  /** when it exec'd (ns), or forked when it has not */
  sinceNs: bigint;
}

/** The content of a file an instance opened, hashed and scanned after commit (the second feed). */
export interface ContentFacts {
  fileId: bigint;
  state: string;
  sha256: string | null;
  /** DLP classes: the content's own findings and known secrets it holds */
  dlpClasses: string[];
  /** known secrets (first found elsewhere) this content holds */
  matches: { class: string; path: string; via: string; form: string }[];
}

export interface FileFeature {
  path: string;
  op: 'read' | 'write';
  /** the call succeeded */
  ok: boolean;
  /** its generalised file-system area (generalise.ts areaOf) */
  area: string;
  /** a read, deletion or rename (its old name) of a file the instance itself wrote whole before (own-output.ts): not a credential read, not data lost */
  ownOutput?: boolean;
}

export interface JudgedEvent {
  id: bigint;
  tsNs: bigint;
  event: SensorEvent;
  instance: Instance;
  features: EventFeatures;
  /** set on the second feed only: what the open read */
  content?: ContentFacts;
}

export interface AlertDraft {
  /** defaults to the detector's id */
  rule?: string;
  /** defaults to the detector's configured severity */
  severity?: Severity;
  /** what the alert is about (a destination, a path): one alert per instance, rule and subject within the window */
  subject: string;
  /** one line a responder can act on, with the baseline fact behind it */
  summary: string;
  /** the events that make it, newest last */
  evidence: bigint[];
  /** the baseline fact that made it novel, where one did */
  baseline?: string | null;
}

export interface AgentView {
  name: string;
  /** 'learning' until the baseline is complete; baseline detectors run only when 'detecting' */
  state: 'learning' | 'detecting';
  baseline: BaselineView;
  /** declared grants (kinds not declared are undefined) */
  grants: GrantSet;
}

export interface DetectorContext<S, P> {
  agent: AgentView;
  /** this detector's state for the event's instance */
  state: S;
  /** this detector's parameters for the agent (config over defaults) */
  params: P;
  /** the instance's counts in the current minute (after this event) */
  minute: MinuteCounts;
  /** the sensitive catalogue in force (classes, consumers) */
  catalogue: CatalogueView;
  /** a process of the event's sensor, as last seen */
  proc(pid: number): ProcInfo | undefined;
}

export interface CatalogueView {
  classOf(name: string): SensitiveClass | undefined;
}

export interface DetectorMeta<P> {
  /** the rule name in alerts and the key of its config section, snake_case */
  id: string;
  title: string;
  description: string;
  severity: Severity;
  /** ATT&CK technique ids */
  attack: string[];
  /** what benign activity looks like it */
  falsePositives: string;
  /** 'always': judged while learning too (policy); 'detecting': only once the baseline is complete */
  phase: 'always' | 'detecting';
  /** its parameters, each with a default (a strict object: a misspelt key is a config error) */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  params: z.ZodObject<z.ZodRawShape, 'strict', z.ZodTypeAny, P, any>;
}

export interface Detector<S = unknown, P = unknown> {
  meta: DetectorMeta<P>;
  /** fresh state for an instance (at its first event this detector sees) */
  newState(instance: Instance, params: P): S;
  /** one event of the instance, in order; returns the alerts it completes, if any */
  onEvent(ev: JudgedEvent, ctx: DetectorContext<S, P>): AlertDraft[] | undefined | void;
  /**
   * the second feed: an open of the instance whose content was hashed and
   * scanned (after its batch committed, so after later events may have been
   * judged); `ev.content` is set
   */
  onContent?(ev: JudgedEvent, ctx: DetectorContext<S, P>): AlertDraft[] | undefined | void;
}

/** Declares a detector with its types inferred (the registry holds them as Detector<unknown, unknown>). */
export function defineDetector<S, P>(d: Detector<S, P>): Detector<unknown, unknown> {
  return d as unknown as Detector<unknown, unknown>;
}
