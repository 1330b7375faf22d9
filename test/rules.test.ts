// Agent rules: config parsing and its errors, argv patterns, kernel rules,
// the /proc match, and the candidate gate's hold/release/drop decisions.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { agentsFromOptions } from '../sensor/cli/commands/watch.js';
import { AGENT_CANDIDATE, type KernelEvent } from '../sensor/backends/backend.js';
import { compileArgvPattern } from '../sensor/agents/argv-match.js';
import { CandidateGate } from '../sensor/agents/candidates.js';
import { ConfigError, DEFAULT_INTERPRETERS, adHocAgents, parseAgentConfig } from '../sensor/agents/config.js';
import { AgentRegistry } from '../sensor/agents/registry.js';
import { KernelDecoder } from '../sensor/kernel/decode.js';
import { parseStatPpid, runningAgents, scanProcesses } from '../sensor/enrich/procfs.js';
import { execRecord, exitRecord, forkRecord, openRecord } from './helpers/records.js';

const CONFIG = `# test config
agents:
  - name: claude-code
    exe: ["/usr/bin/claude"]
    comm: [claude]
    argv: ["**/@anthropic-ai/claude-code/cli.js"]
    interpreters: [node]
  - name: py-agent
    argv: ["re:-m\\\\s+my_agent\\\\b"]
`;

