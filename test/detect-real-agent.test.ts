// Precision on a real agent CLI someone else wrote (Qwen Code from npm),
// under `sensor launch` against a scripted model server on loopback: its
// normal session is learned in one project and home (as one user), then the
// same session in another project and home (another user) raises nothing.
// The user is changed with setpriv inside the launch (the instance root
// exec's again as the agent), homes come from a passwd file given to the
// collector.
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { FINAL_ANSWER, makeProject, QWEN_AGENT_NAME, qwenCodeCli, runQwenSession } from './helpers/real-agent.js';
import { startScriptedModelServer, type ScriptedModelServer } from './helpers/scripted-model-server.js';
import { BIN, launchArgs, skipReason as cliSkip, sensorRunLifecycle, startSensorRun, until, type Proc } from './helpers/sensor-cli.js';

const haveSetpriv = (() => {
  try {
    execFileSync('setpriv', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
const qwen = cliSkip ? null : qwenCodeCli();
const skip = cliSkip ?? (qwen && 'skip' in qwen ? qwen.skip : null) ?? (haveSetpriv ? null : 'setpriv (util-linux) not found');
if (skip) console.warn(`detect-real-agent: skipping: ${skip}`);

// Users the system knows (the agent asks for its user name), whose homes the collector reads from our passwd file.
const UID_A = 38; // list
const UID_B = 39; // irc

describe.skipIf(skip !== null)('a real agent CLI learned, then repeated elsewhere, raises nothing', () => {
  let dir: string;
  let stateDir: string;
  let run: Proc;
  let server: ScriptedModelServer;
  const cli = (...args: string[]) => execFileSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });
  const agents = () => cli('agents', '--state-dir', stateDir, '--json', '--instances', '1000').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const instanceIn = (cwd: string) => agents().find((a) => a.agent === QWEN_AGENT_NAME)?.instances.find((i: { cwd: string }) => i.cwd === cwd);

  const session = async (uid: number, project: string, home: string) => {
    const s = await runQwenSession({
      cli: (qwen as { cli: string }).cli, server, projectDir: project, homeDir: home,
      wrap: [process.execPath, BIN, ...launchArgs(stateDir, QWEN_AGENT_NAME), 'setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', '--'],
    });
    expect(s.code, s.stderr).toBe(0);
    expect(s.stdout).toContain(FINAL_ANSWER);
    await until(() => instanceIn(project)?.end != null, `the session in ${project} judged`, 60_000);
    return instanceIn(project) as { agentPid: number; uid: number; home: string };
  };
  const place = (name: string, uid: number) => {
    const project = makeProject(join(dir, name, 'project'));
    const home = join(dir, name, 'home');
    mkdirSync(home, { recursive: true });
    for (const p of [join(dir, name), project, join(project, 'src'), home]) chownSync(p, uid, uid);
    for (const f of ['README.md', 'src/app.py']) chownSync(join(project, f), uid, uid);
    return { project, home };
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'detect-real-agent-'));
    chmodSync(dir, 0o755);
    stateDir = join(dir, 'state');
    writeFileSync(join(dir, 'passwd'), `root:x:0:0:root:/root:/bin/sh\nalice:x:${UID_A}:${UID_A}::${join(dir, 'a1', 'home')}:/bin/sh\n` +
      `bob:x:${UID_B}:${UID_B}::${join(dir, 'b', 'home')}:/bin/sh\n`);
    server = await startScriptedModelServer([]);
    run = await startSensorRun(stateDir, join(dir, 'c.sock'), ['--agent-comm', 'no-such-agent', '--passwd-file', join(dir, 'passwd')]);
  });

  sensorRunLifecycle(() => ({ run, server, dir }));

  it('learns three sessions in one project and home; the same session as another user elsewhere raises nothing', async () => {
    // The same home for the three learning sessions (alice's), each in a project of its own.
    const a = place('a1', UID_A);
    const learned = [await session(UID_A, a.project, a.home)];
    for (const name of ['a2', 'a3']) {
      const p = place(name, UID_A);
      learned.push(await session(UID_A, p.project, a.home));
    }
    expect(learned[0]).toMatchObject({ uid: UID_A, home: a.home });
    expect(cli('baseline', '--state-dir', stateDir, '--agent', QWEN_AGENT_NAME, '--freeze')).toMatch(/frozen: detecting/);
    const b = place('b', UID_B);
    const other = await session(UID_B, b.project, b.home);
    expect(other).toMatchObject({ uid: UID_B, home: b.home });
    await new Promise((r) => setTimeout(r, 1500));
    const alerts = cli('alerts', '--state-dir', stateDir, '--json').split('\n').filter(Boolean).map((l) => JSON.parse(l));
    expect(alerts.filter((x) => x.agentPid === other.agentPid).map((x) => x.summary)).toEqual([]);
    expect(alerts).toEqual([]); // nothing during learning either: only policy could fire, and there are no grants
    const base = JSON.parse(cli('baseline', '--state-dir', stateDir, '--agent', QWEN_AGENT_NAME, '--json'));
    expect(base.baseline.seen.instances).toBe(3);
    expect(Object.keys(base.baseline.sets.destinations).some((d) => d.startsWith('loopback:'))).toBe(true);
    // what made the second place look like the first: the project is {cwd}, the agent's own files are under ~
    const areas = Object.keys(base.baseline.sets.areas);
    expect(areas).toContain('{cwd}');
    expect(areas.filter((x) => x.startsWith('~/')), areas.join(' ')).not.toEqual([]);
  }, 400_000);
});
