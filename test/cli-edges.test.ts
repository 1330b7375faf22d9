// The first hour with the shipped CLI (bin/sensor.js, compiled), at its
// edges: closed pipes, bad input, missing or wrong collectors and stores,
// what `query` says about its output, and how `run` starts and stops. Every
// case runs the command in a child process as a user would; stores are real
// SQLite files in a temp dir, the kernel cases use the real kernel.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventStore } from '../collector/store/event-store.js';
import { DETECTORS } from '../collector/detect/detectors/index.js';
import { detectSchema, resolveSettings, type DetectInput } from '../collector/detect/settings.js';
import type { SensorEvent } from '../proto/events/types.js';

const ROOT = resolve(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin/sensor.js');
const built = existsSync(join(ROOT, 'dist/sensor/cli/main.js'));
if (!built) console.warn('cli-edges: skipping: dist/ not built: run `bash scripts/build.sh`');
const kernelSkip = !built ? 'dist/ not built' : process.getuid?.() !== 0 ? 'needs root to load BPF programs' : null;
if (kernelSkip) console.warn(`cli-edges: skipping the kernel cases: ${kernelSkip}`);

interface Result { status: number | null; out: string; err: string }

/** `sensor <args>` to completion, bounded in time. */
function cli(args: string[], env: NodeJS.ProcessEnv = {}): Result {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, ...env } });
  return { status: r.status, out: r.stdout, err: r.stderr };
}

/** `sensor <args> | head -1` through a shell; the statuses of both sides and what sensor said on stderr. */
function throughHead(args: string[]): { sensorStatus: number; line: string; err: string } {
  const quoted = [BIN, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const r = spawnSync('bash', ['-c', `"${process.execPath}" ${quoted} 2>"$ERRFILE" | head -1; echo "status=\${PIPESTATUS[0]}"`], {
    encoding: 'utf8', timeout: 60_000, env: { ...process.env, ERRFILE: join(dir, 'head.err') },
  });
  const status = /status=(\d+)/.exec(r.stdout);
  return { sensorStatus: Number(status?.[1]), line: r.stdout.split('\n')[0]!, err: execFileSync('cat', [join(dir, 'head.err')], { encoding: 'utf8' }) };
}

interface Proc { child: ChildProcess; out: () => string; err: () => string; exited: Promise<number | null> }

function start(args: string[], env: NodeJS.ProcessEnv = {}, command = process.execPath, argv = [BIN, ...args]): Proc {
  const child = spawn(command, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const p = { child, out: () => out, err: () => err, exited: new Promise<number | null>((r) => child.once('exit', (code) => r(code))) };
  procs.push(p);
  return p;
}

async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

let dir: string;
let stateDir: string;
const procs: Proc[] = [];
const NOW_NS = BigInt(Date.now()) * 1_000_000n;
const FF_PATH = { b64: Buffer.from('/data/x\xff', 'latin1').toString('base64') }; // byte 0xff: not UTF-8
const Y_PATH = '/data/x\u00ff'; // the character ÿ: valid UTF-8, and the latin1 reading of the path above

function ev(i: number, agent: string, extra: object): SensorEvent {
  return {
    type: 'open', ts: '', tsNs: (NOW_NS - BigInt(1000 - i) * 1_000_000_000n).toString(), pid: 100 + (i % 7), tid: 100, ppid: 1,
    uid: 0, gid: 0, comm: 'tool', agent, cgroupId: '1', netns: 1, mntns: 1,
    path: `/home/u/project/src/file-${i}.ts`, flags: 0, mode: 0, access: 'read', result: 3, syscall: 'openat', ...extra,
  } as SensorEvent;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'as-cli-edges-'));
  stateDir = join(dir, 'state');
  const store = EventStore.open({ stateDir, hashing: { enabled: false } });
  const events: SensorEvent[] = [];
  for (let i = 0; i < 150; i++) events.push(ev(i, 'coder', {}));
  events.push(ev(150, 'coder', { path: '/home/u/.ssh/id_ed25519' }));
  events.push(ev(151, 'coder', { path: FF_PATH }));
  events.push(ev(152, 'coder', { path: Y_PATH }));
  events.push({ ...ev(153, 'helper', {}), type: 'exec', filename: '/usr/bin/git', argv: ['git', 'push', '--force'], startNs: '1' } as SensorEvent);
  // one of each stored code (family, proto, access, syscall), for the events_v check
  events.push(ev(154, 'helper', { access: 'write', syscall: 'openat2', path: '/home/u/out.txt' }));
  events.push(ev(155, 'helper', { access: 'readwrite', syscall: 'creat', path: '/home/u/db' }));
  const { path: _p, flags: _f, mode: _m, access: _a, syscall: _s, ...base } = ev(156, 'helper', {}) as unknown as Record<string, unknown>;
  events.push({ ...base, type: 'connect', family: 'inet6', proto: 'udp', addr: '2001:db8::1', port: 53, result: 0 } as unknown as SensorEvent);
  events.push({ ...base, tsNs: String(BigInt(base.tsNs as string) + 1n), type: 'connect', family: 'unix', proto: 'unix', addr: '/run/x.sock', port: 0, result: -111 } as unknown as SensorEvent);
  store.commitBatch({ sensorId: 'host-a', bootId: 'b1', seq: 1n, events });
  // enough rows to fill a pipe many times over, for the closed-pipe cases
  for (let b = 0; b < 4; b++) {
    const bulk: SensorEvent[] = [];
    for (let i = 0; i < 2000; i++) bulk.push(ev(i, 'bulk', { path: `/var/bulk/${b}/${i}` }));
    store.commitBatch({ sensorId: 'host-a', bootId: 'b1', seq: BigInt(b + 2), events: bulk });
  }
  await store.close();
});