const err = (text: string): string => {
  try {
    parseAgentConfig(text, 'agents.yaml');
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error('no error');
};

describe('agent config', () => {
  it('parses agents with defaults', () => {
    const specs = parseAgentConfig(CONFIG, 'agents.yaml');
    expect(specs.map((s) => s.name)).toEqual(['claude-code', 'py-agent']);
    expect(specs[0]).toMatchObject({ exe: ['/usr/bin/claude'], comm: ['claude'], cgroup: [], interpreters: ['node'] });
    expect(specs[1].interpreters).toEqual(DEFAULT_INTERPRETERS);
  });

  it('errors name the file, the line and the field', () => {
    expect(err('agents:\n  - name: a\n    comm: ["waytoolongcommname"]\n')).toBe(
      'agents.yaml:3: agents[0].comm[0]: must be at most 15 bytes (the kernel truncates comm to 15)');
    expect(err('agents:\n  - name: a\n    exe: [relative/path]\n')).toMatch(/^agents\.yaml:3: agents\[0\]\.exe\[0\]: must be an absolute path/);
    expect(err('agents:\n  - name: a\n    exes: [/x]\n')).toMatch(/^agents\.yaml:3: agents\[0\]\.exes: unknown key \(known: name, exe, comm, cgroup, argv, interpreters, grants, detect, keepContent\)/);
    expect(err('agent:\n  - name: a\n    comm: [a]\n')).toBe('agents.yaml:1: agent: unknown top-level key (known: agents, sensitive)');
    expect(err('agents:\n  - name: a\n    argv: ["re:(("]\n')).toMatch(/^agents\.yaml:3: agents\[0\]\.argv\[0\]: invalid regular expression: /);
    expect(err('agents:\n  - name: a\n')).toMatch(/^agents\.yaml:2: agents\[0\]: needs at least one of exe, comm, cgroup, argv/);
    expect(err('agents: [\n')).toMatch(/^agents\.yaml:\d+:\d+: invalid YAML/);
    expect(err('agents:\n  - {name: a, comm: [x]}\n  - {name: a, comm: [y]}\n')).toBe('agents.yaml:3: agents[1].name: "a" is used twice');
  });

  it('ad-hoc agents from CLI flags merge by name', () => {
    const a = adHocAgents(['/usr/bin/claude', '/opt/x/agent'], ['claude']);
    expect(a.map((s) => [s.name, s.exe, s.comm])).toEqual([['claude', ['/usr/bin/claude'], ['claude']], ['agent', ['/opt/x/agent'], []]]);
    expect(() => adHocAgents(['rel'], [])).toThrow(/--agent-exe rel: must be an absolute path/);
  });
});

describe('argv patterns', () => {
  it('glob on one argument', () => {
    const m = compileArgvPattern('**/@anthropic-ai/claude-code/cli.js');
    expect(m(['node', '/usr/lib/node_modules/@anthropic-ai/claude-code/cli.js', '--x'])).toBe(true);
    expect(m(['node', '@anthropic-ai/claude-code/cli.js'])).toBe(true);
    expect(m(['node', '/x/@anthropic-ai/claude-code/cli.jsx'])).toBe(false);
    expect(compileArgvPattern('/srv/*.py')(['python3', '/srv/a.py'])).toBe(true);
    expect(compileArgvPattern('/srv/*.py')(['python3', '/srv/sub/a.py'])).toBe(false);
    expect(compileArgvPattern('agent-?')(['agent-7'])).toBe(true);
  });

  it('re: on the space-joined command line', () => {
    const m = compileArgvPattern('re:-m\\s+my_agent\\b');
    expect(m(['python3', '-m', 'my_agent', '--fast'])).toBe(true);
    expect(m(['python3', '-m', 'my_agents'])).toBe(false);
  });
});

describe('registry', () => {
  const reg = new AgentRegistry(parseAgentConfig(CONFIG, 'agents.yaml'));

  it('names by id', () => {
    expect(reg.nameOf(1)).toBe('claude-code');
    expect(reg.nameOf(2)).toBe('py-agent');
    expect(reg.nameOf(0)).toBeNull();
    expect(reg.nameOf(AGENT_CANDIDATE)).toBeNull();
  });

  it('kernel rules: definite rules plus interpreter candidates', () => {
    const rules = reg.kernelRules();
    expect(rules).toContainEqual({ kind: 'exe', key: '/usr/bin/claude', agentId: 1, candidate: false });
    expect(rules).toContainEqual({ kind: 'comm', key: 'claude', agentId: 1, candidate: false });
    for (const c of DEFAULT_INTERPRETERS) expect(rules).toContainEqual({ kind: 'comm', key: c, agentId: AGENT_CANDIDATE, candidate: true });
  });

  it('a definite comm rule wins over a candidate on the same key', () => {
    const r = new AgentRegistry([
      { name: 'n', exe: [], comm: ['node'], cgroup: [], argv: [], interpreters: [] },
      { name: 'p', exe: [], comm: [], cgroup: [], argv: ['x'], interpreters: ['node'] },
    ]);
    expect(r.kernelRules().filter((k) => k.key === 'node')).toEqual([{ kind: 'comm', key: 'node', agentId: 1, candidate: false }]);
  });

  it('cgroup paths become inode ids; a missing one is a warning', () => {
    const r = new AgentRegistry([{ name: 'c', exe: [], comm: [], cgroup: ['/sys/fs/cgroup', '/nonexistent/cg'], argv: [], interpreters: [] }]);
    expect(r.kernelRules().filter((k) => k.kind === 'cgroup')).toHaveLength(1);
    expect(r.warnings.join('\n')).toMatch(/cgroup \/nonexistent\/cg left out/);
  });

  it('matches running processes like the kernel plus argv', () => {
    expect(reg.matchProcess({ exe: '/usr/bin/claude', comm: 'x', argv: [], cgroupId: null })?.spec.name).toBe('claude-code');
    expect(reg.matchProcess({ exe: '/usr/bin/node', comm: 'node', argv: ['node', '/a/@anthropic-ai/claude-code/cli.js'], cgroupId: null })?.spec.name).toBe('claude-code');
    expect(reg.matchProcess({ exe: '/usr/bin/python3.11', comm: 'python3', argv: ['python3', '-m', 'my_agent'], cgroupId: null })?.spec.name).toBe('py-agent');
    expect(reg.matchProcess({ exe: '/usr/bin/python3.11', comm: 'python3', argv: ['python3', '-m', 'other'], cgroupId: null })).toBeNull();
    // argv agents are only looked for among interpreters
    expect(reg.matchProcess({ exe: '/bin/sh', comm: 'sh', argv: ['sh', '-m', 'my_agent'], cgroupId: null })).toBeNull();
  });
});

describe('candidate gate', () => {
  const reg = new AgentRegistry(parseAgentConfig(CONFIG, 'agents.yaml'));
  const decoder = new KernelDecoder({ bootToEpochNs: 0n, source: 'timer_list' });
  const evs = (...recs: Buffer[]): KernelEvent[] => decoder.decode(Buffer.concat(recs));
  /** a pending record of the candidate instance rooted at `root` */
  const P = (root: number) => ({ flags: 1, agentId: AGENT_CANDIDATE, agentPid: root });
  const CLAUDE = ['node', '/x/@anthropic-ai/claude-code/cli.js'];
  const setup = (traceAll = false, argvOf: Record<number, string[]> = {}) => {
    const calls: string[] = [];
    const gate = new CandidateGate(reg, {
      decide: (pid, startNs, root, id, newRoot) => {
        calls.push(`decide ${pid}${startNs !== null ? `@${startNs}` : ''} root ${root} -> ${id}${newRoot ? ` as ${newRoot}` : ''}`);
        return 'ok';
      },
    }, traceAll, (pid) => argvOf[pid] ?? null);
    return { gate, calls };
  };
  const summary = (out: KernelEvent[]) => out.map((e) => [e.type, e.pid, e.agentId, e.agentPid, e.pending]);

  it('confirms on exec argv, releases held events to the agent, children inherit, bound to the start time', () => {
    const { gate, calls } = setup();
    const out: KernelEvent[] = [];
    gate.process(evs(
      execRecord({ ...P(10), pid: 10 }, '/usr/bin/node', CLAUDE, 1234n),
      openRecord({ ...P(10), pid: 10 }, '/etc/passwd', ''),
      forkRecord({ ...P(10), pid: 11, ppid: 10 }),
      openRecord({ ...P(10), pid: 11 }, '/etc/hosts', ''),
      openRecord({ pid: 10, agentId: 1, agentPid: 10 }, '/after/track', ''),
    ), out);
    expect(summary(out)).toEqual([
      ['exec', 10, 1, 10, false], ['open', 10, 1, 10, false], ['fork', 11, 1, 10, false], ['open', 11, 1, 10, false],
      ['open', 10, 1, 10, false],
    ]);
    expect(calls).toEqual(['decide 10@1234 root 10 -> 1', 'decide 11 root 10 -> 1']);
  });

  it('held events of an undecided child are released when the root is decided', () => {
    const { gate, calls } = setup();
    const out: KernelEvent[] = [];
    // child events first (different CPUs can reorder across pids)
    gate.process(evs(forkRecord({ ...P(20), pid: 21, ppid: 20 }), openRecord({ ...P(20), pid: 21 }, '/c', '')), out);
    expect(out).toEqual([]);
    expect(gate.heldCount()).toBe(2);
    gate.process(evs(execRecord({ ...P(20), pid: 20 }, '/usr/bin/python3', ['python3', '-m', 'my_agent'])), out);
    expect(summary(out)).toEqual([['fork', 21, 2, 20, false], ['open', 21, 2, 20, false], ['exec', 20, 2, 20, false]]);
    expect(calls).toEqual(['decide 20@5 root 20 -> 2', 'decide 21 root 20 -> 2']);
    expect(gate.heldCount()).toBe(0);
  });

  it('a child that execs before its root is decided keeps the inherited decision, not its own argv', () => {
    for (const childFirst of [false, true]) {
      const { gate, calls } = setup();
      const out: KernelEvent[] = [];
      const root = execRecord({ ...P(70), pid: 70 }, '/usr/bin/node', CLAUDE);
      const child = [
        forkRecord({ ...P(70), pid: 71, ppid: 70 }),
        execRecord({ ...P(70), pid: 71, ppid: 70 }, '/bin/cat', ['/bin/cat', '/etc/hostname']),
        openRecord({ ...P(70), pid: 71 }, '/etc/hostname', ''),
        exitRecord({ ...P(70), pid: 71 }, 0),
      ];
      gate.process(evs(...(childFirst ? [...child, root] : [root, ...child])), out);
      expect(out.filter((e) => e.pid === 71).map((e) => [e.type, e.agentId, e.agentPid])).toEqual(
        [['fork', 1, 70], ['exec', 1, 70], ['open', 1, 70], ['exit', 1, 70]]);
      expect(calls).toContain('decide 71 root 70 -> 1');
      expect(gate.counters.dropped).toBe(0);
    }
  });

  it('records without agentPid (bpftrace): the root is followed through pending forks', () => {
    const { gate } = setup();
    const out: KernelEvent[] = [];
    const Q = { flags: 1, agentId: AGENT_CANDIDATE }; // agentPid 0: not in the record
    gate.process(evs(
      forkRecord({ ...Q, pid: 101, ppid: 100 }),
      execRecord({ ...Q, pid: 101, ppid: 100 }, '/bin/cat', ['/bin/cat', '/etc/hostname']),
      forkRecord({ ...Q, pid: 102, ppid: 101 }),
      openRecord({ ...Q, pid: 102 }, '/x', ''),
      execRecord({ ...Q, pid: 100 }, '/usr/bin/node', CLAUDE),
    ), out);
    expect(summary(out).filter((e) => e[1] !== 100)).toEqual([
      ['fork', 101, 1, 100, false], ['exec', 101, 1, 100, false], ['fork', 102, 1, 100, false], ['open', 102, 1, 100, false]]);
  });

  it('under a rejected root, a descendant whose own exec names an agent becomes the root of its own instance', () => {
    const { gate, calls } = setup();
    const out: KernelEvent[] = [];
    gate.process(evs(
      execRecord({ ...P(80), pid: 80 }, '/usr/bin/node', ['node', 'build.js']),
      execRecord({ ...P(80), pid: 81, ppid: 80 }, '/usr/bin/node', CLAUDE, 99n),
      openRecord({ ...P(80), pid: 81 }, '/x', ''),
      openRecord({ ...P(80), pid: 82 }, '/y', ''),
    ), out);
    expect(summary(out)).toEqual([['exec', 81, 1, 81, false], ['open', 81, 1, 81, false]]);
    expect(calls).toEqual(['decide 80@5 root 80 -> 0', 'decide 81@99 root 80 -> 1 as 81', 'decide 82 root 80 -> 0']);
  });

  it('rejects: the kernel entry goes, pending events are dropped; --all releases them as non-agent', () => {
    for (const traceAll of [false, true]) {
      const { gate, calls } = setup(traceAll);
      const out: KernelEvent[] = [];
      gate.process(evs(
        execRecord({ ...P(30), pid: 30 }, '/usr/bin/node', ['node', 'server.js']),
        openRecord({ ...P(30), pid: 30 }, '/x', ''),
        exitRecord({ ...P(30), pid: 30 }, 0),
      ), out);
      expect(calls).toEqual(['decide 30@5 root 30 -> 0']);
      expect(out.map((e) => [e.type, e.agentId, e.agentPid])).toEqual(traceAll ? [['exec', 0, 0], ['open', 0, 0], ['exit', 0, 0]] : []);
      expect(gate.counters.dropped).toBe(traceAll ? 0 : 3);
    }
  });

  it('a pending exec after pid reuse is decided afresh, bound to the new start time', () => {
    const { gate, calls } = setup();
    const out: KernelEvent[] = [];
    gate.process(evs(execRecord({ ...P(40), pid: 40 }, '/usr/bin/node', ['node', 'a.js'], 1n)), out);
    gate.process(evs(execRecord({ ...P(40), pid: 40 }, '/usr/bin/node', CLAUDE, 2n)), out);
    expect(calls).toEqual(['decide 40@1 root 40 -> 0', 'decide 40@2 root 40 -> 1']);
    expect(out.map((e) => e.agentId)).toEqual([1]);
  });

  it('a root whose exec was lost is decided from /proc/<pid>/cmdline when its held events expire', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      const { gate, calls } = setup(false, { 90: CLAUDE });
      const out: KernelEvent[] = [];
      gate.process(evs(openRecord({ ...P(90), pid: 90 }, '/a', ''), openRecord({ ...P(90), pid: 91 }, '/b', '')), out);
      expect(out).toEqual([]);
      vi.setSystemTime(Date.now() + 6000);
      gate.process([], out);
      expect(summary(out)).toEqual([['open', 90, 1, 90, false], ['open', 91, 1, 90, false]]);
      expect(calls).toEqual(['decide 90 root 90 -> 1', 'decide 91 root 90 -> 1']);
      expect(gate.counters.decidedFromProc).toBe(1);
    } finally {
      vi.useRealTimers();
    }
  });

  it('undecided at stop (the exec was lost): counted as expired, or released as non-agent with --all', () => {
    for (const traceAll of [false, true]) {
      const { gate, calls } = setup(traceAll, { 60: CLAUDE });
      const out: KernelEvent[] = [];
      gate.process(evs(openRecord({ ...P(60), pid: 60 }, '/a', ''), openRecord({ ...P(60), pid: 60 }, '/b', '')), out);
      expect(out).toEqual([]);
      gate.flush(out);
      expect(out.map((e) => [e.pid, e.agentId, e.pending])).toEqual(traceAll ? [[60, 0, false], [60, 0, false]] : []);
      expect(gate.counters.expired).toBe(2);
      expect(gate.heldCount()).toBe(0);
      expect(calls).toEqual([]);
    }
  });

  it('events of non-candidates pass untouched', () => {
    const { gate } = setup();
    const out: KernelEvent[] = [];
    const input = evs(openRecord({ pid: 50, agentId: 1, agentPid: 50 }, '/a', ''), openRecord({ pid: 51, agentId: 0 }, '/b', ''));
    gate.process(input, out);
    expect(out).toEqual(input);
  });
});

