// `sensor isolate` / `sensor release` on the real kernel and real cgroups, no
// sensor running (containment does not need one): a scripted agent and the
// child it forks after isolation get EPERM on loopback TCP (IPv4, IPv6) and
// UDP sends while a process outside the instance still connects; release
// restores them; shadow mode refuses nothing but counts; a frozen agent
// makes no progress until released and goes back to its cgroup.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cgroup2MountFrom } from '../sensor/launch/cgroup-v2.js';
import { inForce } from '../sensor/response/containment.js';
import { listContained, releaseInstance } from '../sensor/response/egress-control.js';
import { cgroupV2Of } from '../sensor/response/proc-table.js';
import { AutoResponder, chooseAction } from '../sensor/response/respond.js';
import { DEFAULT_RESPONSE_CONFIG, parseResponseConfig } from '../sensor/response/response-config.js';
import { BIN, ROOT, until } from './helpers/sensor-cli.js';

const EGRESS_CTL = join(ROOT, 'bpf/egress/.output/egress-ctl');
const skipReason = process.getuid?.() !== 0 ? 'needs root to load BPF programs and move cgroups'
  : !existsSync(EGRESS_CTL) ? 'bpf/egress/.output/egress-ctl not built: run `bash scripts/build.sh`'
  : !existsSync(join(ROOT, 'dist/sensor/cli/main.js')) ? 'dist/ not built: run `bash scripts/build.sh`'
  : cgroup2MountFrom(readFileSync('/proc/self/mountinfo', 'utf8')) === null ? 'no cgroup v2 hierarchy mounted' : null;
if (skipReason) console.warn(`containment: skipping: ${skipReason}`);

// Each round: the agent tries TCP to 127.0.0.1 and ::1 and a UDP send, then
// forks a child that does the same; both append one line of results.
const AGENT = `
import os, socket, sys, time
port, out, stop = int(sys.argv[1]), sys.argv[2], sys.argv[3]
def attempt():
    r = []
    for fam, addr in ((socket.AF_INET, '127.0.0.1'), (socket.AF_INET6, '::1')):
        s = socket.socket(fam); s.settimeout(1)
        try: s.connect((addr, port)); r.append('ok')
        except OSError as e: r.append('E%d' % e.errno)
        s.close()
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try: u.sendto(b'x', ('127.0.0.1', port)); r.append('ok')
    except OSError as e: r.append('E%d' % e.errno)
    u.close()
    return ' '.join(r)
end = time.time() + 90
n = 0
while time.time() < end and not os.path.exists(stop):
    n += 1
    r = attempt()
    pid = os.fork()
    if pid == 0:
        c = attempt()
        with open(out, 'a') as f: f.write('child %d %s\\n' % (n, c))
        os._exit(0)
    os.waitpid(pid, 0)
    with open(out, 'a') as f: f.write('parent %d %s\\n' % (n, r))
    time.sleep(0.1)
`;

// Appends a line every 20 ms: progress is the file growing.
const TICKER = `
import os, sys, time
end = time.time() + 90
while time.time() < end and not os.path.exists(sys.argv[2]):
    with open(sys.argv[1], 'a') as f: f.write('%f\\n' % time.time())
    time.sleep(0.02)
`;

/** Names of the containment programs (egress_*) the kernel has attached by a link, cgroup or tracing. */
function attachedEgressPrograms(): string[] {
  const links = JSON.parse(execFileSync('bpftool', ['link', 'show', '-j'], { encoding: 'utf8' })) as { prog_id: number }[];
  const progs = JSON.parse(execFileSync('bpftool', ['prog', 'show', '-j'], { encoding: 'utf8' })) as { id: number; name?: string }[];
  const name = new Map(progs.map((p) => [p.id, p.name ?? '']));
  return links.map((l) => name.get(l.prog_id) ?? '').filter((n) => n.startsWith('egress_'));
}

