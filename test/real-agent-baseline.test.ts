// Issue 11's precision test with a real agent: Qwen Code (npm) sessions under
// `sensor launch` teach its baseline in one project and home, doing a
// developer's usual mix (git, python, npm test, node, grep/find, cp/diff, its
// file tools), each session a different part of it; nothing is raised while
// it learns. After `sensor baseline --freeze` and a restart of the sensor,
// the same kinds of work in other projects (another package name) and
// another home raise no alert, while a session that reads a key under the
// new home does (so the silence is the baseline's doing, not a detector that
// never runs). `~` is the home the passwd file gives the uid:
// each phase's sensor gets a passwd file naming that phase's home for root.
// Needs the detection engine (`sensor alerts`); without it, skips and says so.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { FINAL_ANSWER, QWEN_AGENT_NAME, qwenCodeCli, runQwenSession, sessionEvents, type QwenSession } from './helpers/real-agent.js';
import { startScriptedModelServer, type ScriptedModelServer, type ScriptStep } from './helpers/scripted-model-server.js';
import {
  BIN, launchArgs, queryJson, skipReason as cliSkip, sensorRunLifecycle, startSensorRun, stopSensorRun, until, type Proc,
} from './helpers/sensor-cli.js';

// `sensor <unknown> --help` prints the top-level help: look for the command's own usage line.
const engine = cliSkip ? null : /Usage: sensor alerts/.test(spawnSync(process.execPath, [BIN, 'alerts', '--help'], { encoding: 'utf8' }).stdout)
  ? null : 'no detection engine in this build (`sensor alerts` is missing)';
const qwen = cliSkip || engine ? null : qwenCodeCli();
const skip = cliSkip ?? engine ?? (qwen && 'skip' in qwen ? qwen.skip : null);
if (skip) console.warn(`real-agent-baseline: skipping: ${skip}`);

const LEARNING_SESSIONS = 4;

/** A small Python package with tests and an npm test script. */
function makePackage(dir: string, name: string): string {
  mkdirSync(join(dir, 'src', name), { recursive: true });
  mkdirSync(join(dir, 'tests'), { recursive: true });
  writeFileSync(join(dir, 'src', name, '__init__.py'), '');
  writeFileSync(join(dir, 'src', name, 'core.py'), 'def add(a, b):\n    return a + b\n# TODO: more\n');
  writeFileSync(join(dir, 'tests', 'test_core.py'), `from ${name}.core import add\n\ndef test_add():\n    assert add(1, 2) == 3\n`);
  writeFileSync(join(dir, 'README.md'), `# ${name}\n`);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', scripts: { test: 'node check.js' } }));
  writeFileSync(join(dir, 'check.js'), "console.log(require('fs').readdirSync('src').length ? 'ok' : 'empty');\n");
  return dir;
}

/** Session n's part of the usual work: its file tools, five of eight shell commands (rotating), a write and an edit. */
function usualWork(dir: string, name: string, n: number): ScriptStep[] {
  const core = join(dir, 'src', name, 'core.py');
  const commands = [
    `git init -q; git add -A && git -c user.email=dev@example.com -c user.name=dev commit -qm "work ${n}" && git log --oneline | head -3`,
    `PYTHONPATH=src python3 -c "from ${name}.core import add; assert add(2, 3) == 5; print('ok')"`,
    'grep -rn "TODO" src tests | head; find . -name "*.py" -not -path "./.git/*" | sort',
    'mkdir -p build && cp -r src build/ && diff -rq src build/src; rm -rf build',
    'npm test --silent',
    `sed -n 1,5p README.md; head -3 ${core}; wc -l ${core}; sort ${core} | uniq | wc -l`,
    `python3 -m py_compile ${core} && echo compiled; git status --short | head`,
    'node -e "console.log(require(\'fs\').readdirSync(\'.\').length)"; ls -la; cat package.json',
  ];
  const shell = (command: string): ScriptStep => ({ toolCall: { name: 'run_shell_command', arguments: { command, description: 'work' } } });
  return [
    { toolCall: { name: 'list_directory', arguments: { path: dir } } },
    { toolCall: { name: 'read_file', arguments: { file_path: core } } },
    ...[0, 1, 2, 3, 4].map((i) => shell(commands[(n + i * 3) % commands.length]!)),
    { toolCall: { name: 'write_file', arguments: { file_path: join(dir, `NOTES-${n}.md`), content: `notes ${n}\n` } } },
    { toolCall: { name: 'replace', arguments: { file_path: core, old_string: '# TODO: more', new_string: `# done ${n}` } } },
    { text: FINAL_ANSWER },
  ];
}

