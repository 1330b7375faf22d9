// Incident response end to end: `sensor run`, a scripted agent under
// `sensor launch` that reads a file and a credential, writes, renames and
// deletes, writes a script and runs it (it connects to a loopback port), has
// a file written by another user that user cannot read back, and keeps trying
// to connect from fresh children. Then: `sensor isolate --agent` refuses those
// connects (still after a sensor restart) while an outsider connects;
// `sensor collect` writes a bundle whose every manifest item re-hashes, with
// env names but no values, the credential to rotate and a copy of the script;
// `sensor timeline` shows what the script did; `sensor release` restores.
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Timeline } from '../collector/query/timeline.js';
import type { Manifest } from '../sensor/response/evidence-bundle.js';
import { readTar, writeTar } from '../sensor/response/tar-archive.js';
import { releaseInstance } from '../sensor/response/egress-control.js';
import {
  BIN, launchArgs, ROOT, sensorProc, skipReason as cliSkip, startSensorRun, stopSensorRun, until, type Proc,
} from './helpers/sensor-cli.js';

const skipReason = cliSkip ?? (!existsSync(join(ROOT, 'bpf/egress/.output/egress-ctl')) ? 'egress-ctl not built' : null);
if (skipReason) console.warn(`incident-e2e: skipping: ${skipReason}`);

const SECRET_VALUE = 'supersecretvalue-7c1e';
const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

