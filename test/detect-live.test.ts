// Baselines and alerts under the live sensor (real kernel, real gRPC, real
// SQLite, the shipped CLI): a scripted agent learns its routine in one
// project and home (as one user), with a collector restart in the middle;
// after `sensor baseline --freeze` the same routine in another project and
// home (another user) raises nothing, and each novelty raises exactly its
// alert, naming the instance (agentPid). A second agent with declared grants
// gets a policy_violation for a read, a write, a connect and an exec outside
// them while still learning.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BIN, ROOT, skipReason, startSensorRun, stopSensorRun, until, type Proc } from './helpers/sensor-cli.js';
import { loopbackServer } from './helpers/kernel.js';

if (skipReason) console.warn(`detect-live: skipping: ${skipReason}`);

const UID_A = 4242;
const UID_B = 4343;

interface Alert { id: number; agent: string; agentPid: number; pid: number; rule: string; subject: string; summary: string; severity: string; evidence: number[] }

describe.skipIf(skipReason !== null)('baselines and alerts under the live sensor', () => {
  let dir: string;
  let stateDir: string;
  let socket: string;
  let run: Proc | undefined;
  const procs: Proc[] = [];
  const servers: { close(): Promise<void> }[] = [];
  let port1 = 0;
  let port2 = 0;
  const detagent = () => join(dir, 'bin', 'detagent');
  const grantagent = () => join(dir, 'bin', 'grantagent');

  const cli = (...args: string[]) => execFileSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });
  const alerts = (): Alert[] => cli('alerts', '--state-dir', stateDir, '--json').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Alert);
  const start = async () => {
    run = await startSensorRun(stateDir, socket, ['--config', join(dir, 'agents.yaml'), '--passwd-file', join(dir, 'passwd')]);
    procs.push(run);
  };
  /** Runs an agent as a user in a project; its pid (the instance root). */
  const agentRun = (bin: string, uid: number, cwd: string, steps: string[]): number => {
    const r = spawnSync(bin, steps, { cwd, uid, gid: uid, encoding: 'utf8', timeout: 20_000 });
    expect(r.status, r.stderr).toBe(0);
    return Number(r.stdout.trim());
  };
  /** Waits until the collector stored the instance's exit (so detection saw it all). */
  const settled = async (pid: number) => {
    await until(() => {
      const list = JSON.parse(`[${cli('agents', '--state-dir', stateDir, '--json', '--instances', '1000').trim().split('\n').join(',')}]`) as
        { instances: { agentPid: number; end: string | null }[] }[];
      return list.some((a) => a.instances.some((i) => i.agentPid === pid && i.end !== null));
    }, `instance ${pid} judged`, 30_000);
  };
  const routine = (proj: string, home: string) => [`r:${proj}/src/app.py`, `r:${home}/.config/detagent/conf`, `c:${port1}`, 'x:/bin/true', `w:${proj}/out.txt`];
  const projA = () => join(dir, 'one', 'projA');
  const projB = () => join(dir, 'two', 'projB');
  const homeA = () => join(dir, 'homes', 'alice');
  const homeB = () => join(dir, 'people', 'bob');

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'detect-live-'));
    chmodSync(dir, 0o755);
    stateDir = join(dir, 'state');
    socket = join(dir, 'c.sock');
    mkdirSync(join(dir, 'bin'));
    execFileSync('cc', ['-O1', '-o', detagent(), join(ROOT, 'test/fixtures/detect-agent.c')]);
    copyFileSync(detagent(), grantagent());
    chmodSync(grantagent(), 0o755);
    for (const p of [projA(), projB()]) {
      mkdirSync(join(p, 'src'), { recursive: true });
      writeFileSync(join(p, 'src', 'app.py'), 'print(1)\n');
      chmodSync(p, 0o777);
    }
    for (const h of [homeA(), homeB()]) {
      mkdirSync(join(h, '.config', 'detagent'), { recursive: true });
      mkdirSync(join(h, '.aws'), { recursive: true });
      writeFileSync(join(h, '.config', 'detagent', 'conf'), 'x\n');
      writeFileSync(join(h, '.aws', 'credentials'), '[default]\n');
    }
    execFileSync('chmod', ['-R', 'a+rX', dir]);
    mkdirSync(join(dir, 'outside'), { mode: 0o777 });
    chmodSync(join(dir, 'outside'), 0o777);
    copyFileSync('/bin/true', join(dir, 'outside', 'dropper')); // a program no grant or baseline has
    chmodSync(join(dir, 'outside', 'dropper'), 0o755);
    writeFileSync(join(dir, 'passwd'), `root:x:0:0:root:/root:/bin/sh\nalice:x:${UID_A}:${UID_A}::${homeA()}:/bin/sh\nbob:x:${UID_B}:${UID_B}::${homeB()}:/bin/sh\n`);
    const s1 = await loopbackServer();
    const s2 = await loopbackServer();
    servers.push(s1, s2);
    port1 = s1.port;
    port2 = s2.port;
    writeFileSync(join(dir, 'agents.yaml'), [
      'agents:',
      '  - name: detagent',
      '    comm: ["detagent"]',
      '  - name: grantagent',
      '    comm: ["grantagent"]',
      '    grants:',
      '      read: ["{cwd}/**", "~/.config/detagent/**"]',
      '      write: ["{cwd}/**"]',
      `      connect: ["127.0.0.1:${port1}"]`,
      '      exec: ["/bin/true"]', // the name as exec'd: the program it links to (/usr/bin/true) is covered too
      '',
    ].join('\n'));
    await start();
  });

  afterEach((ctx) => {
    if (ctx.task.result?.state === 'fail') for (const p of procs) console.log(`--- ${p.child.spawnargs.slice(2, 3).join(' ')}\n${p.err().slice(-3000)}`);
  });

  afterAll(async () => {
    if (run) await stopSensorRun(run);
    for (const s of servers) await s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('learns across a collector restart; after freeze, the routine elsewhere is silent and each novelty alerts once', async () => {
    const learned: number[] = [];
    for (let i = 0; i < 2; i++) learned.push(agentRun(detagent(), UID_A, projA(), routine(projA(), homeA())));
    await settled(learned.at(-1)!);
    await stopSensorRun(run!); // the collector (embedded) goes away mid-learning ...
    await start(); // ... and comes back with the baseline it saved
    const afterRestart = JSON.parse(cli('baseline', '--state-dir', stateDir, '--agent', 'detagent', '--json'));
    expect(afterRestart.state).toBe('learning');
    expect(afterRestart.baseline.seen.instances).toBe(2);
    for (let i = 0; i < 2; i++) learned.push(agentRun(detagent(), UID_A, projA(), routine(projA(), homeA())));
    await settled(learned.at(-1)!);
    expect(cli('baseline', '--state-dir', stateDir, '--agent', 'detagent', '--freeze')).toMatch(/detagent: frozen: detecting from now on a baseline of \d+ events/);
    const frozen = JSON.parse(cli('baseline', '--state-dir', stateDir, '--agent', 'detagent', '--json'));
    expect(frozen.baseline.seen.instances).toBe(4);
    expect(Object.keys(frozen.baseline.sets.areas)).toContain('~/.config/detagent');
    expect(Object.keys(frozen.baseline.sets.destinations)).toEqual([`loopback:${port1}`]);

    const benign = agentRun(detagent(), UID_B, projB(), routine(projB(), homeB()));
    const port = agentRun(detagent(), UID_B, projB(), [...routine(projB(), homeB()), `c:${port2}`]);
    const aws = agentRun(detagent(), UID_B, projB(), [...routine(projB(), homeB()), `r:${homeB()}/.aws/credentials`]);
    const drop = agentRun(detagent(), UID_B, projB(), [...routine(projB(), homeB()), `x:${join(dir, 'outside', 'dropper')}`]);
    await settled(drop);
    await new Promise((r) => setTimeout(r, 1500)); // alerts are stored within a second of their event
    const all = alerts();
    const of = (pid: number) => all.filter((a) => a.agentPid === pid).map((a) => a.rule);
    expect(all.filter((a) => learned.includes(a.agentPid))).toEqual([]);
    expect(of(benign)).toEqual([]);
    expect(of(port)).toEqual(['new_destination']);
    expect(all.find((a) => a.agentPid === port)!.summary).toMatch(new RegExp(`^connect 127\\.0\\.0\\.1:${port2}: a loopback destination detagent never used in 4 connects over \\d+ s$`));
    expect(of(aws)).toEqual(['new_area']);
    expect(all.find((a) => a.agentPid === aws)!.subject).toBe('~/.aws');
    expect(of(drop)).toEqual(['new_executable']);
    expect(all.find((a) => a.agentPid === drop)).toMatchObject({ agent: 'detagent', severity: 'medium' });
    expect(all.find((a) => a.agentPid === drop)!.pid).not.toBe(drop); // the child exec'd it
    expect(cli('verify', '--state-dir', stateDir)).toMatch(/OK: \d+ alerts, \d+ baselines/);
  });

  it('grants: a read, a write, a connect and an exec outside them are violations while learning', async () => {
    const ok = agentRun(grantagent(), UID_A, projA(), routine(projA(), homeA()));
    const bad = agentRun(grantagent(), UID_B, projB(), [
      ...routine(projB(), homeB()), `r:${homeB()}/.aws/credentials`, `w:${join(dir, 'outside', 'f.txt')}`, `c:${port2}`, `x:${join(dir, 'outside', 'dropper')}`,
    ]);
    await settled(bad);
    await new Promise((r) => setTimeout(r, 1500));
    const all = alerts();
    expect(all.filter((a) => a.agentPid === ok)).toEqual([]);
    // the credentials read then a connect outside the grants is also an exfiltration sequence (issue 12)
    expect(all.filter((a) => a.agentPid === bad && a.rule !== 'policy_violation').map((a) => `${a.rule}:${a.severity}`)).toEqual(['exfiltration:critical']);
    const mine = all.filter((a) => a.agentPid === bad && a.rule === 'policy_violation');
    expect(mine.map((a) => a.rule)).toEqual(['policy_violation', 'policy_violation', 'policy_violation', 'policy_violation']);
    expect(mine.map((a) => a.subject)).toEqual([
      `read ${homeB()}/.aws/credentials`, `write ${join(dir, 'outside', 'f.txt')}`, `connect loopback:${port2}`, `exec ${join(dir, 'outside', 'dropper')}`,
    ]);
    const agents = cli('agents', '--state-dir', stateDir, '--json').split('\n').filter(Boolean).map((l) => JSON.parse(l));
    const g = agents.find((a) => a.agent === 'grantagent');
    expect(g.state).toBe('learning');
    expect(g.instances.find((i: { agentPid: number }) => i.agentPid === bad)).toMatchObject({ uid: UID_B, user: null, cwd: projB(), home: homeB() });
  });

  it('a --relearn request is applied by the running collector', () => {
    expect(cli('baseline', '--state-dir', stateDir, '--agent', 'detagent', '--relearn')).toBe('detagent: learning again from an empty baseline\n');
    expect(JSON.parse(cli('baseline', '--state-dir', stateDir, '--agent', 'detagent', '--json')).state).toBe('learning');
  });
});
