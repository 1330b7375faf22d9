// The catalogue of sensitive locations: every class matches its own paths and
// not their look-alikes; `~`, /proc/<own pid>, relative and hostile paths; the
// config section (add, override, disable) and its errors; consumers.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { builtInClasses, classifyPath, isConsumer, parsePasswd, parseSensitiveSection, PathClassifier, SensitiveConfigError, UserHomes } from '../collector/sensitive/index.js';
import { compileGlob, GlobError } from '../collector/sensitive/glob.js';

const ROOT = resolve(import.meta.dirname, '..');
const HOME = '/home/alice';
const classesOf = (path: string, ctx: Parameters<typeof classifyPath>[1] = { home: HOME, pid: 4242 }) => classifyPath(path, ctx).map((m) => m.class);

// class -> [paths that must match, look-alikes that must not]
const TABLE: Record<string, [string[], string[]]> = {
  'ssh-private-key': [
    ['~/.ssh/id_rsa', '~/.ssh/id_ed25519', '~/.ssh/deploy_ed25519', '~/.ssh/keys/prod.pem', '/etc/ssh/ssh_host_ed25519_key'],
    ['~/.ssh/id_rsa.pub', '~/.ssh/known_hosts', '~/.ssh/known_hosts.old', '~/.ssh/config', '~/.ssh/authorized_keys', '/etc/ssh/ssh_host_ed25519_key.pub', '/etc/ssh/sshd_config', '~/project/id_rsa_notes.md'],
  ],
  'ssh-agent-socket': [['/tmp/ssh-XXXXabc/agent.1234', '/run/user/1000/ssh-agent.socket', '/run/user/1000/keyring/ssh'], ['/tmp/ssh-XXXXabc', '/run/user/1000/bus']],
  'gpg-private-key': [['~/.gnupg/private-keys-v1.d/ABCDEF0123.key', '~/.gnupg/secring.gpg'], ['~/.gnupg/pubring.kbx', '~/.gnupg/gpg.conf', '~/.gnupg/trustdb.gpg']],
  'gpg-agent-socket': [['~/.gnupg/S.gpg-agent', '~/.gnupg/S.gpg-agent.ssh', '/run/user/1000/gnupg/S.gpg-agent.extra'], ['/run/user/1000/gnupg/S.dirmngr']],
  'aws-credentials': [['~/.aws/credentials', '~/.aws/config', '~/.aws/sso/cache/abc.json'], ['~/.aws', '~/project/aws/credentials.md', '~/.aws/cli/alias']],
  'gcp-credentials': [['~/.config/gcloud/credentials.db', '~/.config/gcloud/application_default_credentials.json', '~/.config/gcloud/legacy_credentials/a@b.c/adc.json'], ['~/.config/gcloud/active_config', '~/.config/gcloud/logs/x.log']],
  'azure-credentials': [['~/.azure/accessTokens.json', '~/.azure/msal_token_cache.json', '~/.azure/msal_token_cache.bin'], ['~/.azure/config', '~/.azure/commands/x.log']],
  'kube-config': [['~/.kube/config', '~/.kube/prod.yaml', '/etc/kubernetes/admin.conf', '/var/run/secrets/kubernetes.io/serviceaccount/token'], ['~/.kube/cache/discovery/x.json', '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt']],
  'docker-config': [['~/.docker/config.json', '/run/user/1000/containers/auth.json'], ['~/.docker/daemon.json', '~/.docker/buildx/current']],
  netrc: [['~/.netrc', '~/_netrc'], ['~/.netrc.example.md', '/etc/netrc.d/readme']],
  'git-credentials': [['~/.git-credentials', '~/.config/git/credentials'], ['~/.gitconfig', '~/.config/git/config', '~/project/.git/config']],
  'npm-credentials': [['~/.npmrc', '~/.yarnrc.yml'], ['~/project/.npmrc', '~/.npm/_cacache/index']],
  'pypi-credentials': [['~/.pypirc'], ['~/project/setup.cfg']],
  'package-registry-credentials': [['~/.cargo/credentials.toml', '~/.gem/credentials'], ['~/.cargo/config.toml']],
  dotenv: [
    ['/srv/app/.env', '~/project/.env', '~/project/.env.local', '~/project/.env.production', '/.env', '~/project/.envrc'],
    ['~/project/.env.example', '~/project/.env.sample', '~/project/.env.template', '~/project/.env.local.example', '~/project/.env.dist', '~/project/env.ts', '~/project/.environment/x', '~/project/src/dotenv.js'],
  ],
  'password-store': [['~/.password-store/web/bank.gpg', '~/Documents/vault.kdbx', '~/.config/Bitwarden/data.json'], ['~/.password-store-notes.txt', '~/Documents/vault.kdbx.md']],
  keyring: [['~/.local/share/keyrings/login.keyring', '~/.local/share/kwalletd/kdewallet.kwl'], ['~/.local/share/recently-used.xbel']],
  'browser-cookies': [['~/.config/google-chrome/Default/Cookies', '~/.config/chromium/Profile 1/Cookies', '~/.mozilla/firefox/abcd.default-release/cookies.sqlite', '~/.config/BraveSoftware/Brave-Browser/Default/Cookies'], ['~/.config/google-chrome/Default/Preferences', '~/.mozilla/firefox/abcd.default-release/places.sqlite', '~/.config/google-chrome/Default/Cookies-journal']],
  'browser-logins': [['~/.config/google-chrome/Default/Login Data', '~/.config/chromium/Local State', '~/.mozilla/firefox/x.default/logins.json', '~/.mozilla/firefox/x.default/key4.db'], ['~/.config/google-chrome/Default/History', '~/.mozilla/firefox/x.default/prefs.js']],
  'system-credentials': [['/etc/shadow', '/etc/gshadow', '/etc/shadow-', '/etc/security/opasswd'], ['/etc/passwd', '/etc/group', '/etc/shadowsocks/config.json', '/home/alice/etc/shadow']],
  'shell-history': [['~/.bash_history', '~/.zsh_history', '~/.local/share/fish/fish_history', '/root/.bash_history'], ['~/.bashrc', '~/.zshrc', '~/.history_notes/a', '/etc/bash.bashrc']],
  'repl-history': [['~/.python_history', '~/.node_repl_history', '~/.psql_history', '~/.ipython/profile_default/history.sqlite'], ['~/.pythonrc', '~/project/history.py']],
  'agent-claude': [['~/.claude/.credentials.json', '~/.claude/projects/x/session.jsonl', '~/.claude.json'], ['~/project/.claude-notes.md', '~/project/CLAUDE.md', '~/project/.claude/settings.json']],
  'agent-codex': [['~/.codex/auth.json', '~/.codex/sessions/2026/x.jsonl'], ['~/project/codex.md', '~/project/.codex/notes']],
  'agent-gemini': [['~/.gemini/oauth_creds.json', '~/.gemini/settings.json'], ['~/project/GEMINI.md']],
  'agent-qwen': [['~/.qwen/oauth_creds.json'], ['~/project/.qwen-notes']],
  'agent-other': [['~/.config/github-copilot/apps.json', '~/.cursor/mcp.json', '~/.local/share/opencode/auth.json'], ['~/.config/Code/User/settings.json']],
  'github-cli-token': [['~/.config/gh/hosts.yml'], ['~/.config/gh/config.yml']],
  'process-environ': [['/proc/1/environ', '/proc/4243/environ', '/proc/4243/task/4250/environ'], ['/proc/self/environ', '/proc/thread-self/environ', '/proc/4242/environ', '/proc/4242/task/4242/environ', '/proc/1/cmdline', '/proc/1/status']],
  'process-memory': [['/proc/1/mem', '/proc/1/maps', '/proc/77/task/78/maps'], ['/proc/self/maps', '/proc/4242/mem', '/proc/1/smaps', '/proc/meminfo', '/proc/1/numa_maps']],
};