describe.skipIf(skipReason !== null)('incident response (real kernel, cgroups, gRPC, SQLite)', () => {
  let dir: string;
  let stateDir: string;
  let socket: string;
  let run: Proc;
  let launch: Proc;
  let server: Server;
  let port: number;
  let agentPid: number;
  const AGENT = `ir-e2e-${process.pid}`;
  const payload = () => `#!/bin/bash\nexec 3<>/dev/tcp/127.0.0.1/${port}\n`;

  const sensor = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000, maxBuffer: 256 << 20 });
  const status = (): string[] => (existsSync(join(dir, 'status')) ? readFileSync(join(dir, 'status'), 'utf8').split('\n').filter(Boolean) : []);
  const nextStatus = async (): Promise<string> => {
    const n = status().length;
    await until(() => status().length > n + 1, 'two more connect attempts of the agent', 20_000);
    return status()[n + 1]!; // the first one may have started before the change
  };
  const outsiderConnects = (): Promise<boolean> => new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port }, () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
  const timeline = (): Timeline => {
    const r = sensor('timeline', '--state-dir', stateDir, '--agent-pid', String(agentPid), '--json');
    expect(r.status, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as Timeline;
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'incident-e2e-'));
    chmodSync(dir, 0o755); // the agent's other user must reach its folder
    stateDir = join(dir, 'state');
    socket = join(dir, 'sock', 'c.sock');
    server = createServer((s) => s.destroy());
    await new Promise<void>((r) => server.listen({ host: '127.0.0.1', port: 0 }, r));
    port = (server.address() as { port: number }).port;
    writeFileSync(join(dir, 'input.txt'), 'the agent reads this\n');
    writeFileSync(join(dir, 'gone.txt'), 'deleted by the agent\n');
    mkdirSync(join(dir, 'home', '.aws'), { recursive: true });
    writeFileSync(join(dir, 'home', '.aws', 'credentials'), '[default]\naws_access_key_id = AKIAEXAMPLE\n');
    mkdirSync(join(dir, 'other'), { mode: 0o777 });
    chmodSync(join(dir, 'other'), 0o777);
    writeFileSync(join(dir, 'payload.src'), payload());
    run = await startSensorRun(stateDir, socket);
  });

  afterEach((ctx) => {
    if (ctx.task.result?.state === 'fail') console.log(`--- sensor run\n${run?.err().slice(-3000)}\n--- launch\n${launch?.err().slice(-2000)}`);
  });

  afterAll(async () => {
    if (dir) writeFileSync(join(dir, 'done'), '');
    if (agentPid) releaseInstance(agentPid);
    if (launch) {
      const t = setTimeout(() => launch.child.kill('SIGKILL'), 10_000);
      await launch.exited;
      clearTimeout(t);
    }
    if (run) await stopSensorRun(run);
    server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs the scripted agent under sensor launch', async () => {
    const d = dir;
    const script = [
      `echo $$ > ${d}/pid`,
      `cat ${d}/input.txt > /dev/null`,
      `cat ${d}/home/.aws/credentials > /dev/null`,
      `echo written > ${d}/out.txt`,
      `mv ${d}/out.txt ${d}/moved.txt`,
      `rm ${d}/gone.txt`,
      `cp ${d}/payload.src ${d}/payload.sh && chmod +x ${d}/payload.sh && ${d}/payload.sh`,
      // written by nobody, then made unreadable to nobody: the bundle must not copy it
      `setpriv --reuid=65534 --regid=65534 --clear-groups sh -c 'echo private > ${d}/other/secret.txt'`,
      `chmod 000 ${d}/other/secret.txt`,
      `i=0; while [ ! -e ${d}/done ] && [ $i -lt 600 ]; do`,
      `  if (exec 3<>/dev/tcp/127.0.0.1/${port}) 2>${d}/err; then echo ok >> ${d}/status; else echo "refused $(tr '\\n' ' ' < ${d}/err)" >> ${d}/status; fi`,
      `  sleep 0.1; i=$((i+1))`,
      'done',
    ].join('\n');
    launch = sensorProc([...launchArgs(stateDir, AGENT), '/bin/bash', '-c', script], { env: { ...process.env, SECRET_TOKEN: SECRET_VALUE } });
    await until(() => status().includes('ok'), 'the agent to connect', 30_000);
    agentPid = Number(readFileSync(join(dir, 'pid'), 'utf8'));
    expect(agentPid).toBeGreaterThan(1);
  });

  it('isolate --agent refuses its new children\'s connects while an outsider connects, and survives a sensor restart', async () => {
    const iso = sensor('isolate', '--state-dir', stateDir, '--agent', AGENT, '--reason', 'e2e');
    expect(iso.status, iso.stderr).toBe(0);
    expect(iso.stdout).toContain(`isolated instance ${agentPid} of ${AGENT}`);
    expect(await nextStatus()).toMatch(/^refused .*Operation not permitted/);
    expect(await outsiderConnects()).toBe(true);

    await stopSensorRun(run);
    run = await startSensorRun(stateDir, socket);
    expect(await nextStatus()).toMatch(/^refused .*Operation not permitted/);
    const st = sensor('status', '--collector', `unix://${socket}`, '--state-dir', stateDir);
    expect(st.status, st.stderr).toBe(0);
    expect(st.stdout).toContain(`instance ${agentPid} of ${AGENT}: network isolated`);
    expect(st.stdout).toContain(': e2e');
  });

  it('timeline shows what the agent did, in order, with the hash of what it read', async () => {
    let t: Timeline = timeline();
    await until(() => (t = timeline()).entries.some((e) => e.kind === 'connect' && e.text.includes('REFUSED')), 'a refused connect in the store', 20_000);
    const texts = t.entries.map((e) => `${e.kind} ${e.text}`);
    const at = (re: RegExp) => texts.findIndex((x) => re.test(x));
    const read = t.entries.find((e) => e.kind === 'read' && e.text.includes(`${dir}/input.txt`));
    expect(read?.text).toContain(sha256('the agent reads this\n'));
    const cred = t.entries.find((e) => e.kind === 'read' && e.text.includes('.aws/credentials'));
    expect(cred?.sensitive).toBe('aws-credentials');
    expect(at(/^write write .*\/out\.txt/)).toBeGreaterThan(at(/^read read .*\/input\.txt/));
    expect(at(/^rename .*out\.txt -> .*moved\.txt/)).toBeGreaterThan(at(/^write write .*\/out\.txt/));
    expect(at(/^delete delete .*gone\.txt/)).toBeGreaterThan(at(/^rename /));
    const exec = at(/^exec exec \S*\/payload\.sh /);
    expect(exec).toBeGreaterThan(at(/^delete /));
    expect(at(new RegExp(`^connect connect tcp 127\\.0\\.0\\.1:${port}$`))).toBeGreaterThan(exec);
    expect(at(/^response RESPONSE isolate .*: e2e/)).toBeGreaterThan(exec);
    // The tree: the root ran cp/chmod/payload.sh and the connecting subshells as children.
    expect(t.tree?.pid).toBe(agentPid);
    expect(t.tree!.children.some((c) => c.argv.some((a) => a.endsWith('payload.sh')))).toBe(true);
    // Readable text form too.
    const txt = sensor('timeline', '--state-dir', stateDir, '--agent', AGENT);
    expect(txt.status).toBe(0);
    expect(txt.stdout).toContain('process tree:');
    expect(txt.stdout).toMatch(/connect\s+connect tcp 127\.0\.0\.1:\d+ REFUSED/);
  });

  it('collect writes a bundle: every item re-hashes, env names without values, credentials to rotate, a copy of the script, not the other user\'s file', () => {
    const out = join(dir, 'bundle.tar.gz');
    const r = sensor('collect', '--state-dir', stateDir, '--agent-pid', String(agentPid), '--out', out);
    expect(r.status, r.stderr).toBe(0);
    const entries = readTar(gunzipSync(readFileSync(out)));
    const byName = new Map(entries.map((e) => [e.name, e.data]));
    const manifest = JSON.parse(byName.get('manifest.json')!.toString()) as Manifest;
    expect(manifest.agentPid).toBe(agentPid);
    expect(manifest.items.length).toBe(entries.length - 1);
    for (const item of manifest.items) expect(sha256(byName.get(item.name)!), item.name).toBe(item.sha256);

    for (const [name, data] of byName) expect(data.includes(SECRET_VALUE), `${name} holds an env value`).toBe(false);
    const procs = JSON.parse(byName.get('processes.json')!.toString()) as { processes: { pid: number; environNames: string[]; cmdline: string[] }[] };
    const root = procs.processes.find((p) => p.pid === agentPid);
    expect(root?.environNames).toContain('SECRET_TOKEN');
    expect(root?.cmdline[0]).toBe('/bin/bash');

    const creds = JSON.parse(byName.get('credentials-to-rotate.json')!.toString()) as { path: string; kind: string }[];
    expect(creds).toEqual([expect.objectContaining({ path: join(dir, 'home/.aws/credentials'), kind: 'aws-credentials' })]);

    const copies = JSON.parse(byName.get('copies.json')!.toString()) as { path: string; item?: string; sha256?: string; skipped?: string }[];
    const script = copies.find((c) => c.path === join(dir, 'payload.sh'));
    expect(script?.sha256).toBe(sha256(payload()));
    expect(byName.get(script!.item!)!.toString()).toBe(payload());
    const secret = copies.find((c) => c.path === join(dir, 'other/secret.txt'));
    expect(secret?.item).toBeUndefined();
    expect(secret?.skipped).toMatch(/not readable as uid 65534/);

    const verify = JSON.parse(byName.get('verify.json')!.toString()) as { chain: { ok: boolean }; chainHead: string; responses: { ok: boolean; rows: number } };
    expect(verify.chain.ok).toBe(true);
    expect(verify.chainHead).toMatch(/^\d+:[0-9a-f]{64}$/);
    expect(verify.responses).toMatchObject({ ok: true, rows: 1 });

    // --check: 0 for the bundle, 1 once an item is altered, 2 for something that is not a bundle.
    expect(sensor('collect', '--check', out).status).toBe(0);
    const tampered = join(dir, 'tampered.tar.gz');
    writeFileSync(tampered, gzipSync(writeTar(entries.map((e) => (e.name === 'events.jsonl' ? { ...e, data: Buffer.concat([e.data, Buffer.from('{}\n')]) } : e)))));
    const bad = sensor('collect', '--check', tampered);
    expect(bad.status).toBe(1);
    expect(bad.stdout).toContain('ALTERED events.jsonl');
    writeFileSync(join(dir, 'junk.tar.gz'), 'not a bundle');
    expect(sensor('collect', '--check', join(dir, 'junk.tar.gz')).status).toBe(2);
    // The bundle file is never overwritten.
    expect(sensor('collect', '--state-dir', stateDir, '--agent-pid', String(agentPid), '--out', out).status).toBe(1);
  });

  it('release --agent restores its connects', async () => {
    const rel = sensor('release', '--state-dir', stateDir, '--agent', AGENT);
    expect(rel.status, rel.stderr).toBe(0);
    expect(await nextStatus()).toBe('ok');
  });
});
