// An agent inside another network namespace is still an agent: its connects
// are reported, and each event says which namespace it happened in.
import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agent, buildFixture, eventsOf, kernelSkipReason, run, startSensor, waitForEvents, type RecordingSensor } from './helpers/kernel.js';

const skip = kernelSkipReason() ?? (() => {
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
    return null;
  } catch {
    return 'iproute2 (ip) is not installed';
  }
})();
if (skip) console.warn(`netns-e2e: skipping: ${skip}`);

describe.skipIf(skip !== null)('agents in another network namespace', () => {
  const ns = `as-test-${process.pid}`;
  let rec: RecordingSensor;
  let agentBin: string;

  beforeAll(async () => {
    execFileSync('ip', ['netns', 'add', ns]);
    execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    agentBin = buildFixture('agent.c', 'as-netns-agent');
    rec = await startSensor([agent('netns-agent', { comm: ['as-netns-agent'] })]);
  });

  afterAll(async () => {
    await rec?.stop();
    execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  });

  it('reports its connects and datagrams with the namespace they happened in', async () => {
    const nsInode = statSync(`/run/netns/${ns}`).ino;
    const ownInode = statSync('/proc/self/ns/net').ino;
    // nothing listens on 127.0.0.1:9 inside the namespace: the connect is refused there
    const ran = await run('ip', ['netns', 'exec', ns, agentBin, 'connect:9', 'udpsend:9']);
    expect(ran.code).toBe(0);
    // `ip netns exec` enters the namespace and execs the agent: one pid, found by comm
    await waitForEvents(rec.events, (evs) => evs.some((e) => e.type === 'exit' && e.comm === 'as-netns-agent'));
    const agentPid = rec.events.find((e) => e.type === 'exec' && e.comm === 'as-netns-agent')!.pid;
    const conns = eventsOf(rec.events, agentPid, 'connect');
    expect(conns).toContainEqual(expect.objectContaining({ proto: 'tcp', addr: '127.0.0.1', port: 9, result: -111, netns: nsInode }));
    expect(conns).toContainEqual(expect.objectContaining({ proto: 'udp', addr: '127.0.0.1', port: 9, datagram: true, netns: nsInode }));
    expect(nsInode).not.toBe(ownInode);
  });
});