describe.skipIf(skip !== null)('a real agent CLI learned, then repeated elsewhere, raises nothing', () => {
  let dir: string;
  let stateDir: string;
  let run: Proc;
  let server: ScriptedModelServer;

  const alerts = (): Record<string, unknown>[] =>
    execFileSync(process.execPath, [BIN, 'alerts', '--state-dir', stateDir, '--agent', QWEN_AGENT_NAME, '--json'], { encoding: 'utf8' })
      .split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  const session = async (project: string, home: string, extra: { steps?: ScriptStep[] } = {}): Promise<{ s: QwenSession; root: number }> => {
    const s = await runQwenSession({
      cli: (qwen as { cli: string }).cli, server, projectDir: project, homeDir: home, ...extra,
      wrap: [process.execPath, BIN, ...launchArgs(stateDir, QWEN_AGENT_NAME)],
    });
    expect(s.code, s.stderr).toBe(0);
    let root = -1;
    await until(() => {
      const found = sessionEvents(queryJson(stateDir, '--agent', QWEN_AGENT_NAME, '--since', '10m'), s.pid, QWEN_AGENT_NAME);
      root = found.root;
      return found.complete;
    }, 'the session in the store', 30_000);
    return { s, root };
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'real-agent-baseline-'));
    stateDir = join(dir, 'state');
    server = await startScriptedModelServer([]);
    run = await startSensorRun(stateDir, join(dir, 'c.sock'), ['--agent-comm', 'no-such-agent', '--passwd-file', passwd('home-a')]);
  });
  /** a passwd file that makes dir/<home> root's home */
  const passwd = (home: string): string => {
    const file = join(dir, `passwd-${home}`);
    writeFileSync(file, `root:x:0:0:root:${join(dir, home)}:/bin/sh\n`);
    return file;
  };

  sensorRunLifecycle(() => ({ run, server, dir }));

  it('learns the usual work in project A and home A, silently; in other projects and home B it is silent; a read of ~/.ssh is not', async () => {
    for (let i = 0; i < LEARNING_SESSIONS; i++) {
      const project = makePackage(join(dir, `project-a${i % 2}`), 'alpha');
      await session(project, join(dir, 'home-a'), { steps: usualWork(project, 'alpha', i) });
    }
    const learning = alerts();
    console.log(`real-agent-baseline: ${LEARNING_SESSIONS} learning sessions, ${learning.length} alerts while learning`);
    expect(learning.map((a) => `${a.rule}: ${a.summary}`)).toEqual([]);
    const frozen = spawnSync(process.execPath, [BIN, 'baseline', '--state-dir', stateDir, '--agent', QWEN_AGENT_NAME, '--freeze'], { encoding: 'utf8' });
    expect(frozen.status, frozen.stderr).toBe(0);
    await stopSensorRun(run);
    run = await startSensorRun(stateDir, join(dir, 'c.sock'), ['--agent-comm', 'no-such-agent', '--passwd-file', passwd('home-b')]);

    const homeB = join(dir, 'home-b');
    const roots: number[] = [];
    for (let i = LEARNING_SESSIONS; i < LEARNING_SESSIONS + 2; i++) {
      const project = makePackage(join(dir, `project-b${i}`), 'beta');
      roots.push((await session(project, homeB, { steps: usualWork(project, 'beta', i) })).root);
    }
    await new Promise((r) => setTimeout(r, 2000)); // alerts are stored within 1 s of their event
    const raised = alerts().filter((a) => roots.includes(a.agentPid as number));
    console.log(`real-agent-baseline: benign sessions elsewhere: ${raised.length} alerts`);
    expect(raised.map((a) => `${a.rule}: ${a.summary}`)).toEqual([]);

    mkdirSync(join(homeB, '.ssh'), { recursive: true });
    writeFileSync(join(homeB, '.ssh', 'id_ed25519'), 'not a real key\n');
    // Through the shell with a command it used before: Qwen Code's own file tools stay inside the project.
    const last = join(dir, `project-b${LEARNING_SESSIONS}`);
    const nosy = await session(last, homeB, { steps: [
      { toolCall: { name: 'read_file', arguments: { file_path: join(last, 'README.md') } } },
      { toolCall: { name: 'run_shell_command', arguments: { command: `wc -l ${join(homeB, '.ssh', 'id_ed25519')}`, description: 'count lines' } } },
      { text: FINAL_ANSWER },
    ] });
    await until(() => alerts().some((a) => a.agentPid === nosy.root), 'an alert for the read under ~/.ssh', 10_000);
    const about = alerts().filter((a) => a.agentPid === nosy.root);
    console.log(`real-agent-baseline: the read under ~/.ssh: ${about.map((a) => `${a.rule}: ${a.summary}`).join(' | ')}`);
    expect(about.map((a) => a.summary).join('\n')).toContain('~/.ssh');
  }, 600_000);
});
