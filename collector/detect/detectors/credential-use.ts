// Shared by the sensitive-data rules: which of an open's sensitive classes
// are not excused by "a credential used by its own consumer" (ssh opening
// the key it authenticates with, git's credential helper reading its store).
// The consumers are per class in the catalogue data (collector/sensitive).
// The agent's own process is never a consumer, nor is an interpreter running
// something the class does not name (isConsumer), nor cat.
import { z } from 'zod';
import { isConsumer, isScanner } from '../../sensitive/consumers.js';
import { parseDuration } from '../duration.js';
import type { SensitiveClass } from '../../sensitive/catalogue.js';
import type { AgentView, CatalogueView, Instance, JudgedEvent, ProcInfo } from '../detector.js';
import { generalisePath } from '../generalise.js';

export interface ClassedRead {
  id: bigint;
  ts: bigint;
  pid: number;
  path: string;
  classes: string[];
  /** every class is excused by its consumer (the process reading it) */
  consumer: boolean;
  sha256?: string | null;
}

/** An agent's own folder (~/.qwen for Qwen Code): the class names the agent, by its configured name or a prefix of it. */
function ownAgentFolder(agentOfClass: string | undefined, agent: string): boolean {
  return agentOfClass !== undefined && (agent === agentOfClass || agent.startsWith(`${agentOfClass}-`));
}

/**
 * Is `proc` a consumer of every one of `classes`? The agent's own process
 * never is, except of its own folder (Qwen Code's node process reading
 * ~/.qwen is at work, not leaking; `cat ~/.qwen/…` from its shell is not).
 */
export function consumedByOwner(classes: string[], ev: JudgedEvent, catalogue: CatalogueView, proc: ProcInfo | undefined): boolean {
  if (classes.length === 0) return false;
  const own = ev.event.pid === ev.instance.agentPid;
  return classes.every((name) => {
    const cls = catalogue.classOf(name);
    if (!cls) return false;
    const consumer = proc !== undefined && isConsumer(cls, { exe: proc.exe, argv: proc.argv });
    // its own folder, read by the agent's process or its own program (not by a shell's cat)
    if (ownAgentFolder(cls.agent, ev.instance.agent)) return own || consumer;
    return !own && consumer;
  });
}

const PROC_PID = /^\/proc\/(\d+)\//;

/**
 * /proc/<pid>/ of a process of the same instance, or of the process that
 * started the instance (its environment is the one the agent inherited): the
 * catalogue's "another process" classes are about processes outside it.
 */
export function ownProcessPath(path: string, ev: JudgedEvent, proc: (pid: number) => ProcInfo | undefined): boolean {
  const m = PROC_PID.exec(path);
  if (!m) return false;
  const pid = Number(m[1]);
  const root = ev.instance.agentPid;
  if (pid === root || proc(pid)?.agentPid === root) return true;
  return pid !== 1 && proc(root)?.ppid === pid;
}

/**
 * Once the baseline is learned, reads of other processes' /proc files by an
 * executable the agent ran while learning, in a /proc area it read while
 * learning, are its routine (a process table tool it runs in every
 * session). Per agent, not per executable and area together (the baseline
 * keeps them apart): an approximation.
 */
function learnedProcRead(ev: JudgedEvent, agent: AgentView): boolean {
  const exe = ev.features.proc?.exe;
  if (agent.state !== 'detecting' || !exe || !ev.features.file) return false;
  const key = generalisePath(exe, { home: ev.instance.home, cwd: ev.instance.cwd }, 8);
  return agent.baseline.has('executables', key) && agent.baseline.has('areas', ev.features.file.area);
}

const scannedBy = (cls: SensitiveClass | undefined, p: ProcInfo): boolean => cls !== undefined && isScanner(cls, { exe: p.exe, argv: p.argv });