afterAll(async () => {
  for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  await Promise.all(procs.map((p) => p.exited));
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!built)('output to a closed pipe', () => {
  for (const [name, args] of [
    ['table', ['query', '--limit', '100000']],
    ['--json', ['query', '--json', '--limit', '100000']],
    ['--sql', ['query', '--sql', 'SELECT * FROM events_v']],
  ] as const) {
    it(`sensor query ${name} | head -1 stops quietly`, () => {
      const r = throughHead([...args, '--state-dir', stateDir]);
      expect(r.line.length).toBeGreaterThan(0);
      expect(r.err).toBe('');
      expect(r.sensorStatus).toBe(0);
    });
  }

  it('sensor --help | head -1 and sensor status --json | head -1 too', () => {
    expect(throughHead(['--help']).err).toBe('');
    const r = throughHead(['status', '--collector', `unix://${join(dir, 'none.sock')}`]);
    expect(r.err).toMatch(/^sensor: no collector at .*none\.sock: no such socket\n$/);
  });
});

describe.skipIf(!built)('sensor rules', () => {
  it('lists every rule the engine judges with, and each one\'s defaults are a valid detect: section', () => {
    const rows = cli(['rules', '--json']).out.trim().split('\n').map((l) => JSON.parse(l) as { id: string; severity: string; params: Record<string, unknown>; source: string });
    expect(rows.filter((r) => r.source === 'detector').map((r) => r.id)).toEqual(DETECTORS.map((d) => d.meta.id));
    expect(rows.map((r) => r.id)).toEqual(expect.arrayContaining(['secret_egress', 'unexplained_action', 'data_destruction', 'privilege_escalation']));
    for (const r of rows.filter((x) => x.source === 'detector')) {
      const section = detectSchema.parse({ [r.id]: { enabled: false, severity: 'low', ...r.params } }) as DetectInput; // as agents.yaml is checked
      const settings = resolveSettings(undefined, section);
      expect(settings.detectors.get(r.id), r.id).toMatchObject({ enabled: false, severity: 'low' });
    }
  });

  it('one rule in full; an unknown one is a usage error naming the known ones', () => {
    const one = cli(['rules', 'data_destruction']);
    expect(one.status).toBe(0);
    expect(one.out).toMatch(/^data_destruction: Data destruction\n  severity high \(default\); ATT&CK T1485/);
    expect(one.out).toContain('detect: { data_destruction: { enabled: true, severity: high, window: "60s", minFiles: 50 } }');
    const bad = cli(['rules', 'no_such_rule']);
    expect(bad.status).toBe(2);
    expect(bad.err).toMatch(/^sensor: no rule "no_such_rule" \(known: policy_violation, .*input_capture, secret_egress, unexplained_action\)\n$/);
  });
});

describe.skipIf(!built)('usage errors', () => {
  for (const [args, flag] of [
    [['query', '--limit', '-1'], '--limit'],
    [['query', '--type', 'bogus'], '--type'],
    [['watch', '--backend', 'bogus'], '--backend'],
    [['run', '--stats-every', '-1'], '--stats-every'],
    [['query', '--no-such-flag'], '--no-such-flag'],
  ] as const) {
    it(`sensor ${args.join(' ')}: the error and a pointer to --help, exit 2`, () => {
      const r = cli([...args]);
      expect(r.status).toBe(2);
      expect(r.out).toBe('');
      const lines = r.err.trim().split('\n');
      expect(lines).toHaveLength(2);
      expect(lines[0]).toContain(flag);
      expect(lines[1]).toBe(`(\`sensor ${args[0]} --help\` for usage)`);
    });
  }

  it('--type takes names in any case', () => {
    const r = cli(['query', '--state-dir', stateDir, '--type', 'EXEC', '--json']);
    expect(r.status).toBe(0);
    expect(r.out.trim().split('\n').map((l) => JSON.parse(l).type)).toEqual(['exec']);
  });
});

describe.skipIf(!built)('config errors: one path, file:line: field, exit 2', () => {
  const config = (name: string, text: string): string => {
    const file = join(dir, name);
    writeFileSync(file, text);
    return file;
  };

  it('an invalid argv regex names file, line and field', () => {
    const file = config('bad-re.yaml', 'agents:\n  - name: x\n    argv: ["re:(("]\n');
    const r = cli(['watch', '--config', file]);
    expect(r.status).toBe(2);
    expect(r.err).toBe(`sensor: ${file}:3: agents[0].argv[0]: invalid regular expression: /((/s: Unterminated group\n`);
  });

  it('a misspelt top-level key is named, not reported as the key it stands for', () => {
    const file = config('typo.yaml', 'agent:\n  - name: x\n    comm: [x]\n');
    const r = cli(['run', '--config', file, '--state-dir', join(dir, 'never')]);
    expect(r.status).toBe(2);
    expect(r.err).toBe(`sensor: ${file}:1: agent: unknown top-level key (known: agents, sensitive)\n`);
    expect(existsSync(join(dir, 'never'))).toBe(false);
  });

  it('an unknown key inside an agent, and a field error, the same way', () => {
    const file = config('inner.yaml', 'agents:\n  - name: x\n    comm: [x]\n    exes: [/bin/x]\n');
    expect(cli(['watch', '--config', file]).err).toBe(
      `sensor: ${file}:4: agents[0].exes: unknown key (known: name, exe, comm, cgroup, argv, interpreters, grants, detect, keepContent)\n`);
    const file2 = config('field.yaml', 'agents:\n  - name: x\n    exe: [relative]\n');
    const r = cli(['watch', '--config', file2]);
    expect(r.status).toBe(2);
    expect(r.err).toBe(`sensor: ${file2}:3: agents[0].exe[0]: must be an absolute path\n`);
  });
});

describe.skipIf(!built)('sensor verify and query on a store they cannot open', () => {
  it('an empty directory: exit 2 (not the tamper status 1), events.db named', () => {
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    const r = cli(['verify', '--state-dir', empty]);
    expect(r.status).toBe(2);
    expect(r.err).toBe(`sensor: cannot open the event store ${empty}/events.db: no events.db in ${empty} (is this the collector's --state-dir?)\n`);
    expect(cli(['query', '--state-dir', empty]).status).toBe(2);
    expect(cli(['verify', '--state-dir', join(dir, 'missing')]).err).toMatch(/missing\/events\.db: .*missing does not exist/);
  });

  it('a file that is not a database: exit 2; an intact store 0; an altered one 1', () => {
    const notDb = join(dir, 'not-db');
    mkdirSync(notDb);
    writeFileSync(join(notDb, 'events.db'), 'not sqlite at all, just text that is long enough to be read as a header...');
    const r = cli(['verify', '--state-dir', notDb]);
    expect(r.status).toBe(2);
    expect(r.err).toMatch(/events\.db: .*not a database/);
    const copy = join(dir, 'tamper');
    mkdirSync(copy);
    copyFileSync(join(stateDir, 'events.db'), join(copy, 'events.db'));
    expect(cli(['verify', '--state-dir', copy]).status).toBe(0);
    execFileSync('sqlite3', [join(copy, 'events.db'), 'UPDATE events SET pid = 4242 WHERE id = 3']);
    const bad = cli(['verify', '--state-dir', copy]);
    expect(bad.status).toBe(1);
    expect(bad.out).toMatch(/^TAMPERED: batch 1 /);
  });
});

describe.skipIf(!built)('sensor query says what it shows', () => {
  it('says when it cut the output, and how to see more', () => {
    const r = cli(['query', '--state-dir', stateDir, '--agent', 'coder', '--json']);
    expect(r.out.trim().split('\n')).toHaveLength(100);
    expect(r.err).toBe('sensor: newest 100 of 153 matching; --limit to see more\n');
    const after = cli(['query', '--state-dir', stateDir, '--agent', 'coder', '--since', '1h', '--limit', '10']);
    expect(after.err).toBe('sensor: oldest 10 of 153 matching; --limit to see more\n');
    expect(cli(['query', '--state-dir', stateDir, '--agent', 'coder', '--limit', '200']).err).toBe('');
  });

  it('says when an --agent name was never seen', () => {
    const r = cli(['query', '--state-dir', stateDir, '--agent', 'codr']);
    expect(r.status).toBe(0);
    expect(r.err).toContain('sensor: no agent named "codr" has any stored event (agents in this store: bulk, coder, helper)');
  });

  it('--path globs: * stays within a directory, ** crosses directories', () => {
    const paths = (glob: string) => cli(['query', '--state-dir', stateDir, '--json', '--limit', '1000', '--agent', 'coder', '--path', glob])
      .out.split('\n').filter(Boolean).map((l) => JSON.parse(l).path);
    expect(paths('/home/*')).toEqual([]);
    expect(paths('/home/**/.ssh/*')).toEqual(['/home/u/.ssh/id_ed25519']);
    expect(paths('**/.ssh/*')).toEqual(['/home/u/.ssh/id_ed25519']);
    expect(paths('/home/u/project/*/file-14?.ts')).toHaveLength(10);
    expect(paths('/home/u/project/*')).toEqual([]);
    expect(paths('/data/x?')).toHaveLength(2); // ? takes one invalid byte as well as one character
  });

  it('the table shows a byte that is not UTF-8 as \\xff, so it never prints like the character ÿ', () => {
    const rows = cli(['query', '--state-dir', stateDir, '--path', '/data/*']).out.split('\n');
    expect(rows.some((l) => l.includes('read /data/x\\xff -> 3'))).toBe(true);
    expect(rows.some((l) => l.includes('read /data/x\u00ff -> 3'))).toBe(true);
  });

  it('--sql reads events_v and files_v with names as text, and refuses the filter options beside it', () => {
    const sql = (q: string) => cli(['query', '--state-dir', stateDir, '--sql', q]);
    const r = sql("SELECT type, agent, comm, path, argv, access, syscall, ts FROM events_v WHERE type = 'exec' OR path LIKE '%.ssh%' ORDER BY id");
    expect(r.status).toBe(0);
    const rows = r.out.trim().split('\n').map((l) => JSON.parse(l));
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatchObject({ type: 'open', agent: 'coder', comm: 'tool', path: '/home/u/.ssh/id_ed25519', access: 'read', syscall: 'openat' });
    expect(rows[1]).toMatchObject({ type: 'exec', agent: 'helper', path: '/usr/bin/git', argv: 'git push --force' });
    // the view agrees with the decoded events (--json) on every shared field
    const asJson = JSON.parse(cli(['query', '--state-dir', stateDir, '--json', '--type', 'exec']).out);
    expect(rows[1].ts).toBe(asJson.ts);
    expect(JSON.parse(sql('SELECT count(*) AS n FROM files_v').out)).toEqual({ n: 0 });
    const refused = cli(['query', '--state-dir', stateDir, '--sql', 'SELECT 1', '--agent', 'coder', '--limit', '5']);
    expect(refused.status).toBe(2);
    expect(refused.err).toBe('sensor: --sql runs the statement as written; --agent, --limit do not apply to it (put them in its WHERE clause)\n');
    expect(sql('DROP VIEW events_v').err).toMatch(/read-only/);
  });

  it('events_v decodes the stored codes as the event contract does (--json)', () => {
    const view = cli(['query', '--state-dir', stateDir, '--sql',
      "SELECT type, tid, uid, path, newpath, access, syscall, result, family, proto, addr, port FROM events_v WHERE agent = 'helper' ORDER BY ts_ns"])
      .out.trim().split('\n').map((l) => JSON.parse(l));
    const events = cli(['query', '--state-dir', stateDir, '--json', '--agent', 'helper']).out.trim().split('\n').map((l) => JSON.parse(l));
    expect(view).toHaveLength(5);
    expect(events).toHaveLength(5);
    view.forEach((v, i) => {
      const e = events[i];
      const fields = Object.keys(v).filter((k) => k in e && k !== 'path');
      expect(fields.length).toBeGreaterThan(2);
      for (const k of fields) expect([i, k, v[k]]).toEqual([i, k, e[k]]);
      expect(v.path).toBe(e.type === 'exec' ? e.filename : e.path ?? null);
    });
  });
});

describe.skipIf(!built)('sensor status on something that is not a collector', () => {
  let quiet: Server;
  let quietPath: string;
  beforeAll(async () => {
    quietPath = join(dir, 'quiet.sock');
    quiet = createServer((s) => s.on('error', () => undefined)); // accepts, never speaks
    await new Promise<void>((r) => quiet.listen(quietPath, r));
  });
  afterAll(() => quiet.close());

  it('a missing socket: one line, no gRPC internals', () => {
    const r = cli(['status', '--collector', `unix://${join(dir, 'nothing.sock')}`]);
    expect(r.status).toBe(2); // down
    expect(r.out).toMatch(/^status: DOWN\n/);
    expect(r.err).toBe(`sensor: no collector at unix://${join(dir, 'nothing.sock')}: no such socket\n`);
  });

  it('a socket file nobody listens on, and a file that is not a socket', () => {
    const stale = join(dir, 'stale.sock');
    execFileSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(stale)}, () => process.exit(0))`]);
    expect(cli(['status', '--collector', `unix://${stale}`]).err).toBe(`sensor: no collector at unix://${stale}: nothing listens there (connection refused)\n`);
    expect(cli(['status', '--collector', `unix://${join(stateDir, 'events.db')}`]).err).toMatch(/events\.db: it is not a socket\n$/);
  });

  it('a socket that accepts but does not speak gRPC is named as not a collector', () => {
    const r = cli(['status', '--collector', `unix://${quietPath}`]);
    expect(r.status).toBe(2);
    expect(r.err).toBe(`sensor: unix://${quietPath} is not an agent-sensor collector (it does not answer gRPC)\n`);
  });

  it('a TCP collector without --tls-* is refused at start by run and status', () => {
    const run = cli(['run', '--collector', '127.0.0.1:7443', '--agent-comm', 'x']);
    expect(run.status).toBe(2);
    expect(run.err).toBe('sensor: a TCP collector needs mutual TLS: give --tls-ca, --tls-cert and --tls-key (or use a unix:// socket)\n');
    expect(cli(['status', '--collector', '127.0.0.1:7443']).status).toBe(2);
  });
});

