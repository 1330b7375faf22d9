// `~` is also the HOME an agent was started with: read from the living
// process's environment (a real child here), kept after it exits, never read
// for a batch from another host; the store's sensitive tags and the
// detection engine's instance use it. Real processes, real SQLite.
import { spawn, type ChildProcess } from 'node:child_process';
import { chownSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentHomes, homeFromEnviron } from '../collector/sensitive/agent-home.js';
import { classifyPath } from '../collector/sensitive/index.js';
import { EventStore } from '../collector/store/event-store.js';
import type { SensorEvent } from '../proto/events/types.js';

const env = (...vars: string[]) => Buffer.from(vars.map((v) => `${v}\0`).join(''));

describe('homeFromEnviron', () => {
  it('takes HOME, normalised, and nothing that only looks like it', () => {
    expect(homeFromEnviron(env('PATH=/bin', 'HOME=/tmp/h//x/../y/', 'USER=a'))).toBe('/tmp/h/y');
    expect(homeFromEnviron(env('XHOME=/tmp/x', 'HOMEDIR=/tmp/y'))).toBeNull();
    expect(homeFromEnviron(Buffer.from('HOME=/srv/last'))).toBe('/srv/last'); // no NUL after the last
  });

  it('refuses relative, root, control characters, invalid UTF-8 and over 4 KiB', () => {
    for (const bad of ['HOME=', 'HOME=relative/dir', 'HOME=/', 'HOME=///', 'HOME=/tmp/a\nb', `HOME=/${'a'.repeat(4096)}`]) {
      expect(homeFromEnviron(env(bad)), JSON.stringify(bad)).toBeNull();
    }
    expect(homeFromEnviron(Buffer.concat([Buffer.from('HOME=/tmp/'), Buffer.from([0xff, 0xfe]), Buffer.from([0])]))).toBeNull();
  });
});

