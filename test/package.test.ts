// The packages a fleet installs. The .deb is built from this tree and brings
// its own Node runtime; it unpacks into a working sensor with its unit, and
// installed with apt-get on this machine it runs from the installed files
// with only the unit's capabilities, then purges leaving nothing behind.
import { execFile, execFileSync, spawn, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kernelSkipReason } from './helpers/kernel.js';

const ROOT = resolve(import.meta.dirname, '..');
const skip = !existsSync(join(ROOT, 'build/Release/agent_sensor.node')) ? 'addon not built: run `bash scripts/build.sh`'
  : (() => { try { execFileSync('dpkg-deb', ['--version'], { stdio: 'ignore' }); return null; } catch { return 'dpkg-deb is not installed'; } })();
if (skip) console.warn(`package: skipping: ${skip}`);

// Installing on this machine: root, apt-get, and no agent-sensor state or settings here already (purge would delete them).
const installSkip = skip ?? (process.getuid?.() !== 0 ? 'not root' : !existsSync('/usr/bin/apt-get') ? 'no apt-get'
  : ['/var/lib/agent-sensor', '/etc/agent-sensor', '/usr/lib/agent-sensor'].find((p) => existsSync(p))?.replace(/^/, 'would overwrite ')
  ?? (spawnSync('dpkg-query', ['-W', 'agent-sensor']).status === 0 ? 'agent-sensor is already installed' : kernelSkipReason()));
if (!skip && installSkip) console.warn(`package: install test skipped: ${installSkip}`);

const env = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' };
// Asynchronous: a minute-long synchronous child would stall vitest's worker RPC.
const execFileAsync = promisify(execFile);

