// Agents by number: the kernel knows agents as ids (1..n, 0 = none), user
// space as names. The registry turns AgentSpecs into kernel rules, decides
// candidates from argv, and matches already-running processes (/proc scan).
import { existsSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { AGENT_CANDIDATE, AGENT_NONE, type KernelRule } from '../backends/backend.js';
import type { ByteString } from '../../proto/events/types.js';
import { compileArgvPattern, type ArgvMatcher } from './argv-match.js';
import type { AgentSpec } from './config.js';

export interface Agent {
  id: number;
  spec: AgentSpec;
  argvMatchers: ArgvMatcher[];
}

/** What the /proc scan knows of a running process. */
export interface ProcessFacts {
  exe: string | null;
  comm: string;
  argv: ByteString[];
  cgroupId: bigint | null;
}

/** Where interpreters are looked up to add exe candidate rules next to comm rules. */
const BIN_DIRS = ['/usr/local/bin', '/usr/bin', '/bin'];

export class AgentRegistry {
  readonly agents: Agent[];
  /** problems that do not stop the sensor (a cgroup dir that does not exist yet) */
  readonly warnings: string[] = [];
  private readonly byExe = new Map<string, Agent>();
  private readonly byComm = new Map<string, Agent>();
  private readonly byCgroup = new Map<bigint, Agent>();
  private readonly interpreterComms = new Set<string>();
  private readonly interpreterExes = new Set<string>();
  /** agents with at least one selector in force (a rule in a map, or an argv pattern) */
  private readonly ruled = new Set<Agent>();
  /** agents 1..configuredCount come from the config; later ones from addAgent */
  private readonly configuredCount: number;

  constructor(specs: AgentSpec[], statCgroup: (path: string) => bigint = cgroupIdOf) {
    this.agents = specs.map((spec, i) => ({ id: i + 1, spec, argvMatchers: spec.argv.map(compileArgvPattern) }));
    this.configuredCount = this.agents.length;
    for (const a of this.agents) {
      for (const exe of a.spec.exe) {
        this.setFirst(this.byExe, exe, a);
        const real = safeRealpath(exe);
        if (real && real !== exe) this.setFirst(this.byExe, real, a); // /proc/pid/exe is the resolved path
      }
      for (const c of a.spec.comm) this.setFirst(this.byComm, c, a);
      for (const path of a.spec.cgroup) {
        try {
          this.setFirst(this.byCgroup, statCgroup(path), a);
        } catch (err) {
          this.warnings.push(`agent ${a.spec.name}: cgroup ${path} left out (${(err as Error).message})`);
        }
      }
      if (a.argvMatchers.length > 0) {
        this.ruled.add(a);
        for (const interp of a.spec.interpreters) {
          this.interpreterComms.add(interp);
          for (const dir of BIN_DIRS) {
            const p = join(dir, interp);
            if (!existsSync(p)) continue;
            this.interpreterExes.add(p);
            const real = safeRealpath(p);
            if (real) this.interpreterExes.add(real);
          }
        }
      }
    }
    for (const name of this.unwatched()) this.warnings.push(`agent ${name}: no rule left, so it is not watched`);
  }

  /** Agents none of whose selectors is in force: listed, but nothing can make a process one of them. */
  unwatched(): string[] {
    return this.agents.filter((a) => !this.ruled.has(a)).map((a) => a.spec.name);
  }

  /** The agent named `name`, added with no selectors of its own when new (rules added at run time). */
  addAgent(name: string): Agent {
    const known = this.agents.find((a) => a.spec.name === name);
    if (known) return known;
    const agent: Agent = {
      id: this.agents.length + 1,
      spec: { name, exe: [], comm: [], cgroup: [], argv: [], interpreters: [] },
      argvMatchers: [],
    };
    this.agents.push(agent);
    return agent;
  }

  get size(): number {
    return this.agents.length;
  }

  nameOf(agentId: number): string | null {
    if (agentId === AGENT_NONE || agentId === AGENT_CANDIDATE) return null;
    return this.agents[agentId - 1]?.spec.name ?? null;
  }

  /** Whether the agent comes from the config (else addAgent made it at run time: an agent without grants). */
  isConfigured(agent: Agent): boolean {
    return agent.id <= this.configuredCount;
  }

  /** Rules for the kernel. A definite rule wins over an interpreter candidate rule on the same key. */
  kernelRules(): KernelRule[] {
    const rules = new Map<string, KernelRule>();
    const add = (r: KernelRule): void => {
      const k = `${r.kind}:${String(r.key)}`;
      if (!rules.has(k) || (rules.get(k)!.candidate && !r.candidate)) rules.set(k, r);
    };
    for (const [key, a] of this.byExe) add({ kind: 'exe', key, agentId: a.id, candidate: false });
    for (const [key, a] of this.byComm) add({ kind: 'comm', key, agentId: a.id, candidate: false });
    for (const [key, a] of this.byCgroup) add({ kind: 'cgroup', key, agentId: a.id, candidate: false });
    // Candidates are decided in user space across every argv agent, so the id is a placeholder.
    for (const key of this.interpreterComms) add({ kind: 'comm', key, agentId: AGENT_CANDIDATE, candidate: true });
    for (const key of this.interpreterExes) add({ kind: 'exe', key, agentId: AGENT_CANDIDATE, candidate: true });
    return [...rules.values()];
  }

  /** The first argv agent whose pattern matches this command line, else null. */
  matchArgv(argv: ByteString[]): Agent | null {
    for (const a of this.agents) {
      if (a.argvMatchers.some((m) => m(argv))) return a;
    }
    return null;
  }

  /**
   * The agent of an interpreter candidate at its exec. The kernel checks comm
   * (where candidate rules sit) before cgroup, so a candidate inside an
   * agent's cgroup (a configured one, or one `sensor launch` made) is that
   * agent: a definite rule wins over an argv candidate.
   */
  matchCandidate(argv: ByteString[], cgroupId: string): Agent | null {
    return this.byCgroup.get(BigInt(cgroupId)) ?? this.matchArgv(argv);
  }

  /** A cgroup added while running (`sensor launch`); false if it already belongs to an agent. */
  addCgroup(cgroupId: bigint, agent: Agent): boolean {
    if (this.byCgroup.has(cgroupId)) return this.byCgroup.get(cgroupId) === agent;
    this.byCgroup.set(cgroupId, agent);
    return true;
  }

  removeCgroup(cgroupId: bigint): void {
    this.byCgroup.delete(cgroupId);
  }

  /** A running process's agent by the same rules the kernel applies at exec, argv included. */
  matchProcess(p: ProcessFacts): Agent | null {
    const direct = (p.exe !== null ? this.byExe.get(p.exe) : undefined)
      ?? this.byComm.get(p.comm)
      ?? (p.cgroupId !== null ? this.byCgroup.get(p.cgroupId) : undefined);
    if (direct) return direct;
    const interp = this.interpreterComms.has(p.comm) || (p.exe !== null && this.interpreterExes.has(p.exe));
    return interp ? this.matchArgv(p.argv) : null;
  }

  private setFirst<K>(map: Map<K, Agent>, key: K, a: Agent): void {
    if (map.has(key)) {
      this.warnings.push(`agent ${a.spec.name}: ${String(key)} already belongs to agent ${map.get(key)!.spec.name}`);
      return;
    }
    map.set(key, a);
    this.ruled.add(a);
  }
}

/** cgroup v2: a cgroup's id is the inode number of its directory. */
export function cgroupIdOf(path: string): bigint {
  const st = statSync(path, { bigint: true });
  if (!st.isDirectory()) throw new Error('not a directory');
  return st.ino;
}

function safeRealpath(p: string): string | null {
  try {
    return realpathSync(p);
  } catch {
    return null;
  }
}
