// `sensor launch` end to end on the real kernel: a `sensor run` with its own
// state dir and socket; commands launched under it are an agent from their
// first exec, every event of theirs and their children carries the launched
// pid as agentPid, the exit code (or the killing signal) comes back, signals
// sent to launch reach the command, and the cgroup is gone once it empties.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cgroup2Mount } from '../sensor/launch/cgroup-v2.js';
import {
  BIN, launchArgs, queryJson, sensorProc, skipReason, startSensorRun, stopSensorRun, until, wireCarriesAgentPid,
  type Proc, type QueriedEvent,
} from './helpers/sensor-cli.js';

if (skipReason) console.warn(`launch-e2e: skipping: ${skipReason}`);
const checkAgentPid = wireCarriesAgentPid();
if (!skipReason && !checkAgentPid) console.warn('launch-e2e: agentPid checks skipped: sensor.proto Event has no agent_pid yet (issue 8)');

describe.skipIf(skipReason !== null)('sensor launch (real kernel, real gRPC, real SQLite)', () => {
  let dir: string;
  let stateDir: string;
  let run: Proc;
  let runArgs: Parameters<typeof startSensorRun>;
  const AGENT = `launch-e2e-${process.pid}`;

  /** `sensor launch` as a user types it, stdout/stderr of the command captured. */
  const launch = (script: string, agent = AGENT) => spawnSync(process.execPath, [BIN, ...launchArgs(stateDir, agent), '/bin/sh', '-c', script], {
    encoding: 'utf8', timeout: 60_000,
  });
  /** Events of the process tree rooted at pid (by fork events), once every process of it has exited. */
  const stored = async (pid: number): Promise<QueriedEvent[]> => {
    let events: QueriedEvent[] = [];
    await until(() => {
      const tree = new Set([pid]);
      const all = queryJson(stateDir);
      for (const e of all) if (e.type === 'fork' && tree.has(e.ppid)) tree.add(e.pid);
      events = all.filter((e) => tree.has(e.pid));
      return [...tree].every((p) => events.some((e) => e.type === 'exit' && e.pid === p));
    }, `events of the tree of pid ${pid}`, 15_000);
    return events;
  };
  /** the cgroup v2 path the command wrote from /proc/self/cgroup */
  const cgroupDir = (file: string): string => {
    const v2 = readFileSync(file, 'utf8').split('\n').find((l) => l.startsWith('0::'));
    if (!v2) throw new Error(`no cgroup v2 line in ${file}`);
    return join(cgroup2Mount(), v2.slice(3));
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'launch-e2e-'));
    stateDir = join(dir, 'state');
    writeFileSync(join(dir, 'input.txt'), 'read me\n');
    // An argv agent makes node an interpreter candidate in the kernel (a comm
    // rule, checked before cgroup rules): launched node must still be ours.
    const config = join(dir, 'agents.yaml');
    writeFileSync(config, 'agents:\n  - name: argv-agent\n    argv: ["**/no-such-agent-script.js"]\n    interpreters: ["node"]\n');
    // The socket is away from the state dir, as the acceptance check has it.
    runArgs = [stateDir, join(dir, 'sock', 'c.sock'), ['--config', config]];
    run = await startSensorRun(...runArgs);
  });

  afterEach((ctx) => {
    if (ctx.task.result?.state === 'fail') console.log(`--- sensor run\n${run.err().slice(-4000)}`);
  });

  afterAll(async () => {
    if (run) await stopSensorRun(run);
    rmSync(dir, { recursive: true, force: true });
  });

  it('tracks from the first exec, agentPid on every event of it and its children, exit code passed through, cgroup gone', async () => {
    const r = launch(`cat /proc/self/cgroup > ${dir}/cg; echo $$ > ${dir}/pid; cat ${dir}/input.txt > /dev/null; (cat ${dir}/input.txt | wc -c > /dev/null); exit 7`);
    expect(r.status, r.stderr).toBe(7);
    const pid = Number(readFileSync(join(dir, 'pid'), 'utf8'));
    const cg = cgroupDir(join(dir, 'cg'));
    expect(cg).toContain('/agent-sensor/');
    expect(existsSync(cg), `${cg} still exists after launch returned`).toBe(false);

    const events = await stored(pid);
    const own = events.filter((e) => e.pid === pid);
    expect(own[0]).toMatchObject({ type: 'exec', agent: AGENT, filename: '/bin/sh' });
    const children = events.filter((e) => e.pid !== pid && e.type === 'exec');
    expect(children.map((e) => e.filename)).toEqual(expect.arrayContaining(['/usr/bin/cat', '/usr/bin/wc']));
    for (const e of events) expect(e.agent, JSON.stringify(e)).toBe(AGENT);
    if (checkAgentPid) {
      for (const e of events) expect(e.agentPid, JSON.stringify(e)).toBe(pid);
      expect(events.some((e) => e.type === 'open' && e.path === join(dir, 'input.txt') && e.pid !== pid)).toBe(true);
      const byInstance = queryJson(stateDir, '--agent-pid', String(pid));
      expect(byInstance.length).toBe(events.length);
    }
  });

  it('makes an interpreter that argv rules watch as a candidate the launched agent', async () => {
    const pidFile = join(dir, 'node-pid');
    const script = `require('fs').writeFileSync(${JSON.stringify(pidFile)}, String(process.pid)); require('fs').readFileSync(${JSON.stringify(join(dir, 'input.txt'))})`;
    const r = spawnSync(process.execPath, [BIN, ...launchArgs(stateDir, AGENT), process.execPath, '-e', script], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    const events = await stored(pid);
    expect(events[0]).toMatchObject({ type: 'exec', agent: AGENT, filename: process.execPath });
    expect(events.some((e) => e.type === 'open' && e.path === join(dir, 'input.txt'))).toBe(true);
    for (const e of events) expect(e.agent).toBe(AGENT);
  });

  it('passes a killing signal through and forwards signals sent to launch', async () => {
    const killed = launch('kill -KILL $$');
    expect(killed.signal).toBe('SIGKILL');

    const ready = join(dir, 'ready');
    const l = sensorProc([...launchArgs(stateDir, AGENT), '/bin/sh', '-c', `trap 'exit 42' TERM; echo $$ > ${ready}; while :; do sleep 0.1; done`]);
    await until(() => existsSync(ready), 'the launched command to start', 30_000);
    l.child.kill('SIGTERM');
    expect(await l.exited).toEqual({ code: 42, signal: null });
  });

  it('leaves the cgroup to the sensor while a descendant outlives the command, and the sensor removes it', async () => {
    const r = launch(`cat /proc/self/cgroup > ${dir}/cg2; sleep 2 > /dev/null 2>&1 & exit 0`);
    expect(r.status, r.stderr).toBe(0);
    const cg = cgroupDir(join(dir, 'cg2'));
    expect(existsSync(cg)).toBe(true); // sleep still runs in it
    await until(() => !existsSync(cg), `${cg} removed once sleep exited`, 15_000);
  });

  it('runs a name absent from the config as an agent of its own, and the store verifies', async () => {
    const other = `${AGENT}-other`;
    const r = launch(`echo $$ > ${dir}/pid3`, other);
    expect(r.status, r.stderr).toBe(0);
    const pid = Number(readFileSync(join(dir, 'pid3'), 'utf8'));
    const events = await stored(pid);
    expect(events[0]).toMatchObject({ type: 'exec', agent: other });
    expect(execFileSync(process.execPath, [BIN, 'verify', '--state-dir', stateDir], { encoding: 'utf8' })).toMatch(/^OK/);
  });

  it('fails in one line when no sensor owns the state dir, and leaves no cgroup behind', () => {
    const before = spawnSync('ls', [join(cgroup2Mount(), 'agent-sensor')], { encoding: 'utf8' }).stdout;
    const r = spawnSync(process.execPath, [BIN, 'launch', '--state-dir', join(dir, 'nobody'), '--agent', AGENT, '--', '/bin/true'], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/no running `sensor run` owns/);
    const dead = spawnSync(process.execPath, [BIN, 'launch', '--socket', `unix://${dir}/no.sock`, '--agent', AGENT, '--', '/bin/true'], { encoding: 'utf8' });
    expect(dead.status).toBe(1);
    expect(dead.stderr).toMatch(/no sensor answers at unix:\/\//);
    expect(spawnSync('ls', [join(cgroup2Mount(), 'agent-sensor')], { encoding: 'utf8' }).stdout).toBe(before);
  });

  it('survives a sensor restart while a launched command runs: still the agent after it, cgroup removed once empty', async () => {
    const pidFile = join(dir, 'pid-restart');
    const go = join(dir, 'go');
    const l = sensorProc([...launchArgs(stateDir, AGENT), '/bin/sh', '-c',
      `cat /proc/self/cgroup > ${dir}/cg4; echo $$ > ${pidFile}; while [ ! -e ${go} ]; do sleep 0.1; done; cat ${dir}/input.txt > /dev/null`]);
    await until(() => existsSync(pidFile), 'the launched command to start', 30_000);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    await stopSensorRun(run);
    run = await startSensorRun(...runArgs);
    expect(run.err()).toMatch(/launch cgroup of an earlier run adopted/);
    writeFileSync(go, '');
    expect(await l.exited).toEqual({ code: 0, signal: null });
    const cg = cgroupDir(join(dir, 'cg4'));
    await until(() => !existsSync(cg), `${cg} removed`, 10_000);
    // The read after the restart: found by the restarted sensor's /proc scan in the adopted cgroup.
    await until(() => queryJson(stateDir).some((e) => e.type === 'open' && e.path === join(dir, 'input.txt') && e.ppid === pid), 'the read after the restart', 15_000);
    const read = queryJson(stateDir).filter((e) => e.type === 'open' && e.path === join(dir, 'input.txt') && e.ppid === pid);
    expect(read[0]).toMatchObject({ agent: AGENT, ...(checkAgentPid ? { agentPid: pid } : {}) });
  });
});