describe('running agents from /proc facts', () => {
  const p = (pid: number, ppid: number, comm: string) => ({ pid, ppid, comm, exe: null, argv: [], cgroupId: null });
  const match = (x: { comm: string }): number | null => (x.comm === 'agent' ? 1 : x.comm === 'other-agent' ? 2 : null);

  it('matches and their descendants; a descendant matching another agent keeps its own', () => {
    const procs = [p(1, 0, 'init'), p(10, 1, 'agent'), p(11, 10, 'sh'), p(12, 11, 'cat'), p(13, 10, 'other-agent'),
      p(14, 13, 'sh'), p(20, 1, 'bash'), p(21, 20, 'vim')];
    expect([...runningAgents(procs, match, 999)].sort((a, b) => a[0] - b[0])).toEqual([[10, 1], [11, 1], [12, 1], [13, 2], [14, 2]]);
  });

  it('the sensor itself is never an agent, and passes nothing on', () => {
    const procs = [p(1, 0, 'init'), p(5, 1, 'agent'), p(6, 5, 'sh'), p(7, 6, 'agent')];
    expect([...runningAgents(procs, match, 6)].sort((a, b) => a[0] - b[0])).toEqual([[5, 1], [7, 1]]);
  });

  it('parses ppid from /proc/pid/stat even when comm holds ") "', () => {
    expect(parseStatPpid('42 (we ird) x) S 17 42 42 0 -1')).toBe(17);
  });

  it('the live /proc scan sees this process with its argv', () => {
    const me = scanProcesses().find((x) => x.pid === process.pid);
    expect(me).toBeDefined();
    expect(me!.ppid).toBe(process.ppid);
    expect(me!.argv.length).toBeGreaterThan(0);
  });
});

describe('watch: agents from options', () => {
  it('config plus flags; a name defined twice, or nothing to watch, is an error', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'as-rules-')), 'agents.yaml');
    writeFileSync(file, 'agents:\n  - name: claude\n    comm: [claude]\n');
    expect(agentsFromOptions({ agentExe: ['/opt/bot'], agentComm: [], config: file }).map((a) => a.name)).toEqual(['claude', 'bot']);
    expect(() => agentsFromOptions({ agentExe: [], agentComm: ['claude'], config: file })).toThrow(/agent "claude" is defined twice/);
    expect(() => agentsFromOptions({ agentExe: [], agentComm: [] })).toThrow(/no agents to watch/);
    expect(agentsFromOptions({ agentExe: [], agentComm: [], all: true })).toEqual([]);
    expect(() => agentsFromOptions({ agentExe: [], agentComm: [], config: '/nonexistent.yaml' })).toThrow(/^\/nonexistent\.yaml: cannot read agent config/);
  });
});
