// The judging engine's pure parts: generalisation of paths and destinations,
// grant globs, CIDRs and host names, the baseline's distributions, settings,
// and the grants/detect sections of agents.yaml with errors naming file,
// line and field.
import { describe, expect, it } from 'vitest';
import { Baseline } from '../collector/detect/baseline.js';
import { cidrContains, parseCidr } from '../collector/detect/cidr.js';
import { parseConnectGrant } from '../collector/detect/connect-grant.js';
import { DETECTORS } from '../collector/detect/detectors/index.js';
import { parseDuration } from '../collector/detect/duration.js';
import { addressScope, areaOf, collapseSegment, destinationOf, generalisePath } from '../collector/detect/generalise.js';
import { expandGlob, globToRegExp } from '../collector/detect/glob.js';
import { GrantSet } from '../collector/detect/grants.js';
import { resolveSettings } from '../collector/detect/settings.js';
import { parseAgentConfig } from '../sensor/agents/config.js';
import { detectionOptions } from '../sensor/cli/commands/detect-options.js';

describe('generalisation', () => {
  it('collapses volatile path parts and keeps stable ones', () => {
    expect(collapseSegment('12345')).toBe('#');
    expect(collapseSegment('3f2a9c1e7b')).toBe('#');
    expect(collapseSegment('123e4567-e89b-12d3-a456-426614174000')).toBe('#');
    expect(collapseSegment('tmp.AbC9xQ')).toBe('tmp.*');
    expect(collapseSegment('acc-base.Ppay')).toBe('acc-base.*');
    expect(collapseSegment('python3.11')).toBe('python#.#');
    expect(collapseSegment('node_modules')).toBe('node_modules');
    expect(collapseSegment('config.json')).toBe('config.json');
    expect(collapseSegment('.aws')).toBe('.aws');
  });

  it('makes paths relative to the project and the home, cut to a depth', () => {
    const a = { home: '/home/alice', cwd: '/home/alice/code/proj' };
    const b = { home: '/srv/bob', cwd: '/tmp/w/other' };
    expect(generalisePath('/home/alice/code/proj/src/app.py', a, 4)).toBe('{cwd}/src/app.py');
    expect(generalisePath('/tmp/w/other/src/app.py', b, 4)).toBe('{cwd}/src/app.py');
    expect(generalisePath('/home/alice/.cache/x/1234/y/z', a, 3)).toBe('~/.cache/x/#/…');
    expect(generalisePath('/srv/bob/.cache/x/9/y/z', b, 3)).toBe('~/.cache/x/#/…');
    expect(areaOf('/home/alice/code/proj/deep/er/file', a)).toBe('{cwd}');
    expect(areaOf('/home/alice/.aws/credentials', a)).toBe('~/.aws');
    expect(areaOf('/srv/bob/.config/gcloud/creds/x.json', b)).toBe('~/.config/gcloud');
    expect(areaOf('/home/alice/.netrc', a)).toBe('~/.netrc');
    expect(areaOf('/usr/lib/x86_64-linux-gnu/libc.so.6', a)).toBe('/usr/lib');
    expect(areaOf('/proc/4242/environ', a)).toBe('/proc/#');
    // a cwd that is the home (or above it) is not a project: ~ still means the home
    expect(areaOf('/home/alice/.ssh/id_rsa', { home: '/home/alice', cwd: '/home/alice' })).toBe('~/.ssh');
    expect(areaOf('/home/alice/.ssh/id_rsa', { home: '/home/alice', cwd: '/' })).toBe('~/.ssh');
  });

  it('keys destinations by host, else address and port; loopback, private and public apart', () => {
    const ctx = { home: '/root', cwd: null };
    expect(destinationOf('inet', '93.184.216.34', 443, 'API.Example.com', ctx)).toMatchObject({ key: 'api.example.com:443', scope: 'public' });
    expect(destinationOf('inet', '127.0.0.1', 8080, undefined, ctx)).toMatchObject({ key: 'loopback:8080', scope: 'loopback', text: '127.0.0.1:8080' });
    expect(destinationOf('inet6', '::1', 8080, undefined, ctx).key).toBe('loopback:8080');
    expect(destinationOf('inet', '10.1.2.3', 22, undefined, ctx)).toMatchObject({ key: '10.1.2.3:22', scope: 'private' });
    expect(destinationOf('inet6', '2001:db8::1', 443, undefined, ctx)).toMatchObject({ key: '[2001:db8::1]:443', scope: 'public' });
    expect(destinationOf('unix', '/run/user/1000/bus', 0, undefined, ctx).key).toBe('unix:/run/user/#/bus');
    expect(addressScope('192.168.1.1')).toBe('private');
    expect(addressScope('::ffff:127.0.0.1')).toBe('loopback');
    expect(addressScope('fd12::1')).toBe('private');
  });
});

