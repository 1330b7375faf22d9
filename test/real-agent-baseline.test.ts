// Issue 11's precision test with a real agent: Qwen Code (npm) sessions under
// `sensor launch` teach its baseline in one project and home; after
// `sensor baseline --freeze` and a restart of the sensor, the same work in
// another project and home raises no alert, while a session that reads a key
// under the new home does (so the silence is the baseline's doing, not a
// detector that never runs). `~` is the home the passwd file gives the uid:
// each phase's sensor gets a passwd file naming that phase's home for root.
// Needs the detection engine (`sensor alerts`); without it, skips and says so.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { makeProject, QWEN_AGENT_NAME, qwenCodeCli, runQwenSession, sessionEvents, type QwenSession } from './helpers/real-agent.js';
import { startScriptedModelServer, type ScriptedModelServer } from './helpers/scripted-model-server.js';
import {
  BIN, launchArgs, queryJson, skipReason as cliSkip, sensorRunLifecycle, startSensorRun, stopSensorRun, until, type Proc,
} from './helpers/sensor-cli.js';

// `sensor <unknown> --help` prints the top-level help: look for the command's own usage line.
const engine = cliSkip ? null : /Usage: sensor alerts/.test(spawnSync(process.execPath, [BIN, 'alerts', '--help'], { encoding: 'utf8' }).stdout)
  ? null : 'no detection engine in this build (`sensor alerts` is missing)';
const qwen = cliSkip || engine ? null : qwenCodeCli();
const skip = cliSkip ?? engine ?? (qwen && 'skip' in qwen ? qwen.skip : null);
if (skip) console.warn(`real-agent-baseline: skipping: ${skip}`);

const LEARNING_SESSIONS = 3;

describe.skipIf(skip !== null)('a real agent CLI learned, then repeated elsewhere, raises nothing', () => {
  let dir: string;
  let stateDir: string;
  let run: Proc;
  let server: ScriptedModelServer;

  const alerts = (): Record<string, unknown>[] =>
    execFileSync(process.execPath, [BIN, 'alerts', '--state-dir', stateDir, '--agent', QWEN_AGENT_NAME, '--json'], { encoding: 'utf8' })
      .split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  const session = async (project: string, home: string, extra: { shellCommand?: string } = {}): Promise<{ s: QwenSession; root: number }> => {
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

  it('learns in project A and home A; in project B and home B the same work is silent; a read of ~/.ssh is not', async () => {
    for (let i = 0; i < LEARNING_SESSIONS; i++) await session(makeProject(join(dir, 'project-a')), join(dir, 'home-a'));
    const frozen = spawnSync(process.execPath, [BIN, 'baseline', '--state-dir', stateDir, '--agent', QWEN_AGENT_NAME, '--freeze'], { encoding: 'utf8' });
    expect(frozen.status, frozen.stderr).toBe(0);
    const learned = alerts().length;
    await stopSensorRun(run);
    run = await startSensorRun(stateDir, join(dir, 'c.sock'), ['--agent-comm', 'no-such-agent', '--passwd-file', passwd('home-b')]);

    const homeB = join(dir, 'home-b');
    const benign = await session(makeProject(join(dir, 'project-b')), homeB);
    await new Promise((r) => setTimeout(r, 2000)); // alerts are stored within 1 s of their event
    const raised = alerts().filter((a) => a.agentPid === benign.root);
    console.log(`real-agent-baseline: ${LEARNING_SESSIONS} learning sessions, ${learned} alerts while learning; benign session elsewhere: ${raised.length} alerts`);
    expect(raised.map((a) => a.summary)).toEqual([]);

    mkdirSync(join(homeB, '.ssh'), { recursive: true });
    writeFileSync(join(homeB, '.ssh', 'id_ed25519'), 'not a real key\n');
    // Through the shell with a command it used before: Qwen Code's own file tools stay inside the project.
    const nosy = await session(join(dir, 'project-b'), homeB, { shellCommand: `wc -l ${join(homeB, '.ssh', 'id_ed25519')}` });
    await until(() => alerts().some((a) => a.agentPid === nosy.root), 'an alert for the read under ~/.ssh', 10_000);
    const about = alerts().filter((a) => a.agentPid === nosy.root);
    console.log(`real-agent-baseline: the read under ~/.ssh: ${about.map((a) => `${a.rule}: ${a.summary}`).join(' | ')}`);
    expect(about.map((a) => a.summary).join('\n')).toContain('~/.ssh');
  }, 600_000);
});
