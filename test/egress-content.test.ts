// Egress content DLP (issue 15): what an agent sends, seen in the kernel
// (bpf/content: socket writes of tracked processes, uprobes on node's own
// SSL_write) and scanned in the sensor, raises `secret_egress` alerts stored
// through the engine's alert chain. Units for the scanner (HTTP rebuilt from
// writes, base64 in JSON, raw streams split across writes), then the real
// thing: `sensor run` + `sensor launch` of Node clients POSTing a key over
// loopback HTTPS (test CA) and plain HTTP; an untracked client sends the same
// and raises nothing.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { constants as fsConstants, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EgressScanner } from '../sensor/content/egress-scanner.js';
import { ReadSecrets } from '../sensor/content/read-secrets.js';
import type { SensorEvent } from '../proto/events/types.js';
import { decodeContentRecord, FrameReader } from '../sensor/content/content-record.js';
import { BIN, launchArgs, skipReason, startSensorRun, stopSensorRun, until, type Proc } from './helpers/sensor-cli.js';

const KEY = randomBytes(32);
/** An OpenSSH private key as ssh-keygen writes one (ed25519), made here. */
function opensshKey(dir: string): string {
  const f = join(dir, `id_ed25519_${randomBytes(4).toString('hex')}`);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', f]);
  return readFileSync(f, 'utf8');
}

describe('egress scanner (DLP on rebuilt requests and raw streams)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'egress-scan-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const key = opensshKey(dir);

  it('finds the base64 of a key in a JSON body sent as head and body in separate writes, once', () => {
    const body = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: `context: ${Buffer.from(key).toString('base64')}` }] });
    const head = `POST /v1/chat/completions HTTP/1.1\r\nhost: api.example\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n`;
    const s = new EgressScanner(KEY);
    const first = s.chunk({ key: 'k', streamOffset: 0, data: Buffer.from(head), missing: 0 });
    expect(first).toEqual([]); // the body is not there yet: nothing scanned as a message
    const half = Math.floor(body.length / 2);
    expect(s.chunk({ key: 'k', streamOffset: head.length, data: Buffer.from(body.slice(0, half)), missing: 0 })).toEqual([]);
    const out = s.chunk({ key: 'k', streamOffset: head.length + half, data: Buffer.from(body.slice(half)), missing: 0 });
    expect(out).toHaveLength(1);
    expect(out[0]!.carrier).toBe('POST /v1/chat/completions (JSON body)');
    expect(out[0]!.host).toBe('api.example');
    const f = out[0]!.findings.find((x) => x.class === 'private-key')!;
    expect(f.encodings).toEqual(['base64']);
    expect(f.fingerprints[0]!.id).toMatch(/^[0-9a-f]{32}$/);
    // The stored parts never hold the key: no run of it survives in the result.
    expect(JSON.stringify(out)).not.toContain(key.split('\n')[1]!.slice(0, 24));
    // The same request again on this stream: reported once.
    const again = s.chunk({ key: 'k', streamOffset: head.length + body.length, data: Buffer.from(head + body), missing: 0 });
    expect(again).toEqual([]);
  });

  it('finds a PEM key written to a raw (non-HTTP) stream across two writes', () => {
    const s = new EgressScanner(KEY);
    const cut = Math.floor(key.length / 2);
    const a = s.chunk({ key: 'r', streamOffset: 0, data: Buffer.from(`hello\n${key.slice(0, cut)}`), missing: 0 });
    const b = s.chunk({ key: 'r', streamOffset: 6 + cut, data: Buffer.from(key.slice(cut)), missing: 0 });
    const all = [...a, ...b];
    expect(all.flatMap((r) => r.findings.map((f) => f.class))).toContain('private-key');
    expect(all.every((r) => r.carrier === 'raw bytes')).toBe(true);
  });

  it('a chunked, gzip-free request with a cut (missing bytes) inside its body keeps framing and is scanned as cut', () => {
    const s = new EgressScanner(KEY);
    const b64 = Buffer.from(key).toString('base64');
    const chunk1 = `{"a":"${b64}",`;
    const head = 'POST /x HTTP/1.1\r\nhost: h\r\ntransfer-encoding: chunked\r\ncontent-type: application/json\r\n\r\n';
    const wire1 = `${head}${chunk1.length.toString(16)}\r\n${chunk1}\r\n`;
    const pad = 5000;
    const wire2head = `${pad.toString(16)}\r\n`;
    s.chunk({ key: 'c', streamOffset: 0, data: Buffer.from(wire1 + wire2head), missing: pad }); // the kernel cut `pad` bytes
    const out = s.chunk({ key: 'c', streamOffset: wire1.length + wire2head.length + pad, data: Buffer.from('\r\n0\r\n\r\n'), missing: 0 });
    expect(out.flatMap((r) => r.findings.map((f) => f.class))).toContain('private-key');
  });

  it('frames and records decode as content-ctl writes them; a broken frame length stops the reader', () => {
    const rec = Buffer.alloc(72 + 3);
    rec.writeBigUInt64LE(5n, 0);
    rec.writeBigUInt64LE(0xffff8888n, 8);
    rec.writeBigUInt64LE(10n, 16);
    rec.writeUInt32LE(1234, 32);
    rec.writeUInt32LE(3, 40);
    rec.writeUInt32LE(10, 44);
    rec[48] = 1; rec[49] = 1; rec[50] = 1; rec[51] = 1;
    rec.writeUInt16LE(2, 52);
    rec.writeUInt16LE(8080, 54);
    rec.set([127, 0, 0, 1], 56);
    rec.write('abc', 72);
    const frame = Buffer.concat([Buffer.from(new Uint32Array([1, rec.length]).buffer), rec]);
    const fr = new FrameReader();
    const got: Buffer[] = [];
    fr.push(frame.subarray(0, 10), (_t, p) => got.push(p));
    fr.push(frame.subarray(10), (_t, p) => got.push(p));
    expect(got).toHaveLength(1);
    const r = decodeContentRecord(got[0]!)!;
    expect(r).toMatchObject({ kind: 'data', connId: 'ffff8888', streamOffset: 10, tgid: 1234, missing: 7, source: 'socket', direction: 'egress', budgetExhausted: true, remote: '127.0.0.1:8080' });
    expect(r.data.toString()).toBe('abc');
    fr.push(Buffer.from(new Uint32Array([1, 0x7fffffff]).buffer), () => got.push(Buffer.alloc(0)));
    expect(fr.broken).toBe(true);
    expect(decodeContentRecord(Buffer.alloc(10))).toBeNull();
  });
});