const home = (p: string) => p.replace(/^~/, HOME);

describe('sensitive catalogue', () => {
  it('has every class the catalogue promises, each documented with ATT&CK ids and globs', () => {
    const classes = builtInClasses();
    expect(classes.map((c) => c.name).sort()).toEqual(Object.keys(TABLE).sort());
    for (const c of classes) {
      expect(c.description.length, c.name).toBeGreaterThan(10);
      expect(c.attack.length, c.name).toBeGreaterThan(0);
      expect(c.paths.length, c.name).toBeGreaterThan(0);
    }
  });

  for (const [cls, [yes, no]] of Object.entries(TABLE)) {
    it(`${cls}: matches its paths and not their look-alikes`, () => {
      for (const p of yes) expect(classesOf(home(p)), p).toContain(cls);
      for (const p of no) expect(classesOf(home(p)), p).not.toContain(cls);
    });
  }

  it('`~` is the opener\'s home wherever it is, and any other user\'s home too', () => {
    expect(classesOf('/var/lib/agent/.aws/credentials', { home: '/var/lib/agent' })).toEqual(['aws-credentials']);
    expect(classesOf('/var/lib/agent/.aws/credentials', { home: '/home/alice' })).toEqual([]);
    expect(classesOf('/home/bob/.ssh/id_rsa', { home: '/home/alice' })).toEqual(['ssh-private-key']);
    expect(classesOf('/root/.aws/credentials', {})).toEqual(['aws-credentials']);
    expect(classesOf('/home/.ssh/id_rsa', {})).toEqual([]); // /home itself is not a home
  });

  it('a process reading its own /proc entries is not a match; another pid is', () => {
    expect(classesOf('/proc/100/environ', { pid: 100 })).toEqual([]);
    expect(classesOf('/proc/100/environ', { pid: 101 })).toEqual(['process-environ']);
    expect(classesOf('/proc/100/environ', {})).toEqual(['process-environ']);
  });

  it('places relative paths by cwd and normalises ".." before matching', () => {
    expect(classesOf('.env', { cwd: '/srv/app' })).toEqual(['dotenv']);
    expect(classesOf('../../.ssh/id_rsa', { cwd: '/home/alice/src/x', home: HOME })).toEqual(['ssh-private-key']);
    expect(classesOf('/home/alice/src/../.aws/./credentials')).toEqual(['aws-credentials']);
    expect(classesOf('.env', {})).toEqual([]); // no cwd: cannot be placed
    expect(classesOf('/proc/12/../1/environ', { pid: 12 })).toEqual(['process-environ']);
  });

  it('copes with hostile paths: invalid UTF-8, newlines, NUL, 4 KiB, many stars', () => {
    const bad = Buffer.concat([Buffer.from('/home/alice/'), Buffer.from([0xff, 0xfe, 0x0a]), Buffer.from('/.env')]);
    expect(classifyPath(bad, { home: HOME }).map((m) => m.class)).toEqual(['dotenv']);
    expect(classesOf('/home/alice/.aws/credentials\0trailing')).toEqual(['aws-credentials']);
    expect(classesOf('/home/alice/.ssh/id_rsa\nx')).toEqual(['ssh-private-key']);
    expect(classesOf('/home/alice/.ssh/id_rsa\n.pub')).toEqual([]); // a name ending in .pub is a public key's
    const deep = `/home/alice/${'a/'.repeat(2040)}.env`;
    expect(deep.length).toBeGreaterThanOrEqual(4096);
    expect(classesOf(deep)).toEqual(['dotenv']);
    expect(classesOf(`/${'x'.repeat(4095)}`)).toEqual([]);
    expect(classesOf('')).toEqual([]);
  });

  it('the catalogue data file ships in dist/ and loads from there', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { files: string[] };
    expect(pkg.files).toContain('dist');
    const built = join(ROOT, 'dist/collector/sensitive/index.js');
    if (!existsSync(built)) {
      console.warn('sensitive catalogue: skipping the dist/ check: run `bash scripts/build.sh`');
      return;
    }
    expect(existsSync(join(ROOT, 'dist/collector/sensitive/catalogue.json'))).toBe(true);
    const out = execFileSync(process.execPath, ['--input-type=module', '-e',
      `import { classifyPath } from ${JSON.stringify(built)}; console.log(JSON.stringify(classifyPath('/root/.ssh/id_ed25519')))`], { encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual([{ class: 'ssh-private-key', attack: ['T1552.004'], alertOnRead: false }]);
  });
});

describe('globs', () => {
  it('`*` stays in a segment, `**` crosses, `**/` may be empty, braces and classes', () => {
    const m = (g: string, s: string) => compileGlob(g).matches(s);
    expect(m('/a/*', '/a/b')).toBe(true);
    expect(m('/a/*', '/a/b/c')).toBe(false);
    expect(m('/a/**', '/a/b/c')).toBe(true);
    expect(m('/a/**/c', '/a/c')).toBe(true);
    expect(m('/a/**/c', '/a/x/y/c')).toBe(true);
    expect(m('/a/**/c', '/a/x/yc')).toBe(false);
    expect(m('/a/x**', '/a/xyz/w')).toBe(true);
    expect(m('/a/{b,c}.txt', '/a/c.txt')).toBe(true);
    expect(m('/a/{b,c}.txt', '/a/d.txt')).toBe(false);
    expect(m('/p/[0-9]*/e', '/p/123/e')).toBe(true);
    expect(m('/p/[0-9]*/e', '/p/self/e')).toBe(false);
    expect(m('/p/[!0-9]*', '/p/self')).toBe(true);
    expect(m('/a/?', '/a/bc')).toBe(false);
    expect(m('/a/\\*', '/a/*')).toBe(true);
    expect(m('/a/\\*', '/a/b')).toBe(false);
  });

  it('rejects malformed globs', () => {
    for (const g of ['', '/a/[b', '/a/{b,c', '/a/b}', '/{a,{b}}']) expect(() => compileGlob(g), g).toThrow(GlobError);
  });

  it('does not backtrack: a glob of many ** against a 4 KiB path that almost matches', () => {
    // A backtracking matcher takes exponential time here; the NFA is linear in the path.
    const glob = compileGlob(`/${'**/a'.repeat(12)}/b`);
    const path = `/${'a/'.repeat(2048)}c`;
    expect(glob.matches(path)).toBe(false);
    expect(glob.matches(`/${'a/'.repeat(2048)}b`)).toBe(true);
  });
});

describe('sensitive: config section', () => {
  it('no section gives the built-ins', () => {
    expect(parseSensitiveSection(undefined, 'agents.yaml').map((c) => c.name)).toEqual(builtInClasses().map((c) => c.name));
  });

  it('adds classes, overrides and extends built-ins, disables others', () => {
    const classes = parseSensitiveSection({
      disable: ['repl-history'],
      classes: [
        { name: 'vault-token', description: 'HashiCorp Vault token', attack: ['T1552.001'], paths: ['~/.vault-token'], consumers: ['vault'] },
        { name: 'dotenv', addExclude: ['**/.env.ci'] },
        { name: 'netrc', paths: ['~/.netrc-work'] },
      ],
    }, 'agents.yaml');
    const c = new PathClassifier(classes);
    expect(c.classNames).not.toContain('repl-history');
    expect(c.classify('/home/a/.vault-token').map((m) => m.class)).toEqual(['vault-token']);
    expect(c.classify('/srv/x/.env.ci')).toEqual([]);
    expect(c.classify('/srv/x/.env').map((m) => m.class)).toEqual(['dotenv']);
    expect(c.classify('/home/a/.netrc')).toEqual([]);
    expect(c.classify('/home/a/.netrc-work').map((m) => m.class)).toEqual(['netrc']);
    expect(c.classify('/home/a/.python_history')).toEqual([]);
    // the built-in list itself is untouched
    expect(classesOf('/srv/x/.env.ci')).toEqual(['dotenv']);
  });

  it('errors name the file, the line (through the locator) and the field', () => {
    const err = (value: unknown, locate?: (p: (string | number)[]) => string | undefined) => {
      try {
        parseSensitiveSection(value, 'agents.yaml', { locate });
      } catch (e) {
        expect(e).toBeInstanceOf(SensitiveConfigError);
        return (e as Error).message;
      }
      throw new Error('no error');
    };
    expect(err({ classes: [{ name: 'x', paths: ['relative/path'] }] })).toBe('agents.yaml: sensitive.classes[0].paths[0]: must start with "/", "~/" or "**/"');
    expect(err({ classes: [{ name: 'x', paths: ['/a/[b'] }] })).toMatch(/^agents\.yaml: sensitive\.classes\[0\]\.paths\[0\]: unbalanced "\["/);
    expect(err({ classes: [{ name: 'x' }] })).toBe('agents.yaml: sensitive.classes[0].paths: new class "x" needs at least one path (it is not a built-in class)');
    expect(err({ disable: ['no-such-class'] })).toMatch(/^agents\.yaml: sensitive\.disable\[0\]: unknown class "no-such-class" \(known: ssh-private-key, /);
    expect(err({ classes: [{ name: 'netrc', pathz: [] }] })).toMatch(/^agents\.yaml: sensitive\.classes\[0\]: Unrecognized key\(s\) in object: 'pathz'/);
    expect(err({ classes: [{ name: 'Bad Name', paths: ['/x'] }] })).toMatch(/sensitive\.classes\[0\]\.name: must be 1-63/);
    expect(err({ classes: [{ name: 'dotenv', attack: ['credential access'] }] })).toMatch(/sensitive\.classes\[0\]\.attack\[0\]: must be an ATT&CK technique id/);
    expect(err({ classes: [{ name: 'a', paths: ['/a'] }, { name: 'a', paths: ['/b'] }] })).toMatch(/sensitive\.classes\[1\]\.name: class "a" is listed twice/);
    expect(err({ classes: [{ name: 'x', paths: ['relative'] }] }, (p) => `:${10 + p.length}`)).toBe('agents.yaml:15: sensitive.classes[0].paths[0]: must start with "/", "~/" or "**/"');
    expect(err('not a mapping')).toMatch(/^agents\.yaml: sensitive: Expected object, received string/);
  });
});

describe('sensitive: consumers', () => {
  const cls = (name: string) => builtInClasses().find((c) => c.name === name)!;

  it('excuses a credential read by its own consumer, by executable or by script path', () => {
    expect(isConsumer(cls('ssh-private-key'), { exe: '/usr/bin/ssh' })).toBe(true);
    expect(isConsumer(cls('git-credentials'), { exe: '/usr/lib/git-core/git-credential-store' })).toBe(true);
    expect(isConsumer(cls('docker-config'), { exe: '/usr/bin/docker-credential-pass' })).toBe(true);
    expect(isConsumer(cls('aws-credentials'), { exe: '/usr/bin/python3.12', argv: ['python3', '/usr/local/aws-cli/v2/dist/aws'] })).toBe(true);
    expect(isConsumer(cls('npm-credentials'), { exe: '/usr/bin/node', argv: ['node', '/usr/lib/node_modules/npm/bin/npm-cli.js', 'publish'] })).toBe(true);
    expect(isConsumer(cls('agent-claude'), { exe: '/usr/bin/node', argv: ['node', '/usr/lib/node_modules/@anthropic-ai/claude-code/cli.js'] })).toBe(true);
  });

  it('does not excuse cat, an interpreter, a look-alike script or an agent', () => {
    expect(isConsumer(cls('ssh-private-key'), { exe: '/usr/bin/cat' })).toBe(false);
    expect(isConsumer(cls('ssh-private-key'), { exe: '/usr/bin/python3', argv: ['python3', '-c', 'open(...)'] })).toBe(false);
    expect(isConsumer(cls('aws-credentials'), { exe: '/usr/bin/python3', argv: ['python3', '/tmp/aws'] })).toBe(false);
    expect(isConsumer(cls('aws-credentials'), { exe: '/usr/bin/python3', argv: ['python3', 'aws'] })).toBe(false);
    expect(isConsumer(cls('agent-claude'), { exe: '/usr/bin/node', argv: ['node', '/usr/lib/node_modules/@openai/codex/bin/codex.js'] })).toBe(false);
    expect(isConsumer(cls('dotenv'), { exe: '/usr/bin/node', argv: ['node', 'server.js'] })).toBe(false);
    expect(isConsumer(cls('system-credentials'), { exe: '/usr/bin/cat' })).toBe(false);
  });
});

describe('sensitive: user homes', () => {
  it('reads homes from passwd text, skipping malformed lines, and follows changes to the file', () => {
    expect([...parsePasswd('root:x:0:0:root:/root:/bin/bash\n# comment\nbad line\nsvc:x:998:998::/var/lib/svc:/usr/sbin/nologin\nnohome:x:5:5::relative:/bin/sh\n')])
      .toEqual([[0, '/root'], [998, '/var/lib/svc']]);
    const dir = mkdtempSync(join(tmpdir(), 'as-passwd-'));
    try {
      const file = join(dir, 'passwd');
      writeFileSync(file, 'a:x:1000:1000::/home/a:/bin/sh\n');
      const homes = new UserHomes(file);
      expect(homes.homeOf(1000)).toBe('/home/a');
      expect(homes.homeOf(1001)).toBeUndefined();
      writeFileSync(file, 'a:x:1000:1000::/srv/a:/bin/sh\n');
      utimesSync(file, new Date(), new Date(Date.now() + 5000));
      expect(homes.homeOf(1000)).toBe('/srv/a');
      expect(classifyPath('/srv/a/.aws/credentials', { home: homes.homeOf(1000) }).map((m) => m.class)).toEqual(['aws-credentials']);
      rmSync(file);
      expect(homes.homeOf(1000)).toBe('/srv/a'); // unreadable: the last table stays
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
