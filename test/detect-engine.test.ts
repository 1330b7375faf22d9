// The judging engine on the real SQLite store: scripted agent instances as
// committed batches (events carrying agentPid, as the kernel sends them),
// judged by the engine attached to the store's commit hook. Learn in one
// project and home, then the same routine in another project and home raises
// nothing; each detector fires on exactly its trigger and not on a near miss;
// grants are enforced while learning; a restart keeps the baseline; alerts
// are deduplicated, listed by the CLI and covered by verify.
import { Command } from 'commander';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { attachDetection } from '../collector/detect/attach.js';
import type { DetectionEngine } from '../collector/detect/engine.js';
import type { DetectionOptions } from '../collector/detect/settings.js';
import { listAlerts, type StoredAlert } from '../collector/store/alert-query.js';
import { readBaselines, readRequest, requestBaselineChange } from '../collector/store/detect-rows.js';
import { EventStore } from '../collector/store/event-store.js';
import { verifyAlertChain } from '../collector/store/verify-alerts.js';
import { isoFromNs } from '../proto/codec/convert.js';
import type { SensorEvent } from '../proto/events/types.js';
import { register as registerAgents } from '../sensor/cli/commands/agents.js';
import { register as registerAlerts } from '../sensor/cli/commands/alerts.js';
import { register as registerBaseline } from '../sensor/cli/commands/baseline.js';

const quiet = pino({ level: process.env.TEST_LOG ?? 'silent' });
const UID_A = 4242;
const UID_B = 4343;

let root: string;
let homeA: string;
let homeB: string;
let stateDir: string;
let store: EventStore;
let engine: DetectionEngine;
let options: DetectionOptions;
let seq = 0n;
let nextPid = 10_000;
let clockNs = (BigInt(Date.now()) - 3_600_000n) * 1_000_000n;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function open(): void {
  store = EventStore.open({ stateDir, hashing: { enabled: false } });
  engine = attachDetection(store, options, quiet);
}

async function commit(events: SensorEvent[]): Promise<void> {
  store.commitBatch({ sensorId: 'host-a', bootId: 'boot-1', seq: ++seq, events });
  await engine.idle();
}

interface Run {
  agent: string;
  uid: number;
  cwd: string;
  home: string;
  /** ms between events */
  stepMs?: number;
}

/** Scripted instance: builds the events an agent run produces, all with agentPid = its root. */
class Script {
  readonly events: SensorEvent[] = [];
  readonly root: number;
  constructor(private readonly r: Run) {
    this.root = nextPid;
    nextPid += 10;
    this.push(this.root, 'exec', {
      filename: '/usr/bin/fakeagent', argv: ['fakeagent', '--serve'], startNs: '1', exe: '/usr/local/lib/fakeagent/bin/fakeagent', cwd: r.cwd,
    });
    this.read('/etc/ld.so.cache').read('/usr/lib/x86_64-linux-gnu/libc.so.6');
  }
  private push(pid: number, type: SensorEvent['type'], extra: object): this {
    clockNs += BigInt((this.r.stepMs ?? 5) * 1_000_000);
    this.events.push({
      type, ts: isoFromNs(String(clockNs)), tsNs: String(clockNs), pid, tid: pid, ppid: pid === this.root ? 1 : this.root,
      uid: this.r.uid, gid: this.r.uid, comm: 'fakeagent', agent: this.r.agent, agentPid: this.root, cgroupId: '1',
      netns: 1, mntns: 1, ...extra,
    } as SensorEvent);
    return this;
  }
  read(path: string, result = 3): this {
    return this.push(this.root, 'open', { path, flags: 0, mode: 0, access: 'read', result, syscall: 'openat' });
  }
  write(path: string): this {
    return this.push(this.root, 'open', { path, flags: 0o1101, mode: 0o644, access: 'write', result: 4, syscall: 'openat' });
  }
  connect(addr: string, port: number, host?: string): this {
    return this.push(this.root, 'connect', { family: addr.includes(':') ? 'inet6' : 'inet', proto: 'tcp', addr, port, result: 0, host });
  }
  unix(path: string): this {
    return this.push(this.root, 'connect', { family: 'unix', proto: 'unix', addr: path, port: 0, result: 0 });
  }
  /** fork + exec of a child that reads files */
  exec(path: string, reads: string[] = []): this {
    const child = this.root + 1 + (this.events.length % 8);
    this.push(this.root, 'fork', { startNs: '2' }).events.at(-1)!.pid = child;
    this.push(child, 'exec', { filename: path, argv: [path], startNs: '2', exe: path });
    for (const p of reads) this.push(child, 'open', { path: p, flags: 0, mode: 0, access: 'read', result: 3, syscall: 'openat' });
    return this.push(child, 'exit', { code: 0, signal: null });
  }
  /** the usual work of fakeagent in its project and home */
  routine(): this {
    const { cwd, home } = this.r;
    return this.read(`${home}/.config/fakeagent/settings.json`).read(`${cwd}/src/app.py`).read(`${cwd}/README.md`)
      .read(`${cwd}/src/missing.py`, -2).read('/usr/lib/python3.11/os.py').write(`${cwd}/src/app.py`)
      .connect('127.0.0.53', 53).connect(`93.184.216.${34 + (this.root % 3)}`, 443, 'api.example.com').unix(`/run/user/${this.r.uid}/bus`)
      .read(`${home}/.cache/fakeagent/tmp.${this.root.toString(36)}Xq/state`)
      .exec('/usr/bin/git', [`${cwd}/.git/config`, `${home}/.gitconfig`]);
  }
  done(): SensorEvent[] {
    this.push(this.root, 'exit', { code: 0, signal: null });
    return this.events;
  }
}

