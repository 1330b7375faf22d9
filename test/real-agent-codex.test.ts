// Precision with a native agent: Codex (npm, Rust) run directly under
// `sensor run` (its built-in agent list names it by its executable), in a
// home that is the user's (the passwd file makes it root's), so ~/.codex is
// its own folder in the catalogue. Every session Codex writes a snapshot of
// the shell there and has bash source it, and runs git under ~/.codex/.tmp:
// reads by its children of files the instance wrote itself. Benign sessions
// must raise nothing, while the same kind of child reading what was in the
// folder before the session (`cat ~/.codex/auth.json`) still raises
// high_value_read (the silence is not a detector that never runs).
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CODEX_AGENT_NAME, codexBinary, codexExecArgs, makeProject } from './helpers/real-agent.js';
import { startScriptedModelServer, type ScriptStep, type ScriptedModelServer } from './helpers/scripted-model-server.js';
import { BIN, queryJson, skipReason as cliSkip, sensorRunLifecycle, startSensorRun, until, type Proc } from './helpers/sensor-cli.js';

const codex = cliSkip ? null : codexBinary();
const skip = cliSkip ?? (codex && 'skip' in codex ? codex.skip : null);
if (skip) console.warn(`real-agent-codex: skipping: ${skip}`);

const exec = (cmd: string): ScriptStep => ({ toolCall: { name: 'exec_command', arguments: { cmd, yield_time_ms: 5000 } } });
const FINAL = 'DONE-CODEX-SESSION';

describe.skipIf(skip !== null)('Codex in its own folder, as a user runs it', () => {
  let dir: string;
  let home: string;
  let stateDir: string;
  let run: Proc;
  let server: ScriptedModelServer;

  const alertsOf = (root: number): Record<string, unknown>[] =>
    execFileSync(process.execPath, [BIN, 'alerts', '--state-dir', stateDir, '--agent', CODEX_AGENT_NAME, '--json'], { encoding: 'utf8' })
      .split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>).filter((a) => a.agentPid === root);

  /** One `codex exec` session in a new project; returns its root pid once its events are stored. */
  const session = async (name: string, steps: ScriptStep[]): Promise<number> => {
    const project = makeProject(join(dir, name));
    server.script([...steps, { text: FINAL }]);
    const argv = codexExecArgs((codex as { bin: string }).bin, server.baseUrl, 'Do the task.');
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd: project, stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, TERM: 'dumb', NO_COLOR: '1', CODEX_HOME: join(home, '.codex'), SCRIPTED_API_KEY: 'scripted' },
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const killer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    const code = await new Promise<number | null>((r) => child.once('close', (c) => r(c)));
    clearTimeout(killer);
    expect(code, out.slice(-2000)).toBe(0);
    expect(out).toContain(FINAL);
    const root = child.pid!;
    await until(() => queryJson(stateDir, '--agent', CODEX_AGENT_NAME, '--since', '10m').some((e) => e.type === 'exit' && e.pid === root),
      'the session in the store', 30_000);
    await new Promise((r) => setTimeout(r, 2000)); // judged and stored within a second of their events
    return root;
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'real-agent-codex-'));
    home = join(dir, 'home');
    stateDir = join(dir, 'state');
    mkdirSync(join(home, '.codex'), { recursive: true });
    const passwd = join(dir, 'passwd');
    writeFileSync(passwd, `root:x:0:0:root:${home}:/bin/sh\n`);
    server = await startScriptedModelServer([]);
    run = await startSensorRun(stateDir, join(dir, 'c.sock'), ['--passwd-file', passwd]);
  });

  sensorRunLifecycle(() => ({ run, server, dir }));

  it('benign sessions raise nothing, though its children read back what it wrote under ~/.codex', async () => {
    const roots: number[] = [];
    for (const name of ['p1', 'p2']) {
      roots.push(await session(name, [exec('ls -la src'), exec('cat src/app.py'), exec('wc -l src/app.py'), exec("printf 'notes\\n' > NOTES.md")]));
    }
    // The case the session exercises: a process of the instance other than codex itself read a file under ~/.codex.
    const events = queryJson(stateDir, '--agent', CODEX_AGENT_NAME, '--since', '10m');
    const childReads = events.filter((e) => e.type === 'open' && roots.includes(e.agentPid!) && e.pid !== e.agentPid &&
      String(e.path).startsWith(join(home, '.codex') + '/') && (e.result as number) >= 0 && e.access === 'read');
    console.log(`real-agent-codex: ${childReads.length} reads under ~/.codex by its children, e.g. ${childReads.slice(0, 2).map((e) => `${e.comm} ${e.path}`).join(', ')}`);
    expect(childReads.length).toBeGreaterThan(0);
    expect(roots.flatMap((r) => alertsOf(r).map((a) => `${a.rule}: ${a.summary}`))).toEqual([]);
  }, 300_000);

  it('a child reading what the folder held before the session is still a high-value read', async () => {
    writeFileSync(join(home, '.codex', 'auth.json'), '{"OPENAI_API_KEY": null, "tokens": {"id_token": "x"}}\n', { mode: 0o600 });
    const root = await session('p3', [exec('cat ~/.codex/auth.json')]);
    await until(() => alertsOf(root).some((a) => a.rule === 'high_value_read'), 'high_value_read for ~/.codex/auth.json', 10_000);
    expect(alertsOf(root).find((a) => a.rule === 'high_value_read')?.summary).toContain('.codex/auth.json');
  }, 300_000);
});