describe('grants', () => {
  it('globs: * within a segment, ** across, {a,b}, ~ and {cwd}', () => {
    expect(globToRegExp('/a/*/c').test('/a/b/c')).toBe(true);
    expect(globToRegExp('/a/*/c').test('/a/b/x/c')).toBe(false);
    expect(globToRegExp('/a/**/c').test('/a/c')).toBe(true);
    expect(globToRegExp('/a/**/c').test('/a/b/x/c')).toBe(true);
    expect(globToRegExp('/a/**').test('/a/b/c')).toBe(true);
    expect(globToRegExp('/x.{js,ts}').test('/x.ts')).toBe(true);
    expect(globToRegExp('/x.{js,ts}').test('/x.py')).toBe(false);
    expect(globToRegExp('/a+b(1)').test('/a+b(1)')).toBe(true);
    expect(expandGlob('~/.config/**', '/home/u', '/p')).toBe('/home/u/.config/**');
    expect(expandGlob('{cwd}/**', '/home/u', '/p/q/')).toBe('/p/q/**');
    expect(expandGlob('{cwd}/**', '/home/u', null)).toBeNull();
  });

  it('CIDRs, addresses and host names with optional ports', () => {
    const c = parseCidr('10.0.0.0/8')!;
    expect(cidrContains(c, '10.200.1.1')).toBe(true);
    expect(cidrContains(c, '11.0.0.1')).toBe(false);
    expect(cidrContains(parseCidr('fd00::/8')!, 'fd12:3456::1')).toBe(true);
    expect(cidrContains(parseCidr('127.0.0.0/8')!, '::ffff:127.0.0.1')).toBe(true);
    expect(parseConnectGrant('api.example.com:443')).toMatchObject({ kind: 'host', port: 443 });
    expect(parseConnectGrant('[::1]:8080')).toMatchObject({ kind: 'cidr', port: 8080 });
    expect(parseConnectGrant('*.github.com')).toMatchObject({ kind: 'host', port: null });
    expect(parseConnectGrant('10.0.0.0/33')).toMatch(/not a valid CIDR/);
    expect(parseConnectGrant('host:99999')).toMatch(/port/);
    expect(parseConnectGrant('bad host!')).toMatch(/not a CIDR, an address or a host name/);
    const g = new GrantSet({ connect: ['*.example.com:443', '10.0.0.0/8'] });
    expect(g.allowsConnect('1.2.3.4', 443, 'api.example.com')).toBe(true);
    expect(g.allowsConnect('1.2.3.4', 80, 'api.example.com')).toBe(false);
    expect(g.allowsConnect('10.3.3.3', 5432, undefined)).toBe(true);
    expect(g.allowsConnect('1.2.3.4', 443, undefined)).toBe(false);
    expect(g.allowsConnect('127.0.0.53', 53, undefined)).toBe(true); // DNS queries are implicit
    expect(g.allowsPath('read', '/etc/passwd', '/h', '/p')).toBeNull(); // read not declared
  });

  it('paths: declared kinds enforced per instance, the loader\'s reads implicit', () => {
    const g = new GrantSet({ read: ['{cwd}/**', '~/.agent/**'], write: ['{cwd}/**'] });
    expect(g.allowsPath('read', '/p/src/a.ts', '/home/u', '/p')).toBe(true);
    expect(g.allowsPath('read', '/q/src/a.ts', '/home/u', '/q')).toBe(true);
    expect(g.allowsPath('read', '/p/src/a.ts', '/home/u', '/q')).toBe(false);
    expect(g.allowsPath('read', '/home/u/.agent/config', '/home/u', '/p')).toBe(true);
    expect(g.allowsPath('read', '/home/u/.ssh/id_rsa', '/home/u', '/p')).toBe(false);
    expect(g.allowsPath('read', '/usr/lib/x86_64-linux-gnu/libc.so.6', '/home/u', '/p')).toBe(true);
    expect(g.allowsPath('write', '/dev/null', '/home/u', '/p')).toBe(true);
    expect(g.allowsPath('write', '/etc/hosts', '/home/u', '/p')).toBe(false);
    expect(g.allowsPath('exec', '/bin/sh', '/home/u', '/p')).toBeNull();
  });
});