const alertsOf = (root: number): StoredAlert[] => listAlerts(store.database, { limit: 10_000 }).filter((a) => a.agentPid === root);
const rulesOf = (root: number): string[] => alertsOf(root).map((a) => a.rule).sort();

async function freeze(agent: string): Promise<void> {
  const id = requestBaselineChange(store.database, agent, 'freeze');
  for (let i = 0; i < 100 && readRequest(store.database, id)!.appliedAt === null; i++) await sleep(20);
  expect(readRequest(store.database, id)!.appliedAt).not.toBeNull();
}

/** Learns fakeagent's routine: runs in project A, home A, spread over several minutes. */
async function learn(agent: string, runs: number): Promise<void> {
  for (let i = 0; i < runs; i++) {
    await commit(new Script({ agent, uid: UID_A, cwd: `${root}/work/projA`, home: homeA }).routine().done());
    clockNs += 40_000_000_000n;
  }
}

const benignB = (agent: string) => new Script({ agent, uid: UID_B, cwd: `${root}/elsewhere/projB`, home: homeB }).routine();

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'detect-engine-'));
  homeA = `${root}/homes/alice`;
  homeB = '/srv/people/bob';
  stateDir = join(root, 'state');
  const passwd = join(root, 'passwd');
  writeFileSync(passwd, `root:x:0:0:root:/root:/bin/sh\nalice:x:${UID_A}:${UID_A}::${homeA}:/bin/sh\nbob:x:${UID_B}:${UID_B}::${homeB}:/bin/sh\n`);
  options = {
    passwdFile: passwd, requestPollMs: 20,
    defaults: {
      rate_spike: { floor: { connects: 20, opens: 3000, destinations: 30, execs: 300 } },
      mass_read: { minFiles: 30 },
    },
    agents: [
      { name: 'grantagent', grants: { read: ['{cwd}/**', '~/.config/fakeagent/**', '~/.cache/**', '~/.gitconfig', '/usr/lib/python3*/**'], write: ['{cwd}/**'], connect: ['api.example.com:443', '127.0.0.0/8'], exec: ['/usr/bin/git'] } },
      { name: 'autoagent', detect: { learning: { duration: '2m', minEvents: 100 } } },
      { name: 'quietagent', detect: { new_destination: { enabled: false } } },
    ],
  };
  open();
});

afterAll(async () => {
  await store.close();
  rmSync(root, { recursive: true, force: true });
});