describe.skipIf(skipReason !== null)('containment (real kernel, real cgroups)', () => {
  let dir: string;
  let stateDir: string;
  let server: Server;
  let port: number;
  const children: ChildProcess[] = [];

  const sensor = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });
  const python = (code: string, args: string[]): ChildProcess => {
    const file = join(dir, `p${children.length}.py`);
    writeFileSync(file, code);
    const c = spawn('python3', [file, ...args], { stdio: 'ignore' });
    children.push(c);
    return c;
  };
  const lines = (file: string): string[] => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : []);
  /** the first parent and child lines written after `after` lines */
  const nextRound = async (file: string, after: number): Promise<{ parent: string; child: string }> => {
    let found: { parent: string; child: string } | undefined;
    await until(() => {
      const fresh = lines(file).slice(after);
      // A round writes the child's line first, then the parent's.
      const c = fresh.find((l) => l.startsWith('child '));
      const round = c?.split(' ')[1];
      const p = fresh.find((l) => l.startsWith(`parent ${round} `));
      if (p && c) found = { parent: p.split(' ').slice(2).join(' '), child: c.split(' ').slice(2).join(' ') };
      return found !== undefined;
    }, 'a full round of the agent', 20_000);
    return found!;
  };
  const outsiderConnects = (): Promise<boolean> => new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port }, () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'containment-'));
    stateDir = join(dir, 'state');
    server = createServer((s) => s.destroy());
    await new Promise<void>((r) => server.listen({ host: '::', port: 0, ipv6Only: false }, r));
    port = (server.address() as { port: number }).port;
  });

  afterAll(async () => {
    writeFileSync(join(dir, 'stop'), '');
    for (const c of children) {
      if (c.pid) releaseInstance(c.pid);
      c.kill('SIGKILL');
    }
    server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses the agent\'s and its later children\'s TCP v4/v6 connects and UDP sends; an outsider still connects; release restores', async () => {
    const out = join(dir, 'agent.out');
    const agent = python(AGENT, [String(port), out, join(dir, 'stop')]);
    const before = await nextRound(out, 0);
    expect(before).toEqual({ parent: 'ok ok ok', child: 'ok ok ok' });

    const iso = sensor('isolate', '--state-dir', stateDir, '--agent-pid', String(agent.pid), '--reason', 'containment test');
    expect(iso.status, iso.stderr).toBe(0);
    expect(iso.stdout).toContain(`isolated instance ${agent.pid}`);
    const during = await nextRound(out, lines(out).length);
    expect(during).toEqual({ parent: 'E1 E1 E1', child: 'E1 E1 E1' });
    expect(await outsiderConnects()).toBe(true);

    // In force with who and why, counted in the kernel.
    const f = inForce(stateDir).find((x) => x.rootPid === agent.pid);
    expect(f).toBeDefined();
    expect(f!.mode).toBe('deny');
    expect(f!.reason).toBe('containment test');
    expect(f!.denied).toBeGreaterThan(0);

    const rel = sensor('release', '--state-dir', stateDir, '--agent-pid', String(agent.pid), '--json');
    expect(rel.status, rel.stderr).toBe(0);
    expect(JSON.parse(rel.stdout).rootPid).toBe(agent.pid);
    const after = await nextRound(out, lines(out).length);
    expect(after).toEqual({ parent: 'ok ok ok', child: 'ok ok ok' });
    expect(inForce(stateDir).some((x) => x.rootPid === agent.pid)).toBe(false);
    // Children that inherited containment in the kernel left with the release: none stays behind.
    expect(listContained().filter((c) => c.rootPid === agent.pid)).toEqual([]);
    agent.kill('SIGKILL');
  });

  it('shadow mode refuses nothing and counts what it would have refused', async () => {
    const out = join(dir, 'shadow.out');
    const agent = python(AGENT, [String(port), out, join(dir, 'stop')]);
    await nextRound(out, 0);
    const iso = sensor('isolate', '--state-dir', stateDir, '--agent-pid', String(agent.pid), '--shadow');
    expect(iso.status, iso.stderr).toBe(0);
    const n = lines(out).length;
    expect(await nextRound(out, n)).toEqual({ parent: 'ok ok ok', child: 'ok ok ok' });
    const counted = listContained().filter((c) => c.rootPid === agent.pid).reduce((s, c) => s + c.denied, 0);
    expect(counted).toBeGreaterThanOrEqual(3);
    expect(sensor('release', '--state-dir', stateDir, '--agent-pid', String(agent.pid)).status).toBe(0);
    agent.kill('SIGKILL');
  });

  it('the programs run only while something is contained: the last release detaches them, the next isolation attaches them again', async () => {
    const own = join(dir, 'attach-state'); // its own responses chain: the test below counts the shared one
    const out = join(dir, 'attach.out');
    const agent = python(AGENT, [String(port), out, join(dir, 'stop')]);
    await nextRound(out, 0);
    for (let round = 1; round <= 2; round++) {
      expect(sensor('isolate', '--state-dir', own, '--agent-pid', String(agent.pid)).status).toBe(0);
      expect(attachedEgressPrograms().length, `round ${round}: attached while contained`).toBeGreaterThanOrEqual(7);
      expect(await nextRound(out, lines(out).length)).toEqual({ parent: 'E1 E1 E1', child: 'E1 E1 E1' });
      expect(sensor('release', '--state-dir', own, '--agent-pid', String(agent.pid)).status).toBe(0);
      const others = listContained();
      if (others.length > 0) {
        console.warn(`containment: processes of another run are contained (${others.map((c) => c.pid).join(' ')}): detach not checked`);
        continue;
      }
      expect(attachedEgressPrograms(), `round ${round}: attached after the last release`).toEqual([]);
      expect(await nextRound(out, lines(out).length)).toEqual({ parent: 'ok ok ok', child: 'ok ok ok' });
    }
    agent.kill('SIGKILL');
  });

  it('freezes an agent: no progress until release, then back in its own cgroup', async () => {
    const out = join(dir, 'ticks.out');
    const agent = python(TICKER, [out, join(dir, 'stop')]);
    await until(() => lines(out).length > 3, 'the ticker to tick', 10_000);
    const home = cgroupV2Of(agent.pid!);
    const iso = sensor('isolate', '--state-dir', stateDir, '--agent-pid', String(agent.pid), '--freeze', '--json');
    expect(iso.status, iso.stderr).toBe(0);
    const r = JSON.parse(iso.stdout) as { frozen: boolean; frozenCgroup: string };
    expect(r.frozen).toBe(true);
    expect(cgroupV2Of(agent.pid!)).toContain('/agent-sensor-contain/');
    const size = statSync(out).size;
    await new Promise((res) => setTimeout(res, 1000));
    expect(statSync(out).size).toBe(size); // 50 ticks would have been written
    expect(inForce(stateDir).find((x) => x.rootPid === agent.pid)?.frozenCgroup).toBe(r.frozenCgroup);

    expect(sensor('release', '--state-dir', stateDir, '--agent-pid', String(agent.pid)).status).toBe(0);
    await until(() => statSync(out).size > size, 'the ticker to tick again', 10_000);
    expect(cgroupV2Of(agent.pid!)).toBe(home);
    expect(existsSync(r.frozenCgroup)).toBe(false);
    agent.kill('SIGKILL');
  });

  it('rejects a bad instance choice (exit 2) and a pid that is not running (exit 1)', () => {
    expect(sensor('isolate', '--state-dir', stateDir).status).toBe(2);
    expect(sensor('isolate', '--state-dir', stateDir, '--agent', 'x', '--agent-pid', '1').status).toBe(2);
    const gone = sensor('isolate', '--state-dir', stateDir, '--agent-pid', '4194303');
    expect(gone.status).toBe(1);
    expect(gone.stderr).toContain('no live process 4194303');
    expect(sensor('isolate', '--state-dir', stateDir, '--agent', 'no-such-agent').status).toBe(3);
  });

  it('every action is recorded in the responses chain', () => {
    const rows = execFileSync(process.execPath, [BIN, 'query', '--state-dir', stateDir, '--sql', 'SELECT action, actor, reason FROM responses ORDER BY id'], { encoding: 'utf8' })
      .split('\n').filter(Boolean).map((l) => JSON.parse(l) as { action: string; actor: string; reason: string | null });
    expect(rows.map((r) => r.action)).toEqual(['isolate', 'release', 'isolate', 'release', 'isolate', 'release']);
    expect(rows[0]!.reason).toBe('containment test');
    expect(rows[0]!.actor).toMatch(/@/);
  });
});