describe('baseline and settings', () => {
  it('keeps per-minute rates as distributions: quantiles, not means', () => {
    const b = new Baseline('x');
    for (let i = 0; i < 99; i++) b.addMinute({ opens: 10, distinctFiles: 5, connects: 1, destinations: 1, execs: 0 }, 10);
    b.addMinute({ opens: 900, distinctFiles: 5, connects: 1, destinations: 1, execs: 0 }, 10);
    // within a quarter octave above the true value
    expect(b.rateQuantile('opens', 0.5)).toBeGreaterThanOrEqual(10);
    expect(b.rateQuantile('opens', 0.5)).toBeLessThanOrEqual(12);
    expect(b.rateQuantile('opens', 0.99)).toBeLessThanOrEqual(12); // the one busy minute is beyond the 99th percentile
    expect(b.rateQuantile('opens', 1)).toBe(900);
    const again = new Baseline('x', JSON.parse(JSON.stringify(b.toJSON())));
    expect(again.rateQuantile('opens', 1)).toBe(900);
    expect(again.hourMinutes(10)).toBe(100);
  });

  it('bounds its sets: past the cap a feature is marked overflowing rather than grown', () => {
    const b = new Baseline('x');
    for (let i = 0; i < 5000; i++) b.add('destinations', `d${i}`);
    expect(b.size('destinations')).toBe(4096);
    expect(b.overflowed('destinations')).toBe(true);
  });

  it('resolves settings: agent over defaults over built-in; every detector has metadata', () => {
    const s = resolveSettings({ learning: { minEvents: 5 }, rate_spike: { factor: 9 } }, { learning: { duration: '1h' }, mass_read: { enabled: false } });
    expect(s).toMatchObject({ learningMs: 3_600_000, learningMinEvents: 5, dedupWindowMs: 600_000 });
    expect(s.detectors.get('rate_spike')!.params).toMatchObject({ factor: 9, floor: { opens: 3000 } });
    expect(s.detectors.get('mass_read')!.enabled).toBe(false);
    expect(parseDuration('7d')).toBe(604_800_000);
    for (const d of DETECTORS) {
      expect(d.meta.id).toMatch(/^[a-z_]+$/);
      expect(d.meta.attack.length).toBeGreaterThan(0);
      expect(d.meta.falsePositives.length).toBeGreaterThan(10);
    }
  });
});

describe('detection options from the CLI', () => {
  it('--no-detect gives none; flags are the defaults, each agent keeps its own sections', () => {
    const spec = { name: 'a', exe: [], comm: ['a'], cgroup: [], argv: [], interpreters: [], grants: { read: ['{cwd}/**'] }, detect: { dedupWindow: '1m' } };
    expect(detectionOptions({ detect: false }, [spec])).toBeUndefined();
    expect(detectionOptions({ detect: true, learnDuration: '1h', learnMinEvents: 50, passwdFile: '/p' }, [spec])).toEqual({
      defaults: { learning: { duration: '1h', minEvents: 50 } },
      agents: [{ name: 'a', grants: { read: ['{cwd}/**'] }, detect: { dedupWindow: '1m' } }],
      passwdFile: '/p',
    });
  });
});

describe('agents.yaml grants and detect sections', () => {
  const yaml = (body: string) => `agents:\n  - name: qwen-code\n    comm: ["qwen"]\n${body}`;

  it('passes grants and detect settings through', () => {
    const [a] = parseAgentConfig(yaml('    grants:\n      read: ["{cwd}/**", "~/.qwen/**"]\n      connect: ["api.example.com:443"]\n    detect:\n      learning: { duration: 3d, minEvents: 500 }\n      new_area: { severity: high }\n'), 'agents.yaml');
    expect(a!.grants).toEqual({ read: ['{cwd}/**', '~/.qwen/**'], connect: ['api.example.com:443'] });
    expect(a!.detect).toMatchObject({ learning: { duration: '3d', minEvents: 500 }, new_area: { severity: 'high' } });
  });

  it('names file, line and field on a bad grant or setting', () => {
    expect(() => parseAgentConfig(yaml('    grants:\n      read: ["src/**"]\n'), 'agents.yaml'))
      .toThrow(/^agents\.yaml:5: agents\[0\]\.grants\.read\[0\]: must start with \/, ~ or \{cwd\}$/);
    expect(() => parseAgentConfig(yaml('    grants:\n      connect:\n        - "10.0.0.0/40"\n'), 'agents.yaml'))
      .toThrow(/^agents\.yaml:6: agents\[0\]\.grants\.connect\[0\]: "10\.0\.0\.0\/40": not a valid CIDR$/);
    expect(() => parseAgentConfig(yaml('    grants:\n      open: ["/x"]\n'), 'agents.yaml')).toThrow(/agents\.yaml:5: agents\[0\]\.grants\.open: unknown key \(known: read, write, connect, exec\)/);
    expect(() => parseAgentConfig(yaml('    detect:\n      learning: { duration: soon }\n'), 'agents.yaml'))
      .toThrow(/agents\.yaml:5: agents\[0\]\.detect\.learning\.duration: must be a duration/);
    expect(() => parseAgentConfig(yaml('    detect:\n      rate_spike: { factr: 2 }\n'), 'agents.yaml')).toThrow(/agents\.yaml:5: agents\[0\]\.detect\.rate_spike\.factr: unknown key/);
  });
});
