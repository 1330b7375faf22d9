// The bpftrace fallback backend. Unit part: output decoding and record
// assembly on recorded lines (no kernel). Live part (root + bpftrace): a
// small agent program runs under BpftraceBackend and its events are checked
// exactly; a non-agent doing the same yields no open/connect events.
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConnectEvent, DnsEvent, ExecEvent, ForkEvent, OpenEvent } from '../proto/events/types.js';
import { AGENT_CANDIDATE, type KernelEvent } from '../sensor/backends/backend.js';
import { BpftraceBackend } from '../sensor/backends/bpftrace.js';
import { parseMessage, splitFields, unescapeJsonBytes } from '../sensor/backends/bpftrace/lines.js';
import { RecordDecoder } from '../sensor/backends/bpftrace/records.js';
import { generateScript } from '../sensor/backends/bpftrace/script.js';

function rx(bytes: Buffer | string): string {
  return [...Buffer.from(bytes)].map((b) => `\\x${b.toString(16).padStart(2, '0')}`).join('');
}

const COMM = rx(Buffer.concat([Buffer.from('agent'), Buffer.alloc(11)]));
const PIDTID = ((100n << 32n) | 101n).toString();
const HDR = `1000 ${PIDTID} 1 ${(1000n << 32n) | 1000n} 42 7 ${(11n << 32n) | 12n} ${COMM}`;

describe('bpftrace output decoding', () => {
  it('decodes bpftrace 0.17 escapes byte-exact, \\uffffffXX included', () => {
    const line = '{"type": "printf", "data": "P 5 /tmp/a\\n\\u001f\\uffffffff\\uffffffc3\\uffffffa9\\\\\\"b\\n"}';
    const msg = parseMessage(line);
    expect(msg.kind).toBe('printf');
    const data = (msg as { data: Buffer }).data;
    expect([...data]).toEqual([...Buffer.from('P 5 /tmp/a\n\x1f'), 0xff, 0xc3, 0xa9, ...Buffer.from('\\"b\n')]);
    expect(unescapeJsonBytes('\\uffffff41', 0, 10)).toBeNull(); // sign-extended form is only for bytes >= 0x80
    expect(unescapeJsonBytes('\\q', 0, 2)).toBeNull();
  });

  it('reads bpftrace control messages', () => {
    expect(parseMessage('{"type": "attached_probes", "data": {"probes": 37}}')).toEqual({ kind: 'attached', probes: 37 });
    expect(parseMessage('{"type": "lost_events", "data": {"events": 12}}')).toEqual({ kind: 'lost', events: 12 });
    expect(parseMessage('Lost 5 events')).toEqual({ kind: 'lost', events: 5 });
  });

  it('keeps spaces in the trailing free-form field', () => {
    const s = splitFields(Buffer.from('P 12 /a b  c\n'), 2)!;
    expect(s.fields.map(String)).toEqual(['P', '12']);
    expect(s.rest.toString()).toBe('/a b  c');
  });
});