describe.skipIf(!built)('TLS to a collector named by its IP address', () => {
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: tls, stdio: 'pipe' });
  let tls: string;
  beforeAll(() => {
    tls = join(dir, 'tls');
    mkdirSync(tls);
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=test CA');
    for (const [name, ext] of [['server', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n'], ['client', 'extendedKeyUsage=clientAuth\n']]) {
      writeFileSync(join(tls, `${name}.ext`), ext!);
      openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
      openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-out', `${name}.crt`, '-extfile', `${name}.ext`);
    }
  });

  it('status reaches it with no deprecation warning about an IP as TLS server name', async () => {
    const port = await new Promise<number>((r) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => r(p));
      });
    });
    const files = (n: string) => ['--tls-ca', join(tls, 'ca.crt'), '--tls-cert', join(tls, `${n}.crt`), '--tls-key', join(tls, `${n}.key`)];
    const collector = start(['collector', '--listen', `127.0.0.1:${port}`, '--state-dir', join(dir, 'tls-state'), ...files('server')]);
    await until(() => collector.err().includes('collector listening'), 'the TLS collector');
    const r = cli(['status', '--collector', `127.0.0.1:${port}`, ...files('client')]);
    expect(r.err).toBe('');
    expect(r.status).toBe(0);
    expect(r.out).toMatch(/^status: HEALTHY$/m);
    expect(r.out).toMatch(/ 0 events in 0 batches$/m);
    collector.child.kill('SIGINT');
    expect(await collector.exited).toBe(0);
  });
});