describe.skipIf(process.getuid?.() !== 0)('secrets the agent read (looked at as the opener, never more)', () => {
  it('indexes a key the opener may read; a file the opener may not read stays unread', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'read-secrets-'));
    try {
      const key = opensshKey(dir);
      const open = join(dir, 'readable');
      const closed = join(dir, 'root-only');
      writeFileSync(open, key, { mode: 0o644 });
      writeFileSync(closed, key.replace(/[A-Za-z]/, 'Q'), { mode: 0o600 });
      execFileSync('chmod', ['0755', dir]);
      const reads = new ReadSecrets(KEY);
      // Opened by a process of this mount namespace (this one) as nobody: read with nobody's rights.
      const mntns = Number(/\d+/.exec(readlinkSync('/proc/self/ns/mnt'))![0]);
      const ev = (path: string) => ({ type: 'open', agent: 'a', agentPid: 1, pid: process.pid, mntns, uid: 65534, gid: 65534, path, result: 3, access: 'read' }) as unknown as SensorEvent;
      reads.note(ev(closed));
      await reads.settled();
      expect(reads.stats).toMatchObject({ looks: 1, failed: 1, secrets: 0 });
      reads.note(ev(open));
      reads.note(ev(open)); // once per path per minute
      await reads.settled();
      expect(reads.stats).toMatchObject({ looks: 2, secrets: 1 });
      // The same file version by another name (a symlink to it): known, not read or scanned again.
      symlinkSync(open, join(dir, 'same-inode')); // (a hard link would change its ctime: another version)
      reads.note(ev(join(dir, 'same-inode')));
      await reads.settled();
      expect(reads.stats).toMatchObject({ looks: 3, known: 1, secrets: 1 });
      // A directory listed (O_DIRECTORY) or an O_PATH handle reads no content: not looked at, not even walked.
      reads.note({ ...ev(join(dir, 'sub')), flags: fsConstants.O_DIRECTORY } as SensorEvent);
      reads.note({ ...ev(join(dir, 'readable-by-path')), flags: 0o10000000 } as SensorEvent);
      await reads.settled();
      expect(reads.stats).toMatchObject({ looks: 3, failed: 1 });
      // The base64 of that key in a JSON body, scanned by an egress scanner sharing the key: matched as read.
      const s = new EgressScanner(KEY, reads);
      const body = JSON.stringify({ c: Buffer.from(key).toString('base64') });
      const [res] = s.chunk({ key: 'x', streamOffset: 0, data: Buffer.from(`POST / HTTP/1.1\r\nhost: h\r\ncontent-length: ${body.length}\r\n\r\n${body}`), missing: 0 });
      const f = res!.findings.find((x) => x.class === 'private-key')!;
      expect(f.fingerprints.some((fp) => reads.known.has(fp.id) || res!.readIds.has(fp.id))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

if (skipReason) console.warn(`egress-content: kernel tests skipped: ${skipReason}`);

describe.skipIf(skipReason !== null)('secret_egress on the real kernel (sensor run + sensor launch)', () => {
  let dir: string;
  let stateDir: string;
  let run: Proc;
  let server: ReturnType<typeof spawn>;
  let tlsPort = 0;
  let httpPort = 0;
  const keyFile = () => join(dir, 'home', '.ssh', 'id_ed25519');

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'egress-e2e-'));
    stateDir = join(dir, 'state');
    mkdirSync(join(dir, 'home', '.ssh'), { recursive: true });
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', keyFile()]);
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'answer-key')]);
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'tls.key'), '-out', join(dir, 'tls.crt')], { stdio: 'ignore' });
    writeFileSync(join(dir, 'server.js'), `
const https = require('https'), http = require('http'), fs = require('fs');
const dir = process.argv[2];
const sink = (req, res) => { req.resume(); req.on('end', () => (req.url.startsWith('/sse/') ? sse(res) : res.end('{"ok":true}'))); };
// A scripted model: a streamed (SSE) tool call, a key in its text (answers are not DLP-scanned: no secret_egress).
const sse = (res) => {
  const args = JSON.stringify({ command: 'ls -la' });
  const key = fs.readFileSync(dir + '/answer-key', 'utf8');
  const chunks = [
    { choices: [{ index: 0, delta: { role: 'assistant', content: key, tool_calls: [{ index: 0, id: 'call_wire_1', type: 'function', function: { name: 'run_shell_command', arguments: '' } }] } }] },
    { choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: args.slice(0, 9) } }] } }] },
    { choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: args.slice(9) } }] } }] },
    { choices: [{ index: 0, delta: {}, finish_reason: 'tool_calls' }], usage: { prompt_tokens: 40, completion_tokens: 9, total_tokens: 49 } },
  ];
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  for (const c of chunks) res.write('data: ' + JSON.stringify({ id: 'x', object: 'chat.completion.chunk', created: 1, model: 'wire-model', ...c }) + '\\n\\n');
  res.end('data: [DONE]\\n\\n');
};
const s1 = https.createServer({ key: fs.readFileSync(dir + '/tls.key'), cert: fs.readFileSync(dir + '/tls.crt') }, sink).listen(0, '127.0.0.1', () => {
  const s2 = http.createServer(sink).listen(0, '127.0.0.1', () => fs.writeFileSync(dir + '/ports', s1.address().port + ' ' + s2.address().port));
});
setTimeout(() => process.exit(0), 300000);`);
    writeFileSync(join(dir, 'client.js'), `
const fs = require('fs');
const [, , keyPath, url, mode] = process.argv;
const key = fs.readFileSync(keyPath, 'utf8');
const content = mode === 'pem' ? key : mode === 'chat' ? 'list my files' : 'context: ' + Buffer.from(key).toString('base64');
const body = JSON.stringify({ model: 'm', messages: [{ role: 'user', content }], ...(mode === 'chat' ? { stream: true } : {}) });
fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
  .then((r) => r.text()).then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });`);
    server = spawn(process.execPath, [join(dir, 'server.js'), dir], { stdio: 'ignore' });
    await until(() => { try { return readFileSync(join(dir, 'ports'), 'utf8').includes(' '); } catch { return false; } }, 'test servers');
    [tlsPort, httpPort] = readFileSync(join(dir, 'ports'), 'utf8').split(' ').map(Number) as [number, number];
    run = await startSensorRun(stateDir, join(dir, 'c.sock'), ['--agent-comm', 'no-such-agent']);
  }, 120_000);

  afterAll(async () => {
    if (run) await stopSensorRun(run);
    server?.kill();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const launch = (agent: string, url: string, mode = 'b64') => spawnSync(process.execPath, [BIN, ...launchArgs(stateDir, agent), process.execPath,
    join(dir, 'client.js'), keyFile(), url, mode], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, NODE_EXTRA_CA_CERTS: join(dir, 'tls.crt') } });
  const alerts = (): Record<string, unknown>[] => {
    const txt = execFileSync(process.execPath, [BIN, 'alerts', '--state-dir', stateDir, '--json'], { encoding: 'utf8' }).trim();
    if (!txt) return [];
    try {
      const v = JSON.parse(txt) as unknown;
      return (Array.isArray(v) ? v : [v]) as Record<string, unknown>[];
    } catch {
      return txt.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    }
  };
  const leakOf = (agent: string) => alerts().find((a) => a.agent === agent && a.rule === 'secret_egress');

  it('TLS through node\'s own SSL_write: the base64 of the key in a JSON body is a critical secret_egress naming the destination', async () => {
    const agent = `egress-tls-${process.pid}`;
    const r = launch(agent, `https://127.0.0.1:${tlsPort}/v1/chat/completions`);
    expect(r.status, r.stderr).toBe(0);
    await until(() => leakOf(agent) !== undefined, 'the TLS secret_egress alert', 20_000);
    const a = leakOf(agent)!;
    expect(a.severity).toBe('critical');
    expect(String(a.subject)).toContain(`127.0.0.1:${tlsPort}`);
    expect(String(a.summary)).toMatch(/private-key as base64 .* over TLS in POST \/v1\/chat\/completions \(JSON body\)/);
    expect(run.err()).toMatch(/egress content: TLS uprobes on \/\S+/);
    // The key's bytes are not in the alert.
    const pem = readFileSync(keyFile(), 'utf8').split('\n')[1]!;
    expect(JSON.stringify(a)).not.toContain(pem.slice(0, 24));
    expect(JSON.stringify(a)).not.toContain(Buffer.from(readFileSync(keyFile())).toString('base64').slice(0, 40));
  }, 90_000);

  it('plain HTTP: the same POST over a plain socket; a PEM key as such too', async () => {
    const agent = `egress-plain-${process.pid}`;
    const r = launch(agent, `http://127.0.0.1:${httpPort}/v1/chat/completions`);
    expect(r.status, r.stderr).toBe(0);
    await until(() => leakOf(agent) !== undefined, 'the plain secret_egress alert', 20_000);
    const a = leakOf(agent)!;
    expect(a.severity).toBe('critical');
    expect(String(a.subject)).toBe(`127.0.0.1:${httpPort}`);
    expect(String(a.summary)).toContain('over a plain socket');
    // The client read the key file before sending it: looked at as its uid, matched by fingerprint.
    expect(String(a.summary)).toContain('(read by the agent)');
    const agent2 = `egress-pem-${process.pid}`;
    expect(launch(agent2, `http://127.0.0.1:${httpPort}/upload`, 'pem').status).toBe(0);
    await until(() => leakOf(agent2) !== undefined, 'the PEM secret_egress alert', 20_000);
    expect(String(leakOf(agent2)!.summary)).toMatch(/sent private-key x1/);
  }, 90_000);

  it('plain HTTP answers: a tool call streamed back (SSE) is rebuilt from the wire, paired with its request; the answer is not DLP-scanned', async () => {
    const agent = `egress-answer-${process.pid}`;
    const r = launch(agent, `http://127.0.0.1:${httpPort}/sse/v1/chat/completions`, 'chat');
    expect(r.status, r.stderr).toBe(0);
    const calls = () => {
      const d = new Database(join(stateDir, 'events.db'), { readonly: true });
      try {
        return d.prepare(`SELECT c.call_id, c.tool_name, c.kind, c.subject, c.args_sha256, t.source, t.api, t.model, t.response_model, t.output_tokens, t.remote
          FROM tool_calls c JOIN model_turns t ON t.id = c.turn_id WHERE t.agent = ?`).all(agent) as Record<string, unknown>[];
      } finally {
        d.close();
      }
    };
    await until(() => calls().length > 0, 'the tool call from the plain HTTP answer', 20_000).catch((e) => { console.log(run.err().slice(-4000)); throw e; });
    // The request's model and the answer's (model, tokens, the call's streamed arguments joined): one exchange.
    expect(calls()).toEqual([{
      call_id: 'call_wire_1', tool_name: 'run_shell_command', kind: 'shell', subject: 'ls -la',
      args_sha256: createHash('sha256').update(JSON.stringify({ command: 'ls -la' })).digest('hex'),
      source: 'http', api: 'openai.chat', model: 'm', response_model: 'wire-model', output_tokens: 9, remote: `127.0.0.1:${httpPort}`,
    }]);
    // The key in the answer's text went to the parser, not to the egress scanner (a finding waits 3 s at most).
    await new Promise((ok) => setTimeout(ok, 3500));
    expect(leakOf(agent)).toBeUndefined();
  }, 90_000);

  it('sensor status --state-dir says per agent whether its TLS content is visible', async () => {
    const agent = `egress-sh-${process.pid}`;
    const r = spawnSync(process.execPath, [BIN, ...launchArgs(stateDir, agent), '/bin/sh', '-c', 'sleep 1'], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const status = () => spawnSync(process.execPath, [BIN, 'status', '--collector', `unix://${join(dir, 'c.sock')}`, '--state-dir', stateDir], { encoding: 'utf8', timeout: 30_000 }).stdout;
    await until(() => status().includes(`egress content: not visible for agent ${agent}`), 'the not-visible line', 15_000);
    const out = status();
    expect(out).toMatch(new RegExp(`egress content: not visible for agent ${agent} \\(/usr/bin/(dash|bash|sh)\\): no SSL_write/SSL_read; plain sockets only`));
    expect(out).toContain(`egress content: visible for agent egress-tls-${process.pid}`);
  }, 90_000);

  it('a process that is not an agent sends the same and raises nothing', async () => {
    const r = spawnSync(process.execPath, [join(dir, 'client.js'), keyFile(), `http://127.0.0.1:${httpPort}/v1/chat/completions`], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    // Only secret_egress counts here: the marker agent's read-then-connect may raise other rules too (exfiltration).
    const leaks = () => alerts().filter((a) => a.rule === 'secret_egress');
    const before = leaks().length;
    // A marker agent after it: once its alert is stored, the untracked one would have been too.
    const marker = `egress-marker-${process.pid}`;
    expect(launch(marker, `http://127.0.0.1:${httpPort}/m`).status).toBe(0);
    await until(() => leakOf(marker) !== undefined, 'the marker alert', 20_000).catch((e) => { console.log(run.err().slice(-6000)); throw e; });
    const after = leaks();
    if (after.length !== before + 1) console.log(run.err().slice(-6000));
    expect(after.length).toBe(before + 1);
    expect(after.some((a) => a.agent === marker)).toBe(true);
  }, 90_000);
});