describe('record assembly', () => {
  const decoder = () => new RecordDecoder(5_000_000_000n, () => 0);
  const push = (d: RecordDecoder, lines: string[]) => {
    const out: KernelEvent[] = [];
    for (const l of lines) d.push(Buffer.from(l + '\n', 'latin1'), out);
    return out;
  };

  it('pairs an exec with its filename and argv pieces in any order', () => {
    const argv = Buffer.from('tool\0--flag\0x\ny\0');
    const out = push(decoder(), [`A 100 0 ${rx(argv)}`, `E ${HDR} 777 ${argv.length}`, 'F 100 /usr/bin/tool']);
    expect(out).toHaveLength(1);
    const e = out[0] as ExecEvent & KernelEvent;
    expect(e).toMatchObject({ type: 'exec', pid: 100, tid: 101, ppid: 1, uid: 1000, gid: 1000, comm: 'agent', cgroupId: '42',
      netns: 11, mntns: 12, agentId: 7, pending: false, filename: '/usr/bin/tool', argv: ['tool', '--flag', 'x\ny'], startNs: '777',
      tsNs: '5000001000' });
    expect(e.truncated).toBeUndefined();
  });

  it('marks candidates pending', () => {
    const hdr = HDR.replace(' 42 7 ', ` 42 ${AGENT_CANDIDATE} `);
    const out = push(decoder(), [`K ${hdr} 9`]);
    expect(out[0]).toMatchObject({ type: 'fork', agentId: AGENT_CANDIDATE, pending: true, startNs: '9' });
  });

  it('emits an exec whose argv piece was lost as truncated, when the next record of the pid arrives', () => {
    const d = decoder();
    expect(push(d, [`E ${HDR} 1 300`, 'F 100 /bin/x', `A 100 0 ${rx(Buffer.alloc(192, 0x61))}`])).toHaveLength(0);
    const out = push(d, [`E ${HDR} 2 3`]);
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ type: 'exec', startNs: '1', truncated: true });
    expect(d.stats.partsMissing).toBe(1);
  });

  it('builds open events with flags, mode, syscall and an absolute path', () => {
    const flagsMode = ((0o1101n << 32n) | 0o644n).toString(); // O_CREAT|O_TRUNC|O_WRONLY
    const dfdNr = ((0xffffff9cn << 32n) | 2n).toString(); // AT_FDCWD, openat
    const out = push(decoder(), [`O ${HDR} -13 ${flagsMode} ${dfdNr} 0`, 'P 101 /etc/../etc/x y']);
    expect(out[0]).toMatchObject({ type: 'open', result: -13, flags: 0o1101, mode: 0o644, access: 'write', syscall: 'openat',
      path: '/etc/x y', rawPath: '/etc/../etc/x y' });
  });

  it('builds connect events for inet, inet6 and abstract unix', () => {
    const kindTcp = (1n << 16n) | 6n;
    const v4 = push(decoder(), [`C ${HDR} -111 ${3n << 32n} ${(2n << 48n) | (0x5000n << 32n) | kindTcp} ${0x0100007fn << 32n} 0`]);
    expect(v4[0]).toMatchObject({ type: 'connect', family: 'inet', proto: 'tcp', addr: '127.0.0.1', port: 80, result: -111 });
    const one = 0x01000000n; // ::1 last word as the CPU reads it
    const v6 = push(decoder(), [`C ${HDR} 0 ${3n << 32n} ${(10n << 48n) | (0x3500n << 32n) | ((2n << 16n) | 17n)} 0 ${one}`]);
    expect(v6[0]).toMatchObject({ family: 'inet6', proto: 'udp', addr: '::1', port: 53 });
    const name = Buffer.from('\0x\n');
    const un = push(decoder(), [`U 101 ${rx(name)}`, `C ${HDR} 0 ${(3n << 32n) | 3n} ${(1n << 48n) | (1n << 16n)} 0 0`]);
    expect(un[0]).toMatchObject({ family: 'unix', proto: 'unix', addr: '@x\n', port: 0 });
  });

  it('builds dns events from a send to port 53 and its payload, per sendmmsg message', () => {
    const q = (id: number, type: number) => Buffer.from([0, id, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0x61, 2, 0x69, 0x6f, 0, 0, type, 0, 1]);
    const famPortKind = (2n << 48n) | (0x3500n << 32n) | ((2n << 16n) | 17n);
    const v4 = ((0x0100007fn << 32n)).toString();
    const d = decoder();
    const out = push(d, [`Q 101 1 ${rx(q(2, 28))}`, `N ${HDR} 0 5 ${famPortKind} ${v4} 0 22`, `N ${HDR} 1 5 ${famPortKind} ${v4} 0 22`,
      `Q 101 0 ${rx(q(1, 1))}`, `N ${HDR} 0 5 ${famPortKind} ${v4} 0 3`, `Q 101 0 ${rx(Buffer.from('abc'))}`]);
    expect(out.map((e) => e.type === 'dns' && [e.qname, e.qtype, e.addr, e.port])).toEqual([['a.io', 'AAAA', '127.0.0.1', 53], ['a.io', 'A', '127.0.0.1', 53]]);
    expect(d.stats.dnsUnparsed).toBe(1);
  });

  it('counts garbage without throwing', () => {
    const d = decoder();
    expect(push(d, ['E 1 2', 'Z what', 'O nonsense', 'C'])).toEqual([]);
    expect(d.stats.parseErrors).toBe(4);
  });

  it('generates a script with rules and tracked pids baked into BEGIN', () => {
    const s = generateScript({ traceAll: false, selfPid: 1, rules: [{ kind: 'comm', key: 'claude', agentId: 3, candidate: false },
      { kind: 'cgroup', key: 77n, agentId: 4, candidate: true }], tracked: new Map([[55, 3]]), exitHasGroupDead: true,
    syscalls: new Set(['sys_enter_openat', 'sys_exit_openat', 'sys_exit_clone']) });
    expect(s).toContain('@rc["claude"] = 3;');
    expect(s).toContain(`@rg[(uint64)77] = ${AGENT_CANDIDATE};`);
    expect(s).toContain('@tr[(uint64)55] = 3;');
    expect(s).not.toContain('sys_enter_openat2');
  });
});