/** A successful read open of a sensitive path, as a ClassedRead; undefined otherwise. */
export function sensitiveRead(ev: JudgedEvent, catalogue: CatalogueView, proc?: (pid: number) => ProcInfo | undefined, agent?: AgentView): ClassedRead | undefined {
  const f = ev.features.file;
  let classes = ev.features.sensitive;
  if (!f || !classes || classes.length === 0 || ev.event.type !== 'open' || !f.ok || f.op !== 'read') return undefined;
  if (f.ownOutput) return undefined; // the instance reading back what it wrote whole: nothing it did not hold
  // ps opening every environ while it lists processes, printing none of them: not a read of the data
  const reader = ev.features.proc;
  if (reader) classes = classes.filter((c) => !scannedBy(catalogue.classOf(c), reader));
  if (classes.length === 0) return undefined;
  if ((proc && ownProcessPath(f.path, ev, proc)) || (agent && PROC_PID.test(f.path) && learnedProcRead(ev, agent))) {
    classes = classes.filter((c) => !catalogue.classOf(c)?.excludeOwnProcess);
    if (classes.length === 0) return undefined;
  }
  const consumer = consumedByOwner(classes, ev, catalogue, ev.features.proc);
  // the agent's own folder read by the agent itself is its configuration at work, wherever it connects next
  if (consumer && classes.every((c) => ownAgentFolder(catalogue.classOf(c)?.agent, ev.instance.agent))) return undefined;
  return { id: ev.id, ts: ev.tsNs, pid: ev.event.pid, path: f.path, classes, consumer };
}

/** A read whose content the DLP pass found secrets in (classes prefixed dlp:). */
export function contentRead(ev: JudgedEvent, catalogue?: CatalogueView): ClassedRead | undefined {
  const c = ev.content;
  if (!c || c.dlpClasses.length === 0 || !ev.features.file || ev.features.file.op !== 'read') return undefined;
  const tags = ev.features.sensitive ?? [];
  if (catalogue && tags.length > 0 && tags.every((t) => ownAgentFolder(catalogue.classOf(t)?.agent, ev.instance.agent)) &&
    consumedByOwner(tags, ev, catalogue, ev.features.proc)) return undefined; // its own token, read by itself
  return { id: ev.id, ts: ev.tsNs, pid: ev.event.pid, path: ev.features.file.path, classes: c.dlpClasses.map((x) => `dlp:${x}`), consumer: false, sha256: c.sha256 };
}

/** A window parameter: a duration such as 90s, 10m. */
export const windowParam = (def: string) =>
  z.union([z.string(), z.number()]).refine((v) => parseDuration(v) !== null, 'must be a duration such as 90s, 10m or 1h').default(def);

export const toNs = (v: string | number): bigint => BigInt(Math.round(parseDuration(v)! * 1e6));

/** The script or first operand of a command line (node's cli.js, bash -c's text), '' for none. */
const scriptOf = (argv: string[]): string => argv.slice(1).find((a) => !a.startsWith('-')) ?? '';

/**
 * Is this process (its pid, and its program as last seen) the agent's own
 * program: the instance's root, or a process still running the root's
 * executable on the same script (a fork that has not exec'd, a re-spawn of
 * itself with other flags)? Not its shell tool's `bash -c` or an
 * interpreter's one-liner.
 */
export function isAgentProgram(pid: number, proc: ProcInfo | undefined, inst: Instance): boolean {
  if (pid === inst.agentPid) return true;
  return proc !== undefined && inst.exe !== null && proc.exe === inst.exe && scriptOf(proc.argv) === scriptOf(inst.argv);
}

/** Is the event's process the agent's own program (isAgentProgram)? */
export function runsAgentProgram(ev: JudgedEvent): boolean {
  return isAgentProgram(ev.event.pid, ev.features.proc, ev.instance);
}

export function basename(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? path : path.slice(i + 1);
}

/** Drops entries older than the window from the front of a time-ordered list. */
export function expire<T extends { ts: bigint }>(list: T[], nowNs: bigint, windowNs: bigint): void {
  let n = 0;
  while (n < list.length && list[n]!.ts < nowNs - windowNs) n++;
  if (n > 0) list.splice(0, n);
}