// Egress enforcement: the instance may reach only its grants. One agent run
// tries a fixed set of destinations; enforcement must refuse exactly those
// outside the grants, shadow mode none, and both report the same set.
const PROBE = `
import socket, sys
ports = [int(p) for p in sys.argv[1].split(',')]
out = []
def tcp(fam, addr, port):
    s = socket.socket(fam); s.settimeout(1)
    try: s.connect((addr, port)); return 'ok'
    except OSError as e: return 'E%d' % e.errno
    finally: s.close()
def udp(addr, port):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try: u.sendto(b'x', (addr, port)); return 'ok'
    except OSError as e: return 'E%d' % e.errno
    finally: u.close()
sys.stdin.readline()  # wait until the test has applied the policy
a, b, c = ports
print(' '.join([tcp(socket.AF_INET, '127.0.0.1', a), tcp(socket.AF_INET, '127.0.0.1', b), tcp(socket.AF_INET, '127.0.0.1', c),
                tcp(socket.AF_INET6, '::1', a), udp('127.0.0.1', a), udp('127.0.0.1', b)]), flush=True)
`;

describe.skipIf(skipReason !== null)('egress enforcement by grants (real kernel)', () => {
  let dir: string;
  const servers: Server[] = [];
  const ports: number[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'grants-'));
    writeFileSync(join(dir, 'probe.py'), PROBE);
    for (let i = 0; i < 3; i++) {
      const s = createServer((c) => c.destroy());
      await new Promise<void>((r) => s.listen({ host: '::', port: 0, ipv6Only: false }, r));
      servers.push(s);
      ports.push((s.address() as { port: number }).port);
    }
  });
  afterAll(() => {
    for (const s of servers) s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** runs the probe under `sensor isolate --allow ...`; returns its results and the verdicts at release */
  async function probe(extra: string[]): Promise<{ results: string; verdicts: { verdict: string; proto: string; addr: string; port: number }[] }> {
    const [a, , c] = ports;
    const child = spawn('python3', [join(dir, 'probe.py'), ports.join(',')], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    try {
      const iso = spawnSync(process.execPath, [BIN, 'isolate', '--state-dir', join(dir, 'state'), '--agent-pid', String(child.pid),
        '--allow', `127.0.0.1:${a}`, '--allow', `127.0.0.0/8:${c}-${c}`, ...extra], { encoding: 'utf8' });
      expect(iso.status, iso.stderr).toBe(0);
      child.stdin!.write('go\n');
      await until(() => out.includes('\n'), 'the probe to report', 20_000);
      const rel = spawnSync(process.execPath, [BIN, 'release', '--state-dir', join(dir, 'state'), '--agent-pid', String(child.pid)], { encoding: 'utf8' });
      expect(rel.status, rel.stderr).toBe(0);
      const rows = execFileSync(process.execPath, [BIN, 'query', '--state-dir', join(dir, 'state'), '--sql',
        `SELECT details FROM responses WHERE action = 'release' AND root_pid = ${child.pid}`], { encoding: 'utf8' });
      const details = JSON.parse((JSON.parse(rows.split('\n')[0]!) as { details: string }).details) as { verdicts: { verdict: string; proto: string; addr: string; port: number }[] };
      return { results: out.trim(), verdicts: details.verdicts };
    } finally {
      child.kill('SIGKILL');
    }
  }

  const outside = () => [
    { proto: 'tcp', addr: '127.0.0.1', port: ports[1]! },
    { proto: 'tcp', addr: '::1', port: ports[0]! },
    { proto: 'udp', addr: '127.0.0.1', port: ports[1]! },
  ].sort((x, y) => `${x.proto}${x.addr}`.localeCompare(`${y.proto}${y.addr}`));
  const set = (v: { verdict: string; proto: string; addr: string; port: number }[]) =>
    v.map(({ proto, addr, port }) => ({ proto, addr, port })).sort((x, y) => `${x.proto}${x.addr}`.localeCompare(`${y.proto}${y.addr}`));

  it('enforcement refuses exactly the destinations outside the grants', async () => {
    const r = await probe([]);
    // tcp a (granted), tcp b (not), tcp c (granted by prefix and range), tcp6 ::1 a (not: the grant is IPv4), udp a (granted), udp b (not)
    expect(r.results).toBe('ok E1 ok E1 ok E1');
    expect(r.verdicts.every((v) => v.verdict === 'denied')).toBe(true);
    expect(set(r.verdicts)).toEqual(outside());
  });

  it('shadow mode refuses none and reports the same set as would_deny', async () => {
    const r = await probe(['--shadow']);
    expect(r.results).toBe('ok ok ok ok ok ok');
    expect(r.verdicts.every((v) => v.verdict === 'would_deny')).toBe(true);
    expect(set(r.verdicts)).toEqual(outside());
  });
});

describe.skipIf(skipReason !== null)('automatic response (real kernel, real cgroups)', () => {
  let dir: string;
  let agent: ChildProcess | undefined;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'auto-response-'));
  });
  afterAll(() => {
    writeFileSync(join(dir, 'stop'), '');
    if (agent?.pid) spawnSync(process.execPath, [BIN, 'release', '--state-dir', join(dir, 'state'), '--agent-pid', String(agent.pid)]);
    agent?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('is off by default and picks the first matching rule by rule, agent and severity', () => {
    const alert = { rule: 'mass_read', severity: 'high' as const, agent: 'a', agentPid: 1 };
    expect(chooseAction(DEFAULT_RESPONSE_CONFIG, alert)).toBeNull();
    const cfg = parseResponseConfig([
      'auto_response:', '  enabled: true', '  rules:',
      '    - rule: exfil', '      action: isolate',
      '    - agent: b', '      action: isolate',
      '    - min_severity: high', '      action: isolate+freeze',
      '    - action: freeze',
    ].join('\n'), 'r.yaml');
    expect(chooseAction(cfg, alert)).toBe('isolate+freeze');
    expect(chooseAction(cfg, { ...alert, rule: 'exfil', severity: 'low' })).toBe('isolate');
    expect(chooseAction(cfg, { ...alert, severity: 'medium' })).toBe('freeze');
    expect(() => parseResponseConfig('auto_response:\n  rules:\n    - action: explode\n', 'r.yaml')).toThrow(/r\.yaml:3: auto_response\.rules\[0\]\.action/);
    expect(() => parseResponseConfig('egress:\n  x:\n    mode: enforce\n    allow: ["10.0.0.0/33"]\n', 'r.yaml')).toThrow(/r\.yaml:4: egress\.x\.allow\[0\]: .*bad prefix/);
  });

  it('freezes and isolates the instance when its alert fires, recorded as auto:<rule>, once', async () => {
    const out = join(dir, 'ticks.out');
    writeFileSync(join(dir, 'ticker.py'), TICKER);
    agent = spawn('python3', [join(dir, 'ticker.py'), out, join(dir, 'stop')], { stdio: 'ignore' });
    await until(() => existsSync(out) && readFileSync(out, 'utf8').length > 0, 'the ticker to tick', 10_000);
    const stateDir = join(dir, 'state');
    const cfg = parseResponseConfig('auto_response:\n  enabled: true\n  rules:\n    - min_severity: high\n      action: isolate+freeze\n', 'r.yaml');
    const responder = new AutoResponder(cfg, stateDir);
    const first = await responder.onAlert({ rule: 'mass_read', severity: 'critical', agent: 'ticker', agentPid: agent.pid!, summary: 'read 500 files' });
    console.log(`automatic response latency: ${first.latencyMs.toFixed(0)} ms (alert handed over -> frozen, isolated and recorded)`);
    expect(first.result?.frozen?.frozen).toBe(true);
    expect(first.result?.network).toBe(true);
    const size = statSync(out).size;
    await new Promise((r) => setTimeout(r, 500));
    expect(statSync(out).size).toBe(size);
    const f = inForce(stateDir).find((x) => x.rootPid === agent!.pid);
    expect(f).toMatchObject({ mode: 'deny', actor: 'auto:mass_read' });
    expect(f?.frozenCgroup).toBeTruthy();
    const again = await responder.onAlert({ rule: 'mass_read', severity: 'critical', agent: 'ticker', agentPid: agent.pid! });
    expect(again.skipped).toBe('already in force');
    const rel = spawnSync(process.execPath, [BIN, 'release', '--state-dir', stateDir, '--agent-pid', String(agent.pid)], { encoding: 'utf8' });
    expect(rel.status, rel.stderr).toBe(0);
    await until(() => statSync(out).size > size, 'the ticker to tick after release', 10_000);
  });
});