describe.skipIf(!built)('sensor run: startup errors and the collector hint', () => {
  it('a state dir it cannot create: the error alone, no hint about another collector', () => {
    const file = join(dir, 'a-file');
    writeFileSync(file, '');
    const r = cli(['run', '--state-dir', join(file, 'state'), '--listen', `unix://${join(dir, 'run1.sock')}`, '--agent-comm', 'x']);
    expect(r.status).not.toBe(0);
    expect(r.err).toMatch(/ENOTDIR/);
    expect(r.err).not.toContain('--collector');
  });

  it('a socket another collector answers on: the hint to send to it instead', async () => {
    const sock = join(dir, 'taken.sock');
    const other = start(['collector', '--listen', `unix://${sock}`, '--state-dir', join(dir, 'taken-state')]);
    await until(() => other.err().includes('collector listening'), 'the other collector');
    const r = cli(['run', '--listen', `unix://${sock}`, '--state-dir', join(dir, 'run2'), '--agent-comm', 'x']);
    expect(r.status).not.toBe(0);
    expect(r.err).toContain(`a collector already listens on ${sock}`);
    expect(r.err).toContain(`(to send to that collector instead: sensor run --collector unix://${sock})`);
    // a store error is not about that collector, even with it there
    const file = join(dir, 'another-file');
    writeFileSync(file, '');
    const bad = cli(['run', '--listen', `unix://${sock}`, '--state-dir', join(file, 'state'), '--agent-comm', 'x']);
    expect(bad.err).toMatch(/ENOTDIR/);
    expect(bad.err).not.toContain('--collector');
    other.child.kill('SIGINT');
    expect(await other.exited).toBe(0);
  });
});