// ---- live: real kernel, real bpftrace ----

function liveSkipReason(): string | null {
  if (process.getuid?.() !== 0) return 'not root';
  for (const tool of ['bpftrace', 'bpftool', 'cc']) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      return `${tool} not installed`;
    }
  }
  return null;
}

const skip = liveSkipReason();
if (skip) console.log(`bpftrace live tests skipped: ${skip}`);

describe.skipIf(skip !== null)('BpftraceBackend on the live kernel', () => {
  let dir: string;
  let agentBin: string;
  let trackedBin: string;
  let otherBin: string;
  let candidateBin: string;
  let known: string;
  let server: Server;
  let port: number;
  let backend: BpftraceBackend;
  const events: KernelEvent[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'bpftrace-test-'));
    agentBin = join(dir, 'bpftrace-agent');
    execFileSync('cc', ['-O1', '-o', agentBin, join(__dirname, 'fixtures/bpftrace-agent.c')]);
    trackedBin = join(dir, 'tracked-prog');
    otherBin = join(dir, 'other-prog');
    copyFileSync(agentBin, trackedBin);
    copyFileSync(agentBin, otherBin);
    candidateBin = join(dir, 'candidate-prog');
    copyFileSync(agentBin, candidateBin);
    execFileSync('chmod', ['+x', trackedBin, otherBin, candidateBin]);
    known = join(dir, 'known.txt');
    writeFileSync(known, 'hello');
    server = createServer((s) => s.destroy());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
    backend = new BpftraceBackend({ traceAll: false, selfPid: process.pid });
    await backend.start((evs) => events.push(...evs));
    backend.setRule({ kind: 'comm', key: 'bpftrace-agent', agentId: 5, candidate: false });
    await backend.settled();
  }, 120_000);

  afterAll(async () => {
    await backend?.stop();
    server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  /** Runs a fixture to its end; resolves with its pid. */
  function run(bin: string, wait: boolean, beforeGo?: (pid: number) => Promise<void>): Promise<number> {
    return new Promise((resolve, reject) => {
      const child = spawn(bin, [known, String(port), ...(wait ? ['wait'] : [])], { cwd: dir, stdio: ['pipe', 'ignore', 'inherit'] });
      child.on('error', reject);
      child.on('exit', () => resolve(child.pid!));
      if (wait) void (beforeGo ? beforeGo(child.pid!) : Promise.resolve()).then(() => child.stdin!.end('g'));
      else child.stdin!.end();
    });
  }

  /** Waits (bounded) until `pred` holds over the events seen so far. */
  async function until(pred: () => boolean, ms = 20_000): Promise<void> {
    const end = Date.now() + ms;
    while (!pred() && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  }

  /** Records from different CPUs arrive in any order: wait for the whole set, not the first exit. */
  function passes(fn: () => void): boolean {
    try {
      fn();
      return true;
    } catch {
      return false;
    }
  }

  function check(pid: number, agentId: number, comm: string, expectExec: boolean): void {
    const mine = events.filter((e) => e.pid === pid);
    const exec = mine.find((e) => e.type === 'exec') as (ExecEvent & KernelEvent) | undefined;
    if (expectExec) {
      expect(exec).toMatchObject({ filename: join(dir, comm), argv: [join(dir, comm), known, String(port), 'wait'], agentId, pending: false, ppid: process.pid });
    }
    const opens = mine.filter((e) => e.type === 'open') as OpenEvent[];
    const byPath = (p: string) => opens.find((o) => o.path === p);
    expect(byPath(known)).toMatchObject({ flags: 0, access: 'read', syscall: 'openat' });
    expect(byPath(known)!.result).toBeGreaterThanOrEqual(0);
    expect(byPath(join(dir, 'missing-file'))).toMatchObject({ rawPath: 'missing-file', result: -2, syscall: 'openat', access: 'read' });
    const created = byPath(join(dir, 'new\nline'));
    expect(created).toMatchObject({ rawPath: 'new\nline', syscall: 'creat', flags: 0o1101, mode: 0o600, access: 'write' });
    expect(created!.result).toBeGreaterThanOrEqual(0);
    // bpftrace reads 199 bytes of a path; the rest is cut and the event says so
    expect(opens.find((o) => typeof o.path === 'string' && o.path.startsWith('/LLL'))).toMatchObject({
      path: '/' + 'L'.repeat(198), truncated: true, result: -36 }); // one 299-byte name: ENAMETOOLONG
    const changes = mine.filter((e) => e.type === 'unlink' || e.type === 'rename' || e.type === 'link')
      .map((e) => ({ ...e, comm: undefined, ts: undefined, tsNs: undefined, tid: undefined, uid: undefined, gid: undefined,
        cgroupId: undefined, netns: undefined, mntns: undefined, ppid: undefined, agent: undefined }));
    const at = (n: string) => join(dir, n);
    // one thread, but it may move between CPUs, whose buffers bpftrace reads in turn: order is not kept
    expect(changes).toHaveLength(6);
    expect(changes).toEqual(expect.arrayContaining([
      expect.objectContaining({ type: 'rename', path: at('new\nline'), newpath: at('renamed'), flags: 0, result: 0, pid, agentId }),
      expect.objectContaining({ type: 'link', path: at('renamed'), newpath: at('hard'), symbolic: false, result: 0 }),
      expect.objectContaining({ type: 'link', path: 'target text', newpath: at('sym'), symbolic: true, result: 0 }),
      expect.objectContaining({ type: 'unlink', path: at('hard'), rmdir: false, result: 0 }),
      expect.objectContaining({ type: 'unlink', path: at('sym'), rmdir: false, result: 0 }),
      expect.objectContaining({ type: 'unlink', path: at('dir'), rmdir: true, result: 0 }),
    ]));
    const connects = mine.filter((e) => e.type === 'connect') as ConnectEvent[];
    expect(connects).toEqual(expect.arrayContaining([
      expect.objectContaining({ family: 'inet', proto: 'tcp', addr: '127.0.0.1', port, result: 0, agentId }),
      expect.objectContaining({ family: 'unix', proto: 'unix', addr: '@bt-test\n', result: -111 }),
      expect.objectContaining({ family: 'inet', proto: 'udp', addr: '127.0.0.1', port: 53, result: 0, datagram: true }),
    ]));
    expect(connects.filter((c) => c.datagram)).toHaveLength(1);
    const dns = mine.filter((e) => e.type === 'dns') as DnsEvent[];
    expect(dns.map((d) => ({ qname: d.qname, qtype: d.qtype, addr: d.addr, port: d.port }))).toEqual(expect.arrayContaining([
      { qname: 'example.com', qtype: 'A', addr: '127.0.0.1', port: 53 },
      { qname: 'agent.test', qtype: 'A', addr: '::1', port: 53 },
      { qname: 'agent.test', qtype: 'AAAA', addr: '::1', port: 53 },
    ]));
    const fork = events.find((e) => e.type === 'fork' && e.ppid === pid) as (ForkEvent & KernelEvent) | undefined;
    expect(fork).toMatchObject({ agentId, comm });
    const childExec = events.find((e) => e.type === 'exec' && e.pid === fork!.pid) as ExecEvent | undefined;
    expect(childExec).toMatchObject({ filename: '/bin/true', argv: ['true', 'arg with space'], ppid: pid });
    expect(events.find((e) => e.type === 'exit' && e.pid === fork!.pid)).toMatchObject({ code: 0, signal: null });
    expect(mine.find((e) => e.type === 'exit')).toMatchObject({ code: 3, signal: null, agentId });
    for (const e of mine) {
      expect(e.comm === comm || e.type === 'exit' || e.type === 'exec').toBe(true);
      expect(Math.abs(Number(BigInt(e.tsNs) / 1_000_000n) - Date.now())).toBeLessThan(30_000);
    }
  }

  it('reports an agent matched by a comm rule: exec, opens, connects, fork+exec, exits', async () => {
    // Relative paths are resolved from /proc/<pid>/cwd, read when user space
    // learns of the process (here: its exec record). The fixture waits until
    // then, so the test asserts exact paths instead of racing a fast exit.
    const pid = await run(agentBin, true, (p) => until(() => events.some((e) => e.type === 'exec' && e.pid === p)));
    await until(() => passes(() => check(pid, 5, 'bpftrace-agent', true)));
    check(pid, 5, 'bpftrace-agent', true);
  }, 60_000);

  it('reports a process put under watch with track() after start', async () => {
    const pid = await run(trackedBin, true, async (p) => {
      backend.track(p, 9);
      await backend.settled();
    });
    await until(() => passes(() => check(pid, 9, 'tracked-prog', false)));
    check(pid, 9, 'tracked-prog', false);
  }, 60_000);

  it('matches an exe rule as a candidate: pending until track() decides', async () => {
    backend.setRule({ kind: 'exe', key: candidateBin, agentId: 11, candidate: true });
    await backend.settled();
    const pid = await run(candidateBin, true, async (p) => {
      // the exec is in: the process is an undecided candidate until user space says
      await until(() => events.some((e) => e.type === 'exec' && e.pid === p));
      backend.track(p, 12);
      await backend.settled();
    });
    await until(() => passes(() => check(pid, 12, 'candidate-prog', false)));
    expect(events.find((e) => e.type === 'exec' && e.pid === pid)).toMatchObject({ agentId: AGENT_CANDIDATE, pending: true, filename: candidateBin });
    check(pid, 12, 'candidate-prog', false);
  }, 60_000);

  it('stops reporting a process after untrack()', async () => {
    const pid = await run(trackedBin, true, async (p) => {
      backend.track(p, 9);
      backend.untrack(p);
      await backend.settled();
    });
    const marker = await run(agentBin, false);
    await until(() => events.some((e) => e.type === 'exit' && e.pid === marker));
    expect(events.filter((e) => e.pid === pid || e.ppid === pid)).toEqual([]);
  }, 60_000);

  it('reports nothing for a process that is not an agent', async () => {
    const pid = await run(otherBin, false);
    // the agent runs after it, so its events prove the pipeline flushed past the other one's
    const marker = await run(agentBin, false);
    await until(() => events.some((e) => e.type === 'exit' && e.pid === marker));
    expect(events.filter((e) => e.pid === pid || e.ppid === pid)).toEqual([]);
    const c = backend.counters();
    expect(c.delivered).toBeGreaterThan(0);
    expect(c.other.parseErrors).toBe(0);
    expect(c.other.mapUpdateFailed).toBe(0);
    expect(c.other.bpftraceDied).toBe(0);
    expect(backend.unavailable()).toEqual(expect.arrayContaining([expect.stringMatching(/^unix datagram/)]));
  }, 60_000);
});

describe.skipIf(skip !== null)('BpftraceBackend start failures', () => {
  it('rejects with a message a user can act on', async () => {
    const missing = new BpftraceBackend({ traceAll: false, selfPid: process.pid }, { bpftrace: '/nonexistent/bpftrace' });
    await expect(missing.start(() => {})).rejects.toThrow(/not found: install bpftrace/);
    const failing = new BpftraceBackend({ traceAll: false, selfPid: process.pid }, { bpftrace: '/bin/false' });
    await expect(failing.start(() => {})).rejects.toThrow(/bpftrace exited \(code 1\) before attaching/);
  });
});

describe.skipIf(skip !== null)('BpftraceBackend in --all mode', () => {
  it('reports processes that are not agents, with agent id 0, and never itself', async () => {
    const events: KernelEvent[] = [];
    const backend = new BpftraceBackend({ traceAll: true, selfPid: process.pid });
    await backend.start((evs) => events.push(...evs));
    try {
      const dir = mkdtempSync(join(tmpdir(), 'bpftrace-all-'));
      const file = join(dir, 'seen-by-all');
      writeFileSync(file, 'x');
      const child = spawn('cat', [file], { stdio: 'ignore' });
      const pid = await new Promise<number>((r) => child.on('exit', () => r(child.pid!)));
      const end = Date.now() + 20_000;
      while (!events.some((e) => e.type === 'exit' && e.pid === pid) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
      expect(events.find((e) => e.type === 'open' && e.pid === pid && e.path === file)).toMatchObject({ agentId: 0, pending: false, comm: 'cat' });
      expect(events.find((e) => e.type === 'exec' && e.pid === pid)).toMatchObject({ argv: ['cat', file], agentId: 0 });
      expect(events.filter((e) => e.pid === process.pid)).toEqual([]);
      rmSync(dir, { recursive: true, force: true });
    } finally {
      await backend.stop();
    }
  }, 120_000);
});