// Connections made before isolation: the kernel only refuses new ones, so
// isolate shuts down the ones to other hosts (pidfd_getfd + shutdown) and
// leaves loopback ones up.
const HOLDER = `
import socket, sys, time
ext_ip, port, out, stop = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
ext = socket.create_connection((ext_ip, port), 2)
lo = socket.create_connection(('127.0.0.1', port), 2)
def send(s):
    try: s.send(b'x'); return 'ok'
    except OSError as e: return 'E%d' % e.errno
end = time.time() + 60
import os
while time.time() < end and not os.path.exists(stop):
    with open(out, 'a') as f: f.write('ext %s lo %s\\n' % (send(ext), send(lo)))
    time.sleep(0.1)
`;

const externalIp = (): string | null => {
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  return null;
};

describe.skipIf(skipReason !== null || externalIp() === null)('connections made before isolation (real kernel)', () => {
  it('cuts the agent\'s open connection to another host address and keeps its loopback one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cut-'));
    const held: Socket[] = [];
    const server = createServer((s) => { held.push(s); s.on('data', () => undefined); s.on('error', () => undefined); });
    await new Promise<void>((r) => server.listen({ host: '0.0.0.0', port: 0 }, r));
    const port = (server.address() as { port: number }).port;
    writeFileSync(join(dir, 'holder.py'), HOLDER);
    const out = join(dir, 'out');
    const agent = spawn('python3', [join(dir, 'holder.py'), externalIp()!, String(port), out, join(dir, 'stop')], { stdio: 'ignore' });
    const lines = () => (existsSync(out) ? readFileSync(out, 'utf8').split('\n').filter(Boolean) : []);
    try {
      await until(() => lines().includes('ext ok lo ok'), 'both connections up', 10_000);
      const iso = spawnSync(process.execPath, [BIN, 'isolate', '--state-dir', join(dir, 'state'), '--agent-pid', String(agent.pid), '--json'], { encoding: 'utf8' });
      expect(iso.status, iso.stderr).toBe(0);
      const cut = (JSON.parse(iso.stdout) as { cut: { remote: string; error: number }[] }).cut;
      expect(cut).toEqual([expect.objectContaining({ remote: `${externalIp()}:${port}`, error: 0 })]);
      const n = lines().length;
      await until(() => lines().length > n + 1, 'two more sends', 10_000);
      expect(lines().at(-1)).toBe('ext E32 lo ok'); // EPIPE on the cut one
    } finally {
      writeFileSync(join(dir, 'stop'), '');
      spawnSync(process.execPath, [BIN, 'release', '--state-dir', join(dir, 'state'), '--agent-pid', String(agent.pid)]);
      agent.kill('SIGKILL');
      for (const s of held) s.destroy();
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