describe.skipIf(skipReason !== null).each(['socket', 'syscall'] as const)('the content-capture object on the real kernel (content-ctl alone, %s level)', (mode) => {
  /** A python writer that waits for a line on stdin, then sends `sizes` writes to a loopback sink. */
  const writer = (port: number, sizes: number[]) => spawn('python3', ['-c', `
import socket, sys
sys.stdin.readline()
s = socket.create_connection(("127.0.0.1", ${port}))
for n in ${JSON.stringify(sizes)}:
    s.sendall(b"k" * n)
s.close()
print("done", flush=True)
`], { stdio: ['pipe', 'pipe', 'inherit'] });
  const finished = (c: ReturnType<typeof spawn>) => new Promise<void>((r) => c.once('exit', () => r()));
  /** Lets a child waiting for 'go' run to its end, untracked. */
  const runUntracked = async (c: ReturnType<typeof spawn>) => {
    c.stdin!.write('go\n');
    await finished(c);
  };
  /** Tracks a child waiting for 'go' (the track command in force before it goes), then lets it run to its end. */
  const runTracked = async (ctl: { track(pid: number): void; counters(): Promise<unknown> }, c: ReturnType<typeof spawn>) => {
    ctl.track(c.pid!);
    await ctl.counters(); // the track command is applied before this answer
    await runUntracked(c);
  };

  it('copies a tracked process\'s writes within the bounds and counts what it cuts; an untracked one costs no record', async () => {
    const { ContentCtl } = await import('../sensor/content/content-ctl.js');
    const net = await import('node:net');
    const sink = net.createServer((c) => c.resume());
    await new Promise<void>((r) => sink.listen(0, '127.0.0.1', () => r()));
    const port = (sink.address() as { port: number }).port;
    const recs: import('../sensor/content/content-record.js').ContentRecord[] = [];
    const ctl = await ContentCtl.start({ maxWrite: 1024, maxConnEgress: 3500, maxConnIngress: 4096 }, (r) => recs.push(r), undefined, undefined, undefined, mode);
    expect(ctl.mode).toBe(mode);
    try {
      // Untracked: nothing copied.
      const other = writer(port, [3000]);
      await runUntracked(other);
      await new Promise((r) => setTimeout(r, 300));
      expect(recs.filter((r) => r.tgid === other.pid)).toHaveLength(0);
      // Tracked, 1024 B a write and 3500 B a connection: 3000 B (1024 kept), 3000 B (500 kept: the budget ends
      // inside it, flagged), then 3000 B and 500 B after the budget (nothing but counters).
      const w = writer(port, [3000, 3000, 3000, 500]);
      await runTracked(ctl, w);
      await until(() => recs.filter((r) => r.tgid === w.pid).length >= 2, 'the tracked writer\'s records', 10_000);
      await new Promise((r) => setTimeout(r, 300));
      const mine = recs.filter((r) => r.tgid === w.pid && r.source === 'socket');
      expect(mine[0]!.remote).toBe(`127.0.0.1:${port}`);
      expect(mine.every((r) => r.data.every((b) => b === 0x6b))).toBe(true);
      const c = (await ctl.counters())!;
      expect(c.lostRecords).toBe(0);
      if (mode === 'syscall') {
        // Per write: 1024 B of each, the budget ending inside the second.
        expect(mine.map((r) => r.streamOffset)).toEqual([0, 3000]);
        expect(mine.map((r) => r.data.length)).toEqual([1024, 500]);
        expect(mine.map((r) => r.missing)).toEqual([1976, 2500]);
        expect(mine.map((r) => r.budgetExhausted)).toEqual([false, true]);
        expect(c.cutWriteBytes).toBe(2 * 1976);
        expect(c.cutConnBytes).toBe(524 + 3000 + 500);
      } else {
        // Per packet: records of at most 1024 B, up to 8 of them a packet, so the stream is whole up to the
        // budget (3500 B) whether or not the stack merged writes into one segment; the rest is counted cut.
        expect(mine.every((r) => r.data.length <= 1024)).toBe(true);
        let next = 0;
        for (const r of mine) {
          expect(r.streamOffset).toBe(next);
          next += r.data.length;
        }
        expect(next).toBe(3500);
        expect(mine.map((r) => r.budgetExhausted)).toEqual(mine.map((_, i) => i === mine.length - 1));
        expect(c.cutWriteBytes + c.cutConnBytes).toBe(9500 - 3500);
      }
      if (mode === 'socket') expect(c.sockets).toBeGreaterThanOrEqual(1);
    } finally {
      await ctl.stop();
      sink.close();
    }
  }, 60_000);

  it('a socket the process connected before it was tracked is captured from the first write after (and, socket level, its answer)', async () => {
    const { ContentCtl } = await import('../sensor/content/content-ctl.js');
    const net = await import('node:net');
    const sink = net.createServer((c) => c.once('data', () => c.write('early-answer')));
    await new Promise<void>((r) => sink.listen(0, '127.0.0.1', () => r()));
    const port = (sink.address() as { port: number }).port;
    const recs: import('../sensor/content/content-record.js').ContentRecord[] = [];
    const ctl = await ContentCtl.start({ maxWrite: 16384, maxConnEgress: 65536, maxConnIngress: 4096 }, (r) => recs.push(r), undefined, undefined, undefined, mode);
    const w = spawn('python3', ['-c', `
import socket, sys
s = socket.create_connection(("127.0.0.1", ${port}))
print("connected", flush=True)
sys.stdin.readline()
s.sendall(b"early-socket-payload")
s.recv(100)
s.close()
`], { stdio: ['pipe', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((r) => w.stdout!.once('data', () => r()));
      await runTracked(ctl, w);
      await until(() => recs.some((r) => r.tgid === w.pid), 'the record of the early socket', 10_000);
      await new Promise((r) => setTimeout(r, 300));
      const mine = recs.filter((r) => r.tgid === w.pid && r.direction === 'egress');
      expect(Buffer.concat(mine.map((r) => r.data)).toString()).toBe('early-socket-payload');
      expect(mine[0]!.streamOffset).toBe(0);
      // Received: offsets from the first segment seen after the track.
      const answer = recs.filter((r) => r.tgid === w.pid && r.direction === 'ingress');
      expect(answer.map((r) => [r.streamOffset, r.data.toString()])).toEqual(mode === 'socket' ? [[0, 'early-answer']] : []);
    } finally {
      await ctl.stop();
      sink.close();
    }
  }, 60_000);

  it('what a tracked process receives: from the peer\'s first byte, bounded per connection, the peer named (socket level); nothing at the syscall level', async () => {
    const { ContentCtl } = await import('../sensor/content/content-ctl.js');
    const net = await import('node:net');
    // Answers a line with 5000 B then 9 B, and closes.
    const server = net.createServer((c) => c.once('data', () => { c.write('a'.repeat(5000)); c.end('last-bits'); }));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;
    const recs: import('../sensor/content/content-record.js').ContentRecord[] = [];
    const ctl = await ContentCtl.start({ maxWrite: 1024, maxConnEgress: 4096, maxConnIngress: 3000 }, (r) => recs.push(r), undefined, undefined, undefined, mode);
    const reader = () => spawn('python3', ['-c', `
import socket, sys
sys.stdin.readline()
s = socket.create_connection(("127.0.0.1", ${port}))
s.sendall(b"ask\\n")
n = 0
while True:
    d = s.recv(65536)
    if not d: break
    n += len(d)
print(n, flush=True)
`], { stdio: ['pipe', 'pipe', 'inherit'] });
    try {
      const other = reader();
      await runUntracked(other);
      const w = reader();
      await runTracked(ctl, w);
      await until(() => recs.some((r) => r.tgid === w.pid), 'the tracked reader\'s records', 10_000);
      await new Promise((r) => setTimeout(r, 300));
      expect(recs.filter((r) => r.tgid === other.pid)).toHaveLength(0);
      const got = recs.filter((r) => r.tgid === w.pid && r.direction === 'ingress');
      if (mode === 'syscall') {
        expect(got).toHaveLength(0);
        return;
      }
      // Offsets from the peer's first byte (its SYN-ACK), records of at most 1024 B, the 3000 B budget ending in the
      // first 5000 B (flagged), the rest counted as cut; the peer as the address; no thread (softirq).
      let next = 0;
      for (const r of got) {
        expect(r.streamOffset).toBe(next);
        next += r.data.length;
      }
      expect(next).toBe(3000);
      expect(got.every((r) => r.source === 'socket' && !r.udp && r.tid === 0 && r.remote === `127.0.0.1:${port}` && r.data.every((b) => b === 0x61))).toBe(true);
      expect(got.map((r) => r.budgetExhausted)).toEqual(got.map((_, i) => i === got.length - 1));
      expect(got[0]!.connId).toBe(recs.find((r) => r.tgid === w.pid && r.direction === 'egress')!.connId);
      const c = (await ctl.counters())!;
      expect(c.cutWriteBytes + c.cutConnBytes).toBe(5009 - 3000);
      expect(c.lostRecords).toBe(0);
    } finally {
      await ctl.stop();
      server.close();
    }
  }, 60_000);

  it('UDP: each datagram captured on its own, offsets summing the datagrams, bounded per datagram, answers too (socket level); untracked senders leave nothing', async () => {
    const { ContentCtl } = await import('../sensor/content/content-ctl.js');
    const dgram = await import('node:dgram');
    const sink = dgram.createSocket('udp4');
    // Answers each datagram with 30 B.
    sink.on('message', (_m, from) => sink.send(Buffer.alloc(30, 0x72), from.port, from.address));
    await new Promise<void>((r) => sink.bind(0, '127.0.0.1', () => r()));
    const port = sink.address().port;
    const recs: import('../sensor/content/content-record.js').ContentRecord[] = [];
    const ctl = await ContentCtl.start({ maxWrite: 100, maxConnEgress: 4096, maxConnIngress: 4096 }, (r) => recs.push(r), undefined, undefined, undefined, mode);
    // sendto without connect (cgroup/sendmsg4 registers the socket), then a connected socket's send (connect4).
    const sender = () => spawn('python3', ['-c', `
import socket, sys
sys.stdin.readline()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for n in (50, 300):
    u.sendto(b"u" * n, ("127.0.0.1", ${port}))
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
c.connect(("127.0.0.1", ${port}))
c.send(b"c" * 70)
u.recv(100); u.recv(100); c.recv(100)
print("done", flush=True)
`], { stdio: ['pipe', 'pipe', 'inherit'] });
    try {
      const other = sender();
      await runUntracked(other);
      const w = sender();
      await runTracked(ctl, w);
      await until(() => recs.filter((r) => r.tgid === w.pid).length >= 3, 'the tracked sender\'s datagrams', 10_000);
      await new Promise((r) => setTimeout(r, 300));
      expect(recs.filter((r) => r.tgid === other.pid)).toHaveLength(0);
      const mine = recs.filter((r) => r.tgid === w.pid && r.direction === 'egress');
      // The answers: one record a datagram on the socket it came to, from the sink; none at the syscall level.
      const answers = recs.filter((r) => r.tgid === w.pid && r.direction === 'ingress');
      expect(answers.map((r) => [r.connId, r.streamOffset, r.data.length, r.remote, r.udp])).toEqual(mode === 'syscall' ? []
        : [mine[0]!.connId, mine[0]!.connId, mine.at(-1)!.connId].map((conn, i) => [conn, i === 1 ? 30 : 0, 30, `127.0.0.1:${port}`, true]));
      expect(mine.every((r) => r.udp && r.source === 'socket')).toBe(true);
      // The packet names its destination; the syscall level reads the socket's peer, which an unconnected one lacks.
      expect(mine.filter((r) => r.remote === `127.0.0.1:${port}`)).toHaveLength(mode === 'socket' ? mine.length : 1);
      const byConn = new Map<string, typeof mine>();
      for (const r of mine) byConn.set(r.connId, [...(byConn.get(r.connId) ?? []), r]);
      // 100 B a write (syscall level: 200 B cut); records of 100 B, up to 8 a packet (socket level: the 300 B whole).
      const big = mode === 'syscall' ? [[50, 100, 200]] : [[50, 100, 0], [150, 100, 0], [250, 100, 0]];
      expect([...byConn.values()].map((rs) => rs.map((r) => [r.streamOffset, r.data.length, r.missing]))).toEqual([[[0, 50, 0], ...big], [[0, 70, 0]]]);
      expect((await ctl.counters())!.cutWriteBytes).toBe(mode === 'syscall' ? 200 : 0);
    } finally {
      await ctl.stop();
      sink.close();
    }
  }, 60_000);
});