describe.skipIf(skip !== null)('the Debian package', () => {
  const dir = mkdtempSync(join(tmpdir(), 'as-deb-'));
  let deb = '';
  beforeAll(async () => {
    deb = (await execFileAsync('bash', [join(ROOT, 'packaging/build-deb.sh'), join(dir, 'out')], { encoding: 'utf8', timeout: 600_000 })).stdout.trim();
  }, 600_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('unpacks into a runnable sensor with its own runtime, its unit, its conffile and no dev dependencies', () => {
    const info = execFileSync('dpkg-deb', ['--field', deb, 'Package', 'Depends'], { encoding: 'utf8' });
    expect(info).toMatch(/^Package: agent-sensor$/m);
    expect(info).not.toMatch(/nodejs/);
    expect(execFileSync('dpkg-deb', ['--info', deb, 'conffiles'], { encoding: 'utf8' }).trim()).toBe('/etc/agent-sensor/config.yaml');
    const root = join(dir, 'root');
    execFileSync('dpkg-deb', ['-x', deb, root]);
    const lib = join(root, 'usr/lib/agent-sensor');
    const unit = readFileSync(join(root, 'lib/systemd/system/agent-sensor.service'), 'utf8');
    expect(unit).toMatch(/^ExecStart=\/usr\/bin\/sensor service --config \/etc\/agent-sensor\/config.yaml$/m);
    for (const line of ['Restart=on-failure', 'ProtectSystem=strict', 'ReadWritePaths=/var/lib/agent-sensor /run/agent-sensor', 'NoNewPrivileges=yes', 'PrivateTmp=yes']) {
      expect(unit).toContain(line);
    }
    expect(unit).toMatch(/^CapabilityBoundingSet=CAP_BPF CAP_PERFMON /m);
    expect(existsSync(join(lib, 'node_modules/better-sqlite3'))).toBe(true);
    expect(existsSync(join(lib, 'node_modules/vitest'))).toBe(false);
    expect(existsSync(join(lib, 'bpf/egress/.output/egress-ctl'))).toBe(existsSync(join(ROOT, 'bpf/egress/.output/egress-ctl')));
    // the runtime inside is the one the addons were built for
    expect(execFileSync(join(lib, 'node'), ['--version'], { encoding: 'utf8' }).trim()).toBe(process.version);
    expect(readFileSync(join(root, 'usr/bin/sensor'), 'utf8')).toContain('exec /usr/lib/agent-sensor/node /usr/lib/agent-sensor/bin/sensor.js "$@"');
    const help = execFileSync(join(lib, 'node'), [join(lib, 'bin/sensor.js'), '--help'], { encoding: 'utf8' });
    for (const cmd of ['watch', 'run', 'collector', 'status', 'query', 'verify', 'forward', 'service']) expect(help).toContain(cmd);
    // the packaged addon and SQLite binding load from their installed places, in the packaged runtime
    const probe = `const r = require('module').createRequire(${JSON.stringify(join(lib, 'package.json'))});` +
      `r('./build/Release/agent_sensor.node'); new (r('better-sqlite3'))(':memory:').close(); console.log('ok')`;
    expect(execFileSync(join(lib, 'node'), ['-e', probe], { encoding: 'utf8' }).trim()).toBe('ok');
    // the shipped settings make the service's command
    expect(execFileSync(join(lib, 'node'), [join(lib, 'bin/sensor.js'), 'service', '--config', join(root, 'etc/agent-sensor/config.yaml'), '--print'],
      { encoding: 'utf8' }).trim()).toBe('sensor run --state-dir /var/lib/agent-sensor --backend auto');
  }, 120_000);

  it.skipIf(installSkip !== null)('installs with apt-get, runs from the installed files with the unit\'s capabilities only, and purges to nothing', async () => {
    const apt = (...args: string[]) => execFileAsync('apt-get', ['-o', 'DPkg::Lock::Timeout=300', '-y', ...args],
      { encoding: 'utf8', env: { ...env, DEBIAN_FRONTEND: 'noninteractive' }, timeout: 600_000 });
    await apt('install', deb);
    try {
      expect(execFileSync('sensor', ['--help'], { encoding: 'utf8', env })).toContain('forward');
      expect(readFileSync('/etc/agent-sensor/config.yaml', 'utf8')).toContain('state_dir: /var/lib/agent-sensor');
      expect(execFileSync('sensor', ['service', '--print'], { encoding: 'utf8', env }).trim()).toBe('sensor run --state-dir /var/lib/agent-sensor --backend auto');
      // The unit's capability set, applied the way systemd applies it, still loads BPF and stores events.
      const caps = /^CapabilityBoundingSet=(.*)$/m.exec(readFileSync('/lib/systemd/system/agent-sensor.service', 'utf8'))![1]!
        .split(/\s+/).map((c) => `+${c.replace(/^CAP_/, '').toLowerCase()}`);
      const work = mkdtempSync(join(tmpdir(), 'as-deb-run-'));
      const agentBin = join(work, 'debagent');
      copyFileSync('/bin/cat', agentBin);
      const run = spawn('setpriv', ['--bounding-set', ['-all', ...caps].join(','), '--no-new-privs', '--', '/usr/bin/sensor', 'run',
        '--state-dir', join(work, 'state'), '--listen', `unix://${work}/c.sock`, '--agent-comm', 'debagent', '--stats-every', '0'],
      { env, stdio: ['ignore', 'ignore', 'pipe'] });
      let log = '';
      run.stderr!.on('data', (d: Buffer) => { log += d.toString(); });
      try {
        for (let i = 0; i < 150 && !log.includes('sensor running'); i++) await new Promise((r) => setTimeout(r, 200));
        expect(log).toContain('sensor running');
        let stored = '';
        for (let i = 0; i < 50 && !stored.includes('/etc/hostname'); i++) {
          execFileSync(agentBin, ['/etc/hostname'], { stdio: 'ignore' });
          await new Promise((r) => setTimeout(r, 200));
          stored = spawnSync('sensor', ['query', '--state-dir', join(work, 'state'), '--json'], { encoding: 'utf8', env }).stdout;
        }
        expect(stored).toContain('"comm":"debagent"');
        const status = spawnSync('sensor', ['status', '--collector', `unix://${work}/c.sock`], { encoding: 'utf8', env });
        expect(status.stdout).toMatch(/ [1-9]\d* events in \d+ batches/);
      } finally {
        run.kill('SIGINT');
        await new Promise((r) => run.once('exit', r));
        rmSync(work, { recursive: true, force: true });
      }
    } finally {
      await apt('purge', 'agent-sensor');
    }
    for (const p of ['/usr/lib/agent-sensor', '/usr/bin/sensor', '/etc/agent-sensor', '/var/lib/agent-sensor', '/run/agent-sensor',
      '/etc/systemd/system/multi-user.target.wants/agent-sensor.service', '/etc/systemd/system/agent-sensor.service']) {
      expect(existsSync(p), p).toBe(false);
    }
    expect(spawnSync('dpkg-query', ['-W', 'agent-sensor']).status).not.toBe(0);
  }, 900_000);
});