describe.skipIf(!built)('logs: human lines on a terminal, JSON otherwise', () => {
  const hasScript = spawnSync('script', ['--version']).status === 0;

  it.skipIf(!hasScript)('sensor collector under a pseudo-terminal, then piped', async () => {
    const sock = join(dir, 'tty.sock');
    const args = ['collector', '--listen', `unix://${sock}`, '--state-dir', join(dir, 'tty-state')];
    // `script` gives the command a terminal; `timeout -s INT` is the Ctrl-C
    const inner = ['timeout', '--preserve-status', '-s', 'INT', '3', process.execPath, BIN, ...args].map((a) => `'${a}'`).join(' ');
    const tty = start([], { LOG_FORMAT: '' }, 'script', ['-qec', inner, '/dev/null']);
    expect(await tty.exited).toBe(0);
    const text = tty.out();
    expect(text).toMatch(/\d\d:\d\d:\d\d\.\d{3} INFO {2}collector\.server: collector listening {2}listen=unix:\/\/.*tty\.sock/);
    expect(text).toContain('sensor: stopping… (Ctrl-C again to force)');
    expect(text).not.toContain('"level":');
    const piped = start(args);
    await until(() => piped.err().includes('collector listening'), 'the piped collector');
    piped.child.kill('SIGINT');
    expect(await piped.exited).toBe(0);
    expect(piped.err().split('\n')[0]).toMatch(/^\{"level":30,.*"msg":"collector listening"\}$/);
  });
});

