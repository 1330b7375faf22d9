// DNS names on the live kernel, the way real programs resolve them: glibc's
// resolver (getent) in a private mount namespace whose /etc/resolv.conf points
// at a small DNS responder this test runs on 127.0.0.1:53. And a hostile
// payload sent to port 53: a counted parse error, never a crash.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createSocket, type Socket } from 'node:dgram';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DnsEvent } from '../sensor/events/types.js';
import { agent, buildFixture, eventsOf, kernelSkipReason, run, startSensor, waitForEvents, type RecordingSensor } from './helpers/kernel.js';

const skip = kernelSkipReason();
if (skip) console.warn(`dns-e2e: skipping: ${skip}`);

/** Answers every A question with 127.0.0.9 and anything else with no data. */
function dnsResponder(): Promise<{ socket: Socket; questions: string[] }> {
  const socket = createSocket('udp4');
  const questions: string[] = [];
  socket.on('message', (msg, peer) => {
    if (msg.length < 12) return;
    let off = 12;
    const labels: string[] = [];
    while (off < msg.length && msg[off] !== 0) {
      labels.push(msg.subarray(off + 1, off + 1 + msg[off]).toString('latin1'));
      off += msg[off] + 1;
    }
    const qtype = msg.readUInt16BE(off + 1);
    const question = msg.subarray(12, off + 5);
    questions.push(`${labels.join('.')}/${qtype}`);
    const header = Buffer.from(msg.subarray(0, 12));
    header.writeUInt16BE(0x8180, 2); // response, recursion available, no error
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(qtype === 1 ? 1 : 0, 6);
    header.writeUInt32BE(0, 8);
    const answer = qtype === 1
      ? Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 9])
      : Buffer.alloc(0);
    socket.send(Buffer.concat([header, question, answer]), peer.port, peer.address);
  });
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(53, '127.0.0.1', () => resolve({ socket, questions }));
  });
}

describe.skipIf(skip !== null)('DNS on the live kernel', () => {
  let rec: RecordingSensor;
  let dir: string;
  let getent: string;
  let agentBin: string;
  let responder: Awaited<ReturnType<typeof dnsResponder>>;

  beforeAll(async () => {
    dir = realpathSync(mkdtempSync(join(tmpdir(), 'as-dns-')));
    writeFileSync(join(dir, 'resolv.conf'), 'nameserver 127.0.0.1\noptions attempts:1 timeout:2\n');
    // a copy of getent under a distinctive name: its comm makes it the agent
    getent = join(dir, 'as-dns-getent');
    copyFileSync(execFileSync('sh', ['-c', 'command -v getent'], { encoding: 'utf8' }).trim(), getent);
    execFileSync('chmod', ['+x', getent]);
    agentBin = buildFixture('agent.c', 'as-dns-agent');
    responder = await dnsResponder();
    rec = await startSensor([agent('resolver', { comm: ['as-dns-getent', 'as-dns-agent'] })]);
  });

  afterAll(async () => {
    await rec?.stop();
    responder?.socket.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('names glibc looks up through its own resolv.conf in a private mount namespace', async () => {
    // unshare -m: the bind mount of resolv.conf is seen by this process tree only
    const script = `mount --bind ${dir}/resolv.conf /etc/resolv.conf && exec ${getent} ahostsv4 agent-lookup.example.test`;
    const ran = await run('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script], { timeoutMs: 15_000 });
    expect(ran.code).toBe(0); // the responder answered, so glibc resolved the name
    expect(responder.questions).toContain('agent-lookup.example.test/1');
    const lookups = (): DnsEvent[] => rec.events.filter((e): e is DnsEvent => e.type === 'dns' && e.qname === 'agent-lookup.example.test');
    await waitForEvents(rec.events, () => lookups().length > 0);
    const dns = lookups();
    expect(dns[0]).toMatchObject({ agent: 'resolver', qtype: 'A', addr: '127.0.0.1', port: 53, comm: 'as-dns-getent' });
    // the namespace is recorded: same network namespace as ours, another mount namespace
    const ownMntns = Number(/\[(\d+)\]/.exec(execFileSync('readlink', ['/proc/self/ns/mnt'], { encoding: 'utf8' }))![1]);
    expect(dns[0].mntns).not.toBe(ownMntns);
  });

  it('a malformed payload to port 53 is a counted parse error, not a crash', async () => {
    const before = rec.backend.counters().other.dnsUnparsed ?? 0;
    const ran = await run(agentBin, ['udpsend:53', 'dnsq:after-garbage.example.test']);
    expect(ran.code).toBe(0);
    await waitForEvents(rec.events, (evs) => eventsOf(evs, ran.pid, 'dns').length > 0);
    expect(rec.backend.counters().other.dnsUnparsed).toBe(before + 1);
    expect(eventsOf(rec.events, ran.pid, 'dns')).toEqual([expect.objectContaining({ qname: 'after-garbage.example.test', qtype: 'A' })]);
  });
});