describe('detection engine on the real store', () => {
  it('learns in one project and home; the same work in another project and home raises nothing', async () => {
    await learn('fakeagent', 6);
    expect(listAlerts(store.database, { limit: 100 })).toEqual([]); // learning: baseline detectors are silent
    await freeze('fakeagent');
    const b = benignB('fakeagent');
    await commit(b.done());
    expect(alertsOf(b.root)).toEqual([]);
    const base = readBaselines(store.database).find((x) => x.agent === 'fakeagent')!;
    expect(base.state).toBe('detecting');
    const body = JSON.parse(base.body);
    // generalised: the project is {cwd}, the home ~, the temp dir and the uid collapsed
    expect(Object.keys(body.sets.areas)).toEqual(expect.arrayContaining(['{cwd}', '~/.config/fakeagent', '~/.cache/fakeagent', '/usr/lib']));
    expect(Object.keys(body.sets.destinations)).toEqual(expect.arrayContaining(['api.example.com:443', 'loopback:53', 'unix:/run/user/#/bus']));
    expect(Object.keys(body.sets.executables)).toEqual(expect.arrayContaining(['/usr/bin/git']));
  });

  it('new destination: fires on a connect to a new address and port, with the baseline fact, and only that', async () => {
    const s = benignB('fakeagent').connect('10.0.0.5', 4444);
    await commit(s.done());
    expect(rulesOf(s.root)).toEqual(['new_destination']);
    const a = alertsOf(s.root)[0]!;
    expect(a.summary).toMatch(/^connect 10\.0\.0\.5:4444: a private destination fakeagent never used in \d+ connects over \d+ min$/);
    expect(a).toMatchObject({ agent: 'fakeagent', agentPid: s.root, pid: s.root, severity: 'medium' });
    expect(a.evidence).toHaveLength(1);
    expect(a.baseline).toMatch(/connects to \d+ destinations/);
    // near miss: the known host at a new address (DNS attribution) is not new
    const n = benignB('fakeagent').connect('93.184.216.99', 443, 'api.example.com');
    await commit(n.done());
    expect(rulesOf(n.root)).toEqual([]);
  });

  it('new executable and first visit to an area fire on exactly their trigger; a new file in the project does not', async () => {
    const x = benignB('fakeagent').exec('/tmp/dropper');
    await commit(x.done());
    expect(rulesOf(x.root)).toEqual(['new_executable']);
    expect(alertsOf(x.root)[0]!.summary).toMatch(/^exec \/tmp\/dropper: an executable fakeagent never ran in \d+ execs over/);
    const r = benignB('fakeagent').read(`${homeB}/.aws/credentials`);
    await commit(r.done());
    expect(rulesOf(r.root)).toEqual(['new_area']);
    expect(alertsOf(r.root)[0]!.summary).toContain('first visit to ~/.aws by fakeagent');
    const near = benignB('fakeagent').read(`${root}/elsewhere/projB/docs/new/notes.md`).read(`${homeB}/.aws/config`, -2);
    await commit(near.done());
    expect(rulesOf(near.root)).toEqual([]); // inside the project; a probe of an absent file
  });

  it('rate spike: relative to the learned distribution with a floor', async () => {
    const near = benignB('fakeagent');
    for (let i = 0; i < 15; i++) near.connect('93.184.216.34', 443, 'api.example.com');
    await commit(near.done());
    expect(rulesOf(near.root)).toEqual([]);
    const s = benignB('fakeagent');
    for (let i = 0; i < 30; i++) s.connect('93.184.216.34', 443, 'api.example.com');
    await commit(s.done());
    expect(rulesOf(s.root)).toEqual(['rate_spike']);
    expect(alertsOf(s.root)[0]!.summary).toMatch(/^2\d connects in a minute by fakeagent: its learned 99th percentile is \d+ a minute/);
  });

  it('mass read: distinct files in a sliding window', async () => {
    const near = benignB('fakeagent');
    for (let i = 0; i < 20; i++) near.read(`${root}/elsewhere/projB/src/m${i}.py`);
    await commit(near.done());
    expect(rulesOf(near.root)).toEqual([]);
    const s = benignB('fakeagent');
    for (let i = 0; i < 45; i++) s.read(`${root}/elsewhere/projB/src/m${i}.py`);
    await commit(s.done());
    expect(rulesOf(s.root)).toEqual(['mass_read']);
    expect(alertsOf(s.root)[0]!.evidence.length).toBeGreaterThan(10);
  });

  it('time of day: only after a learning span of a week, at an hour never active', async () => {
    const day = 86_400_000_000_000n;
    const saved = clockNs;
    const startOfDay = (BigInt(new Date(new Date().setHours(0, 0, 0, 0)).getTime()) * 1_000_000n) - 10n * day;
    for (let d = 0n; d < 8n; d++) {
      for (const h of [9n, 13n, 17n]) {
        clockNs = startOfDay + d * day + h * 3_600_000_000_000n;
        await commit(new Script({ agent: 'dayagent', uid: UID_A, cwd: `${root}/work/projA`, home: homeA }).routine().done());
      }
    }
    await freeze('dayagent');
    clockNs = startOfDay + 9n * day + 14n * 3_600_000_000_000n;
    const day9 = new Script({ agent: 'dayagent', uid: UID_B, cwd: `${root}/x/p`, home: homeB }).routine();
    await commit(day9.done());
    expect(rulesOf(day9.root)).toEqual([]);
    clockNs = startOfDay + 9n * day + 3n * 3_600_000_000_000n;
    const night = new Script({ agent: 'dayagent', uid: UID_B, cwd: `${root}/x/p`, home: homeB }).routine();
    await commit(night.done());
    expect(rulesOf(night.root)).toEqual(['time_of_day']);
    clockNs = saved;
  });

  it('grants: read, write, connect and exec outside them are violations while learning; inside, silence', async () => {
    const ok = new Script({ agent: 'grantagent', uid: UID_A, cwd: `${root}/work/projA`, home: homeA }).routine();
    await commit(ok.done());
    expect(rulesOf(ok.root)).toEqual([]);
    const bad = new Script({ agent: 'grantagent', uid: UID_B, cwd: `${root}/g/projC`, home: homeB }).routine()
      .read(`${homeB}/.ssh/id_ed25519`).read(`${homeB}/.ssh/absent`, -2).write('/etc/cron.d/job')
      .connect('203.0.113.9', 443).connect('93.184.216.34', 443, 'api.example.com').exec('/usr/bin/curl');
    await commit(bad.done());
    const all = alertsOf(bad.root);
    expect(all.filter((a) => a.rule !== 'policy_violation').map((a) => `${a.rule} ${a.subject}`)).toEqual(['persistence /etc/cron.d/job']);
    const alerts = all.filter((a) => a.rule === 'policy_violation');
    expect(alerts.map((a) => a.rule)).toEqual(['policy_violation', 'policy_violation', 'policy_violation', 'policy_violation']);
    expect(alerts.map((a) => a.subject)).toEqual([
      `read ${homeB}/.ssh/id_ed25519`, 'write /etc/cron.d/job', 'connect 203.0.113.9:443', 'exec /usr/bin/curl',
    ]);
    expect(alerts[0]!.summary).toBe(`read ${homeB}/.ssh/id_ed25519: outside grantagent's read grants ({cwd}/**, ~/.config/fakeagent/**, ~/.cache/**, ~/.gitconfig, … (5))`);
    expect(alerts.every((a) => a.severity === 'high' && a.baseline === null)).toBe(true);
  });

  it('deduplicates: one alert per instance, rule and subject, with a repeat count', async () => {
    clockNs = BigInt(Date.now()) * 1_000_000n;
    const s = benignB('fakeagent');
    for (let i = 0; i < 5; i++) s.connect('10.9.9.9', 9999);
    await commit(s.done());
    await sleep(1300); // repeats are flushed every second
    const a = alertsOf(s.root);
    expect(a.map((x) => x.rule)).toEqual(['new_destination']);
    expect(a[0]!.count).toBe(5);
  });

  it('learning ends after the duration AND the event count; a disabled detector stays silent', async () => {
    const state = () => engine.agentStates().find((a) => a.agent === 'autoagent')?.state;
    for (let i = 0; i < 3; i++) {
      await commit(new Script({ agent: 'autoagent', uid: UID_A, cwd: `${root}/work/projA`, home: homeA }).read(`${root}/work/projA/a`).done());
      clockNs += 60_000_000_000n;
    }
    expect(state()).toBe('learning'); // 3 minutes, but few events
    await learn('autoagent', 5);
    expect(state()).toBe('detecting');
    await learn('quietagent', 2);
    await freeze('quietagent');
    const q = new Script({ agent: 'quietagent', uid: UID_B, cwd: `${root}/q`, home: homeB }).routine().connect('10.0.0.5', 4444);
    await commit(q.done());
    expect(rulesOf(q.root)).toEqual([]);
  });

  it('a restart keeps the baseline: learned state, counts, and what is novel', async () => {
    await learn('restartagent', 2);
    const fakeBefore = readBaselines(store.database).find((b) => b.agent === 'fakeagent')!;
    await store.close();
    open();
    const restart = () => readBaselines(store.database).find((b) => b.agent === 'restartagent')!;
    const before = JSON.parse(restart().body);
    expect(readBaselines(store.database).find((b) => b.agent === 'fakeagent')!.digest).toBe(fakeBefore.digest);
    expect(before.seen.events).toBeGreaterThan(0); // saved on close
    await learn('restartagent', 2);
    await store.close();
    open();
    // loaded on open, then grown: nothing learned before the restart was lost
    expect(restart().state).toBe('learning');
    expect(JSON.parse(restart().body).seen.events).toBe(2 * before.seen.events);
    const b = benignB('fakeagent');
    await commit(b.done());
    expect(alertsOf(b.root)).toEqual([]);
    const n = benignB('fakeagent').connect('10.0.0.77', 4444);
    await commit(n.done());
    expect(rulesOf(n.root)).toEqual(['new_destination']);
    // an instance running across a restart stays one instance, and its alert stays deduplicated
    clockNs = BigInt(Date.now()) * 1_000_000n;
    const across = benignB('fakeagent').connect('10.0.0.88', 4444);
    await commit(across.events.splice(0));
    await store.close();
    open();
    await commit(across.connect('10.0.0.88', 4444).done());
    await store.close();
    open();
    expect(alertsOf(across.root).map((a) => [a.rule, a.count])).toEqual([['new_destination', 2]]);
    const rows = store.database.prepare('SELECT count(*) AS n FROM agent_instances WHERE agent_pid = ?').get(across.root) as { n: number };
    expect(rows.n).toBe(1);
  });

  it('lists alerts, agents and baselines through the CLI', async () => {
    const program = new Command('sensor').exitOverride();
    registerAlerts(program);
    registerAgents(program);
    registerBaseline(program);
    const run = async (...args: string[]) => {
      let out = '';
      const spy = vi.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => {
        out += typeof c === 'string' ? c : Buffer.from(c).toString();
        return true;
      });
      try {
        await program.parseAsync(['node', 'sensor', ...args]);
      } finally {
        spy.mockRestore();
      }
      return out;
    };
    const json = (out: string) => out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
    const all = json(await run('alerts', '--state-dir', stateDir, '--json'));
    expect(all.length).toBeGreaterThan(5);
    for (const k of ['id', 'ts', 'agent', 'agentPid', 'pid', 'rule', 'severity', 'summary', 'evidence', 'baseline']) expect(all[0]).toHaveProperty(k);
    const high = json(await run('alerts', '--state-dir', stateDir, '--json', '--severity', 'high'));
    expect(high.length).toBeGreaterThan(0);
    expect(high.every((a) => a.severity === 'high' || a.severity === 'critical')).toBe(true);
    expect(json(await run('alerts', '--state-dir', stateDir, '--json', '--agent', 'grantagent')).every((a) => a.agent === 'grantagent')).toBe(true);
    const agents = json(await run('agents', '--state-dir', stateDir, '--json'));
    const fake = agents.find((a) => a.agent === 'fakeagent');
    expect(fake).toMatchObject({ state: 'detecting', learningEndedBy: 'freeze' });
    expect(fake.instances.at(-1)).toMatchObject({ uid: UID_B, user: null, home: homeB, cwd: `${root}/elsewhere/projB`, cmdline: 'fakeagent --serve' });
    expect(agents.find((a) => a.agent === 'restartagent')).toMatchObject({ state: 'learning', progress: { minEvents: 10_000, durationMs: 7 * 86_400_000 } });
    expect(await run('baseline', '--state-dir', stateDir, '--agent', 'fakeagent')).toContain('api.example.com:443 (6)');
  });

  it('verify covers the alert chain and the baselines', async () => {
    expect(verifyAlertChain(store.database)).toMatchObject({ ok: true });
    const db = store.database;
    const first = db.prepare(`SELECT id, summary FROM alert_chain WHERE kind = 'alert' ORDER BY id LIMIT 1`).get() as { id: number; summary: string };
    db.prepare('UPDATE alert_chain SET summary = ? WHERE id = ?').run('nothing happened', first.id);
    expect(verifyAlertChain(db)).toMatchObject({ ok: false, problem: expect.stringMatching(new RegExp(`^alert row ${first.id} .*altered`)) });
    db.prepare('UPDATE alert_chain SET summary = ? WHERE id = ?').run(first.summary, first.id);
    expect(verifyAlertChain(db).ok).toBe(true);
    const last = db.prepare('SELECT max(id) AS id FROM alert_chain').get() as { id: number };
    db.prepare('DELETE FROM alert_chain WHERE id = ?').run(last.id);
    expect(verifyAlertChain(db)).toMatchObject({ ok: false, problem: expect.stringContaining('the alert chain ends at row') });
    await store.close();
    open(); // the writer continues from the row before; the head record catches up with the next write
    store.database.prepare(`UPDATE baselines SET body = replace(body, '"{cwd}"', '"/etc"') WHERE agent = 'fakeagent'`).run();
    expect(verifyAlertChain(store.database)).toMatchObject({ ok: false });
  });
});