describe.skipIf(kernelSkip !== null)('sensor run on the real kernel: current status counters, Ctrl-C', () => {
  it('status shows the sensor\'s counters after its last batch was acked; Ctrl-C twice forces a stop with the counts', async () => {
    const name = `edge${process.pid % 100000}`;
    const agent = join(dir, name);
    copyFileSync('/usr/bin/cat', agent);
    const sock = join(dir, 'k.sock');
    const state = join(dir, 'k-state');
    const run = start(['run', '--listen', `unix://${sock}`, '--state-dir', state, '--agent-comm', name, '--sensor-id', 'edges']);
    await until(() => run.err().includes('sensor running: ' + name), 'the sensor to start', 60_000);
    const marker = join(dir, 'k-marker');
    writeFileSync(marker, 'x');
    expect(spawnSync(agent, [marker], { timeout: 10_000 }).status).toBe(0);
    const stored = () => Number(JSON.parse(cli(['query', '--state-dir', state, '--sql', `SELECT count(*) AS n FROM events_v WHERE comm = '${name}'`]).out || '{"n":0}').n);
    await until(() => stored() > 0 && cli(['query', '--state-dir', state, '--json', '--path', marker]).out.length > 0, 'the marker open stored');
    // The counters of the batch that carried the events said sent=0 buffered=N; the sensor follows up.
    let line = '';
    await until(() => {
      const s = cli(['status', '--collector', `unix://${sock}`]);
      line = /transport: (.*)/.exec(s.out)?.[1] ?? '';
      const sent = Number(/sent=(\d+)/.exec(line)?.[1]);
      return sent > 0 && line.includes(`acked=${sent}`) && line.includes('buffered=0');
    }, 'status counters with everything acked', 10_000);
    expect(line).toMatch(/^sent=(\d+) acked=\1 resent=0 dropped=0 buffered=0 rejected=0$/);

    // sensor watch | head -1: the reader goes, the sensor stops quietly
    const watch = start([], {}, 'bash', ['-c', `"${process.execPath}" "${BIN}" watch --agent-comm ${name} --json | head -1`]);
    await until(() => watch.err().includes('Ctrl-C to stop'), 'sensor watch to start', 60_000);
    for (let i = 0; i < 50 && watch.child.exitCode === null; i++) {
      spawnSync(agent, [marker], { timeout: 10_000 });
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(await watch.exited).toBe(0);
    expect(JSON.parse(watch.out()).comm).toBe(name);
    expect(watch.err()).not.toMatch(/EPIPE|Unhandled|    at /);
    expect(watch.err()).toMatch(/sensor: stopped\ndelivered \d+/);

    run.child.kill('SIGINT');
    await until(() => run.err().includes('stopping…'), '"stopping…"', 5_000);
    expect(run.err()).toContain('sensor: stopping… (Ctrl-C again to force)');
    run.child.kill('SIGINT');
    const code = await run.exited;
    if (code === 130) {
      // forced: the summary it had is still printed
      expect(run.err()).toContain('sensor: forced stop');
      expect(run.err()).toMatch(/delivered \d+, lost \d+/);
      expect(run.err()).toMatch(/transport: sent \d+, acked \d+/);
    } else {
      // the graceful stop won the race: its summary says the same
      expect(code).toBe(0);
      expect(run.err()).toMatch(/sensor: stopped\ndelivered \d+, lost \d+/);
    }
  });
});

describe.skipIf(kernelSkip !== null)('the bpftrace fallback and the installed package', () => {
  const bpftrace = spawnSync('bpftrace', ['--version']).status === 0;

  it.skipIf(!bpftrace)('names the fallback\'s own limits as such, and an agent whose only cgroup is missing as not watched', async () => {
    const config = join(dir, 'cg.yaml');
    writeFileSync(config, 'agents:\n  - name: ghost\n    cgroup: [/sys/fs/cgroup/as-no-such-cgroup]\n  - name: demo\n    comm: [as-demo]\n');
    const w = start(['watch', '--backend', 'bpftrace', '--config', config]);
    await until(() => w.err().includes('Ctrl-C to stop') || w.child.exitCode !== null, 'bpftrace to start', 60_000);
    w.child.kill('SIGINT');
    await w.exited;
    const err = w.err();
    expect(err).toContain('sensor: agent ghost: cgroup /sys/fs/cgroup/as-no-such-cgroup left out (ENOENT');
    expect(err).toContain('sensor: agent ghost: no rule left, so it is not watched');
    expect(err).toContain('sensor: the bpftrace fallback does not see (libbpf does): ');
    expect(err).not.toContain('hooks this kernel lacks');
    expect(err).toContain('sensor: watching demo; not watched, no rule left: ghost; Ctrl-C to stop');
  });

  it('an installed package without its addon says so without pointing at scripts/build.sh', async () => {
    // the layout of the .deb (packaging/build-deb.sh): no scripts/, here no addon either
    const lib = join(dir, 'usr-lib-agent-sensor');
    mkdirSync(lib);
    for (const d of ['proto', 'node_modules']) symlinkSync(join(ROOT, d), join(lib, d));
    // copies, not links: the code finds its package root from its real path
    for (const d of ['bin', 'dist']) execFileSync('cp', ['-r', join(ROOT, d), join(lib, d)]);
    copyFileSync(join(ROOT, 'package.json'), join(lib, 'package.json'));
    // no bpftrace on the PATH either, so the fallback fails at once and the command ends
    const w = start([], { PATH: join(dir, 'empty-path') }, process.execPath, [join(lib, 'bin/sensor.js'), 'watch', '--agent-comm', 'as-none']);
    expect(await w.exited).not.toBe(0);
    expect(w.err()).toContain(`libbpf failed to start: the native addon is missing (${lib}/build/Release/agent_sensor.node; reinstall agent-sensor to restore it)`);
    expect(w.err()).not.toContain('scripts/build.sh');
  });
});