describe('agent homes from living processes', () => {
  let dir: string;
  let home: string;
  let child: ChildProcess;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'as-agent-home-'));
    home = join(dir, 'home');
    mkdirSync(home);
    child = spawn('sleep', ['30'], { env: { PATH: '/usr/bin:/bin', HOME: home }, stdio: 'ignore' });
    await new Promise((r) => child.once('spawn', r));
  });
  afterAll(() => {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads the HOME a process was started with, and remembers it after the process exits', async () => {
    const homes = new AgentHomes();
    const uid = process.getuid!();
    expect(homes.of(child.pid!, uid)).toBe(home);
    expect(homes.of(2 ** 22 + 7, uid)).toBeNull(); // no such pid
    expect(homes.of(-1, uid)).toBeNull();
    mkdirSync(join(dir, 'gone'));
    const gone = spawn('sleep', ['0.05'], { env: { HOME: join(dir, 'gone') }, stdio: 'ignore' });
    await new Promise((r) => gone.once('spawn', r));
    expect(homes.of(gone.pid!, uid)).toBe(join(dir, 'gone'));
    await new Promise((r) => gone.once('exit', r));
    expect(homes.of(gone.pid!, uid)).toBe(join(dir, 'gone'));
    expect(new AgentHomes().of(gone.pid!, uid)).toBeNull(); // never seen alive: nothing to say
  });

  it('only a directory of the agent\'s own user: not one it merely inherited, not a missing one', async (ctx) => {
    if (process.getuid!() !== 0) ctx.skip(); // chown needs root
    const other = join(dir, 'someone-else');
    mkdirSync(other);
    chownSync(other, 4242, 4242);
    const spawnWith = async (h: string) => {
      const c = spawn('sleep', ['5'], { env: { HOME: h }, stdio: 'ignore' });
      await new Promise((r) => c.once('spawn', r));
      return c;
    };
    const a = await spawnWith(other);
    const b = await spawnWith(join(dir, 'missing'));
    try {
      const homes = new AgentHomes();
      expect(homes.of(a.pid!, 0)).toBeNull(); // a root process whose HOME is uid 4242's
      expect(homes.of(a.pid!, 4242)).toBe(other);
      expect(homes.of(b.pid!, 0)).toBeNull();
    } finally {
      a.kill('SIGKILL');
      b.kill('SIGKILL');
    }
  });

  it('adds the agent home to `~` without taking the others away', () => {
    const classes = (path: string, agentHome?: string) => classifyPath(path, { home: '/root', agentHome }).map((m) => m.class);
    expect(classes(`${home}/.kube/config`)).toEqual([]);
    expect(classes(`${home}/.kube/config`, home)).toEqual(['kube-config']);
    expect(classes(`${home}/.ssh/id_ed25519`, home)).toEqual(['ssh-private-key']);
    expect(classes('/root/.aws/credentials', home)).toEqual(['aws-credentials']);
    expect(classes(`${home}/project/notes.md`, home)).toEqual([]);
  });

  it('the store tags an agent\'s read under its own HOME, and not for a batch from another host', () => {
    const stateDir = join(dir, 'state');
    const store = EventStore.open({ stateDir, hashing: { enabled: false } });
    try {
      let ts = 1_795_000_000_000_000_000n;
      const open = (path: string): SensorEvent => {
        ts += 1000n;
        return {
          type: 'open', ts: '', tsNs: ts.toString(), pid: child.pid!, tid: child.pid!, ppid: 1, uid: 0, gid: 0, comm: 'agent',
          agent: 'launched', agentPid: child.pid!, cgroupId: '7', netns: 1, mntns: 1, path, flags: 0, mode: 0, access: 'read', result: 3, syscall: 'openat',
        };
      };
      const seen: (string[] | undefined)[][] = [];
      store.onCommitted((b) => seen.push(b.sensitive ?? []));
      const path = `${home}/.docker/config.json`;
      store.commitBatch({ sensorId: 'here', bootId: 'b', seq: 1n, events: [open(path), open(`${home}/src/main.rs`)] });
      store.commitBatch({ sensorId: 'far', bootId: 'b', seq: 1n, events: [open(path)], remote: true });
      expect(seen).toEqual([[['docker-config'], undefined], []]);

      // The home an agent root's exec carries (the sensor read it while the
      // process lived): counted for a process long gone, and for another
      // host's sensor, whose pids are not ours to look up.
      const gonePid = 2 ** 22 + 11;
      const exec = (pid: number, h?: string): SensorEvent => {
        ts += 1000n;
        return {
          type: 'exec', ts: '', tsNs: ts.toString(), pid, tid: pid, ppid: 1, uid: 0, gid: 0, comm: 'agent', agent: 'launched', agentPid: pid,
          cgroupId: '7', netns: 1, mntns: 1, filename: '/bin/sh', argv: ['sh'], startNs: '1', ...(h ? { home: h } : {}),
        };
      };
      const openBy = (pid: number, p: string): SensorEvent => ({ ...open(p), pid, tid: pid, agentPid: pid });
      const far = '/srv/elsewhere/home';
      store.commitBatch({ sensorId: 'here', bootId: 'b', seq: 2n, events: [exec(gonePid, home), openBy(gonePid, `${home}/.netrc`)] });
      store.commitBatch({ sensorId: 'far', bootId: 'b', seq: 2n, events: [exec(gonePid, far), openBy(gonePid, `${far}/.kube/config`)], remote: true });
      // a root exec without one (the pid reused by another process): the old home is forgotten
      store.commitBatch({ sensorId: 'far', bootId: 'b', seq: 3n, events: [exec(gonePid), openBy(gonePid, `${far}/.kube/config`)], remote: true });
      // a home no sensor could have read (relative) is refused
      store.commitBatch({ sensorId: 'far', bootId: 'b', seq: 4n, events: [exec(gonePid, 'rel/home'), openBy(gonePid, 'rel/home/.kube/config')], remote: true });
      expect(seen.slice(2)).toEqual([[undefined, ['netrc']], [undefined, ['kube-config']], [], []]);
    } finally {
      store.close();
    }
  });
});
