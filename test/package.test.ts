// The .deb a fleet installs: built from this tree, it unpacks into a
// working sensor (CLI, addon, production dependencies) with its systemd unit.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');
const skip = !existsSync(join(ROOT, 'build/Release/agent_sensor.node')) ? 'addon not built: run `bash scripts/build.sh`'
  : (() => { try { execFileSync('dpkg-deb', ['--version'], { stdio: 'ignore' }); return null; } catch { return 'dpkg-deb is not installed'; } })();
if (skip) console.warn(`package: skipping: ${skip}`);

describe.skipIf(skip !== null)('the Debian package', () => {
  const dir = mkdtempSync(join(tmpdir(), 'as-deb-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('unpacks into a runnable sensor with its unit and without dev dependencies', () => {
    const deb = execFileSync('bash', [join(ROOT, 'packaging/build-deb.sh'), join(dir, 'out')], { encoding: 'utf8' }).trim();
    const info = execFileSync('dpkg-deb', ['--field', deb, 'Package', 'Depends'], { encoding: 'utf8' });
    expect(info).toMatch(/^Package: agent-sensor$/m);
    expect(info).toMatch(/nodejs \(>= 20\)/);
    const root = join(dir, 'root');
    execFileSync('dpkg-deb', ['-x', deb, root]);
    const lib = join(root, 'usr/lib/agent-sensor');
    expect(readFileSync(join(root, 'lib/systemd/system/agent-sensor.service'), 'utf8')).toMatch(/^ExecStart=\/usr\/bin\/sensor run/m);
    expect(existsSync(join(lib, 'node_modules/better-sqlite3'))).toBe(true);
    expect(existsSync(join(lib, 'node_modules/vitest'))).toBe(false);
    const help = execFileSync(process.execPath, [join(root, 'usr/bin/sensor'), '--help'], { encoding: 'utf8' });
    for (const cmd of ['watch', 'run', 'collector', 'status', 'query', 'verify']) expect(help).toContain(cmd);
    // the packaged addon and SQLite binding load from their installed places
    const probe = `const r = require('module').createRequire(${JSON.stringify(join(lib, 'package.json'))});` +
      `r('./build/Release/agent_sensor.node'); new (r('better-sqlite3'))(':memory:').close(); console.log('ok')`;
    expect(execFileSync(process.execPath, ['-e', probe], { encoding: 'utf8' }).trim()).toBe('ok');
  });
});
